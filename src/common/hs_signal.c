/*
 * hs_signal.c — see hs_signal.h.
 */
#include "hs_signal.h"

#include <signal.h>
#include <strings.h>

static const struct {
    const char *name;
    int sig;
} names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"WINCH", SIGWINCH}, {"PROF", SIGPROF},
    {"URG", SIGURG},   {"VTALRM", SIGVTALRM},
};

int hs_signal_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    if (*s >= '0' && *s <= '9') {
        long v = 0;
        for (; *s; s++) {
            if (*s < '0' || *s > '9' || v > SIGRTMAX)
                return -1;
            v = v * 10 + (*s - '0');
        }
        if (v < 1 || v > SIGRTMAX)
            return -1;
        return v == SIGKILL || v == SIGSTOP ? 0 : (int)v;
    }
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    if (!strcasecmp(s, "KILL") || !strcasecmp(s, "STOP"))
        return 0;
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(s, names[i].name))
            return names[i].sig;
    return -1;
}
