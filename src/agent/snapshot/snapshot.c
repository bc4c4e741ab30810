/*
 * snapshot.c — one heap snapshot at a time: prepare in the parent (modules,
 * site names, group ids), capture and fork (capture.c), let the child build
 * and write the graph (graph.c), and collect the result — streamed through a
 * pipe to the service thread, or written to a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../agent_int.h"
#include "heapscope/hs_err.h"
#include "hs_outpath.h"
#include "snapshot_int.h"
#include "symbolize.h"

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- names of allocation sites, kept for the process's life -------------- */

/* Taken inside snap_mu when both are held. */
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static char **site_names;
static uint32_t nsite_names;

static char *name_site(uintptr_t ra)
{
    hs_sym sym;
    hs__sym_resolve(ra, &sym);
    char file[256];
    int line = 0;
    char *out = NULL;
    int n = hs__sym_call_line(ra, file, sizeof(file), &line) == 0
                ? asprintf(&out, "%s %s:%d", sym.function, file, line)
                : asprintf(&out, "%s", sym.function[0] ? sym.function : "(unknown site)");
    return n < 0 ? NULL : out;
}

static int name_sites_locked(void)
{
    uint32_t cap = hs__site_capacity();
    if (!site_names) {
        site_names = calloc(cap, sizeof(*site_names));
        if (!site_names)
            return HS_E_NOMEM;
    }
    for (uint32_t s = 1; s < cap; s++) {
        if (site_names[s])
            continue;
        uintptr_t ra = hs__site_addr(s);
        if (ra)
            site_names[s] = name_site(ra);
    }
    nsite_names = cap;
    return 0;
}

static int name_sites(void)
{
    pthread_mutex_lock(&names_mu);
    int rc = name_sites_locked();
    pthread_mutex_unlock(&names_mu);
    return rc;
}

const char *hs__snapshot_site_name(uint32_t site)
{
    static const char unknown[] = "(unknown site)";
    const char *name = unknown;
    /* Not snap_mu: inspection asks while it holds the globals open. */
    pthread_mutex_lock(&names_mu);
    if (site && site < hs__site_capacity() && (site_names || name_sites_locked() == 0)) {
        if (!site_names[site] && hs__site_addr(site))
            site_names[site] = name_site(hs__site_addr(site));
        if (site_names[site])
            name = site_names[site];
    }
    pthread_mutex_unlock(&names_mu);
    return name;
}

/* ---- data symbols, for inspection ------------------------------------------ */

struct hs_globals {
    struct hs_mods mods;
};

struct hs_globals *hs__globals_open(void)
{
    struct hs_globals *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    pthread_mutex_lock(&snap_mu);
    if (hs__roots_modules(&g->mods) < 0) {
        pthread_mutex_unlock(&snap_mu);
        free(g);
        return NULL;
    }
    return g;
}

void hs__globals_close(struct hs_globals *g)
{
    if (!g)
        return;
    hs__roots_modules_free(&g->mods);
    pthread_mutex_unlock(&snap_mu);
    free(g);
}

int hs__globals_find(const struct hs_globals *g, const char *name, size_t len, uintptr_t *addr,
                     uint64_t *size)
{
    /* dl_iterate_phdr lists the program first. */
    for (size_t i = 0; i < g->mods.n; i++) {
        const struct hs_mod *m = &g->mods.v[i];
        if (m->is_agent)
            continue;
        for (size_t k = 0; k < m->nsyms; k++) {
            const char *sn = m->syms[k].name;
            if (!strncmp(sn, name, len) && sn[len] == '\0') {
                *addr = m->base + m->syms[k].off;
                *size = m->syms[k].size;
                return 1;
            }
        }
    }
    return 0;
}

const char *hs__globals_at(const struct hs_globals *g, uintptr_t a, uintptr_t *start,
                           uint64_t *size)
{
    for (size_t i = 0; i < g->mods.n; i++) {
        const struct hs_mod *m = &g->mods.v[i];
        int in = 0;
        for (int s = 0; s < m->nsegs && !in; s++)
            in = a >= m->segs[s].lo && a < m->segs[s].hi;
        if (!in || m->is_agent)
            continue;
        const struct hs_sym_range *r = hs__roots_sym(m->syms, m->nsyms, a - m->base);
        if (!r)
            return NULL;
        *start = m->base + r->off;
        *size = r->size;
        return r->name;
    }
    return NULL;
}

int hs__globals_main(const struct hs_globals *g, size_t i, const char **name, uintptr_t *addr,
                     uint64_t *size)
{
    if (g->mods.n == 0 || g->mods.v[0].is_agent || i >= g->mods.v[0].nsyms)
        return 0;
    const struct hs_mod *m = &g->mods.v[0];
    *name = m->syms[i].name;
    *addr = m->base + m->syms[i].off;
    *size = m->syms[i].size;
    return 1;
}

/* ---- module group ids: even, the same in every snapshot ------------------ */

struct gid_entry {
    char *path;
    uintptr_t base;
    uint32_t gid;
    struct gid_entry *next;
};
static struct gid_entry *gids;
static uint32_t next_gid = 4; /* 2 is the leaked group */

static uint32_t module_gid(const char *path, uintptr_t base)
{
    for (struct gid_entry *e = gids; e; e = e->next)
        if (e->base == base && !strcmp(e->path, path))
            return e->gid;
    struct gid_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path))) {
        free(e);
        return next_gid += 2;
    }
    e->base = base;
    e->gid = next_gid;
    next_gid += 2;
    e->next = gids;
    gids = e;
    return e->gid;
}

