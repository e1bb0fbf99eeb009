/*
 * region.c: the allocator behind BUFPOOL_REGION.
 *
 * The region is one anonymous mapping carved in units of one buffer.  Its
 * memory is handed to io_uring and O_DIRECT, so it holds no metadata: all
 * bookkeeping lives in two malloc'ed arrays beside it.
 *
 * Design: a bitmap (1 = free) plus a segment tree of run summaries.
 *
 *   - The units are grouped in leaves of LEAF_UNITS (512) bits, one cache
 *     line of bitmap each.
 *   - A binary tree over the leaves stores, per node, the free run touching
 *     its left edge (pre), the one touching its right edge (suf) and the
 *     longest free run anywhere inside it (max), all in units.  A parent is
 *     computed from its two children in O(1) (see pull()).
 *   - alloc(n) descends from the root towards the leftmost place where a run
 *     of n starts: into the left child if its max >= n, else across the
 *     middle if left.suf + right.pre >= n, else into the right child.  It is
 *     address-ordered first fit, which fragments about as little as best fit
 *     in the classic studies (Johnstone & Wilson), and it is exact: the root's
 *     max is the true longest free run, so a run of n is found iff one exists.
 *   - alloc and free then mark [i, i+n) used or free with a range update
 *     that stops at nodes the range covers whole, so both cost O(log leaves)
 *     nodes plus at most two partial leaves, whatever n is.  A covered node
 *     is made "uniform" (max == 0 or max == its length); its children are
 *     only brought up to date (push()) when a later operation goes below it.
 *   - Coalescing is implicit: a free run is just a stretch of one bits, so
 *     freeing every run leaves the root at max == units, always.
 *   - largest() is the root's max: O(1).
 *   - Leaf work is word-at-a-time (ctz/clz): at most LEAF_WORDS words and
 *     the runs inside the non-uniform ones, a constant bound.
 *
 * Why not TLSF segregated lists with out-of-band boundary maps?  They would
 * be faster per call (this costs about 50 ns per alloc or free on a 64 MiB
 * region of 4 KiB buffers), but every free run needs a node and hash entries,
 * up to units / 2 of them (about 25 bytes per unit for 1 GiB of 8-byte
 * buffers), and free() may need a new node, which it cannot report failing.
 * Here all metadata is allocated once at create and bounded by the unit
 * count: 64 bytes of bitmap and at most 48 bytes of tree (two 24-byte
 * nodes on 64-bit) per 512 units, about 1.75 bits per unit.  1 GiB of
 * 8-byte buffers (128M units) costs 28 MiB (2.7 %); 64 MiB of 4 KiB buffers
 * costs under 4 KiB.
 * alloc and free never allocate, never fail spuriously and are O(log units).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define HUGE_2M ((size_t)2 << 20)
/* 64-bit words of bitmap per leaf: one cache line.  Tests may build with a
 * smaller value to exercise the tree on small regions. */
#ifdef BUFPOOL__REGION_LEAF_WORDS
#define LEAF_WORDS BUFPOOL__REGION_LEAF_WORDS
#else
#define LEAF_WORDS 8
#endif
#define LEAF_UNITS ((size_t)LEAF_WORDS * 64)

/* The free runs of one tree node, in units. */
struct seg {
    size_t pre; /* free run starting at the node's first unit */
    size_t suf; /* free run ending at its last unit */
    size_t max; /* longest free run inside it */
};

struct bufpool__region {
    bool owns;            /* base was mapped here (else: an arena's chunk) */
    char *base;
    size_t length;        /* bytes mapped */
    size_t units;         /* length / buffer_size */
    size_t nleaves;       /* ceil(units / LEAF_UNITS) */
    uint64_t *bits;       /* nleaves * LEAF_WORDS words; 1 = free */
    struct seg *seg;      /* 2 * nleaves - 1 nodes, layout in node ids below */
};

/* ---- the tree ------------------------------------------------------------
 * A node covers the leaves [l, r).  The root is node 0 over [0, nleaves).
 * Node id's left child [l, mid) is id + 1 and its right child [mid, r) is
 * id + 2 * (mid - l): a subtree over k leaves has 2k - 1 nodes, so the left
 * subtree fills ids id+1 .. id+2(mid-l)-1.  Exactly 2 * nleaves - 1 nodes. */

