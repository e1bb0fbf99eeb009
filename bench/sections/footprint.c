/*
 * footprint.c: what memory costs beyond the bytes handed out (section
 * "footprint").  Every figure comes from a fresh child process (this
 * binary run again through bench_child, so no heap state is inherited from
 * the sections before), one run each: these are memory figures, not
 * timings, except the last table's.
 *
 * Page-sized single buffers: a 64 MiB budget filled with 16,384
 * allocations of one 4 KiB buffer (n = 1), one byte written into each;
 * growth = VmHWM at the end minus VmRSS before the pool was created (peak
 * reset via clear_refs), over the budget.  The implementations of sized.h
 * (REGION pre-faulted at create).  Then, bufpool only (both modes): every
 * allocation released and one bufpool_try_allocate of the whole budget
 * (n = 16384) timed: any freed run should serve any length.
 *
 * Metadata: 1,000,000 live allocations of one 8-byte buffer: bufpool
 * (buffer_size 8, a 16 MiB budget), glibc malloc(8), jemalloc mallocx(8)
 * and mimalloc mi_malloc_aligned(8, 8) as reference; VmRSS with all of them
 * live minus VmRSS before the first, per live allocation (the 8 data bytes
 * included).  The pointer array is mapped and written before the baseline.
 *
 * Create: bufpool_create of a default pool with a 64 GiB budget, then
 * bufpool_destroy, timed over 21 rounds (5 with --quick) after a first
 * create whose RSS growth (VmRSS after create minus before) is reported.
 *
 * Targets (bufpool, default mode): page-sized RSS growth at most 1.05x the
 * budget, and the whole-budget try_allocate after the release succeeding;
 * metadata at most 64 B per live allocation; create + destroy at most
 * 1 ms, with at most 1 MiB of RSS growth after create.
 */
#include "sized.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG_BUFS (BENCH_MIXED_BUDGET / BENCH_MIXED_BS) /* 16384 */
#define META_COUNT 1000000u
#define META_BUDGET (16 * MiB)
#define CREATE_BUDGET ((size_t)64 << 30)
#define CREATE_MAX_ROUNDS 32

/* ---- page-sized single buffers -------------------------------------------- */

struct pg_res {
    long base_kb, hwm_kb;
    size_t count; /* allocations made */
    int err;      /* 0, or why the fill stopped (or create failed) */
    int tried;    /* bufpool: the whole-budget try was made */
    int try_rc;
    uint64_t try_ns;
};

static bench_slot pg_slots[PG_BUFS];

int bench_child_pages(int fd, int argc, char **argv)
{
    if (argc != 1)
        return 2;
    int impl = atoi(argv[0]);
    if (impl < 0 || impl >= NSZ)
        return 2;
    alarm(30); /* a fill that blocks: the budget is exactly the fill */
    bench_sized_load();
    const bench_sized *im = &bench_sized_impls[impl];
    struct pg_res res;
    memset(&res, 0, sizeof res);
    memset(pg_slots, 0, sizeof pg_slots); /* resident before the baseline */
    bench_reset_hwm();
    res.base_kb = bench_status_kb("VmRSS");
    void *pool;
    res.err = im->note ? -ENOTSUP : im->create(&pool, BENCH_MIXED_BS, BENCH_MIXED_BUDGET);
    if (res.err)
        goto out;
    for (size_t i = 0; i < PG_BUFS; i++) {
        if ((res.err = im->allocate(pool, 1, &pg_slots[i])))
            break;
        pg_slots[i].p[0] = (char)i;
        res.count++;
    }
    res.hwm_kb = bench_status_kb("VmHWM");
    for (size_t i = 0; i < res.count; i++)
        im->release(pool, &pg_slots[i]);
    if (impl == SZ_BUFPOOL || impl == SZ_REGION) {
        bufpool_alloc *a = NULL;
        uint64_t t0 = bench_now_ns();
        res.try_rc = bufpool_try_allocate(pool, PG_BUFS, &a);
        res.try_ns = bench_now_ns() - t0;
        res.tried = 1;
        bufpool_alloc_release(a);
    }
    im->destroy(pool);
out:
    return bench_child_write(fd, &res, sizeof res) ? 0 : 3;
}

