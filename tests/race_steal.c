/*
 * race_steal: a stealer must not take a cache's bins while their owner is
 * inside its busy window (the handshake in src/cache.c).  The forced
 * interleaving, with a budget of one buffer:
 *   O allocates and releases its buffer (cached in O's bin), then starts
 *   another allocation and stops inside its window, before the pop.  W asks
 *   for a buffer: the budget is taken, so W registers and steals every
 *   cache, and finds O inside its window (it stops there once, then waits
 *   for O).  O goes on: its pop must find the buffer it cached, and W must
 *   still be waiting.  O releases; W must get that buffer.
 * Without the wait for busy, W takes O's bin under O's pop: W returns
 * while O is stopped, and O misses its own cached buffer.
 * Twice: with W's steal the pool's first (its barrier is membarrier()),
 * and on a pool that steals coming close together turned fenced (owners
 * fence in their window, the stealer only fences; O's window is then its
 * full path's, not the fast path's).  Then once more in a fenced pool with
 * O's buffer cached for an account (O allocates and releases through it):
 * W's steal takes account caches above their reservation, O's fenced
 * window must hold it off the same way, and O's release, a push into its
 * account cache in a fenced pool, must then serve W (a lost wakeup times
 * W out).
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

static bufpool *pool;
static bufpool_account *o_acct; /* O's requests go through it when set */
static bufpool_alloc *cached;
static _Atomic int w_done, w_result = 1;
static bufpool_alloc *_Atomic w_got;

struct owner {
    struct race_plan plan;
    struct race_stop *in_window;
    bufpool_alloc *got;
    _Atomic int ready;
};

static int o_get(bufpool_alloc **out)
{
    return o_acct ? bufpool_account_allocate(o_acct, 1, BUFPOOL_FOREVER, out) : bufpool_allocate(pool, 1, out);
}

static void *owner(void *arg)
{
    struct owner *o = arg;
    CHECK_EQ(o_get(&cached), 0);
    bufpool_alloc_release(cached); /* into O's bin (or account cache) */
    race_tl = &o->plan;
    CHECK_EQ(o_get(&o->got), 0); /* stops inside */
    race_tl = NULL;
    return NULL;
}

struct stealer {
    struct race_plan plan;
    struct race_stop *wait;
};

static void *stealer(void *arg)
{
    struct stealer *w = arg;
    race_tl = &w->plan;
    bufpool_alloc *a = NULL;
    int r = bufpool_allocate_timeout(pool, 1, 3000000000u, &a);
    atomic_store(&w_got, a);
    atomic_store(&w_result, r);
    atomic_store(&w_done, 1);
    return NULL;
}

/* Make the pool's steals look close together (a gap of 0 so far, the
 * last one now), then steal (set_max_memory steals every cache): that
 * steal turns the pool fenced unless this thread was preempted for over
 * 400 us in between, so try again then. */
static void make_fenced(void)
{
    for (int i = 0; i < 100 && !load_relaxed(&pool->fenced); i++) {
        pthread_mutex_lock(&pool->lock);
        pool->steal_gap_ns = 0;
        pool->steal_ns = bufpool__now_ns();
        pthread_mutex_unlock(&pool->lock);
        CHECK_EQ(bufpool_set_max_memory(pool, 64), 0);
    }
    CHECK(load_relaxed(&pool->fenced));
}

static void scenario(bool fenced, bool through_account)
{
    pool = make(64, 64, 0); /* one buffer */
    o_acct = NULL;
    bufpool_account_config ac = {.name = "O"};
    if (through_account)
        CHECK_EQ(bufpool_account_create(pool, NULL, &ac, &o_acct), 0);
    atomic_store(&w_done, 0);
    atomic_store(&w_result, 1);
    atomic_store(&w_got, NULL);
    if (fenced)
        make_fenced();
    else
        CHECK(!load_relaxed(&pool->fenced));
    struct owner o = {0};
    struct stealer w = {0};
    o.in_window = race_stop_at(&o.plan, BUFPOOL__HOOK_IN_WINDOW, 0);
    w.wait = race_stop_at(&w.plan, BUFPOOL__HOOK_STEAL_WAIT, 0);
    pthread_t to, tw;
    CHECK_EQ(pthread_create(&to, NULL, owner, &o), 0);
    race_await(o.in_window);
    CHECK_EQ(pthread_create(&tw, NULL, stealer, &w), 0);
    race_await(w.wait);  /* W found O inside its window */
    race_open(w.wait);   /* W goes on: it must wait for O */
    usleep(100000);
    CHECK(!atomic_load(&w_done)); /* not served from under O */
    race_open(o.in_window);
    CHECK_EQ(pthread_join(to, NULL), 0);
    CHECK(o.got == cached); /* O's pop found its own buffer */
    CHECK(!atomic_load(&w_done));
    bufpool_alloc_release(o.got); /* serves W */
    CHECK_EQ(pthread_join(tw, NULL), 0);
    CHECK_EQ(atomic_load(&w_result), 0);
    CHECK(atomic_load(&w_got) == cached);
    CHECK(load_relaxed(&pool->fenced) == fenced); /* the mode it was meant to test */
    bufpool_alloc_release(atomic_load(&w_got));
    bufpool_destroy(pool);
}

int main(void)
{
    race_init();
    if (bufpool__asym_available())
        scenario(false, false);
    else /* every pool is fenced for good */
        SKIP_PART("unfenced steal", "the kernel refuses membarrier()");
    scenario(true, false);
    scenario(true, true);
    return 0;
}