static inline size_t unit_lo(size_t leaf)
{
    return leaf * LEAF_UNITS;
}

/* A node's end in units; the last leaf may be partial. */
static inline size_t unit_hi(const struct bufpool__region *r, size_t leaf_end)
{
    size_t hi = leaf_end * LEAF_UNITS;
    return hi < r->units ? hi : r->units;
}

static inline size_t left_id(size_t id) { return id + 1; }
static inline size_t right_id(size_t id, size_t l, size_t mid) { return id + 2 * (mid - l); }

static inline size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* ---- leaves: plain bitmap work on LEAF_WORDS words ----------------------- */

/* The valid bits of word i of a leaf of len units (64 but for a partial
 * last word).  Bits at and beyond len are always 0. */
static inline size_t word_bits(size_t len, size_t i)
{
    return len - i * 64 < 64 ? len - i * 64 : 64;
}

/* The free run ending at the last valid bit of x (vb valid bits).  x has a
 * 0 among its valid bits, so the complement below is never 0. */
static inline size_t word_lead(uint64_t x, size_t vb)
{
    return (size_t)__builtin_clzll(~(x << (64 - vb)));
}

/*
 * Recompute a leaf's summary from its bitmap, a word at a time.  cur is
 * the free run ending where the scan stands; it grows through all-free
 * words and the trailing ones of a word, and is reset to the word's leading
 * ones once a 0 is seen.  Every run ends either inside a word (measured by
 * the inner loop, which also measures the last run of the word, a lower
 * bound of that run if it goes on) or at a 0 that closes cur, or at the
 * leaf's end (the final max with cur); so max sees every run's full length.
 */
static void leaf_summarize(const uint64_t *w, size_t len, struct seg *s)
{
    size_t cur = 0, max = 0, pre = SIZE_MAX;
    for (size_t i = 0; i * 64 < len; i++) {
        size_t vb = word_bits(len, i);
        uint64_t x = w[i];
        if (x == ~(uint64_t)0) { /* all free; then vb is 64 */
            cur += 64;
            continue;
        }
        size_t t = (size_t)__builtin_ctzll(~x); /* trailing ones, <= vb */
        cur += t;
        if (t == vb)
            continue; /* a partial last word, free throughout */
        if (pre == SIZE_MAX)
            pre = cur; /* the first 0 of the leaf ends the prefix */
        if (cur > max)
            max = cur;
        for (uint64_t y = x >> t; y;) { /* y's bit 0 is a 0 here */
            y >>= __builtin_ctzll(y);
            size_t r = (size_t)__builtin_ctzll(~y); /* < 64: y's top bit is 0 */
            if (r > max)
                max = r;
            y >>= r;
        }
        cur = word_lead(x, vb);
    }
    s->pre = pre == SIZE_MAX ? len : pre;
    s->suf = cur;
    s->max = cur > max ? cur : max;
}

/* The leftmost run of n free bits in a leaf; the caller knows one exists.
 * The same walk as leaf_summarize(), stopping at the first run that reaches
 * n: cur counts the run ending at the scan position, which started at the
 * position minus cur; in-word runs start at their first bit. */
static size_t leaf_find(const uint64_t *w, size_t len, size_t n)
{
    size_t cur = 0;
    for (size_t i = 0; i * 64 < len; i++) {
        size_t vb = word_bits(len, i), base = i * 64;
        uint64_t x = w[i];
        size_t t = x == ~(uint64_t)0 ? 64 : (size_t)__builtin_ctzll(~x);
        cur += t;
        if (cur >= n)
            return base + t - cur;
        if (t == vb)
            continue;
        size_t pos = t;
        for (uint64_t y = x >> t; y;) {
            size_t z = (size_t)__builtin_ctzll(y);
            y >>= z;
            pos += z;
            size_t r = (size_t)__builtin_ctzll(~y);
            if (r >= n)
                return base + pos;
            y >>= r;
            pos += r;
        }
        cur = word_lead(x, vb);
    }
    return len; /* unreachable when a run exists */
}

