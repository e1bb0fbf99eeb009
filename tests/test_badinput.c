/*
 * test_badinput: every public function given NULL, zero, overflowing or
 * absurd arguments returns its documented error or does its documented
 * nothing.  One row per case; `test_badinput --markdown` prints the table
 * that tests/BADINPUT.md holds (regenerate it when a row changes).
 * Fixtures: P, a pool of 64-byte buffers with a budget of 1024 bytes; A, a
 * live allocation of 2 buffers from P; W, a waiter on P; R, a region pool
 * (64-byte buffers, 4096 bytes).
 */
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

static bufpool *P, *R;
static bufpool_alloc *A;
static bufpool_waiter *W;
#define OUT_SENTINEL ((void *)0x1)

static bool create_ok(size_t bs, size_t max, unsigned flags, int expect)
{
    bufpool *p = OUT_SENTINEL;
    bufpool_config c = {bs, max, flags};
    int r = bufpool_create(&p, &c);
    if (r == 0)
        bufpool_destroy(p);
    return r == expect && (r == 0 || p == NULL);
}

/* An allocation call with out-parameter check: on error *out is NULL. */
#define ALLOC_IS(call, expect) do { bufpool_alloc *o = OUT_SENTINEL; int r = (call); \
    if (r == 0) { bufpool_alloc_release(o); } \
    return r == (expect) && (r == 0 || o == NULL); } while (0)

