/*
 * reclaim.c: a cache under a budget, with and without a reclaim callback
 * (section "reclaim"; issue [pressure], its Bench paragraph).
 *
 * The workload: an application cache that lives in the pool beside
 * temporary working buffers, the case reclaim is for (a fixed working set
 * plus bursts that exceed the budget).  The budget B is RC_BUDGET of 4 KiB
 * buffers.  Two worker threads share one cache: a table of RC_KEYS keys,
 * each key's entry 1..4 buffers (fixed per key), kept in LRU order under
 * one mutex.  A worker loops:
 *   - look up a key drawn from a Zipf distribution (s = RC_ZIPF_S over
 *     RC_KEYS keys: a hot head that fits in B, a long tail that does not).
 *     A hit reads a byte of the entry's first and last buffer under the
 *     mutex and moves it to the front.  A miss allocates the entry
 *     (blocking), writes every byte of it (the "fetch": the cost that makes
 *     the hit rate matter) and inserts it;
 *   - with probability 1 / RC_BURST_EVERY per lookup, a burst first: one
 *     allocation of 25..50% of B (a large temporary working buffer, say
 *     for a sort or a decompression), every byte written once (its work),
 *     then released.
 * Every request for memory, entries' and bursts', is timed: its wait.
 *
 * The set-ups differ only in how memory is made for a request:
 *   blocking alone   bufpool, no callback.  The cache bounds itself to
 *                    B - RC_BURST_MAX (room for one burst at its largest),
 *                    evicting its coldest entries before it allocates a
 *                    miss (the usual LRU with a size bound).  One burst
 *                    always fits; a second one while the first is held
 *                    blocks until that one is released.  Without the
 *                    headroom a burst would block until the cache shrank,
 *                    which it never does on its own (both workers blocked
 *                    in bursts, the cache full: a deadlock), so blocking
 *                    alone needs it.
 *   reclaim          bufpool with bufpool_set_reclaim: the callback evicts
 *                    the coldest entries until it has freed the bytes the
 *                    request lacks and returns what it freed.  The cache
 *                    has no bound of its own: it fills the budget, and the
 *                    pool asks for room exactly when a request is short.
 *   reclaim, 90%     the same, with the cache bounded to 90% of B as in
 *                    blocking alone: reclaim for the bursts only, and slack
 *                    that keeps entries' allocations off the budget's edge
 *                    (where the pool purges and faults pages back in, see
 *                    below).
 *   try + evict      bufpool without a callback, the loop an application
 *                    writes by hand: try_allocate; on -EAGAIN evict the
 *                    coldest entry and try again; blocking allocate once the
 *                    cache is empty.  No bound of its own.  Not in the
 *                    issue: it shows what the callback adds over doing it
 *                    by hand (it knows the bytes lacking).
 *   malloc + LRU     what a user would write without a pool: malloc/free
 *                    with the budget counted by the application under the
 *                    cache's mutex; a request that does not fit evicts the
 *                    coldest entries until it does, and waits on a condvar
 *                    if the cache is empty (bursts of the other worker hold
 *                    the rest).  No bound of its own.  The mutex+condvar
 *                    baseline of the other sections with the cache's
 *                    eviction in it; it bounds live bytes, not resident
 *                    memory, so its peak RSS is reported beside.
 * Wait = the time from a request's start to its memory in hand: for
 * blocking alone and reclaim, 90% the cache's own eviction before the
 * allocate call and the call; for reclaim the call (the callback's
 * evictions in it); for try + evict the loop; for malloc + LRU the budget
 * check with its evictions and waits, and malloc.  So every set-up's wait
 * holds the eviction it does for that request.
 *
 * Why these parameters.  B = 8 MiB; RC_KEYS = 4096 keys of 10 KiB on
 * average (40 MiB), Zipf s = 0.99: the cache holds a fifth of the keys at
 * most, so its hit rate depends on its size, which is what blocking alone
 * gives up to keep its headroom.  Bursts of 2..4 MiB evict 200 to 400
 * entries; one burst per RC_BURST_EVERY lookups of each worker (about 2000
 * lookups, some 700 misses, between two bursts) lets the cache refill
 * between bursts, without which keeping more entries would mean nothing
 * (with a burst every 256 lookups the larger caches never refilled and hit
 * no more than blocking alone's).  Bursts are then about 0.3% of requests:
 * they are in the p99.9, and in the bursts' own columns.
 *
 * What the pool's arena does here (bufpool's default mode): an allocation
 * of n buffers is one contiguous run; the cache's evictions free scattered
 * runs of 1..4 buffers, so a burst, and near the budget an entry too,
 * needs a run of fresh ("clean") units, for which the pool first gives
 * free resident memory back to the system (madvise, a TLB shootdown on the
 * other CPU) to stay within its budget, and the fresh run is faulted in as
 * it is written.  The page faults per burst and the peak RSS growth
 * columns show it; malloc keeps what it freed resident instead (over the
 * budget).
 *
 * Rounds: each set-up runs with a fresh pool and cache, RC_WARM to fill
 * the cache, then the counted time; the set-ups take turns, the order
 * rotated each round.  Cells: median (min..max) over the rounds of each
 * round's figure: throughput = lookups per second of both workers
 * (bursts' time included), hit rate, the wait percentiles over all
 * requests of the round, the bursts' own; page faults (minor, the whole
 * process) per burst; peak RSS growth (VmHWM at the end of the counted
 * time minus VmRSS before the pool was created, the peak reset via
 * clear_refs).  Each run is a child process of its own
 * (bench_child_reclaim), so that neither its RSS nor malloc's heap owes
 * anything to the runs before it.
 *
 * Targets (issue [pressure]): with reclaim, the wait p99 at most 1/10 of
 * blocking alone's; throughput at least blocking alone's.
 */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define RC_BS 4096u
