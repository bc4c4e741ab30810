/*
 * hs_err.c — text for heapscope's error codes (see include/heapscope/hs_err.h).
 * Owns nothing else. Uses strerror only for -errno values, outside any hook.
 */
#include <string.h>

#include "heapscope/hs_err.h"

const char *hs_strerror(int err)
{
    switch (err) {
#define HS__ERR_CASE(name, value, msg)                                                             \
    case (value):                                                                                  \
        return (msg);
        HS_ERR_MAP(HS__ERR_CASE)
#undef HS__ERR_CASE
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
