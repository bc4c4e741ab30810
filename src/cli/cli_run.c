/*
 * cli_run.c — `heapscope run -- PROGRAM ARGS...`: runs a program with the
 * agent preloaded, passes its exit status through (a death by signal is
 * re-raised on ourselves), and prints a one-line summary per profiled process
 * from the records the agent appends to a summary file at exit.
 *
 * The agent is found next to this executable (bin/../lib/libheapscope.so, the
 * layout of both the build tree and an installation) unless HEAPSCOPE_AGENT
 * names it. Children are profiled only with --follow-children.
 *
 * The agent serves the DevTools endpoint and prints its URL on stderr
 * itself; --listen and --wait only pass HEAPSCOPE_LISTEN and HEAPSCOPE_WAIT.
 *
 * --sample[=INTERVAL] makes the agent sample allocations from load
 * (HEAPSCOPE_SAMPLE) and write a .heapprofile at exit and on --sample-signal
 * (HEAPSCOPE_PROFILE_OUT, HEAPSCOPE_PROFILE_SIGNAL); this file only checks and
 * passes them, and says where the profile is once the program has ended. The
 * default file is heapscope-<pid>.heapprofile in the directory run started
 * in, <pid> being the profiled process's, passed as an absolute path since
 * the program may chdir.
 *
 * --snapshot-at-exit and --snapshot-signal[=SIG] (USR2 without a value) make
 * the agent write heap snapshots without a client (HEAPSCOPE_SNAPSHOT_AT_EXIT,
 * HEAPSCOPE_SNAPSHOT_SIGNAL) to --snapshot-out FILE, a pattern: %p the pid,
 * %n the snapshot's number in the process (1, 2, …), %% a '%' (default
 * heapscope-%p-%n.heapsnapshot here; -o stays the profile's, as it was).
 * The agent expands the pattern; we make it absolute (quoting the directory's
 * own '%') and, once the program has ended, list the files it names that were
 * written during the run: %n = 1, 2, … until one is missing (the agent uses a
 * number up only with a written file).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hs_outpath.h"
#include "hs_signal.h"

static int find_agent(char *out, size_t size)
{
    const char *env = getenv("HEAPSCOPE_AGENT");
    if (env && *env) {
        /* Absolute: the program may chdir before it execs. */
        char real[PATH_MAX];
        if (!realpath(env, real) || access(real, R_OK) != 0)
            return -1;
        snprintf(out, size, "%s", real);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    static const char *rel[] = {"/../lib/libheapscope.so", "/../lib/heapscope/libheapscope.so",
                                "/libheapscope.so"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char cand[PATH_MAX];
        snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
        char real[PATH_MAX];
        if (realpath(cand, real) && access(real, R_OK) == 0) {
            snprintf(out, size, "%s", real);
            return 0;
        }
    }
    return -1;
}

struct record {
    long pid;
    unsigned long long live_blocks, live_bytes, peak_bytes, allocs, frees;
    char prog[64];
};

static int parse_record(const char *line, struct record *r)
{
    return sscanf(line,
                  "heapscope-summary pid=%ld live_blocks=%llu live_bytes=%llu peak_bytes=%llu "
                  "allocs=%llu frees=%llu prog=%63s",
                  &r->pid, &r->live_blocks, &r->live_bytes, &r->peak_bytes, &r->allocs, &r->frees,
                  r->prog) == 7;
}

/* Prints a line per record appended after offset `from`; returns how many. */
static int print_summaries(const char *path, long from, pid_t child, int follow)
{
    FILE *f = fopen(path, "r");
    int printed = 0;
    if (f && fseek(f, from, SEEK_SET) != 0) {
        fclose(f);
        f = NULL;
    }
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f)) {
            struct record r;
            if (!parse_record(line, &r))
                continue;
            if (!follow && r.pid != (long)child)
                continue;
            char b1[32], b2[32];
            fprintf(stderr,
                    "heapscope: %s (pid %ld): %llu live blocks (%s) at exit, peak %s, "
                    "%llu allocations\n",
                    r.prog, r.pid, r.live_blocks, hs_cli_bytes(r.live_bytes, b1, sizeof(b1)),
                    hs_cli_bytes(r.peak_bytes, b2, sizeof(b2)), r.allocs);
            printed++;
        }
        fclose(f);
    }
    return printed;
}