static bool c_null_out(void) { bufpool_config c = {64, 1024, 0}; return bufpool_create(NULL, &c) == -EINVAL; }
static bool c_null_cfg(void) { bufpool *p = OUT_SENTINEL; return bufpool_create(&p, NULL) == -EINVAL && !p; }
static bool c_bs0(void) { return create_ok(0, 1024, 0, -EINVAL); }
static bool c_bs7(void) { return create_ok(7, 1024, 0, -EINVAL); }
static bool c_bs12(void) { return create_ok(12, 1024, 0, -EINVAL); }
static bool c_bs_big(void) { return create_ok(((size_t)1 << 30) * 2, SIZE_MAX, 0, -EINVAL); }
static bool c_bs_max(void) { return create_ok(SIZE_MAX, SIZE_MAX, 0, -EINVAL); }
static bool c_max_small(void) { return create_ok(64, 63, 0, -EINVAL); }
static bool c_max0(void) { return create_ok(64, 0, 0, -EINVAL); }
static bool c_flags(void) { return create_ok(64, 1024, 0x80000000u, -EINVAL); }
static bool c_huge_noregion(void) { return create_ok(64, 1024, BUFPOOL_HUGEPAGES, -EINVAL); }
static bool c_max_huge(void) { return create_ok(8, SIZE_MAX, 0, 0); }
static bool c_region_huge(void) { return create_ok(4096, SIZE_MAX, BUFPOOL_REGION, -ENOMEM); }
static bool s_null(void) { bufpool_shutdown(NULL); return true; }
static bool d_null(void) { bufpool_destroy(NULL); return true; }
static bool a_null_pool(void) { ALLOC_IS(bufpool_allocate(NULL, 1, &o), -EINVAL); }
static bool a_null_out(void) { return bufpool_allocate(P, 1, NULL) == -EINVAL; }
static bool a_zero(void) { ALLOC_IS(bufpool_allocate(P, 0, &o), -EINVAL); }
static bool a_big(void) { ALLOC_IS(bufpool_allocate(P, 17, &o), -E2BIG); }
static bool a_ovf(void) { ALLOC_IS(bufpool_allocate(P, SIZE_MAX / 64 + 1, &o), -E2BIG); }
static bool a_max(void) { ALLOC_IS(bufpool_allocate(P, SIZE_MAX, &o), -E2BIG); }
static bool t_null_pool(void) { ALLOC_IS(bufpool_try_allocate(NULL, 1, &o), -EINVAL); }
static bool t_null_out(void) { return bufpool_try_allocate(P, 1, NULL) == -EINVAL; }
static bool t_zero(void) { ALLOC_IS(bufpool_try_allocate(P, 0, &o), -EINVAL); }
static bool t_max(void) { ALLOC_IS(bufpool_try_allocate(P, SIZE_MAX, &o), -E2BIG); }
static bool t_full(void) { ALLOC_IS(bufpool_try_allocate(P, 15, &o), -EAGAIN); }
static bool tm_null_pool(void) { ALLOC_IS(bufpool_allocate_timeout(NULL, 1, 0, &o), -EINVAL); }
static bool tm_null_out(void) { return bufpool_allocate_timeout(P, 1, 0, NULL) == -EINVAL; }
static bool tm_zero(void) { ALLOC_IS(bufpool_allocate_timeout(P, 0, 0, &o), -EINVAL); }
static bool tm_max(void) { ALLOC_IS(bufpool_allocate_timeout(P, SIZE_MAX, 0, &o), -E2BIG); }
static bool tm_t0(void) { ALLOC_IS(bufpool_allocate_timeout(P, 15, 0, &o), -ETIMEDOUT); }
static bool tm_tinf(void) { ALLOC_IS(bufpool_allocate_timeout(P, 1, UINT64_MAX, &o), 0); }
static bool f_null(void) { return bufpool_alloc_first(NULL) == NULL; }
static bool l_null(void) { return bufpool_alloc_length(NULL) == 0; }
static bool b_null(void) { return bufpool_alloc_bytes(NULL) == 0; }
static bool bu_null(void) { return bufpool_alloc_buffer(NULL, 0) == NULL; }
static bool bu_n(void) { return bufpool_alloc_buffer(A, 2) == NULL; }
static bool bu_max(void) { return bufpool_alloc_buffer(A, SIZE_MAX) == NULL; }
static bool re_null(void) { return bufpool_alloc_retain(NULL) == NULL; }
static bool rl_null(void) { bufpool_alloc_release(NULL); return true; }
static bool o_null(void) { return bufpool_alloc_offset(NULL) == SIZE_MAX; }
static bool o_noregion(void) { return bufpool_alloc_offset(A) == SIZE_MAX; }
static bool m_null(void) { return bufpool_set_max_memory(NULL, 4096) == -EINVAL; }
static bool m_zero(void) { return bufpool_set_max_memory(P, 0) == -EINVAL; }
static bool m_small(void) { return bufpool_set_max_memory(P, 63) == -EINVAL; }
static bool m_huge(void) { return bufpool_set_max_memory(P, SIZE_MAX) == 0 && bufpool_set_max_memory(P, 1024) == 0; }
static bool m_region(void) { return bufpool_set_max_memory(R, 8192) == -EINVAL; }
static bool st_null_pool(void)
{
    bufpool_stats st;
    memset(&st, 0xff, sizeof st);
    bufpool_get_stats(NULL, &st);
    static const bufpool_stats zero;
    return memcmp(&st, &zero, sizeof st) == 0;
}
static bool st_null_out(void) { bufpool_get_stats(P, NULL); return true; }
static bool rg_null(void) { struct iovec v; return bufpool_region(NULL, &v) == -EINVAL; }
static bool rg_null_out(void) { return bufpool_region(R, NULL) == -EINVAL; }
static bool rg_noregion(void)
{
    struct iovec v = {OUT_SENTINEL, 1};
    return bufpool_region(P, &v) == -ENOTSUP && v.iov_base == NULL && v.iov_len == 0;
}
static bool ri_null(void) { return bufpool_region_iovecs(NULL, NULL, 0) == -EINVAL; }
static bool ri_null_iov(void) { return bufpool_region_iovecs(R, NULL, 1) == -EINVAL; }
static bool ri_noregion(void) { struct iovec v[2]; return bufpool_region_iovecs(P, v, 2) == -ENOTSUP; }
static bool ri_count(void) { return bufpool_region_iovecs(R, NULL, 0) == 1; }
static bool bi_null(void) { return bufpool_alloc_buf_index(NULL) == -EINVAL; }
static bool bi_noregion(void) { return bufpool_alloc_buf_index(A) == -EINVAL; }
static bool wc_null_pool(void) { bufpool_waiter *w = OUT_SENTINEL; return bufpool_waiter_create(NULL, &w) == -EINVAL && !w; }
static bool wc_null_out(void) { return bufpool_waiter_create(P, NULL) == -EINVAL; }
static bool wf_null(void) { return bufpool_waiter_fd(NULL) == -EINVAL; }
static bool wa_null(void) { ALLOC_IS(bufpool_waiter_allocate(NULL, 1, &o), -EINVAL); }
static bool wa_null_out(void) { return bufpool_waiter_allocate(W, 1, NULL) == -EINVAL; }
static bool wa_zero(void) { ALLOC_IS(bufpool_waiter_allocate(W, 0, &o), -EINVAL); }
static bool wa_max(void) { ALLOC_IS(bufpool_waiter_allocate(W, SIZE_MAX, &o), -E2BIG); }
static bool wa_ovf(void) { ALLOC_IS(bufpool_waiter_allocate(W, SIZE_MAX / 64 + 1, &o), -E2BIG); }
static bool wx_null(void) { bufpool_waiter_cancel(NULL); return true; }
static bool wx_idle(void) { bufpool_waiter_cancel(W); return true; }
static bool wd_null(void) { bufpool_waiter_destroy(NULL); return true; }
static bool br_create(bufpool *p, unsigned entries, size_t n, bool null_out, int expect)
{
    bufpool_bufring *b = OUT_SENTINEL;
    /* The arguments are checked before the ring fd is: no io_uring needed. */
    int r = bufpool_bufring_create(p, -1, 0, entries, n, null_out ? NULL : &b);
    return r == expect && (null_out || b == NULL);
}
static bool brc_null_pool(void) { return br_create(NULL, 16, 1, false, -EINVAL); }
static bool brc_null_out(void) { return br_create(P, 16, 1, true, -EINVAL); }
static bool brc_entries0(void) { return br_create(P, 0, 1, false, -EINVAL); }
static bool brc_entries3(void) { return br_create(P, 3, 1, false, -EINVAL); }
static bool brc_entries_big(void) { return br_create(P, 65536, 1, false, -EINVAL); }
static bool brc_n0(void) { return br_create(P, 16, 0, false, -EINVAL); }
static bool brc_big(void) { return br_create(P, 16, 17, false, -E2BIG); }
static bool brc_max(void) { return br_create(P, 16, SIZE_MAX, false, -E2BIG); }
static bool brci_null_pool(void)
{
    bufpool_bufring *b = OUT_SENTINEL;
    return bufpool_bufring_create_inc(NULL, -1, 0, 16, 1, &b) == -EINVAL && b == NULL;
}
static bool brci_entries3(void)
{
    bufpool_bufring *b = OUT_SENTINEL;
    return bufpool_bufring_create_inc(P, -1, 0, 3, 1, &b) == -EINVAL && b == NULL;
}
static bool brci_big(void)
{
    bufpool_bufring *b = OUT_SENTINEL;
    return bufpool_bufring_create_inc(P, -1, 0, 16, 17, &b) == -E2BIG && b == NULL;
}
static bool brti_null(void)
{
    void *d = OUT_SENTINEL;
    return bufpool_bufring_take_inc(NULL, 1, 1, &d) == NULL && d == NULL;
}
static bool brt_null(void) { return bufpool_bufring_take(NULL, 0) == NULL; }
static bool brr_null(void) { return bufpool_bufring_refill(NULL) == -EINVAL; }
static bool brf_null(void) { return bufpool_bufring_fd(NULL) == -EINVAL; }
static bool brd_null(void) { bufpool_bufring_destroy(NULL); return true; }
static bool v_ok(void) { return bufpool_version() == BUFPOOL_VERSION; }
static bool se_unknown(void) { return bufpool_strerror(12345) != NULL && bufpool_strerror(INT_MIN) != NULL; }
static bool s_twice(void)
{
    bufpool *p;
    bufpool_config c = {64, 1024, 0};
    if (bufpool_create(&p, &c))
        return false;
    bufpool_shutdown(p);
    bufpool_shutdown(p);
    bufpool_alloc *o = OUT_SENTINEL;
    bool ok = bufpool_allocate(p, 1, &o) == -ECANCELED && o == NULL;
    bufpool_destroy(p);
    return ok;
}

