/*
 * client_discovery.c — the client's use of the discovery endpoints: /json/list
 * and /json/version read into plain structs, choosing a target by id or title,
 * and hs_client_connect's target grammar. The HTTP exchange is client_http.c's,
 * the WebSocket session client_session.c's. Discovery bodies are not CDP
 * messages, so they are read with jansson directly rather than the generated
 * decoders.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"

static char *dup_field(const json_t *obj, const char *key, bool *oom)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static void target_free(hs_target *t)
{
    free(t->id);
    free(t->type);
    free(t->title);
    free(t->url);
    free(t->description);
    free(t->web_socket_debugger_url);
    free(t->devtools_frontend_url);
    memset(t, 0, sizeof *t);
}

HS_API void hs_target_list_free(hs_target_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        target_free(&l->items[i]);
    free(l->items);
    free(l->json);
    memset(l, 0, sizeof *l);
}

HS_API void hs_version_info_free(hs_version_info *v)
{
    if (!v)
        return;
    free(v->browser);
    free(v->protocol_version);
    free(v->json);
    memset(v, 0, sizeof *v);
}

/* GET and parse a JSON body; *root is a new reference. */
static int get_json(hs_client *c, const char *hostport, const char *path, hs_cl_addr *a,
                    json_t **root, char **body_out)
{
    *root = NULL;
    if (!hostport)
        return hs_cl_fail(c, HS_E_INVAL, "no HOST:PORT given");
    int rc = hs_cl_parse_hostport(c, hostport, strlen(hostport), a);
    if (rc < 0)
        return rc;
    char *body = NULL;
    size_t len = 0;
    if ((rc = hs_cl_http_get(c, a, path, &body, &len)) < 0)
        return rc;
    json_error_t je;
    *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!*root) {
        free(body);
        return hs_cl_fail(c, HS_E_BADREPLY, "%s%s: the answer is not JSON (%s at position %d)",
                          a->authority, path, je.text, je.position);
    }
    *body_out = body;
    return 0;
}

/* One discovery GET: refused from inside a callback; clears the last error. */
static int begin_get(hs_client *c, const char *hostport, const char *path, hs_cl_addr *a,
                     json_t **root, char **body)
{
    if (c->in_callback)
        return hs_cl_fail(c, HS_E_STATE, "a client callback may not call its own client");
    c->err[0] = '\0';
    c->has_remote = false;
    return get_json(c, hostport, path, a, root, body);
}

HS_API int hs_client_list_targets(hs_client *c, const char *hostport, hs_target_list *out)
{
    if (!c || !out)
        return HS_E_INVAL;
    memset(out, 0, sizeof *out);
    hs_cl_addr a;
    json_t *root;
    char *body;
    int rc = begin_get(c, hostport, "/json/list", &a, &root, &body);
    if (rc < 0)
        return rc;
    if (!json_is_array(root)) {
        rc = hs_cl_fail(c, HS_E_BADREPLY, "%s/json/list: the answer is not a JSON array",
                        a.authority);
        goto out;
    }
    size_t n = json_array_size(root);
    out->items = calloc(n ? n : 1, sizeof *out->items);
    if (!out->items) {
        rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        goto out;
    }
    bool oom = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(root, i);
        if (!json_is_object(o)) {
            rc = hs_cl_fail(c, HS_E_BADREPLY, "%s/json/list: entry %zu is not an object",
                            a.authority, i);
            goto out;
        }
        hs_target *t = &out->items[out->count++];
        t->id = dup_field(o, "id", &oom);
        t->type = dup_field(o, "type", &oom);
        t->title = dup_field(o, "title", &oom);
        t->url = dup_field(o, "url", &oom);
        t->description = dup_field(o, "description", &oom);
        t->web_socket_debugger_url = dup_field(o, "webSocketDebuggerUrl", &oom);
        t->devtools_frontend_url = dup_field(o, "devtoolsFrontendUrl", &oom);
    }
    if (oom) {
        rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        goto out;
    }
    out->json = body;
    body = NULL;
out:
    json_decref(root);
    free(body);
    if (rc < 0)
        hs_target_list_free(out);
    return rc;
}

HS_API int hs_client_version(hs_client *c, const char *hostport, hs_version_info *out)
{
    if (!c || !out)
        return HS_E_INVAL;
    memset(out, 0, sizeof *out);
    hs_cl_addr a;
    json_t *root;
    char *body;
    int rc = begin_get(c, hostport, "/json/version", &a, &root, &body);
    if (rc < 0)
        return rc;
    if (!json_is_object(root)) {
        rc = hs_cl_fail(c, HS_E_BADREPLY, "%s/json/version: the answer is not a JSON object",
                        a.authority);
    } else {
        bool oom = false;
        out->browser = dup_field(root, "Browser", &oom);
        out->protocol_version = dup_field(root, "Protocol-Version", &oom);
        out->json = body;
        body = NULL;
        if (oom)
            rc = hs_cl_fail(c, HS_E_NOMEM, "out of memory");
    }
    json_decref(root);
    free(body);
    if (rc < 0)
        hs_version_info_free(out);
    return rc;
}

