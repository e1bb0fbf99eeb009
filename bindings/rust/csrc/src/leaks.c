/*
 * leaks.c: leak tracking by allocation site (issue 23).  With BUFPOOL_TRACK
 * in the pool's flags, or BUFPOOL_TRACK=N in the environment at create,
 * one allocation in N (113 for the flag alone) remembers the caller of the
 * allocate call and the time; bufpool_report_live groups the live ones by
 * site.
 *
 * The cost stays off the roundtrip: each thread's cache counts down to its
 * next sample (tc->sample_left, one decrement on the fast path, never 0 in
 * a pool that does not track), and only the sampled call comes here.  A
 * sampled allocation is marked in its header (magic BUFPOOL__MAGIC_SAMPLED,
 * and bin 0, so that its release leaves the fast path) and recorded in a
 * hash table under its own lock, taken by the sampled call and by that
 * allocation's release, sometimes inside pool->lock (the order: pool,
 * then the table), never the other way round.
 */
#include "internal.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define LEAK_BUCKETS 1024u
#define LEAK_DEFAULT_EVERY 113u /* Netty's rate: a prime, so no loop's stride hides a site */

struct leak_rec {
    struct leak_rec *next;
    const struct bufpool_alloc *a;
    void *site;
    uint64_t born;
    size_t bytes;
};

struct bufpool__leaks {
    pthread_mutex_t lock;
    size_t live; /* records */
    struct leak_rec *bucket[LEAK_BUCKETS];
};

static size_t bucket_of(const struct bufpool_alloc *a)
{
    uintptr_t x = (uintptr_t)a >> 4; /* headers are 16-byte aligned at least */
    return (size_t)((x ^ (x >> 10)) % LEAK_BUCKETS);
}

/* The rate for a new pool: the environment's N (N >= 1) wins over the
 * flag, whose rate is LEAK_DEFAULT_EVERY; 0: no tracking. */
static unsigned every_for(unsigned flags, bool *from_env)
{
    const char *env = getenv("BUFPOOL_TRACK");
    *from_env = false;
    if (env && *env) {
        char *end;
        unsigned long n = strtoul(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= UINT32_MAX) {
            *from_env = true;
            return (unsigned)n;
        }
    }
    return flags & BUFPOOL_TRACK ? LEAK_DEFAULT_EVERY : 0;
}

int bufpool__leaks_init(struct bufpool *pool, unsigned flags)
{
    bool from_env;
    unsigned every = every_for(flags, &from_env);
    pool->track_every = every;
    pool->track_env = from_env;
    if (!every)
        return 0;
    struct bufpool__leaks *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    int err = pthread_mutex_init(&l->lock, NULL);
    if (err) {
        free(l);
        return -err;
    }
    pool->leaks = l;
    return 0;
}

void bufpool__leaks_fini(struct bufpool *pool)
{
    struct bufpool__leaks *l = pool->leaks;
    if (!l)
        return;
    for (size_t i = 0; i < LEAK_BUCKETS; i++)
        for (struct leak_rec *r = l->bucket[i], *next; r; r = next) {
            next = r->next;
            free(r);
        }
    pthread_mutex_destroy(&l->lock);
    free(l);
    pool->leaks = NULL;
}

/* fork(): the table's lock is taken with the pool's (after it: the only
 * order in which the two nest), so that the child does not inherit it
 * held by a thread it lacks. */
void bufpool__leaks_lock(struct bufpool *pool)
{
    if (pool->leaks)
        pthread_mutex_lock(&pool->leaks->lock);
}

void bufpool__leaks_unlock(struct bufpool *pool)
{
    if (pool->leaks)
        pthread_mutex_unlock(&pool->leaks->lock);
}

/* The countdown a thread's cache starts with, and restarts at after a
 * sample. */
uint64_t bufpool__sample_period(const struct bufpool *pool)
{
    return pool->track_every ? pool->track_every : UINT64_MAX;
}

/* Record a, just handed out to the caller at site.  Best effort: without
 * memory for the record the allocation goes unsampled. */
void bufpool__leak_add(struct bufpool *pool, struct bufpool_alloc *a, void *site)
{
    struct bufpool__leaks *l = pool->leaks;
    struct leak_rec *r;
    if (!l || !(r = malloc(sizeof *r)))
        return;
    r->a = a;
    r->site = site;
    r->born = bufpool__now_ns();
    r->bytes = bufpool__bytes(pool, a->n);
    size_t b = bucket_of(a);
    pthread_mutex_lock(&l->lock);
    r->next = l->bucket[b];
    l->bucket[b] = r;
    l->live++;
    pthread_mutex_unlock(&l->lock);
    a->magic = BUFPOOL__MAGIC_SAMPLED;
    a->bin = 0; /* its release leaves the fast path (pool.c) */
}