struct row {
    const char *func, *input, *result;
    bool (*fn)(void);
};

static const struct row rows[] = {
    {"bufpool_create", "pool == NULL", "-EINVAL", c_null_out},
    {"bufpool_create", "cfg == NULL", "-EINVAL, *pool = NULL", c_null_cfg},
    {"bufpool_create", "buffer_size 0", "-EINVAL, *pool = NULL", c_bs0},
    {"bufpool_create", "buffer_size 7 (below 8)", "-EINVAL", c_bs7},
    {"bufpool_create", "buffer_size 12 (not a power of two)", "-EINVAL", c_bs12},
    {"bufpool_create", "buffer_size 2 GiB (above 1 GiB)", "-EINVAL", c_bs_big},
    {"bufpool_create", "buffer_size SIZE_MAX", "-EINVAL", c_bs_max},
    {"bufpool_create", "max_memory < buffer_size", "-EINVAL", c_max_small},
    {"bufpool_create", "max_memory 0", "-EINVAL", c_max0},
    {"bufpool_create", "unknown flag bits", "-EINVAL", c_flags},
    {"bufpool_create", "BUFPOOL_HUGEPAGES without BUFPOOL_REGION", "-EINVAL", c_huge_noregion},
    {"bufpool_create", "max_memory SIZE_MAX (no region)", "0: a budget is no reservation", c_max_huge},
    {"bufpool_create", "BUFPOOL_REGION, max_memory SIZE_MAX", "-ENOMEM (the mapping fails)", c_region_huge},
    {"bufpool_shutdown", "NULL", "nothing", s_null},
    {"bufpool_shutdown", "twice, then allocate", "nothing; -ECANCELED", s_twice},
    {"bufpool_destroy", "NULL", "nothing", d_null},
    {"bufpool_allocate", "pool == NULL", "-EINVAL, *out = NULL", a_null_pool},
    {"bufpool_allocate", "out == NULL", "-EINVAL", a_null_out},
    {"bufpool_allocate", "n == 0", "-EINVAL, *out = NULL", a_zero},
    {"bufpool_allocate", "n * buffer_size > max_memory", "-E2BIG at once (no wait)", a_big},
    {"bufpool_allocate", "n * buffer_size overflows", "-E2BIG", a_ovf},
    {"bufpool_allocate", "n == SIZE_MAX", "-E2BIG", a_max},
    {"bufpool_try_allocate", "pool == NULL", "-EINVAL, *out = NULL", t_null_pool},
    {"bufpool_try_allocate", "out == NULL", "-EINVAL", t_null_out},
    {"bufpool_try_allocate", "n == 0", "-EINVAL", t_zero},
    {"bufpool_try_allocate", "n == SIZE_MAX", "-E2BIG", t_max},
    {"bufpool_try_allocate", "fits max_memory, not the free budget", "-EAGAIN", t_full},
    {"bufpool_allocate_timeout", "pool == NULL", "-EINVAL, *out = NULL", tm_null_pool},
    {"bufpool_allocate_timeout", "out == NULL", "-EINVAL", tm_null_out},
    {"bufpool_allocate_timeout", "n == 0", "-EINVAL", tm_zero},
    {"bufpool_allocate_timeout", "n == SIZE_MAX", "-E2BIG", tm_max},
    {"bufpool_allocate_timeout", "timeout 0, budget short", "-ETIMEDOUT at once", tm_t0},
    {"bufpool_allocate_timeout", "timeout UINT64_MAX (deadline overflows)", "waits without limit; 0 when it fits", tm_tinf},
    {"bufpool_alloc_first", "NULL", "NULL", f_null},
    {"bufpool_alloc_length", "NULL", "0", l_null},
    {"bufpool_alloc_bytes", "NULL", "0", b_null},
    {"bufpool_alloc_buffer", "a == NULL", "NULL", bu_null},
    {"bufpool_alloc_buffer", "i == n", "NULL", bu_n},
    {"bufpool_alloc_buffer", "i == SIZE_MAX", "NULL", bu_max},
    {"bufpool_alloc_retain", "NULL", "NULL", re_null},
    {"bufpool_alloc_release", "NULL", "nothing", rl_null},
    {"bufpool_alloc_offset", "NULL", "SIZE_MAX", o_null},
    {"bufpool_alloc_offset", "an allocation of a pool without BUFPOOL_REGION", "SIZE_MAX", o_noregion},
    {"bufpool_set_max_memory", "pool == NULL", "-EINVAL", m_null},
    {"bufpool_set_max_memory", "0", "-EINVAL", m_zero},
    {"bufpool_set_max_memory", "below buffer_size", "-EINVAL", m_small},
    {"bufpool_set_max_memory", "SIZE_MAX (no region)", "0", m_huge},
    {"bufpool_set_max_memory", "beyond the region (BUFPOOL_REGION)", "-EINVAL", m_region},
    {"bufpool_get_stats", "pool == NULL", "*out zeroed", st_null_pool},
    {"bufpool_get_stats", "out == NULL", "nothing", st_null_out},
    {"bufpool_region", "pool == NULL", "-EINVAL", rg_null},
    {"bufpool_region", "out == NULL", "-EINVAL", rg_null_out},
    {"bufpool_region", "a pool without BUFPOOL_REGION", "-ENOTSUP, *out zeroed", rg_noregion},
    {"bufpool_region_iovecs", "pool == NULL", "-EINVAL", ri_null},
    {"bufpool_region_iovecs", "iov == NULL, max > 0", "-EINVAL", ri_null_iov},
    {"bufpool_region_iovecs", "a pool without BUFPOOL_REGION", "-ENOTSUP", ri_noregion},
    {"bufpool_region_iovecs", "iov == NULL, max == 0", "the count (1 for a small region)", ri_count},
    {"bufpool_alloc_buf_index", "NULL", "-EINVAL", bi_null},
    {"bufpool_alloc_buf_index", "an allocation of a pool without BUFPOOL_REGION", "-EINVAL", bi_noregion},
    {"bufpool_waiter_create", "pool == NULL", "-EINVAL, *out = NULL", wc_null_pool},
    {"bufpool_waiter_create", "out == NULL", "-EINVAL", wc_null_out},
    {"bufpool_waiter_fd", "NULL", "-EINVAL", wf_null},
    {"bufpool_waiter_allocate", "w == NULL", "-EINVAL, *out = NULL", wa_null},
    {"bufpool_waiter_allocate", "out == NULL", "-EINVAL", wa_null_out},
    {"bufpool_waiter_allocate", "n == 0", "-EINVAL", wa_zero},
    {"bufpool_waiter_allocate", "n == SIZE_MAX", "-E2BIG", wa_max},
    {"bufpool_waiter_allocate", "n * buffer_size overflows", "-E2BIG", wa_ovf},
    {"bufpool_waiter_cancel", "NULL", "nothing", wx_null},
    {"bufpool_waiter_cancel", "nothing pending", "nothing", wx_idle},
    {"bufpool_waiter_destroy", "NULL", "nothing", wd_null},
    {"bufpool_bufring_create", "pool == NULL", "-EINVAL, *out = NULL", brc_null_pool},
    {"bufpool_bufring_create", "out == NULL", "-EINVAL", brc_null_out},
    {"bufpool_bufring_create", "entries 0", "-EINVAL", brc_entries0},
    {"bufpool_bufring_create", "entries 3 (not a power of two)", "-EINVAL", brc_entries3},
    {"bufpool_bufring_create", "entries 65536 (above 32768)", "-EINVAL", brc_entries_big},
    {"bufpool_bufring_create", "n == 0", "-EINVAL", brc_n0},
    {"bufpool_bufring_create", "n * buffer_size > max_memory", "-E2BIG", brc_big},
    {"bufpool_bufring_create", "n == SIZE_MAX", "-E2BIG", brc_max},
    {"bufpool_bufring_create_inc", "pool == NULL", "-EINVAL, *out = NULL", brci_null_pool},
    {"bufpool_bufring_create_inc", "entries 3 (not a power of two)", "-EINVAL", brci_entries3},
    {"bufpool_bufring_create_inc", "n * buffer_size > max_memory", "-E2BIG", brci_big},
    {"bufpool_bufring_take", "br == NULL", "NULL", brt_null},
    {"bufpool_bufring_take_inc", "br == NULL", "NULL, *data = NULL", brti_null},
    {"bufpool_bufring_refill", "NULL", "-EINVAL", brr_null},
    {"bufpool_bufring_fd", "NULL", "-EINVAL", brf_null},
    {"bufpool_bufring_destroy", "NULL", "nothing", brd_null},
    {"bufpool_version", "(none)", "BUFPOOL_VERSION", v_ok},
    {"bufpool_strerror", "an unknown code (12345, INT_MIN)", "a static message, never NULL", se_unknown},
};

int main(int argc, char **argv)
{
    size_t nrows = sizeof rows / sizeof *rows;
    if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
        printf("| function | input | result |\n| --- | --- | --- |\n");
        for (size_t i = 0; i < nrows; i++)
            printf("| `%s` | %s | %s |\n", rows[i].func, rows[i].input, rows[i].result);
        return 0;
    }
    bufpool_config c = {64, 1024, 0}, rc = {64, 4096, BUFPOOL_REGION};
    CHECK_EQ(bufpool_create(&P, &c), 0);
    CHECK_EQ(bufpool_create(&R, &rc), 0);
    CHECK_EQ(bufpool_allocate(P, 2, &A), 0);
    CHECK_EQ(bufpool_waiter_create(P, &W), 0);
    int failed = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (!rows[i].fn()) {
            printf("FAIL  %s(%s): expected %s\n", rows[i].func, rows[i].input, rows[i].result);
            failed++;
        }
    }
    bufpool_waiter_destroy(W);
    bufpool_alloc_release(A);
    bufpool_destroy(P);
    bufpool_destroy(R);
    printf("test_badinput: %zu cases, %d failed\n", nrows, failed);
    return failed ? 1 : 0;
}