/* Set (free) or clear (used) bits [a, b) of a leaf. */
static void leaf_assign(uint64_t *w, size_t a, size_t b, bool free_)
{
    while (a < b) {
        size_t i = a / 64, lo = a % 64;
        size_t hi = (b - i * 64) < 64 ? b - i * 64 : 64; /* exclusive, in word */
        uint64_t m = (hi - lo == 64) ? ~(uint64_t)0 : (((uint64_t)1 << (hi - lo)) - 1) << lo;
        if (free_)
            w[i] |= m;
        else
            w[i] &= ~m;
        a = i * 64 + hi;
    }
}

/* ---- nodes ----------------------------------------------------------------- */

/* Make node id over leaves [l, r) all free or all used.  A leaf gets its
 * bitmap written too, so a leaf's bitmap is exact whenever its summary is;
 * an inner node's children are left as they are and fixed by push(). */
static void set_uniform(struct bufpool__region *r, size_t id, size_t l, size_t rr, bool free_)
{
    size_t len = unit_hi(r, rr) - unit_lo(l);
    struct seg *s = &r->seg[id];
    s->pre = s->suf = s->max = free_ ? len : 0;
    if (rr - l == 1) {
        uint64_t *w = r->bits + l * LEAF_WORDS;
        memset(w, 0, LEAF_WORDS * sizeof(uint64_t)); /* bits past len stay 0 */
        if (free_)
            leaf_assign(w, 0, len, true);
    }
}

/*
 * Before looking below an inner node, bring its children up to date.
 *
 * Invariant: the root's summary is exact, and a node whose summary is exact
 * and not uniform has exact children.  Children go stale only when their
 * parent is made uniform by set_uniform(), and a uniform summary tells the
 * children's whole content (every unit free, or every unit used), so
 * copying it down restores the invariant one level further.  Doing so when
 * the children are already exact rewrites the same values: harmless.
 */
static void push(struct bufpool__region *r, size_t id, size_t l, size_t rr)
{
    size_t len = unit_hi(r, rr) - unit_lo(l);
    size_t m = r->seg[id].max;
    if (m != 0 && m != len)
        return;
    size_t mid = l + (rr - l) / 2;
    set_uniform(r, left_id(id), l, mid, m != 0);
    set_uniform(r, right_id(id, l, mid), mid, rr, m != 0);
}

/*
 * A parent's summary from its children's.  pre: the left child's prefix,
 * continued into the right child's prefix when the left child is free
 * throughout.  suf likewise mirrored.  max: a run lies in the left child,
 * in the right one, or crosses the middle, where it is at most the left
 * suffix joined to the right prefix - and exactly that one is a free run.
 */
static void pull(struct bufpool__region *r, size_t id, size_t l, size_t mid, size_t rr)
{
    const struct seg *a = &r->seg[left_id(id)], *b = &r->seg[right_id(id, l, mid)];
    size_t alen = unit_lo(mid) - unit_lo(l), blen = unit_hi(r, rr) - unit_lo(mid);
    struct seg *s = &r->seg[id];
    s->pre = a->pre == alen ? alen + b->pre : a->pre;
    s->suf = b->suf == blen ? blen + a->suf : b->suf;
    s->max = max3(a->max, b->max, a->suf + b->pre);
}

/* Mark the units [a, b) free or used below node id over leaves [l, rr);
 * [a, b) meets the node.  Covered nodes stop the descent (set_uniform), so
 * at most two nodes per level are partly covered: O(log leaves) nodes and
 * at most two leaves of bitmap work. */
static void update(struct bufpool__region *r, size_t id, size_t l, size_t rr,
                   size_t a, size_t b, bool free_)
{
    size_t lo = unit_lo(l), hi = unit_hi(r, rr);
    if (a <= lo && hi <= b) {
        set_uniform(r, id, l, rr, free_);
        return;
    }
    if (rr - l == 1) {
        uint64_t *w = r->bits + l * LEAF_WORDS;
        leaf_assign(w, (a > lo ? a : lo) - lo, (b < hi ? b : hi) - lo, free_);
        leaf_summarize(w, hi - lo, &r->seg[id]);
        return;
    }
    push(r, id, l, rr);
    size_t mid = l + (rr - l) / 2, split = unit_lo(mid);
    if (a < split)
        update(r, left_id(id), l, mid, a, b, free_);
    if (b > split)
        update(r, right_id(id, l, mid), mid, rr, a, b, free_);
    pull(r, id, l, mid, rr);
}

