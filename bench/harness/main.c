/*
 * bench: the benchmark behind `make bench`.
 *
 * Compares bufpool with baseline pools built into the same binary (see
 * baselines.h), section by section (the table in harness.h, one file each),
 * and ends with a summary of the targets each section judged.  Prints
 * markdown tables (also written to --md FILE) and data files for
 * bench/harness/plot.gp into --out DIR.  harness.h explains the method.
 *
 * This file: the arguments, the jemalloc re-exec, and the sections in order.
 *
 * Usage: bench [--quick] [--section NAME[,NAME...]]... [--out DIR]
 *              [--md FILE] [--touch-all]
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct bench_options bench_opt = {.quick = false, .touch_all = false, .out_dir = "build/bench"};

struct section {
    const char *name, *what;
    void (*run)(void);
};

#define SECTION_ENTRY(name, what) {#name, what, bench_section_##name},
static const struct section sections[] = {BENCH_SECTIONS(SECTION_ENTRY)};
#undef SECTION_ENTRY
#define NSECTIONS (sizeof sections / sizeof sections[0])

static char wanted[256]; /* --section names, comma-separated; empty: all */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench [--quick] [--section NAME[,NAME...]]... [--out DIR] [--md FILE]\n"
               "             [--touch-all]\n"
               "  --quick      short rounds (a few seconds; numbers are rough)\n"
               "  --section    run only these sections (the machine table and the summary\n"
               "               always come)\n"
               "  --out DIR    data files for bench/harness/plot.gp (default build/bench)\n"
               "  --md FILE    a copy of the tables (default DIR/results.md)\n"
               "  --touch-all  write into every buffer of a roundtrip, not the first and last\n"
               "sections, in the order they run:\n");
    for (size_t i = 0; i < NSECTIONS; i++)
        fprintf(f, "  %-14s%s\n", sections[i].name, sections[i].what);
}

/* Is name one of the comma-separated names in list? */
static bool listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *s = list; *s;) {
        size_t l = strcspn(s, ",");
        if (l == len && !strncmp(s, name, len))
            return true;
        s += l + (s[l] == ',');
    }
    return false;
}

/* Every name in wanted[] is a section; otherwise says which is not. */
static bool wanted_known(void)
{
    for (const char *s = wanted; *s;) {
        size_t l = strcspn(s, ",");
        bool ok = false;
        for (size_t i = 0; i < NSECTIONS; i++)
            ok |= strlen(sections[i].name) == l && !strncmp(sections[i].name, s, l);
        if (!ok) {
            fprintf(stderr, "bench: unknown section '%.*s'\n", (int)l, s);
            return false;
        }
        s += l + (s[l] == ',');
    }
    return true;
}

/* jemalloc's library needs more static TLS than glibc leaves for dlopen by
 * default: run ourselves again, once, with a larger surplus (a glibc
 * tunable read only at process start).  Returns only if no re-exec. */
static void reexec_for_jemalloc(char **argv)
{
    const char *note;
    if (!bl_jemalloc_load(&note) || !strstr(note, "static TLS") || getenv("BENCH_REEXEC"))
        return;
    const char *old = getenv("GLIBC_TUNABLES");
    char tun[1024];
    snprintf(tun, sizeof tun, "%s%sglibc.rtld.optional_static_tls=65536", old ? old : "",
             old && *old ? ":" : "");
    setenv("GLIBC_TUNABLES", tun, 1);
    setenv("BENCH_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on without jemalloc */
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--syscall-child")) /* section syscalls */
        return bench_syscalls_child(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--child")) /* harness.h: bench_child */
        return bench_child_main(argc, argv);
    const char *md_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick")) {
            bench_opt.quick = true;
        } else if (!strcmp(a, "--touch-all")) {
            bench_opt.touch_all = true;
        } else if (!strcmp(a, "--section") && i + 1 < argc) {
            size_t l = strlen(wanted);
            snprintf(wanted + l, sizeof wanted - l, "%s%s", l ? "," : "", argv[++i]);
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            bench_opt.out_dir = argv[++i];
        } else if (!strcmp(a, "--md") && i + 1 < argc) {
            md_path = argv[++i];
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!wanted_known()) {
        usage(stderr);
        return 2;
    }
    reexec_for_jemalloc(argv);

    mkdir(bench_opt.out_dir, 0777); /* make creates it; by hand, one level is enough */
    char path[1024];
    if (!md_path) {
        snprintf(path, sizeof path, "%s/results.md", bench_opt.out_dir);
        md_path = path;
    }
    bench_md_open(md_path);
    bench_impls_load();

    uint64_t t0 = bench_now_ns();
    bench_machine();
    for (size_t i = 0; i < NSECTIONS; i++)
        if (!wanted[0] || listed(wanted, sections[i].name))
            sections[i].run();
    bench_summary();
    bench_out("\nTotal benchmark time: %.1f s.\n", (double)(bench_now_ns() - t0) / 1e9);
    bench_md_close();
    return 0;
}
