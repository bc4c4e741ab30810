/*
 * value.h — private to the agent's domains: what a Runtime value is on a
 * native heap (docs/design/inspection.md). A value is a number (a word read
 * from memory, or a literal) or a place in memory: a live block or a global
 * variable's storage, seen from one address in it.
 *
 * expr.c evaluates the expression language to a value through an hs_expr_env
 * (so that it can be tested without a process to look into); values.c gives
 * values their RemoteObject shape and properties.
 */
#ifndef HS_AGENT_VALUE_H
#define HS_AGENT_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum hs_val_kind {
    HS_VAL_NONE,   /* not a value (an empty slot) */
    HS_VAL_NUM,    /* a number: num */
    HS_VAL_BLOCK,  /* a live block: [base, base + size), id; seen from addr */
    HS_VAL_GLOBAL, /* a data symbol's storage: [base, base + size) */
    HS_VAL_PROCESS /* the global object: the program's globals (`this`) */
};

typedef struct hs_val {
    enum hs_val_kind kind;
    uint64_t num;
    uintptr_t addr, base;
    uint64_t size;
    uint32_t id;   /* HS_VAL_BLOCK: its heap snapshot id, checked at every use */
    uint32_t site; /* HS_VAL_BLOCK: its allocation site */
} hs_val;

/* Expressions longer than this, or nested deeper, are refused. */
#define HS_EXPR_MAX_LEN 4096u
#define HS_EXPR_MAX_DEPTH 64

/* What an expression can see. Each returns 0, or -1 with a message in
 * err (size errlen) for a name or address that has no value. */
typedef struct hs_expr_env {
    void *ud;
    /* name (len bytes, not terminated): a variable ($0…$4, $_, tempN,
     * this), else a global symbol's value; amp: `&name`, its address. */
    int (*name)(void *ud, const char *name, size_t len, int amp, hs_val *out, char *err,
                size_t errlen);
    /* The word at addr, read safely. */
    int (*read)(void *ud, uintptr_t addr, uint64_t *word, char *err, size_t errlen);
    /* What a word means: a place if it points into a block or a global,
     * else a number. Never fails. */
    void (*word)(void *ud, uint64_t word, hs_val *out);
} hs_expr_env;

/* Evaluates src (len bytes). 0 and *out; or -1 with a message in err and
 * the 0-based column where it went wrong in *col. */
int hs__expr_eval(const char *src, size_t len, const hs_expr_env *env, hs_val *out, char *err,
                  size_t errlen, size_t *col);

#endif