/*
 * The leftmost start of n free units below node id; its max is >= n.
 *
 * Why it is the leftmost: a run of n lies wholly in the left child, or
 * crosses the middle, or lies wholly in the right child, and every start
 * of the first kind is left of every start of the second, which is left of
 * the third.  Among crossing runs the leftmost start is the left child's
 * free suffix start, mid - left.suf, and a crossing run of n exists iff
 * left.suf + right.pre >= n.  If neither of the first two kinds exists,
 * right.max = parent.max >= n, so the descent never dead-ends.  Nodes seen
 * are exact: the parent is exact and non-uniform (a uniform free node
 * returns at once), so its children are exact by push()'s invariant.
 */
static size_t search(const struct bufpool__region *r, size_t id, size_t l, size_t rr, size_t n)
{
    for (;;) {
        size_t lo = unit_lo(l), hi = unit_hi(r, rr);
        if (r->seg[id].max == hi - lo)
            return lo; /* all free, possibly with stale children */
        if (rr - l == 1)
            return lo + leaf_find(r->bits + l * LEAF_WORDS, hi - lo, n);
        size_t mid = l + (rr - l) / 2;
        const struct seg *a = &r->seg[left_id(id)], *b = &r->seg[right_id(id, l, mid)];
        if (a->max >= n) {
            id = left_id(id);
            rr = mid;
        } else if (a->suf + b->pre >= n) {
            return unit_lo(mid) - a->suf;
        } else {
            id = right_id(id, l, mid);
            l = mid;
        }
    }
}

/* ---- mapping -------------------------------------------------------------- */

/* The region's memory, or MAP_FAILED.  With huge pages: MAP_HUGETLB with
 * 2 MiB pages (len is a multiple of 2 MiB), else a normal mapping trimmed
 * to a 2 MiB boundary so transparent huge pages can back it, with
 * MADV_HUGEPAGE advice.  Huge pages never make this fail. */
