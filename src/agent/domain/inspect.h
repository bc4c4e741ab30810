/*
 * inspect.h — private to the agent's domains: live values handed to a client
 * (docs/design/inspection.md). objects.c keeps the remote objects a session
 * holds, by id and group; values.c reads memory safely and gives values
 * their RemoteObject and property shapes. Service thread only.
 */
#ifndef HS_AGENT_INSPECT_H
#define HS_AGENT_INSPECT_H

#include <jansson.h>
#include <stdbool.h>

#include "domain.h"
#include "value.h"

/* ---- objects.c: remote objects ------------------------------------------------ */

/* At most this many remote objects live at once, in all sessions. */
#define HS_OBJECTS_MAX 65536u
/* The one execution context: the process. */
#define HS_CONTEXT_ID 1

/* The process's isolate number: the first part of every object id. */
uint64_t hs__objects_isolate(void);
/* Hands out v in group (NULL = ""): its object id into id (size >= 64).
 * 0, or -1 when the table is full or out of memory (message in *msg). */
int hs__objects_add(hs_cdp_session *s, const char *group, const hs_val *v, char *id,
                    const char **msg);
/* The value behind an object id of s, and its group if group is not NULL
 * (valid until the object is released): 0, or -1 with V8's message
 * ("Invalid remote object id", "Cannot find context with specified id",
 * "Could not find object with given id"). */
int hs__objects_get(hs_cdp_session *s, const char *id, hs_val *out, const char **group,
                    const char **msg);
/* Runtime.releaseObject: 0 once no object has that id (released now, or
 * already gone, as V8 answers); -1 with V8's message for an id that is
 * malformed or of another context. */
int hs__objects_release(hs_cdp_session *s, const char *id, const char **msg);
void hs__objects_release_group(hs_cdp_session *s, const char *group);
void hs__objects_session_closed(hs_cdp_session *s);
/* Live objects now (tests and the summary). */
size_t hs__objects_count(void);

/* ---- values.c: memory and shapes ---------------------------------------------- */

/* Reads up to n bytes at addr without ever faulting: the bytes read (the
 * range stops at the first unreadable page), or -errno (EFAULT: nothing
 * readable there). */
ssize_t hs__mem_read(uintptr_t addr, void *buf, size_t n);

/* What an inspection needs to look up, opened lazily and closed at the end
 * of a command. */
typedef struct hs_inspect {
    struct hs_globals *globals;
    bool globals_failed;
} hs_inspect;
void hs__inspect_end(hs_inspect *ix);
struct hs_globals *hs__inspect_globals(hs_inspect *ix);

/* A word as a value: a place when it points into a live block or a global,
 * else a number. */
void hs__val_of_word(hs_inspect *ix, uint64_t w, hs_val *out);
/* A block value seen from base: 1 if the live block with id exists. */
int hs__val_of_id(uint32_t id, hs_val *out);
/* The value of a global of size bytes at addr, as its name evaluates: the
 * word it holds (8 bytes), a number (fewer), else its storage. 0 or -1 with
 * a message (unreadable). */
int hs__val_of_global(hs_inspect *ix, uintptr_t addr, uint64_t size, hs_val *out, char *err,
                      size_t errlen);
/* Is a block value still the same live block? (Blocks are checked at every
 * use: a freed block is "Object is not available".) */
bool hs__val_live(hs_val *v);

/* Its RemoteObject, handing out an object id in group for a place (NULL
 * with *msg when the table is full). */
json_t *hs__val_remote(hs_inspect *ix, hs_cdp_session *s, const char *group, const hs_val *v,
                       const char **msg);
/* Runtime.getProperties' result for v, or NULL with *msg. Objects for its
 * slots go to group. temps: the console's stored values (names and values,
 * n of them) for the global object. */
json_t *hs__val_properties(hs_inspect *ix, hs_cdp_session *s, const char *group, hs_val *v,
                           const char *const *temp_names, const hs_val *temps, size_t ntemps,
                           const char **msg);

#endif
