/*
 * Budgeted io_uring provided-buffer rings: the kernel picks the
 * buffer of a receive at completion time from a ring we keep stocked with
 * allocations of the pool, so an idle connection holds no buffer, and the
 * pool's budget bounds every ring together.
 *
 * THE DESIGN, and why.
 *
 * - The kernel ABI only (<linux/io_uring.h> and the io_uring_register
 *   system call); no liburing, so the library still needs nothing but libc,
 *   pthreads and kernel headers.
 *
 * - The ring memory is ours: an anonymous mmap (page-aligned and zeroed, as
 *   the kernel wants), registered by address.  IOU_PBUF_RING_MMAP (the
 *   kernel allocates, we mmap it at an offset made of the bgid) needs 6.4;
 *   our own mapping works on every kernel with provided-buffer rings
 *   (5.19+), with one code path, and we know when it can go (after the
 *   unregister).  It is metadata, 16 bytes a slot, and not charged to the
 *   budget: the budget is for buffers.
 *
 * - A buffer id is a slot: slot[bid] is the allocation behind it, or NULL
 *   when the kernel holds nothing under that id.  A bid counts as held from
 *   the moment we publish it until bufpool_bufring_take hands it to the
 *   caller.  The kernel's unconsumed ring entries are a subset of the held
 *   bids, so with `entries` ids there is always a ring position free for an
 *   empty one: the tail never laps the head.  Empty ids wait on a stack.
 *
 * - Restocking.  take restocks the id it emptied at once with
 *   bufpool_try_allocate (the fast path: a thread-cache pop, no lock, no
 *   system call), unless the internal waiter is pending: then it does not
 *   try at all, so that in BUFPOOL_FIFO mode the ring keeps its place in
 *   the queue and never overtakes the request ahead of it.  When a try
 *   finds no budget, bufpool_waiter_allocate makes the waiter pending for
 *   n.  refill picks up the waiter's grant (or, in the default mode, its
 *   "it fits now") first, then tries for the other empty ids, and arms the
 *   waiter again if some are still empty.
 *
 * - A budget shrunk below a slot's len: the try says -E2BIG, and the wait
 *   queue takes no request that large (a shrink fails those it holds), so
 *   the waiter watches the budget instead (bufpool__waiter_watch, waitq.c)
 *   and counts as pending; bufpool_set_max_memory writes the fd once the
 *   budget fits len again, and refill tries afresh.  While the waiter has
 *   nothing pending (a full ring), it watches for a shutdown only, so the
 *   fd turns readable at a shutdown in every state.  That watch is armed
 *   by create and refill, under the lock they take anyway; take's fast
 *   path keeps it as it is.
 *
 * WHY NO REFILL OPPORTUNITY IS LOST.  An id becomes empty only in take, on
 * the ring's own thread, and that call (or the refill after it) either
 * stocks it or leaves the waiter pending.  A pending waiter is an ordinary
 * async waiter of the pool: bufpool_waiter_allocate registered it and then
 * looked (took every cache, served the queue) under pool->lock, so memory
 * given back before the registration is seen by that look, and memory
 * given back after it is handed to the queue by the release that gives it
 * (the register-then-look / give-then-look handshake argued at the top of
 * waitq.c).  Whoever serves the waiter writes its eventfd, and the eventfd
 * is drained only inside bufpool_waiter_allocate, bufpool_waiter_cancel
 * and bufpool__waiter_watch, under the lock, before they read the waiter's
 * state; so a grant made after a drain leaves the fd readable.  A budget
 * that grows, a shutdown and a shrink below n reach a pending waiter the
 * same way.  A take whose try meets -E2BIG leaves a watch for the budget
 * to fit n, whose handshake (the watch reads max_memory and links under
 * the lock, set_max_memory stores and walks the watchers under it) is
 * argued in waitq.c; a refill that meets -E2BIG leaves the same watch.  So
 * every empty id is covered by a pending request or that watch.  While no
 * id is empty, nothing can be refilled, and only a shutdown is watched.
 *
 * DECISIONS.
 * - bufpool_bufring_fd: readable when the waiter was served, when the
 *   budget grew back to fit a slot after a shrink below it, or when the
 *   pool was shut down, full or not (an event loop must learn of the
 *   shutdown; refill then says -ECANCELED).  Otherwise not readable
 *   while the ring is full (at most one stale readiness, which the next
 *   refill resets).
 * - take of a bid the kernel does not hold (out of range, never stocked,
 *   taken already) is NULL and changes nothing.  The library cannot tell a
 *   bid from a completion from one still in the ring: take only bids that
 *   a completion carried.
 * - destroy unregisters first, so the kernel picks no buffer any more, then
 *   releases what the ring still holds, then frees the ring memory.
 *   Completions not taken yet lose their buffers with it; receives still in
 *   flight should be cancelled (or the io_uring instance closed) first.
 * - After bufpool_shutdown, refill returns -ECANCELED (and resets the fd);
 *   take still hands out what the kernel returns, and destroy works.
 * - Incremental consumption (IOU_PBUF_RING_INC, Linux 6.12+) is a
 *   separate create, bufpool_bufring_create_inc, and a separate take,
 *   bufpool_bufring_take_inc, rather than a flag: a flag would change
 *   create's prototype, and take cannot serve such a ring.  There one large
 *   buffer serves several receives, each at the offset where the previous
 *   one ended, and the kernel keeps the buffer (IORING_CQE_F_BUF_MORE) until
 *   it is used up.  So a completion is a share of an allocation: take_inc
 *   returns a reference of its own (bufpool_alloc_retain) and the share's
 *   address while the kernel keeps the buffer, and the ring's reference
 *   with the last share; the memory goes back when the kernel and every
 *   share are done with it.  Offsets are tracked per bid (off[bid]),
 *   exactly as the kernel advances the entry's address.  take_inc also
 *   serves an ordinary ring (the share is the whole buffer), so a loop may
 *   use it for both; plain take on an incremental ring is NULL, because
 *   it cannot say where the data is.
 * - A failed create or refill changes nothing and leaks nothing.  A refill
 *   that stocked something and then met an error reports the count: what
 *   it stocked is its success.
 */