static void *map_region(size_t len, unsigned flags)
{
    const int prot = PROT_READ | PROT_WRITE, fl = MAP_PRIVATE | MAP_ANONYMOUS;
    void *p;
    if (!(flags & BUFPOOL_HUGEPAGES))
        return mmap(NULL, len, prot, fl, -1, 0);
    p = mmap(NULL, len, prot, fl | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
    if (p != MAP_FAILED)
        return p;
    p = len <= SIZE_MAX - HUGE_2M ? mmap(NULL, len + HUGE_2M, prot, fl, -1, 0) : MAP_FAILED;
    if (p != MAP_FAILED) {
        /* Keep the 2 MiB-aligned len bytes inside; unmap the slack. */
        uintptr_t start = ((uintptr_t)p + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1);
        size_t head = start - (uintptr_t)p;
        if (head)
            munmap(p, head);
        if (HUGE_2M - head)
            munmap((char *)start + len, HUGE_2M - head);
        p = (void *)start;
    } else {
        p = mmap(NULL, len, prot, fl, -1, 0);
    }
#ifdef MADV_HUGEPAGE
    if (p != MAP_FAILED)
        (void)madvise(p, len, MADV_HUGEPAGE); /* advice only; may be off */
#endif
    return p;
}

/* ---- the interface ----------------------------------------------------------- */

static size_t bits_bytes(const struct bufpool__region *r)
{
    return r->nleaves * LEAF_WORDS * sizeof(uint64_t);
}

static size_t seg_bytes(const struct bufpool__region *r)
{
    return (2 * r->nleaves - 1) * sizeof(struct seg);
}

/* The bookkeeping of `length` bytes in units of buffer_size, all free: a
 * zeroed bitmap and tree, stale below the root, which set_uniform() marks
 * all free; push() fills the rest on demand. */
static struct bufpool__region *tree_new(size_t length, size_t buffer_size)
{
    struct bufpool__region *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->length = length;
    r->units = length / buffer_size;
    r->nleaves = (r->units + LEAF_UNITS - 1) / LEAF_UNITS;
    r->bits = bufpool__zalloc(bits_bytes(r));
    r->seg = bufpool__zalloc(seg_bytes(r));
    if (!r->bits || !r->seg) {
        bufpool__zfree(r->bits, bits_bytes(r));
        bufpool__zfree(r->seg, seg_bytes(r));
        free(r);
        return NULL;
    }
    set_uniform(r, 0, 0, r->nleaves, true);
    return r;
}

static void tree_free(struct bufpool__region *r)
{
    bufpool__zfree(r->bits, bits_bytes(r));
    bufpool__zfree(r->seg, seg_bytes(r));
    free(r);
}

int bufpool__region_create(struct bufpool__region **out, size_t buffer_size,
                           size_t max_memory, unsigned flags)
{
    *out = NULL;
    long ps = sysconf(_SC_PAGESIZE);
    size_t align = ps > 0 ? (size_t)ps : 4096;
    if ((flags & BUFPOOL_HUGEPAGES) && align < HUGE_2M)
        align = HUGE_2M;
    if (buffer_size == 0 || max_memory > SIZE_MAX - (align - 1))
        return -ENOMEM;
    size_t length = (max_memory + align - 1) & ~(align - 1);
    if (length / buffer_size == 0)
        return -EINVAL; /* the caller promised max_memory >= buffer_size */

    struct bufpool__region *r = tree_new(length, buffer_size);
    if (!r)
        return -ENOMEM;
    void *p = map_region(length, flags);
    int err = 0;
    if (p == MAP_FAILED) {
        err = -ENOMEM;
    } else if ((flags & BUFPOOL_LOCKED) && mlock(p, length) != 0) {
        err = errno ? -errno : -ENOMEM;
        munmap(p, length);
    }
    if (err) {
        tree_free(r);
        return err;
    }
    r->base = p;
    r->owns = true;
    *out = r;
    return 0;
}

int bufpool__region_create_over(struct bufpool__region **out, void *base, size_t length,
                                size_t buffer_size)
{
    *out = tree_new(length, buffer_size);
    if (!*out)
        return -ENOMEM;
    (*out)->base = base;
    return 0;
}

void bufpool__region_destroy(struct bufpool__region *r)
{
    if (!r)
        return;
    if (r->owns)
        munmap(r->base, r->length); /* also drops an mlock */
    tree_free(r);
}

void *bufpool__region_base(const struct bufpool__region *r)
{
    return r->base;
}

size_t bufpool__region_length(const struct bufpool__region *r)
{
    return r->length;
}

/* ---- for the arena, which serializes every call under its own lock ---- */

size_t bufpool__region_find_locked(const struct bufpool__region *r, size_t n)
{
    return n != 0 && r->seg[0].max >= n ? search(r, 0, 0, r->nleaves, n) : SIZE_MAX;
}

void bufpool__region_take_locked(struct bufpool__region *r, size_t index, size_t n)
{
    update(r, 0, 0, r->nleaves, index, index + n, false);
}

void bufpool__region_give_locked(struct bufpool__region *r, size_t index, size_t n)
{
    update(r, 0, 0, r->nleaves, index, index + n, true);
}

void bufpool__region_edges_locked(const struct bufpool__region *r, size_t *pre, size_t *suf,
                                  size_t *max)
{
    *pre = r->seg[0].pre;
    *suf = r->seg[0].suf;
    *max = r->seg[0].max;
}

/* Every unit of [a, b) free, below node id over leaves [l, rr)?  Uniform
 * nodes answer for their whole range; others are brought up to date
 * (push) and asked through their children. */
static bool range_free(struct bufpool__region *r, size_t id, size_t l, size_t rr, size_t a, size_t b)
{
    size_t lo = unit_lo(l), hi = unit_hi(r, rr);
    if (r->seg[id].max == hi - lo)
        return true;
    if (r->seg[id].max == 0)
        return false;
    if (rr - l == 1) {
        const uint64_t *w = r->bits + l * LEAF_WORDS;
        for (size_t i = (a > lo ? a : lo) - lo, e = (b < hi ? b : hi) - lo; i < e; i++)
            if (!(w[i / 64] >> (i % 64) & 1))
                return false;
        return true;
    }
    push(r, id, l, rr);
    size_t mid = l + (rr - l) / 2, split = unit_lo(mid);
    if (a < split && !range_free(r, left_id(id), l, mid, a, b))
        return false;
    return b <= split || range_free(r, right_id(id, l, mid), mid, rr, a, b);
}

bool bufpool__region_free_locked(struct bufpool__region *r, size_t index, size_t n)
{
    return n == 0 || range_free(r, 0, 0, r->nleaves, index, index + n);
}

size_t bufpool__region_units(const struct bufpool__region *r)
{
    return r->units;
}
