/*
 * unwind_test.h — what the unwinder tests' files share: a "shot" (one
 * stack taken by every unwinder from one place) and the chains of frames,
 * each file built with its own flags (CMakeLists.txt).
 */
#ifndef HS_UNWIND_TEST_H
#define HS_UNWIND_TEST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHOT_FRAMES 1024

struct shot {
    int max;        /* asked of each mode */
    unsigned modes; /* 1u << HS_UNWIND_*: the modes to run */
    int n[3];
    uintptr_t pcs[3][SHOT_FRAMES];
    int nfull; /* AUTO without truncation */
    uintptr_t full[SHOT_FRAMES];
    int fallbacks; /* AUTO walks handed to libunwind meanwhile */
    int no_raw;    /* the stack lies to libunwind: do not ask it */
    int nraw;      /* unw_backtrace called from the same function */
    uintptr_t raw[SHOT_FRAMES];
};

/* test_unwind.c: takes the stack every way s asks for. */
void capture(struct shot *s);

/* frames_fp.c (frame pointers) and frames_nofp.c (none): chains that end
 * in capture(s) after `depth` more frames, alternating between the files. */
int fp_chain(int depth, struct shot *s);
int nofp_chain(int depth, struct shot *s);
int fp_only_chain(int depth, struct shot *s);
/* The same for the threads test, so that its pcs start uncached. */
int thr_fp_chain(int depth, struct shot *s);
int thr_nofp_chain(int depth, struct shot *s);
/* A frame realigned for an over-aligned local with a variable-length
 * array: GCC's "CFA = *(rbp - 8)" rule. */
int realign_chain(int n, struct shot *s);
/* frames_fp.c: calls capture(arg), with a frame pointer. */
void fp_probe(void *arg);

/* frames_asm.c: calls fn(arg) with rbp holding `garbage`. */
void call_with_rbp(void (*fn)(void *), void *arg, uintptr_t garbage);

/* frames_asm.c: calls fn(arg) from an instruction whose CFI says that the
 * CFA lies 8 MiB above rsp: off the stack. */
void call_with_bad_cfi(void (*fn)(void *), void *arg);

/* frames_cxx.cpp: capture(s) from a std::sort comparator, and from a
 * std::streambuf called by libstdc++'s ostream. */
void cxx_sort_capture(struct shot *s);
void cxx_stream_capture(struct shot *s);

/* Keeps values alive across calls so that no frame is optimised away. */
extern volatile uintptr_t unwind_test_sink;

#ifdef __cplusplus
}
#endif

#endif