/* The program's pid, once the parent has stored it after fork: until then
 * the forwarded signals stay blocked (see the fork), so that none is handled
 * while it is still 0 and dropped. */
static volatile sig_atomic_t child_pid;

/* SIGTERM or SIGHUP sent to us alone: pass it on, then report as usual
 * once the program has ended. */
static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* An absolute version of path in out (the program may chdir before exit). */
static int absolute_path(const char *path, char *out, size_t size)
{
    if (path[0] == '/') {
        snprintf(out, size, "%s", path);
        return 0;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return -1;
    if ((size_t)snprintf(out, size, "%s/%s", cwd, path) >= size)
        return -1;
    return 0;
}

#define RUN_SAMPLE_DEFAULT_INTERVAL "32768"

/* --sample=INTERVAL: a decimal byte count in [1, 2^53]. */
static int valid_interval(const char *s)
{
    if (*s < '0' || *s > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return !errno && !*end && v > 0 && v <= (1ULL << 53);
}

/* --sample-signal: a name (USR1, SIGUSR1, usr1) or a number, of a signal the
 * program can catch. *value is what HEAPSCOPE_PROFILE_SIGNAL gets: the name
 * without SIG in capitals, or the number as given. Returns the signal, -1 if
 * unknown, 0 if it cannot be caught. */
static int parse_signal(const char *s, char *value, size_t size)
{
    int sig = hs_signal_parse(s);
    if (sig <= 0)
        return sig;
    if (*s >= '0' && *s <= '9') {
        snprintf(value, size, "%s", s);
        return sig;
    }
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    size_t n = 0;
    for (; s[n] && n + 1 < size; n++)
        value[n] = (char)toupper((unsigned char)s[n]);
    value[n] = '\0';
    return sig;
}

/* Identity of a file before the run, to tell a profile written by this run
 * from one left by an earlier run. */
struct file_id {
    bool exists;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
};

static struct file_id file_id_of(const char *path)
{
    struct file_id id = {0};
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        id.exists = true;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        id.mtime = st.st_mtim;
        id.size = st.st_size;
    }
    return id;
}

static bool same_file_id(const struct file_id *a, const struct file_id *b)
{
    return a->exists == b->exists &&
           (!a->exists ||
            (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
             a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec));
}

static void run_usage(void)
{
    fprintf(stderr, "usage: heapscope run [--follow-children] [--summary-file FILE] "
                    "[--listen HOST:PORT|unix:PATH|off] [--wait]\n"
                    "           [--sample[=INTERVAL] [-o FILE.heapprofile] [--sample-signal SIG]]\n"
                    "           [--snapshot-at-exit] [--snapshot-signal[=SIG]] "
                    "[--snapshot-out PATTERN]\n"
                    "           [--no-hugepages] -- PROGRAM [ARGS...]\n");
}

#define RUN_SNAPSHOT_DEFAULT_OUT "heapscope-%p-%n.heapsnapshot"
#define RUN_SNAPSHOT_DEFAULT_SIGNAL "USR2"

/* The pattern made absolute: the directory run started in, its '%' quoted,
 * in front of a relative one. */
static int absolute_pattern(const char *pattern, char *out, size_t size)
{
    if (pattern[0] == '/') {
        if ((size_t)snprintf(out, size, "%s", pattern) >= size)
            return -1;
        return 0;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return -1;
    int n = hs_outpath_quote(cwd, out, size);
    if (n < 0 || (size_t)snprintf(out + n, size - (size_t)n, "/%s", pattern) >= size - (size_t)n)
        return -1;
    return 0;
}

static bool written_since(const char *path, const struct timespec *start)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    return st.st_mtim.tv_sec > start->tv_sec ||
           (st.st_mtim.tv_sec == start->tv_sec && st.st_mtim.tv_nsec >= start->tv_nsec);
}

/* Says which heap snapshots the program's agent wrote during the run. */
static void report_snapshots(const char *pattern, pid_t pid, const struct timespec *start,
                             bool at_exit, const char *name)
{
    char path[PATH_MAX], first[PATH_MAX] = "";
    unsigned long count = 0;
    bool seq = hs_outpath_has_seq(pattern);
    for (unsigned long n = 1;; n++) {
        if (hs_outpath_expand(pattern, (long)pid, n, path, sizeof(path)) < 0 ||
            !written_since(path, start))
            break;
        if (!count)
            snprintf(first, sizeof(first), "%s", path);
        count++;
        if (!seq)
            break;
    }
    if (count == 1) {
        fprintf(stderr,
                "heapscope: heap snapshot in %s: open it in Chrome DevTools (Memory panel, "
                "Load)\n",
                first);
    } else if (count > 1) {
        hs_outpath_expand(pattern, (long)pid, count, path, sizeof(path));
        fprintf(stderr,
                "heapscope: %lu heap snapshots, %s to %s: open them in Chrome DevTools (Memory "
                "panel, Load)\n",
                count, first, path);
    } else if (at_exit) {
        hs_outpath_expand(pattern, (long)pid, 1, path, sizeof(path));
        fprintf(stderr, "heapscope: %s (pid %ld): no heap snapshot was written to %s\n", name,
                (long)pid, path);
    }
}

/* Signals sent to run (the pid the user sees) that reach the program
 * instead of ending run; those the main handlers take care of are left out. */
static bool forwardable(int sig)
{
    return sig > 0 && sig != SIGINT && sig != SIGQUIT && sig != SIGTERM && sig != SIGHUP &&
           sig != SIGCHLD && sig != SIGPIPE;
}

/* A heap snapshot forks the program for a consistent image, and the fork
 * copies one page-table entry per 4 KiB page of heap: about 80 ms per GiB on
 * a virtual machine, the whole of the program's pause. glibc's malloc can ask
 * for transparent huge pages for its heap (the tunable glibc.malloc.hugetlb=1,
 * glibc >= 2.35): 512 times fewer entries, and the pause at 1 GiB drops to a
 * few ms (docs/design/snapshot.md, docs/BENCHMARKS.md). Semantics do not
 * change; the heap's resident size may round up to 2 MiB steps. Not in
 * sampling-only mode (no snapshots), and never over the user's own setting.
 * Programs this one starts inherit it. */
static void ask_for_hugepages(void)
{
    const char *mode = getenv("HEAPSCOPE_MODE");
    if (mode && !strcmp(mode, "sample"))
        return;
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "glibc.malloc.hugetlb"))
        return;
    char buf[4096];
    if (t && *t)
        snprintf(buf, sizeof(buf), "%s:glibc.malloc.hugetlb=1", t);
    else
        snprintf(buf, sizeof(buf), "glibc.malloc.hugetlb=1");
    setenv("GLIBC_TUNABLES", buf, 1);
}

