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
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

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

int hs_cli_run(int argc, char **argv)
{
    int follow = 0, wait = 0;
    const char *summary_file = NULL, *listen = NULL;
    int i = 0;
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
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "heapscope run: unknown option '%s'\n", argv[i]);
            return 2;
        } else {
            break; /* the program, without a "--" */
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: heapscope run [--follow-children] [--summary-file FILE] "
                        "[--listen HOST:PORT|off] [--wait] -- PROGRAM [ARGS...]\n");
        return 2;
    }
    char **prog_argv = argv + i;

    char agent[PATH_MAX];
    if (find_agent(agent, sizeof(agent))) {
        fprintf(stderr, "heapscope: cannot find libheapscope.so next to this program; set "
                        "HEAPSCOPE_AGENT to its path\n");
        return 127;
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

    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "heapscope: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
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
        execvp(prog_argv[0], prog_argv);
        fprintf(stderr, "heapscope: cannot run %s: %s\n", prog_argv[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }

    child_pid = pid;
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
