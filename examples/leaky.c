/*
 * leaky.c — the bundled example: a small "session cache" with the kinds of
 * memory a heap profiler should tell apart. Sessions live in a hash table
 * (reachable), expired ones are freed (gone), and one code path forgets to
 * free what it unlinks (leaked). Run it under the agent:
 *
 *     heapscope run -- build/bin/hs-example-leaky
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct session {
    struct session *next;
    unsigned id;
    char *user;
    unsigned char *payload;
    size_t payload_len;
};

static struct session *table[BUCKETS];

static char *make_user(unsigned id)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "user-%u", id);
    return strdup(buf);
}

static struct session *session_new(unsigned id)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->id = id;
    s->user = make_user(id);
    s->payload_len = 64 + (id % 7) * 128;
    s->payload = malloc(s->payload_len);
    if (!s->user || !s->payload)
        abort();
    memset(s->payload, (int)(id & 0xff), s->payload_len);
    return s;
}

static void session_free(struct session *s)
{
    free(s->payload);
    free(s->user);
    free(s);
}

/* Drops sessions whose id is divisible by `every`. The bug: for odd ids it
 * unlinks the session but forgets to free it. */
static unsigned expire(unsigned every, unsigned *leaked)
{
    unsigned n = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        for (struct session **pp = &table[b]; *pp;) {
            struct session *s = *pp;
            if (s->id % every == 0) {
                *pp = s->next;
                if (s->id % 2)
                    (*leaked)++;
                else
                    session_free(s);
                n++;
            } else {
                pp = &s->next;
            }
        }
    }
    return n;
}

int main(void)
{
    unsigned created = 0, leaked = 0, expired = 0;
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned i = 0; i < 4000; i++) {
            unsigned id = round * 4000 + i;
            struct session *s = session_new(id);
            s->next = table[id % BUCKETS];
            table[id % BUCKETS] = s;
            created++;
        }
        expired += expire(3 + round, &leaked);
    }
    unsigned live = 0;
    for (unsigned b = 0; b < BUCKETS; b++)
        for (struct session *s = table[b]; s; s = s->next)
            live++;
    printf("sessions: %u created, %u expired (%u of them leaked), %u in the table\n", created,
           expired, leaked, live);
    return 0;
}