int hs_cli_run(int argc, char **argv)
{
    int follow = 0, wait = 0, hugepages = 1;
    const char *summary_file = NULL, *listen = NULL;
    const char *sample = NULL, *profile_out = NULL, *sample_signal = NULL;
    char signal_value[16] = "";
    int sample_sig = 0, i = 0;
    bool snap_at_exit = false;
    const char *snap_out = NULL, *snap_signal = NULL;
    char snap_signal_value[16] = "";
    int snap_sig = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--follow-children")) {
            follow = 1;
        } else if (!strcmp(argv[i], "--summary-file") && i + 1 < argc) {
            summary_file = argv[++i];
        } else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            listen = argv[++i];
        } else if (!strcmp(argv[i], "--wait")) {
            wait = 1;
        } else if (!strcmp(argv[i], "--sample") || !strncmp(argv[i], "--sample=", 9)) {
            sample = argv[i][8] ? argv[i] + 9 : RUN_SAMPLE_DEFAULT_INTERVAL;
            if (!valid_interval(sample)) {
                fprintf(stderr,
                        "heapscope run: --sample=INTERVAL takes a number of bytes (> 0), "
                        "not '%s'\n",
                        sample);
                return 2;
            }
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) {
            profile_out = argv[++i];
        } else if (!strcmp(argv[i], "--sample-signal") && i + 1 < argc) {
            sample_signal = argv[++i];
            sample_sig = parse_signal(sample_signal, signal_value, sizeof(signal_value));
            if (sample_sig <= 0) {
                fprintf(stderr, "heapscope run: --sample-signal: %s '%s'\n",
                        sample_sig == 0 ? "the program cannot catch" : "no such signal",
                        sample_signal);
                return 2;
            }
        } else if (!strcmp(argv[i], "--no-hugepages")) {
            hugepages = 0;
        } else if (!strcmp(argv[i], "--snapshot-at-exit")) {
            snap_at_exit = true;
        } else if (!strcmp(argv[i], "--snapshot-signal") ||
                   !strncmp(argv[i], "--snapshot-signal=", 18)) {
            /* The value may be left out: the next argument is taken only if
             * it names a signal (KILL too, to refuse it). */
            if (argv[i][17] == '=')
                snap_signal = argv[i] + 18;
            else if (i + 1 < argc && hs_signal_parse(argv[i + 1]) >= 0)
                snap_signal = argv[++i];
            else
                snap_signal = RUN_SNAPSHOT_DEFAULT_SIGNAL;
            snap_sig = parse_signal(snap_signal, snap_signal_value, sizeof(snap_signal_value));
            if (snap_sig <= 0) {
                fprintf(stderr, "heapscope run: --snapshot-signal: %s '%s'\n",
                        snap_sig == 0 ? "the program cannot catch" : "no such signal", snap_signal);
                return 2;
            }
        } else if (!strcmp(argv[i], "--snapshot-out") || !strncmp(argv[i], "--snapshot-out=", 15)) {
            if (argv[i][14] == '=')
                snap_out = argv[i] + 15;
            else if (i + 1 < argc)
                snap_out = argv[++i];
            if (!snap_out || !*snap_out) {
                fprintf(stderr, "heapscope run: --snapshot-out needs a file name\n");
                return 2;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "heapscope run: unknown option '%s'\n", argv[i]);
            return 2;
        } else {
            break; /* the program, without a "--" */
        }
    }
    if (i >= argc) {
        run_usage();
        return 2;
    }
    if (!sample && (profile_out || sample_signal)) {
        fprintf(stderr, "heapscope run: %s only goes with --sample\n",
                profile_out ? "-o" : "--sample-signal");
        return 2;
    }
    bool snapshots = snap_at_exit || snap_signal;
    if (!snapshots && snap_out) {
        fprintf(stderr, "heapscope run: --snapshot-out only goes with --snapshot-at-exit or "
                        "--snapshot-signal\n");
        return 2;
    }
    char snap_pattern[PATH_MAX] = "";
    if (snapshots && absolute_pattern(snap_out ? snap_out : RUN_SNAPSHOT_DEFAULT_OUT, snap_pattern,
                                      sizeof(snap_pattern)) < 0) {
        fprintf(stderr, "heapscope: bad snapshot file path '%s'\n",
                snap_out ? snap_out : RUN_SNAPSHOT_DEFAULT_OUT);
        return 2;
    }
    /* The agent takes only an absolute socket path; a relative one names the
     * directory run was started in, as for the other files it is given. */
    char listen_abs[PATH_MAX + 8];
    if (listen && !strncmp(listen, "unix:", 5) && listen[5] != '/') {
        memcpy(listen_abs, "unix:", 5);
        if (!listen[5] || absolute_path(listen + 5, listen_abs + 5, sizeof(listen_abs) - 5)) {
            fprintf(stderr, "heapscope run: bad socket path in --listen '%s'\n", listen);
            return 2;
        }
        listen = listen_abs;
    }
    /* Made absolute, it may be too long for the socket, which the agent would
     * only refuse with the program already running. */
    size_t sun_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (listen && !strncmp(listen, "unix:", 5) && strlen(listen + 5) > sun_max) {
        fprintf(stderr,
                "heapscope run: socket path in --listen too long: %s is %zu bytes, a Unix "
                "socket's path at most %zu\n",
                listen + 5, strlen(listen + 5), sun_max);
        return 2;
    }
    char **prog_argv = argv + i;

    char agent[PATH_MAX];
    if (find_agent(agent, sizeof(agent))) {
        fprintf(stderr, "heapscope: cannot find libheapscope.so next to this program; set "
                        "HEAPSCOPE_AGENT to its path\n");
        return 127;
    }

    /* Where the agent writes the profile, absolute: the program may chdir.
     * The default name needs the program's pid, known once forked. */
    char profile_abs[PATH_MAX] = "", cwd[PATH_MAX] = "";
    struct file_id profile_before = {0};
    if (sample && profile_out) {
        if (!*profile_out || absolute_path(profile_out, profile_abs, sizeof(profile_abs))) {
            fprintf(stderr, "heapscope: bad profile file path '%s'\n", profile_out);
            return 2;
        }
        profile_before = file_id_of(profile_abs);
    } else if (sample && !getcwd(cwd, sizeof(cwd))) {
        fprintf(stderr, "heapscope: cannot name the profile file: getcwd: %s\n", strerror(errno));
        return 1;
    }

    char tmp_summary[] = "/tmp/heapscope-summary-XXXXXX";
    char summary_abs[PATH_MAX];
    const char *summary = NULL;
    long summary_from = 0;
    if (summary_file) {
        if (absolute_path(summary_file, summary_abs, sizeof(summary_abs))) {
            fprintf(stderr, "heapscope: bad summary file path '%s'\n", summary_file);
            return 2;
        }
        summary = summary_abs;
        struct stat st;
        if (stat(summary, &st) == 0)
            summary_from = (long)st.st_size; /* earlier runs' records stay */
    } else {
        int fd = mkstemp(tmp_summary);
        if (fd < 0) {
            fprintf(stderr, "heapscope: cannot create a temporary file: %s\n", strerror(errno));
            return 1;
        }
        close(fd);
        summary = tmp_summary;
    }

    /* While the program runs, terminal signals reach it directly (same
     * process group); we stay alive to report after it ends. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    struct sigaction fwd = {.sa_handler = forward_signal}, old_term, old_hup;
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGTERM, &fwd, &old_term);
    sigaction(SIGHUP, &fwd, &old_hup);
    /* The profile and snapshot signals sent to us (the pid the user sees)
     * reach the program too, instead of ending us; those above are already
     * handled. */
    struct sigaction old_sample, old_snap;
    int fwd_sample = forwardable(sample_sig);
    int fwd_snap = forwardable(snap_sig) && snap_sig != sample_sig;
    if (fwd_sample)
        sigaction(sample_sig, &fwd, &old_sample);
    if (fwd_snap)
        sigaction(snap_sig, &fwd, &old_snap);
    /* Snapshots written from now on are this run's (file times are the
     * coarse clock's). */
    struct timespec start;
    clock_gettime(CLOCK_REALTIME_COARSE, &start);

    /* Every signal stays blocked across the fork until each side is ready
     * for it. The parent can be preempted on its way back from fork and not
     * run again before the program has started and said so: a signal sent to
     * us meanwhile was handled before fork returned, with child_pid still 0,
     * and forwarded nowhere. Blocked, it waits for child_pid. The child puts
     * the program's handlers back first, so one meant for it gets the
     * program's disposition, not forward_signal. */
    sigset_t all, old_mask;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old_mask);
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        fprintf(stderr, "heapscope: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        if (fwd_sample)
            sigaction(sample_sig, &old_sample, NULL);
        if (fwd_snap)
            sigaction(snap_sig, &old_snap, NULL);
        const char *pre = getenv("LD_PRELOAD");
        char *value;
        if (pre && *pre) {
            size_t n = strlen(agent) + strlen(pre) + 2;
            value = malloc(n);
            if (!value)
                _exit(127);
            snprintf(value, n, "%s:%s", agent, pre);
        } else {
            value = agent;
        }
        setenv("LD_PRELOAD", value, 1);
        setenv("HEAPSCOPE_SUMMARY", summary, 1);
        /* Start whatever the library file is called. */
        setenv("HEAPSCOPE_AUTOSTART", "1", 1);
        if (listen)
            setenv("HEAPSCOPE_LISTEN", listen, 1);
        if (wait)
            setenv("HEAPSCOPE_WAIT", "1", 1);
        /* The process to profile is this one, whatever it execs into;
         * the agent leaves processes with another pid alone. */
        char pidbuf[24];
        snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)getpid());
        setenv("HEAPSCOPE_PID", pidbuf, 1);
        if (follow)
            setenv("HEAPSCOPE_FOLLOW_CHILDREN", "1", 1);
        if (sample) {
            if (!profile_out)
                snprintf(profile_abs, sizeof(profile_abs), "%s/heapscope-%ld.heapprofile", cwd,
                         (long)getpid());
            setenv("HEAPSCOPE_SAMPLE", sample, 1);
            setenv("HEAPSCOPE_PROFILE_OUT", profile_abs, 1);
            if (sample_signal)
                setenv("HEAPSCOPE_PROFILE_SIGNAL", signal_value, 1);
        }
        if (snapshots) {
            setenv("HEAPSCOPE_SNAPSHOT_OUT", snap_pattern, 1);
            if (snap_at_exit)
                setenv("HEAPSCOPE_SNAPSHOT_AT_EXIT", "1", 1);
            if (snap_signal)
                setenv("HEAPSCOPE_SNAPSHOT_SIGNAL", snap_signal_value, 1);
        }
        if (hugepages)
            ask_for_hugepages();
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        execvp(prog_argv[0], prog_argv);
        fprintf(stderr, "heapscope: cannot run %s: %s\n", prog_argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }

    child_pid = pid;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    if (sample && !profile_out) {
        snprintf(profile_abs, sizeof(profile_abs), "%s/heapscope-%ld.heapprofile", cwd, (long)pid);
        profile_before = file_id_of(profile_abs);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "heapscope: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    child_pid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (fwd_sample)
        sigaction(sample_sig, &old_sample, NULL);
    if (fwd_snap)
        sigaction(snap_sig, &old_snap, NULL);

    const char *name = strrchr(prog_argv[0], '/');
    name = name ? name + 1 : prog_argv[0];
    int exec_failed = WIFEXITED(status) && WEXITSTATUS(status) >= 126;
    if (!print_summaries(summary, summary_from, pid, follow) && !exec_failed)
        fprintf(stderr,
                "heapscope: %s (pid %ld): no summary (it ended without running its exit "
                "handlers, e.g. by a signal or _exit)\n",
                name, (long)pid);
    if (!summary_file)
        unlink(tmp_summary);
    if (sample) {
        struct file_id after = file_id_of(profile_abs);
        if (after.exists && !same_file_id(&after, &profile_before))
            fprintf(stderr,
                    "heapscope: allocation profile in %s: open it in Chrome DevTools (Memory "
                    "panel, Load) or in speedscope (https://www.speedscope.app)\n",
                    profile_abs);
        else if (!exec_failed)
            fprintf(stderr, "heapscope: %s (pid %ld): no allocation profile was written to %s\n",
                    name, (long)pid, profile_abs);
    }
    if (snapshots && !exec_failed)
        report_snapshots(snap_pattern, pid, &start, snap_at_exit, name);

    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        /* Die the same way, without a core of our own. */
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(sig, SIG_DFL);
        raise(sig);
        return 128 + sig;
    }
    return 1;
}