/* A sampled allocation's last release: forget it and unmark it. */
void bufpool__leak_remove(struct bufpool *pool, struct bufpool_alloc *a)
{
    struct bufpool__leaks *l = pool->leaks;
    size_t b = bucket_of(a);
    pthread_mutex_lock(&l->lock);
    for (struct leak_rec **p = &l->bucket[b]; *p; p = &(*p)->next)
        if ((*p)->a == a) {
            struct leak_rec *r = *p;
            *p = r->next;
            l->live--;
            free(r);
            break;
        }
    pthread_mutex_unlock(&l->lock);
    a->magic = BUFPOOL__MAGIC_ALLOC;
    if (!a->acct)
        bufpool__set_length(a, a->n); /* its bin again; an account's stays 0 */
}

/* ---- the report ---------------------------------------------------------- */

struct site_sum {
    void *site;
    size_t count, bytes;
    uint64_t oldest; /* the earliest birth */
};

static int by_site(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)((const struct site_sum *)x)->site;
    uintptr_t b = (uintptr_t)((const struct site_sum *)y)->site;
    return a < b ? -1 : a > b;
}

static int by_bytes(const void *x, const void *y)
{
    const struct site_sum *a = x, *b = y;
    return a->bytes > b->bytes ? -1 : a->bytes < b->bytes;
}

/* The live records born before `before`, one entry each, sorted by site
 * and then merged: *n sites.  NULL with *n 0 when there is none (or no
 * memory for the copy: -ENOMEM in *err). */
static struct site_sum *collect(struct bufpool__leaks *l, uint64_t before, size_t *n, int *err)
{
    *n = 0;
    *err = 0;
    pthread_mutex_lock(&l->lock);
    struct site_sum *s = l->live ? malloc(l->live * sizeof *s) : NULL;
    if (l->live && !s)
        *err = -ENOMEM;
    for (size_t i = 0; s && i < LEAK_BUCKETS; i++)
        for (struct leak_rec *r = l->bucket[i]; r; r = r->next)
            if (r->born <= before)
                s[(*n)++] = (struct site_sum){r->site, 1, r->bytes, r->born};
    pthread_mutex_unlock(&l->lock);
    if (!*n)
        return s;
    qsort(s, *n, sizeof *s, by_site);
    size_t k = 0;
    for (size_t i = 1; i < *n; i++) {
        if (s[i].site == s[k].site) {
            s[k].count++;
            s[k].bytes += s[i].bytes;
            if (s[i].oldest < s[k].oldest)
                s[k].oldest = s[i].oldest;
        } else {
            s[++k] = s[i];
        }
    }
    *n = k + 1;
    qsort(s, *n, sizeof *s, by_bytes);
    return s;
}

/* "function+0xoff (object)" where dladdr finds a symbol, else the address. */
static void print_site(FILE *out, void *site)
{
    Dl_info info;
    if (dladdr(site, &info) && info.dli_sname) {
        fprintf(out, "%s+%#tx (%s)", info.dli_sname, (char *)site - (char *)info.dli_saddr,
                info.dli_fname ? info.dli_fname : "?");
        return;
    }
    if (dladdr(site, &info) && info.dli_fname)
        fprintf(out, "%p (%s+%#tx)", site, info.dli_fname, (char *)site - (char *)info.dli_fbase);
    else
        fprintf(out, "%p", site);
}

BUFPOOL__API int bufpool_report_live(bufpool *pool, uint64_t min_age_ns, FILE *out)
{
    if (!pool || !out)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_report_live");
    struct bufpool__leaks *l = pool->leaks;
    if (!l) {
        fprintf(out, "bufpool: leak tracking is off (BUFPOOL_TRACK in the flags or the environment)\n");
        return 0;
    }
    uint64_t now = bufpool__now_ns();
    size_t n;
    int err;
    struct site_sum *s = collect(l, min_age_ns > now ? 0 : now - min_age_ns, &n, &err);
    if (err)
        return err;
    fprintf(out, "bufpool: live sampled allocations (1 in %u) older than %.3f ms: %zu site%s\n",
            pool->track_every, (double)min_age_ns / 1e6, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "  %zu allocation%s, %zu bytes, oldest %.3f ms: ", s[i].count,
                s[i].count == 1 ? "" : "s", s[i].bytes, (double)(now - s[i].oldest) / 1e6);
        print_site(out, s[i].site);
        fputc('\n', out);
    }
    fflush(out);
    free(s);
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

/* Destroy with BUFPOOL_TRACK in the environment and allocations live: say
 * who holds the memory before waiting for it. */
void bufpool__leaks_at_destroy(struct bufpool *pool, size_t live)
{
    if (!pool->track_env || !live || !pool->leaks)
        return;
    fprintf(stderr, "bufpool_destroy: %zu allocation%s still live; waiting for them\n", live,
            live == 1 ? "" : "s");
    (void)bufpool_report_live(pool, 0, stderr);
}