/* Id first (exact), then title (substring); without a selector the first
 * target that offers a WebSocket. */
static const hs_target *choose(const hs_target_list *l, const char *sel)
{
    if (!sel || !*sel) {
        for (size_t i = 0; i < l->count; i++)
            if (l->items[i].web_socket_debugger_url)
                return &l->items[i];
        return NULL;
    }
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].id && !strcmp(l->items[i].id, sel))
            return &l->items[i];
    for (size_t i = 0; i < l->count; i++)
        if (l->items[i].title && strstr(l->items[i].title, sel))
            return &l->items[i];
    return NULL;
}

HS_API int hs_client_connect_select(hs_client *c, const char *hostport, const char *selector)
{
    if (!c)
        return HS_E_INVAL;
    if (c->in_callback)
        return hs_cl_fail(c, HS_E_STATE, "a client callback may not call its own client");
    if (c->fd >= 0)
        return hs_cl_fail(c, HS_E_STATE, "already connected to %s", c->ws_url);
    hs_target_list l;
    int rc = hs_client_list_targets(c, hostport, &l);
    if (rc < 0)
        return rc;
    const hs_target *t = choose(&l, selector);
    if (!t) {
        if (selector && *selector)
            rc = hs_cl_fail(c, HS_E_NOTFOUND,
                            "%s has no target with id or title '%s' (%zu target%s listed)",
                            hostport, selector, l.count, l.count == 1 ? "" : "s");
        else
            rc = hs_cl_fail(c, HS_E_NOTFOUND,
                            "%s lists no target that accepts a WebSocket (%zu target%s)", hostport,
                            l.count, l.count == 1 ? "" : "s");
    } else if (!t->web_socket_debugger_url) {
        rc = hs_cl_fail(c, HS_E_NOTFOUND,
                        "target %s at %s offers no WebSocket (is a debugger attached already?)",
                        t->id ? t->id : "?", hostport);
    } else {
        /* Found over a Unix socket: the session goes over it too, whatever
         * host the target's URL names (one that only reads the Host header
         * names "localhost"). */
        hs_cl_addr via;
        rc = hs_cl_parse_hostport(c, hostport, strlen(hostport), &via);
        if (rc == 0)
            rc = hs_cl_connect_ws(c, t->web_socket_debugger_url, via.unix_path[0] ? &via : NULL);
    }
    hs_target_list_free(&l);
    return rc;
}

HS_API int hs_client_connect(hs_client *c, const char *target)
{
    if (!c)
        return HS_E_INVAL;
    if (!target || !*target)
        return hs_cl_fail(c, HS_E_INVAL, "no target given");
    if (c->in_callback)
        return hs_cl_fail(c, HS_E_STATE, "a client callback may not call its own client");
    if (c->fd >= 0)
        return hs_cl_fail(c, HS_E_STATE, "already connected to %s", c->ws_url);
    c->err[0] = '\0';
    c->has_remote = false;
    if (!strncmp(target, "unix:", 5)) {
        /* unix:PATH[:ID-OR-TITLE]: the path ends at the first ':', as in the
         * ws package's ws+unix: URLs (a path with a ':' is not supported). */
        const char *colon = strchr(target + 5, ':');
        if (!colon)
            return hs_client_connect_select(c, target, NULL);
        char *hostport = strndup(target, (size_t)(colon - target));
        if (!hostport)
            return hs_cl_fail(c, HS_E_NOMEM, "out of memory");
        int rc = hs_client_connect_select(c, hostport, colon + 1);
        free(hostport);
        return rc;
    }
    const char *scheme = strstr(target, "://");
    if (scheme) {
        size_t sl = (size_t)(scheme - target);
        if ((sl == 2 && !strncasecmp(target, "ws", 2)) ||
            (sl == 7 && !strncasecmp(target, "ws+unix", 7)))
            return hs_cl_connect_ws(c, target, NULL);
        return hs_cl_fail(c, HS_E_INVAL,
                          "'%s': give a ws:// URL, HOST:PORT[/ID-OR-TITLE] or "
                          "unix:PATH[:ID-OR-TITLE] (no other scheme)",
                          target);
    }
    /* The selector starts after the first '/' that follows the port; an IPv6
     * host is bracketed, so its colons are not in the way. */
    const char *slash = strchr(target, '/');
    if (!slash)
        return hs_client_connect_select(c, target, NULL);
    size_t hp_len = (size_t)(slash - target);
    char *hostport = strndup(target, hp_len);
    if (!hostport)
        return hs_cl_fail(c, HS_E_NOMEM, "out of memory");
    int rc = hs_client_connect_select(c, hostport, slash + 1);
    free(hostport);
    return rc;
}