#include "internal.h"

#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BUFRING_MAX_ENTRIES 32768u
/* Kernel ABI values of 6.12 that the 6.1 headers here lack (they are enum
 * constants in later headers, so they cannot be tested with #ifdef). */
#define BUFRING_PBUF_RING_INC 2u          /* IOU_PBUF_RING_INC */
#define BUFRING_CQE_F_BUF_MORE (1u << 4) /* IORING_CQE_F_BUF_MORE */

/* io_uring_buf_reg as the kernel reads it.  Headers before 6.4 call the
 * field after bgid `pad`, later ones `flags`; the layout is the ABI and the
 * same in both, so we write our own copy and check it against theirs. */
struct bufring_reg {
    uint64_t ring_addr;
    uint32_t ring_entries;
    uint16_t bgid;
    uint16_t flags;
    uint64_t resv[3];
};
_Static_assert(sizeof(struct bufring_reg) == sizeof(struct io_uring_buf_reg), "io_uring_buf_reg");
_Static_assert(offsetof(struct bufring_reg, bgid) == offsetof(struct io_uring_buf_reg, bgid),
               "io_uring_buf_reg.bgid");
_Static_assert(sizeof(struct io_uring_buf) == 16, "io_uring_buf");

struct bufpool_bufring {
    struct bufpool *pool;
    int ring_fd;
    uint16_t bgid;
    uint16_t tail;           /* ours; published with a release store */
    unsigned entries;
    size_t n;                /* buffers per allocation */
    uint32_t len;            /* n * buffer_size, as the kernel sees a buffer */
    struct io_uring_buf_ring *ring;
    size_t ring_bytes;
    bufpool_alloc **slot;    /* by bid: what the kernel holds, or NULL */
    uint16_t *empty;         /* stack of empty bids */
    unsigned nempty;
    bufpool_waiter *w;       /* readiness: pending for n when a restock found no budget */
    bool pending;            /* w is pending, or watching for the budget to fit len */
    size_t watch;            /* what w last watched: 0 nothing, len, SIZE_MAX a shutdown only */
    bool inc;                /* IOU_PBUF_RING_INC */
    uint32_t *off;           /* inc: by bid, the bytes of the buffer handed out so far */
};