#define RC_BUDGET (8 * MiB)
#define RC_KEYS 4096u
#define RC_ZIPF_S 0.99
#define RC_BURST_EVERY 4096u
#define RC_BURST_MIN (RC_BUDGET / 4)
#define RC_BURST_MAX (RC_BUDGET / 2)
#define RC_SLACK (2 * 4 * RC_BS) /* the entries two workers can have in flight */
#define RC_WORKERS 2
#define RC_MAX_SAMPLES (1u << 21)
#define RC_MAX_ROUNDS 9

enum { RC_BLOCK, RC_RECLAIM, RC_RECLAIM90, RC_TRY, RC_MALLOC, RC_NSETUP };
static const char *const rc_names[RC_NSETUP] = {
    "bufpool, blocking alone", "bufpool + reclaim", "bufpool + reclaim, cache bound 90%",
    "bufpool, try + evict by hand", "malloc + LRU, budget by the app"};

/* The cache's own bound in each set-up. */
static size_t rc_cap(int setup)
{
    switch (setup) {
    case RC_BLOCK:
        return RC_BUDGET - RC_BURST_MAX - RC_SLACK;
    case RC_RECLAIM90:
        return RC_BUDGET / 10 * 9;
    default:
        return SIZE_MAX;
    }
}

/* ---- the key distribution ------------------------------------------------ */

static double rc_cdf[RC_KEYS]; /* cumulative Zipf probabilities, key 0 hottest */

static void rc_zipf_init(void)
{
    double sum = 0;
    for (unsigned k = 0; k < RC_KEYS; k++)
        sum += 1.0 / pow((double)(k + 1), RC_ZIPF_S);
    double acc = 0;
    for (unsigned k = 0; k < RC_KEYS; k++) {
        acc += 1.0 / pow((double)(k + 1), RC_ZIPF_S) / sum;
        rc_cdf[k] = acc;
    }
    rc_cdf[RC_KEYS - 1] = 1.0;
}

