/*
 * syscalls.c: system calls per allocate+release roundtrip with nobody
 * waiting, counted by strace (section "syscalls").
 *
 * The bench binary runs itself as `bench --syscall-child KIND BS N ITERS`
 * under `strace -f -c`, twice per case: with ITERS = 0 and with ITERS =
 * 1,000,000 (bufpool) or 20,000 (original, 2,000 with --quick: strace
 * stops it at each of its two system calls per roundtrip, so a million
 * would take minutes).  Both runs start the same way, create the pool,
 * warm it up with the same 1,000 roundtrips and destroy it; only the timed
 * loop differs, so any difference in the syscall totals comes from the
 * roundtrips.  Counts, not timings: one run per case.  Without strace, or
 * where ptrace is not permitted, the section prints a note instead.
 *
 * Target: no system call in bufpool's roundtrips (the difference is +0).
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SC_WARMUP 1000u

/* The child: no output, no jemalloc/mimalloc loading, nothing but the pool. */
int bench_syscalls_child(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    const char *kind = argv[2];
    size_t bs = strtoull(argv[3], NULL, 10), n = strtoull(argv[4], NULL, 10);
    uint64_t iters = strtoull(argv[5], NULL, 10);
    size_t max_memory = 64 * MiB > 4 * n * bs ? 64 * MiB : 4 * n * bs;
    const bench_impl *im = !strcmp(kind, "bufpool")    ? &bench_impls[IMPL_BUFPOOL]
                           : !strcmp(kind, "original") ? &bench_impls[IMPL_ORIGINAL]
                                                       : NULL;
    if (!im || !bs || !n)
        return 2;
    void *pool;
    if (im->create(&pool, bs, max_memory))
        return 3;
    bench_sink += im->loop(pool, n, bs, SC_WARMUP);
    bench_sink += im->loop(pool, n, bs, iters);
    im->destroy(pool);
    return 0;
}

/* The first line of a file, or "" (newline cut). */
static void first_line(const char *path, char *line, size_t len)
{
    line[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(line, (int)len, f))
            line[0] = 0;
        fclose(f);
    }
    line[strcspn(line, "\n")] = 0;
}

/* strace -c's last line: "100.00 secs usecs/call CALLS [ERRORS] total". */
static long total_calls(const char *file)
{
    FILE *f = fopen(file, "r");
    long calls = -1;
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            double pctv, secs;
            long usecs, c;
            if (strstr(line, " total") &&
                sscanf(line, "%lf %lf %ld %ld", &pctv, &secs, &usecs, &c) == 4)
                calls = c;
        }
        fclose(f);
    }
    return calls;
}

/* Total syscalls of `self --syscall-child ...` under strace -f -c, or -1
 * with why[] set. */
static long strace_count(const char *self, const char *kind, size_t bs, size_t n, uint64_t iters,
                         char *why, size_t whylen)
{
    char file[1200], errf[1200], a_bs[32], a_n[32], a_it[32];
    snprintf(file, sizeof file, "%s/strace_%s_%zux%zu_%llu.txt", bench_opt.out_dir, kind, n, bs,
             (unsigned long long)iters);
    snprintf(errf, sizeof errf, "%s/strace.err", bench_opt.out_dir);
    snprintf(a_bs, sizeof a_bs, "%zu", bs);
    snprintf(a_n, sizeof a_n, "%zu", n);
    snprintf(a_it, sizeof a_it, "%llu", (unsigned long long)iters);
    unlink(file);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *e = freopen(errf, "w", stderr);
        (void)e;
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("strace", "strace", "-f", "-c", "-o", file, self, "--syscall-child", kind, a_bs,
               a_n, a_it, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        snprintf(why, whylen, "strace is not installed (apt-get install strace)");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[256];
        first_line(errf, line, sizeof line);
        snprintf(why, whylen, "strace failed (exit %d%s%.256s); ptrace may not be permitted here",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, line[0] ? ": " : "", line);
        return -1;
    }
    long calls = total_calls(file);
    if (calls < 0)
        snprintf(why, whylen, "no 'total' line in strace's output (%.200s)", file);
    return calls;
}

void bench_section_syscalls(void)
{
    bench_out("## System calls per roundtrip (strace)\n\n");
    char self[512];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) {
        bench_out("Note: cannot read /proc/self/exe; section skipped.\n\n");
        return;
    }
    self[l] = 0;
    static const struct {
        size_t bs, n;
        const char *label;
    } cases[3] = {{64, 1, "64 B, n = 1"}, {64, 16, "64 B, n = 16"}, {4096, 256, "4 KiB, n = 256"}};
    static const int kinds[2] = {IMPL_BUFPOOL, IMPL_ORIGINAL};
    const uint64_t iters[2] = {1000000u, bench_opt.quick ? 2000u : 20000u};
    bench_progress("syscalls: strace ...\n");
    char why[1024];
    long base[2][3], run[2][3];
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < 3; c++) {
            const char *kind = bench_impls[kinds[k]].name;
            base[k][c] = strace_count(self, kind, cases[c].bs, cases[c].n, 0, why, sizeof why);
            if (base[k][c] >= 0)
                run[k][c] = strace_count(self, kind, cases[c].bs, cases[c].n, iters[k], why,
                                         sizeof why);
            if (base[k][c] < 0 || run[k][c] < 0) {
                bench_out("Note: %s; section skipped.\n\n", why);
                return;
            }
        }
    bench_out("`strace -f -c` of this binary re-run as a child that creates a pool, warms it up "
              "with %u roundtrips and then does N allocate+release roundtrips; N = 0 against N = "
              "%llu (bufpool) or %llu (original: its two system calls per roundtrip are each "
              "stopped by strace, so a million would take minutes). Every system call of the "
              "process counts, start-up included; only the loop differs.\n\n",
              SC_WARMUP, (unsigned long long)iters[0], (unsigned long long)iters[1]);
    bench_out("| implementation | case | syscalls, N = 0 | N | syscalls, N roundtrips | difference "
              "| per roundtrip |\n|:--|:--|--:|--:|--:|--:|--:|\n");
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < 3; c++) {
            long d = run[k][c] - base[k][c];
            bench_out("| %s | %s | %ld | %llu | %ld | %+ld | %.3f |\n", bench_impls[kinds[k]].name,
                      cases[c].label, base[k][c], (unsigned long long)iters[k], run[k][c], d,
                      (double)d / (double)iters[k]);
        }
    bench_out("\n");

    static const char *const lab[3] = {"64 B n=1", "64 B n=16", "4 KiB n=256"};
    for (int c = 0; c < 3; c++) {
        char what[160], measured[96];
        snprintf(what, sizeof what, "no system calls: %llu roundtrips vs none, %s",
                 (unsigned long long)iters[0], lab[c]);
        snprintf(measured, sizeof measured, "%ld vs %ld (%+ld)", run[0][c], base[0][c],
                 run[0][c] - base[0][c]);
        bench_target_text(what, measured, "<= +0", run[0][c] <= base[0][c]);
    }
}