/* A return code as text: "0" or "-EAGAIN (Resource temporarily...)". */
static const char *rc_text(char *buf, size_t len, int rc)
{
    static const struct {
        int err;
        const char *name;
    } names[] = {{EAGAIN, "-EAGAIN"}, {ENOMEM, "-ENOMEM"}, {E2BIG, "-E2BIG"},
                 {EINVAL, "-EINVAL"}, {ECANCELED, "-ECANCELED"}, {ETIMEDOUT, "-ETIMEDOUT"}};
    if (rc == 0)
        return "0";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (-rc == names[i].err) {
            snprintf(buf, len, "%s", names[i].name);
            return buf;
        }
    snprintf(buf, len, "%d", rc);
    return buf;
}

static void pages_table(void)
{
    int ids[NSZ];
    int n = bench_sized_available(ids);
    bench_progress("footprint: page-sized buffers, %d children ...\n", n);
    bench_out("### Page-sized single buffers: a 64 MiB budget filled with 4 KiB allocations\n\n");
    bench_out("%d allocations of one 4 KiB buffer (n = 1) fill the %zu MiB budget, one byte "
              "written into each; growth = VmHWM at the end minus VmRSS before the pool is "
              "created, in MiB and over the budget (REGION's includes its pre-faulted region). "
              "Then, bufpool only: all released and one bufpool_try_allocate of the whole budget "
              "(n = %d), its return code and time. One fresh child process each, one run.\n\n",
              (int)PG_BUFS, BENCH_MIXED_BUDGET / MiB, (int)PG_BUFS);
    bench_out("| implementation | allocations | RSS growth (MiB) | x budget | whole budget after "
              "release: return | time (us) |\n|:--|--:|--:|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        const bench_sized *im = &bench_sized_impls[ids[k]];
        char a0[16];
        snprintf(a0, sizeof a0, "%d", ids[k]);
        const char *args[1] = {a0}, *why;
        struct pg_res res;
        if (bench_child("pages", args, 1, &res, sizeof res, &why)) {
            bench_out("| %s | failed (%s) | | | | |\n", im->name, why);
            if (ids[k] == SZ_BUFPOOL)
                bench_target_text("page-sized buffers: RSS growth / budget", why, "<= 1.05 x",
                                  false);
            continue;
        }
        char rcb[32];
        if (res.count == 0) {
            bench_out("| %s | failed (%s) | | | | |\n", im->name, strerror(-res.err));
            continue;
        }
        double growth = (double)(res.hwm_kb - res.base_kb) * 1024.0;
        double ratio = growth / (double)BENCH_MIXED_BUDGET;
        bench_out("| %s | %zu%s%s%s | %.1f | %.2f |", im->name, res.count,
                  res.err ? " (stopped: " : "", res.err ? rc_text(rcb, sizeof rcb, res.err) : "",
                  res.err ? ")" : "", growth / (double)MiB, ratio);
        if (res.tried)
            bench_out(" %s | %.1f |\n", rc_text(rcb, sizeof rcb, res.try_rc),
                      (double)res.try_ns / 1e3);
        else
            bench_out(" | |\n");
        if (ids[k] != SZ_BUFPOOL)
            continue;
        if (res.err)
            bench_target_text("page-sized buffers: RSS growth / budget",
                              rc_text(rcb, sizeof rcb, res.err), "<= 1.05 x", false);
        else
            bench_target("page-sized buffers: RSS growth / budget", ratio, BENCH_AT_MOST, 1.05, "x");
        char measured[96];
        snprintf(measured, sizeof measured, "%s in %.1f us", rc_text(rcb, sizeof rcb, res.try_rc),
                 (double)res.try_ns / 1e3);
        bench_target_text("page-sized buffers: all released, then one try_allocate of the whole "
                          "budget (n = 16384) succeeds",
                          measured, "0 (success)", res.try_rc == 0);
    }
    bench_out("\n");
}

/* ---- metadata: a million live 8-byte allocations --------------------------- */

enum { META_BUFPOOL, META_GLIBC, META_JEMALLOC, META_MIMALLOC, NMETA };
static const char *const meta_name[NMETA] = {"bufpool (buffer_size 8)", "glibc malloc(8)",
                                             "jemalloc mallocx(8)", "mimalloc mi_malloc_aligned(8, 8)"};