static int uring_register(int fd, unsigned op, void *arg, unsigned nr)
{
    long r = syscall(__NR_io_uring_register, fd, op, arg, nr);
    return r < 0 ? -errno : 0;
}

static int ring_register(struct bufpool_bufring *br, unsigned op)
{
    struct bufring_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)br->ring,
        .ring_entries = br->entries,
        .bgid = br->bgid,
        /* the kernel refuses flags on the unregister */
        .flags = (uint16_t)(br->inc && op == IORING_REGISTER_PBUF_RING ? BUFRING_PBUF_RING_INC : 0),
    };
    return uring_register(br->ring_fd, op, &reg, 1);
}

/* Write a into the ring under bid; visible to the kernel at publish(). */
static void stage(struct bufpool_bufring *br, bufpool_alloc *a)
{
    uint16_t bid = br->empty[--br->nempty];
    struct io_uring_buf *b = &br->ring->bufs[br->tail & (br->entries - 1)];
    b->addr = (uint64_t)(uintptr_t)bufpool_alloc_first(a);
    b->len = br->len;
    b->bid = bid;
    br->slot[bid] = a;
    if (br->off)
        br->off[bid] = 0;
    br->tail++;
}

static void publish(struct bufpool_bufring *br)
{
    /* release: the kernel reads the tail, then the entries before it (it
     * loads the tail with acquire ordering). */
    store_release((_Atomic uint16_t *)&br->ring->tail, br->tail);
}

static unsigned held(const struct bufpool_bufring *br)
{
    return br->entries - br->nempty;
}

/* The eventfd's readiness, for the cases no server signals. */
static void fd_signal(struct bufpool_bufring *br)
{
    (void)eventfd_write(bufpool_waiter_fd(br->w), 1);
}

/* One allocation for an empty bid: the waiter's grant when it is pending,
 * else a try, else the waiter armed.  0, -EAGAIN (now pending), or the
 * pool's error. */
static int restock_one(struct bufpool_bufring *br, bufpool_alloc **a)
{
    if (!br->pending) {
        int r = bufpool_try_allocate(br->pool, br->n, a);
        if (r != -EAGAIN)
            return r;
    }
    /* Same n: a FIFO waiter keeps its place; otherwise a fresh try that
     * registers the waiter (register, then look) when it fails. */
    int r = bufpool_waiter_allocate(br->w, br->n, a);
    br->pending = r == -EAGAIN;
    return r;
}

/* After a restock that ended with r: whenever the waiter has no request
 * pending in the queue, it watches (waitq.c), so that its fd turns
 * readable at a shutdown in every state of the ring, and, after a restock
 * met a budget shrunk below len (-E2BIG, which queues nothing), once the
 * budget fits len again.  That watch counts as pending: take does not try
 * again, refill does; each -E2BIG arms it afresh (it may have fired, and
 * the fd that called refill must be reset).  The shutdown watch (SIZE_MAX)
 * is armed once and stays through takes and queued requests (a request
 * leaves it alone), so take's fast path never takes the lock for it; only
 * a shutdown fires it, and after that every call says -ECANCELED. */
static void park(struct bufpool_bufring *br, int r)
{
    size_t want;
    if (r == -E2BIG) {
        br->pending = true;
        want = br->len;
    } else if (!br->pending && r != -ECANCELED && r != -EBADF) {
        want = SIZE_MAX;
        if (br->watch == want)
            return;
    } else {
        return; /* pending in the queue (the watch, if any, stays); or shut
                 * down (the fd says so), or forked */
    }
    br->watch = bufpool__waiter_watch(br->w, want) == 0 ? want : 0;
}

