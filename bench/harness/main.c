/*
 * bench: the benchmark behind `make bench`.
 *
 * Compares bufpool with baseline pools built into the same binary (see
 * baselines.h), section by section (the table in harness.h, one file each
 * in bench/sections/), and ends with the targets each section judged.
 * Prints markdown tables (also written to --md FILE), the verdicts (also
 * to --targets FILE) and data files for bench/harness/plot.gp into --out
 * DIR.  harness.h explains the method.
 *
 * This file: the arguments, the jemalloc re-exec, and the sections in
 * order, each between busy threads with --busy.  `bench --help` lists the
 * options.
 */
#include "harness.h"

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

/* Where the words go: --md, --append, --targets. */
static struct {
    const char *md, *targets;
    bool append;
} out;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench [--quick] [--section NAME[,NAME...]]... [--busy N] [--out DIR]\n"
               "             [--md FILE [--append]] [--targets FILE] [--touch-all]\n"
               "  --quick         short rounds (a few seconds; numbers are rough)\n"
               "  --section       run only these sections\n"
               "  --busy N        run each section while N CPU-bound threads compete for the\n"
               "                  CPUs: a child process started before the section and killed\n"
               "                  after it (it also dies with the bench, and after %d s in\n"
               "                  any case).  Headings say \"with N busy threads\"; no targets\n"
               "  --out DIR       data files for plot.gp (default build/bench)\n"
               "  --md FILE       a copy of the tables (default DIR/results.md)\n"
               "  --append        add to the --md file, without the machine table\n"
               "  --targets FILE  the targets' verdicts (default DIR/targets.md; not written\n"
               "                  with --busy)\n"
               "  --touch-all     write into every buffer of a roundtrip, not the first and last\n"
               "sections, in the order they run:\n",
            BENCH_BUSY_LIMIT_S);
    for (size_t i = 0; i < NSECTIONS; i++)
        fprintf(f, "  %-16s%s\n", sections[i].name, sections[i].what);
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

static void add_wanted(const char *names)
{
    size_t l = strlen(wanted);
    snprintf(wanted + l, sizeof wanted - l, "%s%s", l ? "," : "", names);
}

/* --busy's N: 1 .. 256, or -1. */
static int busy_count(const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    return *end || n < 1 || n > 256 ? -1 : (int)n;
}

/* An option without a value; false if a is not one. */
static bool parse_flag(const char *a)
{
    if (!strcmp(a, "--quick"))
        bench_opt.quick = true;
    else if (!strcmp(a, "--touch-all"))
        bench_opt.touch_all = true;
    else if (!strcmp(a, "--append"))
        out.append = true;
    else
        return false;
    return true;
}

/* An option with its value v; false if a is not one or v is no good. */
static bool parse_valued(const char *a, const char *v)
{
    if (!strcmp(a, "--section"))
        add_wanted(v);
    else if (!strcmp(a, "--busy"))
        return (bench_opt.busy = busy_count(v)) > 0;
    else if (!strcmp(a, "--out"))
        bench_opt.out_dir = v;
    else if (!strcmp(a, "--md"))
        out.md = v;
    else if (!strcmp(a, "--targets"))
        out.targets = v;
    else
        return false;
    return true;
}

/* -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (parse_flag(argv[i]))
            continue;
        if (i + 1 < argc && parse_valued(argv[i], argv[i + 1])) {
            i++;
            continue;
        }
        usage(stderr);
        return 2;
    }
    if (!wanted_known()) {
        usage(stderr);
        return 2;
    }
    return -1;
}

/* --md and --targets default to files in --out's DIR. */
static void default_paths(void)
{
    static char md[1024], targets[1024];
    if (!out.md) {
        snprintf(md, sizeof md, "%s/results.md", bench_opt.out_dir);
        out.md = md;
    }
    if (!out.targets) {
        snprintf(targets, sizeof targets, "%s/targets.md", bench_opt.out_dir);
        out.targets = targets;
    }
}

/* "N busy thread(s)", for the busy run's words. */
static const char *busy_threads(void)
{
    static char s[32];
    snprintf(s, sizeof s, "%d busy thread%s", bench_opt.busy, bench_opt.busy > 1 ? "s" : "");
    return s;
}

static void busy_intro(void)
{
    bench_out("## With %s\n\n", busy_threads());
    bench_out("The sections below ran with %s: CPU-bound loops in a child process, started "
              "before each section and killed after it, competing with the bench for the "
              "machine's %ld CPUs at the same priority, because a pool's backpressure matters "
              "most when the machine is overloaded. Method and parameters as without them; no "
              "targets are judged on these tables.\n\n",
              busy_threads(), bench_cpus());
}

static void run_busy(const struct section *s)
{
    static char note[48];
    snprintf(note, sizeof note, "with %s", busy_threads());
    bench_busy_start(bench_opt.busy);
    bench_heading_note(note);
    s->run();
    bench_heading_note(NULL);
    bench_busy_stop();
}

/* One section; its time on stderr, for whoever keeps `make bench` short. */
static void run_section(const struct section *s)
{
    uint64_t t0 = bench_now_ns();
    if (bench_opt.busy)
        run_busy(s);
    else
        s->run();
    bench_progress("section %s: %.1f s\n", s->name, (double)(bench_now_ns() - t0) / 1e9);
}

/* The verdicts into their own file: a maintainer's, not the results'. */
static void write_targets(void)
{
    bench_md_open(out.targets, false);
    bench_summary();
    bench_md_close();
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--syscall-child")) /* section syscalls */
        return bench_syscalls_child(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--child")) /* harness.h: bench_child */
        return bench_child_main(argc, argv);
    int rc = parse_args(argc, argv);
    if (rc >= 0)
        return rc;
    reexec_for_jemalloc(argv);

    mkdir(bench_opt.out_dir, 0777); /* make creates it; by hand, one level is enough */
    default_paths();
    bench_md_open(out.md, out.append);
    bench_impls_load();

    uint64_t t0 = bench_now_ns();
    if (!out.append)
        bench_machine();
    if (bench_opt.busy)
        busy_intro();
    for (size_t i = 0; i < NSECTIONS; i++)
        if (!wanted[0] || listed(wanted, sections[i].name))
            run_section(&sections[i]);
    bench_out("\n%s: %.1f s.\n", bench_opt.busy ? "Time of the run with busy threads"
                                                : "Total benchmark time",
              (double)(bench_now_ns() - t0) / 1e9);
    bench_md_close();
    if (!bench_opt.busy)
        write_targets();
    return 0;
}