struct meta_res {
    long base_kb, rss_kb;
    size_t count;
    int err;
};

int bench_child_meta(int fd, int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int kind = atoi(argv[0]);
    size_t count = strtoull(argv[1], NULL, 10);
    if (kind < 0 || kind >= NMETA || count == 0)
        return 2;
    struct meta_res res = {0, 0, 0, 0};
    if ((kind == META_JEMALLOC && bl_jemalloc_load(NULL)) ||
        (kind == META_MIMALLOC && bl_mimalloc_load(NULL))) {
        res.err = -ENOTSUP;
        return bench_child_write(fd, &res, sizeof res) ? 0 : 3;
    }
    void **ptr = mmap(NULL, count * sizeof *ptr, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED)
        return 3;
    memset(ptr, 0, count * sizeof *ptr); /* resident before the baseline */
    static const enum bl_heap heap[NMETA] = {BL_HEAP_GLIBC, BL_HEAP_GLIBC, BL_HEAP_JEMALLOC,
                                             BL_HEAP_MIMALLOC};
    bufpool *pool = NULL;
    res.base_kb = bench_status_kb("VmRSS");
    if (kind == META_BUFPOOL) {
        bufpool_config cfg = {.buffer_size = 8, .max_memory = META_BUDGET, .flags = 0};
        res.err = bufpool_create(&pool, &cfg);
    }
    for (size_t i = 0; !res.err && i < count; i++) {
        char *p;
        if (kind == META_BUFPOOL) {
            bufpool_alloc *a;
            if ((res.err = bufpool_allocate(pool, 1, &a)))
                break;
            ptr[i] = a;
            p = bufpool_alloc_first(a);
        } else {
            if (!(p = ptr[i] = bl_heap_alloc(heap[kind], 8, 8))) {
                res.err = -ENOMEM;
                break;
            }
        }
        p[0] = (char)i;
        res.count++;
    }
    res.rss_kb = bench_status_kb("VmRSS");
    for (size_t i = 0; i < res.count; i++) {
        if (kind == META_BUFPOOL)
            bufpool_alloc_release(ptr[i]);
        else
            bl_heap_free(heap[kind], ptr[i], 8, 8);
    }
    bufpool_destroy(pool);
    munmap(ptr, count * sizeof *ptr);
    return bench_child_write(fd, &res, sizeof res) ? 0 : 3;
}

static void meta_table(void)
{
    bench_progress("footprint: metadata, %d children ...\n", NMETA);
    bench_out("### Metadata: %u live allocations of one 8-byte buffer\n\n", META_COUNT);
    bench_out("VmRSS with all of them live minus VmRSS before the first (the pool, for bufpool, "
              "created after the baseline; budget %zu MiB), per live allocation, the 8 data bytes "
              "included. One fresh child process each, one run; the allocators are references.\n\n",
              META_BUDGET / MiB);
    bench_out("| implementation | RSS growth (MiB) | bytes per live allocation |\n|:--|--:|--:|\n");
    char cnt[24];
    snprintf(cnt, sizeof cnt, "%u", META_COUNT);
    for (int k = 0; k < NMETA; k++) {
        char a0[8];
        snprintf(a0, sizeof a0, "%d", k);
        const char *args[2] = {a0, cnt}, *why;
        struct meta_res res;
        if (bench_child("meta", args, 2, &res, sizeof res, &why)) {
            bench_out("| %s | failed (%s) | |\n", meta_name[k], why);
            if (k == META_BUFPOOL)
                bench_target_text("metadata: RSS per live 8-byte allocation", why, "<= 64 B", false);
            continue;
        }
        if (res.err == -ENOTSUP) {
            bench_out("| %s | not installed | |\n", meta_name[k]);
            continue;
        }
        if (res.err || res.count != META_COUNT) {
            bench_out("| %s | failed after %zu (%s) | |\n", meta_name[k], res.count,
                      strerror(-res.err));
            if (k == META_BUFPOOL)
                bench_target_text("metadata: RSS per live 8-byte allocation", "failed", "<= 64 B",
                                  false);
            continue;
        }
        double growth = (double)(res.rss_kb - res.base_kb) * 1024.0;
        double per = growth / (double)res.count;
        bench_out("| %s | %.1f | %.1f |\n", meta_name[k], growth / (double)MiB, per);
        if (k == META_BUFPOOL)
            bench_target("metadata: RSS per live 8-byte allocation", per, BENCH_AT_MOST, 64, "B");
    }
    bench_out("\n");
}