/* ---- a job --------------------------------------------------------------- */

struct hs_snap_job {
    pid_t pid;
    int fd; /* the parent's end: the pipe's reading end, or the file */
    struct hs_snap_in in;
    struct hs_capture cap;
    struct hs_snap_shared *sh;
    uint64_t t0;
};

static int child_main(struct hs_capture *cap, void *arg)
{
    (void)cap;
    struct hs_snap_job *job = arg;
    if (job->fd != job->in.out_fd)
        close(job->fd);
    return hs__graph_run(&job->in);
}

static void job_free(struct hs_snap_job *job)
{
    hs__roots_modules_free(&job->in.mods);
    hs__trace_free(&job->in.trace);
    free(job->cap.threads);
    if (job->sh)
        munmap(job->sh, sizeof(*job->sh));
    free(job);
}

/* Everything up to the fork. out_fd: where the child writes. */
static int job_start(struct hs_snap_job **out, int read_fd, int out_fd,
                     const struct hs_snap_samples *samples)
{
    *out = NULL;
    if (!hs__registry_on)
        return HS_E_STATE;
    struct hs_snap_job *job = calloc(1, sizeof(*job));
    if (!job)
        return HS_E_NOMEM;
    job->t0 = now_ns();
    job->fd = read_fd;
    job->in.out_fd = out_fd;
    if (samples)
        job->in.samples = *samples;
    int rc = hs__roots_modules(&job->in.mods);
    if (rc == 0)
        rc = name_sites();
    if (rc == 0)
        rc = hs__trace_prepare(&job->in.trace);
    if (rc < 0) {
        job_free(job);
        return rc;
    }
    for (size_t i = 0; i < job->in.mods.n; i++)
        job->in.mods.v[i].gid = module_gid(job->in.mods.v[i].path, job->in.mods.v[i].base);
    job->in.site_names = (const char *const *)site_names;
    job->in.nsite_names = nsite_names;
    int nt = hs__capture_count_threads();
    job->cap.cap = (nt > 0 ? nt : 0) + 64;
    job->cap.threads = calloc((size_t)job->cap.cap, sizeof(struct hs_thread));
    job->sh =
        mmap(NULL, sizeof(*job->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (job->sh == MAP_FAILED)
        job->sh = NULL;
    if (!job->cap.threads || !job->sh) {
        job_free(job);
        return HS_E_NOMEM;
    }
    job->in.cap = &job->cap;
    job->in.shared = job->sh;
    pid_t pid = hs__capture_fork(&job->cap, child_main, job);
    if (pid < 0) {
        job_free(job);
        return pid;
    }
    job->pid = pid;
    *out = job;
    return 0;
}

static int job_finish(struct hs_snap_job *job, int abort, struct hs_snap_stats *st)
{
    if (abort)
        kill(job->pid, SIGKILL);
    int status = 0;
    while (waitpid(job->pid, &status, __WALL) < 0 && errno == EINTR)
        ;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && atomic_load(&job->sh->finished);
    if (st) {
        *st = job->sh->stats;
        st->threads = 0;
        for (int i = 0; i < job->cap.nthreads; i++)
            st->threads += job->cap.threads[i].captured;
        st->threads_missed = (uint32_t)job->cap.missed;
        st->pause_ns = job->cap.pause_ns;
        st->wall_ns = now_ns() - job->t0;
    }
    job_free(job);
    return abort ? HS_E_ABORTED : ok ? 0 : HS_E_STATE;
}

/* ---- streaming ----------------------------------------------------------- */

int hs__snapshot_begin(struct hs_snap_job **job, const struct hs_snap_samples *samples)
{
    pthread_mutex_lock(&snap_mu);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        int e = -errno;
        pthread_mutex_unlock(&snap_mu);
        return e;
    }
    int rc = job_start(job, p[0], p[1], samples);
    close(p[1]);
    if (rc < 0) {
        close(p[0]);
        pthread_mutex_unlock(&snap_mu);
    }
    return rc;
}

int hs__snapshot_fd(const struct hs_snap_job *job)
{
    return job->fd;
}

void hs__snapshot_progress(const struct hs_snap_job *job, uint64_t *done, uint64_t *total,
                           int *built)
{
    *done = atomic_load(&job->sh->done);
    *total = atomic_load(&job->sh->total);
    *built = atomic_load(&job->sh->built);
}

int hs__snapshot_end(struct hs_snap_job *job, int abort, struct hs_snap_stats *st)
{
    int fd = job->fd;
    int rc = job_finish(job, abort, st);
    close(fd);
    pthread_mutex_unlock(&snap_mu);
    return rc;
}

/* ---- to a file ----------------------------------------------------------- */

static int write_to_fd(int fd, void *st)
{
    struct hs_snap_job *job;
    int rc = job_start(&job, fd, fd, NULL);
    if (rc == 0)
        rc = job_finish(job, 0, st);
    return rc;
}

int hs__snapshot_write_file(const char *path, struct hs_snap_stats *st)
{
    pthread_mutex_lock(&snap_mu);
    int rc = hs_outpath_write_file(path, write_to_fd, st);
    pthread_mutex_unlock(&snap_mu);
    return rc;
}
