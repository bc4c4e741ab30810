/*
 * hs_err.h — heapscope's one error model.
 *
 * Every heapscope function that can fail returns an int: HS_OK (0) on success,
 * a negative code on failure. Failures of the operating system are returned as
 * -errno; heapscope's own codes live at -5000 and below, grouped by hundreds.
 * hs_strerror() turns any of them into text and never returns NULL.
 */
#ifndef HEAPSCOPE_HS_ERR_H
#define HEAPSCOPE_HS_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#define HS_API __attribute__((visibility("default")))

/* X(name, value, message): the single table behind the enum and hs_strerror. */
#define HS_ERR_MAP(X)                                                                              \
    X(HS_OK, 0, "success")                                                                         \
    X(HS_E_INVAL, -5000, "invalid argument")                                                       \
    X(HS_E_NOMEM, -5001, "out of memory")                                                          \
    X(HS_E_STATE, -5002, "not possible in the current state")                                      \
    X(HS_E_NOTFOUND, -5003, "not found")                                                           \
    X(HS_E_USAGE, -5100, "bad command line")                                                       \
    X(HS_E_NOAGENT, -5101, "agent library not found")                                              \
    X(HS_E_CLOSED, -5400, "connection closed by the target")                                       \
    X(HS_E_BADREPLY, -5401, "malformed reply from the target")                                     \
    X(HS_E_HTTP, -5402, "HTTP error from the target")                                              \
    X(HS_E_REMOTE, -5403, "the target answered with a protocol error")                             \
    X(HS_E_RESOLVE, -5404, "host name could not be resolved")                                      \
    X(HS_E_ABORTED, -5405, "stopped by a callback")

enum hs_err {
#define HS__ERR_ENUM(name, value, msg) name = (value),
    HS_ERR_MAP(HS__ERR_ENUM)
#undef HS__ERR_ENUM
};

/* Text for a heapscope code or a -errno value. The string is static. */
HS_API const char *hs_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