/* ---- create: a 64 GiB default pool ------------------------------------------ */

struct create_res {
    long base_kb, after_kb;
    int err, nr;
    double create_ns[CREATE_MAX_ROUNDS], destroy_ns[CREATE_MAX_ROUNDS];
};

int bench_child_create(int fd, int argc, char **argv)
{
    if (argc != 1)
        return 2;
    int nr = atoi(argv[0]);
    if (nr < 1 || nr > CREATE_MAX_ROUNDS)
        return 2;
    struct create_res res;
    memset(&res, 0, sizeof res);
    bufpool_config cfg = {.buffer_size = 4096, .max_memory = CREATE_BUDGET, .flags = 0};
    bufpool *pool;
    res.base_kb = bench_status_kb("VmRSS");
    res.err = bufpool_create(&pool, &cfg);
    res.after_kb = bench_status_kb("VmRSS");
    if (!res.err) {
        bufpool_destroy(pool);
        for (int r = 0; r < nr && !res.err; r++) {
            uint64_t t0 = bench_now_ns();
            res.err = bufpool_create(&pool, &cfg);
            uint64_t t1 = bench_now_ns();
            if (!res.err)
                bufpool_destroy(pool);
            uint64_t t2 = bench_now_ns();
            res.create_ns[r] = (double)(t1 - t0);
            res.destroy_ns[r] = (double)(t2 - t1);
            res.nr = r + 1;
        }
    }
    return bench_child_write(fd, &res, sizeof res) ? 0 : 3;
}

static void create_table(void)
{
    int nr = bench_opt.quick ? 5 : 21;
    bench_progress("footprint: create, %d rounds ...\n", nr);
    bench_out("### Create: a default pool with a 64 GiB budget\n\n");
    bench_out("In a fresh child process: one bufpool_create, its RSS growth (VmRSS after minus "
              "before), bufpool_destroy; then %d rounds of create + destroy, each timed; "
              "microseconds, median (min..max) of the rounds.\n\n",
              nr);
    char a0[8];
    snprintf(a0, sizeof a0, "%d", nr);
    const char *args[1] = {a0}, *why;
    struct create_res res;
    if (bench_child("create", args, 1, &res, sizeof res, &why) || res.err || res.nr != nr) {
        const char *msg = why && *why ? why : res.err ? strerror(-res.err) : "failed";
        bench_out("create: failed (%s)\n\n", msg);
        bench_target_text("create + destroy, 64 GiB budget: time", msg, "<= 1000.00 us", false);
        return;
    }
    double cr[CREATE_MAX_ROUNDS], de[CREATE_MAX_ROUNDS], both[CREATE_MAX_ROUNDS];
    for (int r = 0; r < nr; r++) {
        cr[r] = res.create_ns[r] / 1e3;
        de[r] = res.destroy_ns[r] / 1e3;
        both[r] = cr[r] + de[r];
    }
    bench_spread sc = bench_spread_of(cr, (size_t)nr), sd = bench_spread_of(de, (size_t)nr),
                 sb = bench_spread_of(both, (size_t)nr);
    double kib = (double)(res.after_kb - res.base_kb);
    bench_out("| implementation | create (us) | destroy (us) | create + destroy (us) | RSS growth "
              "after create (KiB) |\n|:--|--:|--:|--:|--:|\n");
    bench_out("| bufpool | %s | %s | %s | %.0f |\n\n", BENCH_SPREAD(sc, 1), BENCH_SPREAD(sd, 1),
              BENCH_SPREAD(sb, 1), kib);
    bench_target("create + destroy, 64 GiB budget: time", sb.med, BENCH_AT_MOST, 1000, "us");
    bench_target("create, 64 GiB budget: RSS growth", kib, BENCH_AT_MOST, 1024, "KiB");
}

void bench_section_footprint(void)
{
    bench_sized_load();
    bench_out("## Footprint: page-sized buffers, metadata, create\n\n");
    pages_table();
    meta_table();
    create_table();
}