/* Stock empty bids until the budget runs out.  The first error that stops
 * it, or 0. */
static int restock(struct bufpool_bufring *br)
{
    int r = 0;
    bool staged = false;
    while (br->nempty) {
        bufpool_alloc *a;
        r = restock_one(br, &a);
        if (r)
            break;
        stage(br, a);
        staged = true;
    }
    if (staged)
        publish(br);
    park(br, r);
    return r;
}

BUFPOOL__API int bufpool_bufring_refill(bufpool_bufring *br)
{
    if (!br)
        return -EINVAL;
    if (load_relaxed(&br->pool->shut)) {
        bufpool_waiter_cancel(br->w); /* resets the fd */
        br->pending = false;
        br->watch = 0;
        return -ECANCELED;
    }
    if (!br->nempty) {
        /* Nothing to refill: reset a stale readiness (the watch drains the
         * fd) and keep watching for a shutdown. */
        if (!br->pending) {
            br->watch = 0;
            park(br, 0);
        }
        return (int)held(br);
    }
    unsigned before = br->nempty;
    int r = restock(br);
    if (r == -ECANCELED)
        fd_signal(br); /* a shutdown raced with this call: tell the loop */
    if (r && r != -EAGAIN && br->nempty == before)
        return r;
    return (int)held(br);
}

/* Empty bid's slot and restock it; the ring's reference goes to the caller. */
static bufpool_alloc *slot_take(bufpool_bufring *br, unsigned bid)
{
    bufpool_alloc *a = br->slot[bid];
    br->slot[bid] = NULL;
    br->empty[br->nempty++] = (uint16_t)bid;
    if (!br->pending) {
        /* Restock at once if the budget allows; a pending waiter means we
         * wait our turn, and its fd tells the loop when. */
        int r = restock(br);
        if (r == -ECANCELED)
            fd_signal(br);
    }
    return a;
}

BUFPOOL__API bufpool_alloc *bufpool_bufring_take(bufpool_bufring *br, unsigned bid)
{
    /* An incremental ring's data may sit anywhere in the buffer: take_inc. */
    if (!br || br->inc || bid >= br->entries || !br->slot[bid])
        return NULL;
    return slot_take(br, bid);
}

BUFPOOL__API bufpool_alloc *bufpool_bufring_take_inc(bufpool_bufring *br, unsigned cqe_flags,
                                                     int res, void **data)
{
    if (data)
        *data = NULL;
    unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
    if (!br || !data || res <= 0 || !(cqe_flags & IORING_CQE_F_BUFFER) || bid >= br->entries ||
        !br->slot[bid])
        return NULL;
    uint32_t off = br->off ? br->off[bid] : 0;
    if ((uint32_t)res > br->len - off)
        return NULL; /* more than is left of that buffer: not one of its completions */
    bufpool_alloc *a = br->slot[bid];
    *data = (char *)bufpool_alloc_first(a) + off;
    if (br->inc && (cqe_flags & BUFRING_CQE_F_BUF_MORE)) {
        /* The kernel keeps the rest of the buffer: a share of our own. */
        br->off[bid] = off + (uint32_t)res;
        return bufpool_alloc_retain(a);
    }
    return slot_take(br, bid);
}

BUFPOOL__API int bufpool_bufring_fd(const bufpool_bufring *br)
{
    return br ? bufpool_waiter_fd(br->w) : -EINVAL;
}

/* Free what create made, in reverse; the ring must not be registered. */
static void bufring_free(struct bufpool_bufring *br)
{
    for (unsigned bid = 0; br->slot && bid < br->entries; bid++)
        bufpool_alloc_release(br->slot[bid]);
    bufpool_waiter_destroy(br->w);
    if (br->ring)
        munmap(br->ring, br->ring_bytes);
    free(br->slot);
    free(br->empty);
    free(br->off);
    free(br);
}