static unsigned rc_key(uint64_t *seed)
{
    double u = (double)(bench_xorshift(seed) >> 11) * 0x1.0p-53;
    unsigned lo = 0, hi = RC_KEYS - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (rc_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* scatter the hot keys over the table, so that hot entries are not
     * neighbours in memory (a multiplicative hash, a bijection mod 2^12) */
    return (lo * 2654435761u) % RC_KEYS;
}

/* Buffers of key k's entry: 1..4, fixed per key. */
static size_t rc_nbufs(unsigned k)
{
    return 1 + ((k * 0x9E3779B1u) >> 16) % 4;
}

/* ---- the cache ------------------------------------------------------------ */

struct rc_entry {
    struct rc_entry *prev, *next; /* LRU list, while present */
    void *handle;                 /* bufpool_alloc, or the malloc'ed block */
    char *data;
    size_t bytes;
    bool present;
};

struct rc_cache {
    pthread_mutex_t lock;
    pthread_cond_t room; /* malloc+LRU: a release made room */
    int setup;
    bufpool *pool;
    struct rc_entry lru; /* sentinel: lru.next the hottest, lru.prev the coldest */
    struct rc_entry ent[RC_KEYS];
    size_t bytes, cap;   /* the cache's bytes and its own bound */
    size_t used;         /* malloc+LRU: the budget in use (entries, in flight, bursts) */
    unsigned sleepers;   /* malloc+LRU: waiting on room */
    uint64_t evicted;    /* entries evicted (capacity and pressure) */
    uint64_t reclaim_calls;
};

static void rc_unlink(struct rc_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void rc_push_front(struct rc_cache *c, struct rc_entry *e)
{
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
}

/* The memory of an entry or a burst back to where it came from.  Under
 * the cache's lock in malloc+LRU (the budget is the lock's). */
static void rc_free_locked(struct rc_cache *c, void *handle, size_t bytes)
{
    if (c->setup == RC_MALLOC) {
        free(handle);
        c->used -= bytes;
        if (c->sleepers)
            pthread_cond_broadcast(&c->room);
    } else {
        bufpool_alloc_release(handle);
    }
}

/* Evict the coldest entry; its bytes, 0 if the cache is empty.  Under the
 * lock. */
static size_t rc_evict_locked(struct rc_cache *c)
{
    struct rc_entry *e = c->lru.prev;
    if (e == &c->lru)
        return 0;
    rc_unlink(e);
    e->present = false;
    c->bytes -= e->bytes;
    c->evicted++;
    rc_free_locked(c, e->handle, e->bytes);
    return e->bytes;
}

/* The reclaim callback: the coldest entries, until bytes_needed are freed. */
static size_t rc_reclaim(void *arg, size_t bytes_needed)
{
    struct rc_cache *c = arg;
    size_t freed = 0, b = 1;
    pthread_mutex_lock(&c->lock);
    c->reclaim_calls++;
    while (freed < bytes_needed && (b = rc_evict_locked(c)) != 0)
        freed += b;
    pthread_mutex_unlock(&c->lock);
    return freed;
}

/* Memory for n buffers, the set-up's way: the call whose time is the
 * wait.  *data gets the first byte. */
static void *rc_get(struct rc_cache *c, size_t n, char **data)
{
    size_t bytes = n * RC_BS;
    bufpool_alloc *a = NULL;
    int err;
    switch (c->setup) {
    case RC_BLOCK:
    case RC_RECLAIM:
    case RC_RECLAIM90:
        err = bufpool_allocate(c->pool, n, &a);
        break;
    case RC_TRY:
        while ((err = bufpool_try_allocate(c->pool, n, &a)) == -EAGAIN) {
            pthread_mutex_lock(&c->lock);
            size_t b = rc_evict_locked(c);
            pthread_mutex_unlock(&c->lock);
            if (!b) {
                err = bufpool_allocate(c->pool, n, &a);
                break;
            }
        }
        break;
    default: { /* RC_MALLOC */
        pthread_mutex_lock(&c->lock);
        while (c->used + bytes > RC_BUDGET)
            if (!rc_evict_locked(c)) {
                c->sleepers++;
                pthread_cond_wait(&c->room, &c->lock);
                c->sleepers--;
            }
        c->used += bytes;
        pthread_mutex_unlock(&c->lock);
        char *p = malloc(bytes);
        if (!p)
            bench_die("reclaim: malloc(%zu) failed", bytes);
        *data = p;
        return p;
    }
    }
    if (err)
        bench_die("reclaim: allocate %zu buffers: %s", n, strerror(-err));
    *data = bufpool_alloc_first(a);
    return a;
}

static void rc_put(struct rc_cache *c, void *handle, size_t bytes)
{
    if (c->setup == RC_MALLOC) {
        pthread_mutex_lock(&c->lock);
        rc_free_locked(c, handle, bytes);
        pthread_mutex_unlock(&c->lock);
    } else {
        bufpool_alloc_release(handle);
    }
}

/* ---- the workers ---------------------------------------------------------- */

struct rc_worker {
    struct rc_cache *c;
    atomic_bool *stop;
    uint64_t seed;
    uint64_t *waits; /* one sample per allocate call */
    atomic_size_t nwaits;
    atomic_ullong ops, hits, bursts;
    uintptr_t acc;
};

/* A wait of ns, a burst's or an entry's: the kind in the low bit. */
static void rc_sample(struct rc_worker *w, uint64_t ns, bool burst)
{
    size_t i = atomic_load_explicit(&w->nwaits, memory_order_relaxed);
    if (i < RC_MAX_SAMPLES) {
        w->waits[i] = ns << 1 | burst;
        atomic_store_explicit(&w->nwaits, i + 1, memory_order_release);
    }
}

static void rc_burst(struct rc_worker *w)
{
    size_t lo = RC_BURST_MIN / RC_BS, hi = RC_BURST_MAX / RC_BS;
    size_t n = lo + bench_xorshift(&w->seed) % (hi - lo + 1);
    char *p;
    uint64_t t0 = bench_now_ns();
    void *h = rc_get(w->c, n, &p);
    rc_sample(w, bench_now_ns() - t0, true);
    memset(p, (int)(w->seed & 0x7f), n * RC_BS); /* the burst's work */
    w->acc += (uintptr_t)p[(n * RC_BS) / 2];
    rc_put(w->c, h, n * RC_BS);
    atomic_fetch_add_explicit(&w->bursts, 1, memory_order_relaxed);
}

static void rc_lookup(struct rc_worker *w)
{
    struct rc_cache *c = w->c;
    unsigned k = rc_key(&w->seed);
    struct rc_entry *e = &c->ent[k];
    pthread_mutex_lock(&c->lock);
    if (e->present) {
        w->acc += (uintptr_t)(e->data[0] + e->data[e->bytes - 1]);
        rc_unlink(e);
        rc_push_front(c, e);
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add_explicit(&w->hits, 1, memory_order_relaxed);
        return;
    }
    /* a miss: room under the cache's own bound first (evict before
     * allocate), then the allocation, outside the lock */
    size_t n = rc_nbufs(k), bytes = n * RC_BS;
    uint64_t t0 = bench_now_ns();
    while (c->bytes + bytes > c->cap && rc_evict_locked(c))
        ;
    pthread_mutex_unlock(&c->lock);
    char *p;
    void *h = rc_get(c, n, &p);
    rc_sample(w, bench_now_ns() - t0, false);
    memset(p, (int)k, bytes); /* the fetch */
    pthread_mutex_lock(&c->lock);
    if (e->present) { /* the other worker fetched it meanwhile */
        rc_free_locked(c, h, bytes);
    } else {
        e->handle = h;
        e->data = p;
        e->bytes = bytes;
        e->present = true;
        rc_push_front(c, e);
        c->bytes += bytes;
    }
    pthread_mutex_unlock(&c->lock);
}

static void *rc_worker_main(void *arg)
{
    struct rc_worker *w = arg;
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        if (bench_xorshift(&w->seed) % RC_BURST_EVERY == 0)
            rc_burst(w);
        rc_lookup(w);
        atomic_fetch_add_explicit(&w->ops, 1, memory_order_relaxed);
    }
    return NULL;
}

/* ---- one run -------------------------------------------------------------- */

/* A "Vm...:" line of /proc/self/status, in KiB; 0 if absent. */
static long rc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t l = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, l) && line[l] == ':') {
            v = atol(line + l + 1);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

/* Reset the peak RSS (VmHWM) to the current RSS. */
static void rc_reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

struct rc_result {
    double ops_s, hit, p50, p99, p999, bursts_s, evicted_s, calls_s, faults_burst, burst_p50, burst_p99, rss_mib;
    /* a worker still blocked RC_STUCK_NS after the stop, and the cache's
     * bytes then (what the callback could still have evicted) */
    bool stuck;
    size_t stuck_cache;
};

#define RC_STUCK_NS 2000000000u

static void rc_run(int setup, unsigned round, uint64_t warm_ns, uint64_t dur_ns,
                   uint64_t *const waits[RC_WORKERS],
                   struct rc_result *res)
{
    struct rc_cache *c = calloc(1, sizeof *c);
    if (!c)
        bench_die("reclaim: no memory for the cache");
    memset(c, 0, sizeof *c); /* resident before the base is read */
    rc_reset_peak();
    long base_kb = rc_status_kb("VmRSS");
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->room, NULL);
    c->setup = setup;
    c->lru.next = c->lru.prev = &c->lru;
    c->cap = rc_cap(setup);
    if (setup != RC_MALLOC) {
        bufpool_config cfg = {.buffer_size = RC_BS, .max_memory = RC_BUDGET};
        if (bufpool_create(&c->pool, &cfg) != 0)
            bench_die("reclaim: bufpool_create");
        if ((setup == RC_RECLAIM || setup == RC_RECLAIM90) &&
            bufpool_set_reclaim(c->pool, rc_reclaim, c) != 0)
            bench_die("reclaim: bufpool_set_reclaim");
    }
    atomic_bool stop = false;
    struct rc_worker w[RC_WORKERS];
    pthread_t t[RC_WORKERS];
    for (int i = 0; i < RC_WORKERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].c = c;
        w[i].stop = &stop;
        /* the same keys and bursts for every set-up of a round */
        w[i].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(2 * round + (unsigned)i + 1);
        w[i].waits = waits[i];
        if (pthread_create(&t[i], NULL, rc_worker_main, &w[i]) != 0)
            bench_die("reclaim: pthread_create");
    }
    bench_sleep_ns(warm_ns);
    size_t w0[RC_WORKERS];
    uint64_t o0 = 0, h0 = 0, b0 = 0;
    pthread_mutex_lock(&c->lock);
    uint64_t e0 = c->evicted, r0 = c->reclaim_calls;
    pthread_mutex_unlock(&c->lock);
    for (int i = 0; i < RC_WORKERS; i++) {
        w0[i] = atomic_load_explicit(&w[i].nwaits, memory_order_acquire);
        o0 += atomic_load(&w[i].ops);
        h0 += atomic_load(&w[i].hits);
        b0 += atomic_load(&w[i].bursts);
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t t0 = bench_now_ns();
    bench_sleep_ns(dur_ns);
    getrusage(RUSAGE_SELF, &ru1);
    uint64_t o1 = 0, h1 = 0, b1 = 0;
    size_t w1[RC_WORKERS];
    for (int i = 0; i < RC_WORKERS; i++) {
        w1[i] = atomic_load_explicit(&w[i].nwaits, memory_order_acquire);
        o1 += atomic_load(&w[i].ops);
        h1 += atomic_load(&w[i].hits);
        b1 += atomic_load(&w[i].bursts);
    }
    pthread_mutex_lock(&c->lock);
    uint64_t e1 = c->evicted, r1 = c->reclaim_calls;
    pthread_mutex_unlock(&c->lock);
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    res->rss_mib = (double)(rc_status_kb("VmHWM") - base_kb) / 1024.0;
    atomic_store(&stop, true);
    /* A worker that is still in a blocked request RC_STUCK_NS after the
     * stop waits for memory that only the cache holds, with the other
     * worker gone.  It happened with reclaim before pressure2's c6e3fda (a
     * blocked request whose call freed memory that the other worker took
     * slept without calling again); should it happen again, the table says
     * so, and the teardown's evictions below release it. */
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += RC_STUCK_NS / 1000000000u;
    res->stuck = false;
    res->stuck_cache = 0;
    for (int i = 0; i < RC_WORKERS; i++) {
        if (pthread_timedjoin_np(t[i], NULL, &dl) != 0) {
            pthread_mutex_lock(&c->lock);
            if (!res->stuck)
                res->stuck_cache = c->bytes;
            res->stuck = true;
            while (rc_evict_locked(c))
                ;
            pthread_mutex_unlock(&c->lock);
            pthread_join(t[i], NULL);
        }
        bench_sink += w[i].acc;
    }

    /* the counted window's waits of both workers, pooled */
    size_t n = 0;
    for (int i = 0; i < RC_WORKERS; i++)
        n += w1[i] - w0[i];
    uint64_t *all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        bench_die("reclaim: no memory for samples");
    for (int i = 0, at = 0; i < RC_WORKERS; i++) {
        memcpy(all + at, waits[i] + w0[i], (w1[i] - w0[i]) * sizeof *all);
        at += (int)(w1[i] - w0[i]);
    }
    qsort(all, n, sizeof *all, bench_cmp_u64);
    res->p50 = (double)(bench_pct(all, n, 0.50) >> 1) / 1e3;
    res->p99 = (double)(bench_pct(all, n, 0.99) >> 1) / 1e3;
    res->p999 = (double)(bench_pct(all, n, 0.999) >> 1) / 1e3;
    size_t nb = 0; /* the bursts' waits, still sorted */
    for (size_t i = 0; i < n; i++)
        if (all[i] & 1)
            all[nb++] = all[i];
    res->burst_p50 = (double)(bench_pct(all, nb, 0.50) >> 1) / 1e3;
    res->burst_p99 = (double)(bench_pct(all, nb, 0.99) >> 1) / 1e3;
    free(all);
    res->ops_s = (double)(o1 - o0) / secs;
    res->hit = o1 > o0 ? 100.0 * (double)(h1 - h0) / (double)(o1 - o0) : NAN;
    res->bursts_s = (double)(b1 - b0) / secs;
    res->evicted_s = (double)(e1 - e0) / secs;
    res->calls_s = (double)(r1 - r0) / secs;
    res->faults_burst = b1 > b0 ? (double)(ru1.ru_minflt - ru0.ru_minflt) / (double)(b1 - b0) : NAN;

    /* empty the cache, then the pool */
    pthread_mutex_lock(&c->lock);
    while (rc_evict_locked(c))
        ;
    pthread_mutex_unlock(&c->lock);
    if (c->pool)
        bufpool_destroy(c->pool);
    pthread_cond_destroy(&c->room);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- the section ---------------------------------------------------------- */

/* One run in a fresh process (`bench --child reclaim FD SETUP ROUND WARM
 * DUR`):
 * its RSS and its heap owe nothing to the runs before it (glibc's
 * per-thread arenas keep what an earlier run freed resident, which hid
 * malloc's footprint when the runs shared one process). */
int bench_child_reclaim(int fd, int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int setup = atoi(argv[0]);
    unsigned round = (unsigned)atoi(argv[1]);
    uint64_t warm = strtoull(argv[2], NULL, 10), dur = strtoull(argv[3], NULL, 10);
    if (setup < 0 || setup >= RC_NSETUP)
        return 2;
    rc_zipf_init();
    uint64_t *waits[RC_WORKERS];
    for (int i = 0; i < RC_WORKERS; i++) {
        if (!(waits[i] = malloc(RC_MAX_SAMPLES * sizeof *waits[i])))
            return 1;
        memset(waits[i], 0, RC_MAX_SAMPLES * sizeof *waits[i]); /* resident: not in the RSS growth */
    }
    struct rc_result res;
    rc_run(setup, round, warm, dur, waits, &res);
    return bench_child_write(fd, &res, sizeof res) ? 0 : 1;
}

void bench_section_reclaim(void)
{
    int nr = bench_opt.quick ? 2 : 5;
    uint64_t dur = bench_opt.quick ? 200000000u : 1000000000u;
    uint64_t warm = bench_opt.quick ? 50000000u : 200000000u;
    static struct rc_result res[RC_NSETUP][RC_MAX_ROUNDS];
    bench_progress("reclaim: %d set-ups x %d rounds, a child process each ...\n", RC_NSETUP, nr);
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < RC_NSETUP; j++) {
            int s = (j + r) % RC_NSETUP;
            char a_setup[16], a_round[16], a_warm[32], a_dur[32];
            snprintf(a_setup, sizeof a_setup, "%d", s);
            snprintf(a_round, sizeof a_round, "%d", r);
            snprintf(a_warm, sizeof a_warm, "%llu", (unsigned long long)warm);
            snprintf(a_dur, sizeof a_dur, "%llu", (unsigned long long)dur);
            const char *args[] = {a_setup, a_round, a_warm, a_dur};
            const char *why;
            if (bench_child("reclaim", args, 4, &res[s][r], sizeof res[s][r], &why) != 0)
                bench_die("reclaim: the run of '%s' failed: %s", rc_names[s], why);
        }

    enum { OPS, HIT, P50, P99, P999, BURSTS, EVICTED, CALLS, FAULTS, BP50, BP99, RSS, NCOL };
    bench_spread sp[RC_NSETUP][NCOL];
    for (int s = 0; s < RC_NSETUP; s++) {
        double v[NCOL][RC_MAX_ROUNDS];
        for (int r = 0; r < nr; r++) {
            const struct rc_result *x = &res[s][r];
            v[OPS][r] = x->ops_s / 1e6;
            v[HIT][r] = x->hit;
            v[P50][r] = x->p50;
            v[P99][r] = x->p99;
            v[P999][r] = x->p999;
            v[BURSTS][r] = x->bursts_s / 1e3;
            v[EVICTED][r] = x->evicted_s / 1e3;
            v[CALLS][r] = x->calls_s / 1e3;
            v[FAULTS][r] = x->faults_burst;
            v[BP50][r] = x->burst_p50;
            v[BP99][r] = x->burst_p99;
            v[RSS][r] = x->rss_mib;
        }
        for (int k = 0; k < NCOL; k++)
            sp[s][k] = bench_spread_of(v[k], (size_t)nr);
    }

    bench_out("## Reclaim: an LRU cache beside bursts, 8 MiB of 4 KiB buffers\n\n");
    bench_out("Two workers share an LRU cache of %u keys (Zipf s = %.2f; an entry is 1..4 buffers, "
              "fixed per key): a hit reads the entry, a miss allocates it (blocking), writes every "
              "byte (the fetch) and inserts it. Before one lookup in %u on average a worker takes "
              "a burst: one allocation of %zu..%zu MiB (25..50%% of the budget), every byte "
              "written, released. Set-ups: *blocking alone*: the cache bounds itself to the "
              "budget minus the largest burst (%zu KiB less for entries in flight), evicting "
              "before it allocates, so that one burst always fits and a second one waits for the "
              "first's release; *reclaim*: bufpool_set_reclaim's callback evicts the coldest "
              "entries until it has freed the bytes the request lacks, and the cache has no bound "
              "of its own; *reclaim, cache bound 90%%*: the same with the cache bounded to 90%% "
              "of the budget; *try + evict*: no bound, try_allocate and evict one entry per "
              "-EAGAIN, by hand; *malloc + LRU*: malloc/free, the budget counted by the "
              "application under the cache's mutex, evicting the coldest until a request fits (a "
              "condvar wait if the cache is empty). Wait = a request's time from its start to "
              "its memory, the eviction it does included (the bound's before the allocate call, "
              "the callback's inside it, the loop by hand, the application's budget check), "
              "every request of the round, entries and bursts; throughput = lookups per second "
              "of both workers, bursts' time included. Median (min..max) of %d interleaved "
              "rounds of %.0f ms, after %.0f ms filling the cache, a fresh pool and cache "
              "each.\n\n",
              RC_KEYS, RC_ZIPF_S, RC_BURST_EVERY, RC_BURST_MIN / MiB, RC_BURST_MAX / MiB,
              (size_t)RC_SLACK / KiB, nr, (double)dur / 1e6, (double)warm / 1e6);
    bench_out("| set-up | throughput (M lookups/s) | hit rate (%%) | wait p50 (us) | wait p99 (us) "
              "| wait p99.9 (us) | reclaim calls (k/s) |\n|:--|--:|--:|--:|--:|--:|--:|\n");
    for (int s = 0; s < RC_NSETUP; s++)
        bench_out("| %s | %s | %s | %s | %s | %s | %s |\n", rc_names[s], BENCH_SPREAD(sp[s][OPS], 3),
                  BENCH_SPREAD(sp[s][HIT], 1), BENCH_SPREAD(sp[s][P50], 2),
                  BENCH_SPREAD(sp[s][P99], 1), BENCH_SPREAD(sp[s][P999], 1),
                  s == RC_RECLAIM || s == RC_RECLAIM90 ? BENCH_SPREAD(sp[s][CALLS], 2) : "");
    bench_out("\n");
    bench_out("### The bursts, evictions and memory\n\n");
    bench_out("A burst's wait alone; entries evicted per second (the bound's and the "
              "callback's); minor page faults of the whole process per burst (a burst writes "
              "%zu..%zu pages); peak RSS growth over the run, against the budget's %zu MiB.\n\n",
              RC_BURST_MIN / 4096, RC_BURST_MAX / 4096, RC_BUDGET / MiB);
    bench_out("| set-up | bursts (k/s) | burst wait p50 (us) | burst wait p99 (us) | evicted (k "
              "entries/s) | page faults per burst | peak RSS growth (MiB) |\n"
              "|:--|--:|--:|--:|--:|--:|--:|\n");
    for (int s = 0; s < RC_NSETUP; s++)
        bench_out("| %s | %s | %s | %s | %s | %s | %s |\n", rc_names[s],
                  BENCH_SPREAD(sp[s][BURSTS], 3), BENCH_SPREAD(sp[s][BP50], 1),
                  BENCH_SPREAD(sp[s][BP99], 1), BENCH_SPREAD(sp[s][EVICTED], 1),
                  BENCH_SPREAD(sp[s][FAULTS], 0), BENCH_SPREAD(sp[s][RSS], 1));
    bench_out("\n");
    for (int s = 0; s < RC_NSETUP; s++)
        for (int r = 0; r < nr; r++)
            if (res[s][r].stuck)
                bench_out("Note: %s, round %d: a request was still blocked %.0f s after the other "
                          "worker had stopped, with %.1f MiB in the cache%s; the teardown's "
                          "evictions released it.\n\n",
                          rc_names[s], r + 1, RC_STUCK_NS / 1e9,
                          (double)res[s][r].stuck_cache / (double)MiB,
                          s == RC_RECLAIM || s == RC_RECLAIM90
                              ? " that its reclaim callback could have evicted"
                              : "");
    if (!bench_opt.busy) {
        bench_target("reclaim: allocate's wait p99 with reclaim vs blocking alone's / 10",
                     sp[RC_RECLAIM][P99].med, BENCH_AT_MOST, sp[RC_BLOCK][P99].med / 10, "us");
        bench_target("reclaim: throughput with reclaim vs blocking alone's", sp[RC_RECLAIM][OPS].med,
                     BENCH_AT_LEAST, sp[RC_BLOCK][OPS].med, "M/s");
    }
}