BUFPOOL__API void bufpool_bufring_destroy(bufpool_bufring *br)
{
    if (!br)
        return;
    /* First, so the kernel picks no buffer of ours any more.  An error
     * (the ring's fd closed, the instance gone) means there is no
     * registration left to remove. */
    (void)ring_register(br, IORING_UNREGISTER_PBUF_RING);
    bufring_free(br);
}

static int check_args(bufpool *pool, unsigned entries, size_t n)
{
    if (n == 0 || entries == 0 || entries > BUFRING_MAX_ENTRIES ||
        (entries & (entries - 1)))
        return -EINVAL;
    /* Never fits: beyond the budget, or longer than a ring entry's 32-bit
     * length can say. */
    if (n > (SIZE_MAX >> pool->shift) || bufpool__bytes(pool, n) > load_relaxed(&pool->max_memory) ||
        bufpool__bytes(pool, n) > UINT32_MAX)
        return -E2BIG;
    if (load_relaxed(&pool->shut))
        return -ECANCELED;
    return 0;
}

static int bufring_alloc(bufpool *pool, unsigned entries, size_t n, bool inc,
                         struct bufpool_bufring **out)
{
    struct bufpool_bufring *br = calloc(1, sizeof *br);
    if (!br)
        return -ENOMEM;
    br->pool = pool;
    br->entries = entries;
    br->n = n;
    br->len = (uint32_t)bufpool__bytes(pool, n);
    br->slot = calloc(entries, sizeof *br->slot);
    br->empty = malloc(entries * sizeof *br->empty);
    br->inc = inc;
    br->off = inc ? calloc(entries, sizeof *br->off) : NULL;
    long page = sysconf(_SC_PAGESIZE);
    br->ring_bytes = ((size_t)entries * sizeof(struct io_uring_buf) + (size_t)page - 1) &
                     ~((size_t)page - 1);
    void *m = mmap(NULL, br->ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    br->ring = m == MAP_FAILED ? NULL : m;
    bool ok = br->slot && br->empty && br->ring && (!inc || br->off);
    int r = ok ? bufpool_waiter_create(pool, &br->w) : -ENOMEM;
    if (r) {
        bufring_free(br);
        return r;
    }
    /* Lowest bids first: popped from the top of the stack. */
    for (unsigned i = 0; i < entries; i++)
        br->empty[i] = (uint16_t)(entries - 1 - i);
    br->nempty = entries;
    *out = br;
    return 0;
}

static int create(bufpool *pool, int ring_fd, unsigned short bgid, unsigned entries, size_t n,
                  bool inc, bufpool_bufring **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!pool)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_bufring_create");
    int r = check_args(pool, entries, n);
    if (r)
        return r;
    struct bufpool_bufring *br;
    if ((r = bufring_alloc(pool, entries, n, inc, &br)))
        return r;
    br->ring_fd = ring_fd;
    br->bgid = bgid;
    if ((r = ring_register(br, IORING_REGISTER_PBUF_RING))) {
        bufring_free(br);
        return r;
    }
    /* Stock as far as the budget allows; an empty ring with its waiter
     * pending is a success (FIFO: others were first). */
    r = restock(br);
    if (r && r != -EAGAIN) {
        bufpool_bufring_destroy(br);
        return r;
    }
    *out = br;
    return 0;
}

BUFPOOL__API int bufpool_bufring_create(bufpool *pool, int ring_fd, unsigned short bgid,
                                        unsigned entries, size_t n, bufpool_bufring **out)
{
    return create(pool, ring_fd, bgid, entries, n, false, out);
}

BUFPOOL__API int bufpool_bufring_create_inc(bufpool *pool, int ring_fd, unsigned short bgid,
                                            unsigned entries, size_t n, bufpool_bufring **out)
{
    return create(pool, ring_fd, bgid, entries, n, true, out);
}
