/*
 * instr.c: instructions per cached roundtrip, counted by callgrind
 * (section "instr"; issue [contention], target 1).  Counts, not times: the
 * same binary gives the same numbers on any run.
 *
 * Method: for each implementation this binary runs itself twice as `bench
 * --child instr FD KIND WARM ITERS` under `valgrind --tool=callgrind`: both
 * runs start alike, warm up with WARM roundtrips, then do ITERS = K or 2K
 * roundtrips of n = 1, 64 B (allocate, write a byte, fold the pointer in,
 * release: the loop is included, as in the figures).  Only the
 * number of roundtrips differs, so (Ir(2K) - Ir(K)) / K is the
 * instructions of one roundtrip, start-up and warm-up cancelled out.
 *
 * Locked instructions: the same runs are made with --dump-instr=yes
 * (uncompressed), which gives the executed count of every instruction by
 * object and address; addresses are relative to each object's load
 * address, as objdump shows them, whether the bench binary is PIE or not.
 * The per-instruction difference between the two runs is disassembled with
 * objdump -d over the range it covers, object by object (the bench binary
 * with the library linked in statically, libc, the dlopen'ed allocators),
 * and the executed instructions with a lock prefix, or an xchg with a
 * memory operand (locked implicitly), are summed and divided by K.  The
 * roundtrip runs on one thread, so all of them are the owner's.  If an
 * address does not fall on an instruction objdump decoded, the mapping is
 * not trusted and the column says so.
 *
 * Implementations: bufpool (plain, through an account, with BUFPOOL_TRACK,
 * with a watch armed that the loop never crosses), bufpool 1.0 (v10.h;
 * when built), glibc
 * malloc+free, mimalloc mi_malloc+mi_free and jemalloc malloc+free (when
 * installed; dlopen'ed in the child).  Without valgrind the section prints
 * a note and judges nothing.
 *
 * Targets: bufpool at most 100 instructions per roundtrip (the issue aims
 * for 60), and no locked instruction; with a watch armed at most 1.5x the
 * unarmed count (issue [pressure]).
 */
#include "harness.h"
#include "v10.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define IN_BS 64

/* ---- the child: the roundtrip loops --------------------------------------- */

static void *(*in_mi_malloc)(size_t);
static void (*in_mi_free)(void *);
static void *(*in_je_malloc)(size_t);
static void (*in_je_free)(void *);

#define IN_SYM(var, h, name)                                                  \
    do {                                                                      \
        void *sym_ = dlsym((h), (name));                                      \
        _Static_assert(sizeof(var) == sizeof sym_, "fn ptr size");           \
        memcpy(&(var), &sym_, sizeof sym_);                                   \
    } while (0)

/* Keeps p alive without costing more than the register it is in. */
#define IN_KEEP(p) __asm__ __volatile__("" : : "r"(p) : "memory")

#define IN_POOL_LOOP(fname, PT, AT, ALLOC, FIRST, RELEASE)                    \
    __attribute__((noinline)) static uintptr_t fname(PT *pool, uint64_t iters) \
    {                                                                         \
        uintptr_t acc = 0;                                                    \
        for (uint64_t i = 0; i < iters; i++) {                                \
            AT *a;                                                            \
            if (__builtin_expect(ALLOC(pool, 1, &a) != 0, 0))                \
                _exit(4);                                                     \
            char *p = FIRST(a);                                               \
            p[0] = (char)i;                                                   \
            acc += (uintptr_t)p;                                              \
            RELEASE(a);                                                       \
        }                                                                     \
        return acc;                                                           \
    }

#define IN_HEAP_LOOP(fname, MALLOC, FREE)                                     \
    __attribute__((noinline)) static uintptr_t fname(uint64_t iters)          \
    {                                                                         \
        uintptr_t acc = 0;                                                    \
        for (uint64_t i = 0; i < iters; i++) {                                \
            char *p = MALLOC(IN_BS);                                          \
            if (__builtin_expect(!p, 0))                                      \
                _exit(4);                                                     \
            p[0] = (char)i;                                                   \
            acc += (uintptr_t)p;                                              \
            IN_KEEP(p);                                                       \
            FREE(p);                                                          \
        }                                                                     \
        return acc;                                                           \
    }

IN_POOL_LOOP(in_loop_bufpool, bufpool, bufpool_alloc, bufpool_allocate, (char *)bufpool_alloc_first,
             bufpool_alloc_release)
/* through a one-level account: a try, as the row counts */
static inline int in_acct_alloc(bufpool_account *a, size_t n, bufpool_alloc **out)
{
    return bufpool_account_allocate(a, n, 0, out);
}
IN_POOL_LOOP(in_loop_account, bufpool_account, bufpool_alloc, in_acct_alloc, (char *)bufpool_alloc_first,
             bufpool_alloc_release)
#if BENCH_HAVE_V10
IN_POOL_LOOP(in_loop_v10, bp10_pool, bp10_alloc, bp10_allocate, (char *)bp10_alloc_first,
             bp10_alloc_release)
#endif
IN_HEAP_LOOP(in_loop_glibc, malloc, free)
IN_HEAP_LOOP(in_loop_mimalloc, in_mi_malloc, in_mi_free)
IN_HEAP_LOOP(in_loop_jemalloc, in_je_malloc, in_je_free)

int bench_child_instr(int fd, int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *kind = argv[0];
    uint64_t warm = strtoull(argv[1], NULL, 10), iters = strtoull(argv[2], NULL, 10);
    uintptr_t acc = 0;
    bufpool_config cfg = {.buffer_size = IN_BS, .max_memory = 64 * MiB, .flags = 0};
    if (!strcmp(kind, "bufpool") || !strcmp(kind, "track")) {
        bufpool *p;
        if (kind[0] == 't')
            cfg.flags = BUFPOOL_TRACK;
        if (bufpool_create(&p, &cfg))
            return 3;
        acc += in_loop_bufpool(p, warm);
        acc += in_loop_bufpool(p, iters);
        bufpool_destroy(p);
    } else if (!strcmp(kind, "watch")) {
        /* armed, never crossed (the loop holds one buffer at most): the
         * same loop as "bufpool" */
        bufpool *p;
        bufpool_watch *w;
        if (bufpool_create(&p, &cfg))
            return 3;
        if (bufpool_watch_create(p, NULL, 32 * MiB, 16 * MiB, &w))
            return 3;
        acc += in_loop_bufpool(p, warm);
        acc += in_loop_bufpool(p, iters);
        bufpool_watch_destroy(w);
        bufpool_destroy(p);
    } else if (!strcmp(kind, "account")) {
        bufpool *p;
        bufpool_account *a;
        bufpool_account_config ac = {.name = "bench", .min_bytes = MiB};
        if (bufpool_create(&p, &cfg) || bufpool_account_create(p, NULL, &ac, &a))
            return 3;
        acc += in_loop_account(a, warm);
        acc += in_loop_account(a, iters);
        bufpool_account_destroy(a);
        bufpool_destroy(p);
#if BENCH_HAVE_V10
    } else if (!strcmp(kind, "v10")) {
        bp10_pool *p;
        if (bp10_create(&p, &cfg))
            return 3;
        acc += in_loop_v10(p, warm);
        acc += in_loop_v10(p, iters);
        bp10_destroy(p);
#endif
    } else if (!strcmp(kind, "glibc")) {
        acc += in_loop_glibc(warm);
        acc += in_loop_glibc(iters);
    } else if (!strcmp(kind, "mimalloc")) {
        void *h;
        if (bl_mimalloc_load(NULL) || !(h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_NOLOAD)))
            return 3;
        IN_SYM(in_mi_malloc, h, "mi_malloc");
        IN_SYM(in_mi_free, h, "mi_free");
        if (!in_mi_malloc || !in_mi_free)
            return 3;
        acc += in_loop_mimalloc(warm);
        acc += in_loop_mimalloc(iters);
    } else if (!strcmp(kind, "jemalloc")) {
        void *h;
        if (bl_jemalloc_load(NULL) || !(h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD)))
            return 3;
        IN_SYM(in_je_malloc, h, "malloc"); /* the library's own, first in its scope */
        IN_SYM(in_je_free, h, "free");
        if (!in_je_malloc || !in_je_free)
            return 3;
        acc += in_loop_jemalloc(warm);
        acc += in_loop_jemalloc(iters);
    } else {
        return 2;
    }
    return bench_child_write(fd, &acc, sizeof acc) ? 0 : 1;
}

/* ---- the parent: callgrind's output --------------------------------------- */

/* Object paths, shared by every run so that their ids compare. */
#define IN_MAX_OBJS 64
static char *in_objs[IN_MAX_OBJS];
static int in_nobjs;

static int in_obj_id(const char *path)
{
    for (int i = 0; i < in_nobjs; i++)
        if (!strcmp(in_objs[i], path))
            return i;
    if (in_nobjs == IN_MAX_OBJS)
        return -1;
    in_objs[in_nobjs] = strdup(path);
    return in_objs[in_nobjs] ? in_nobjs++ : -1;
}

struct in_cost {
    int obj;
    uint64_t addr;
    int64_t ir;
};

struct in_run {
    uint64_t total; /* Ir of the whole process */
    struct in_cost *c;
    size_t n, cap;
};

static int in_cmp_cost(const void *a, const void *b)
{
    const struct in_cost *x = a, *y = b;
    if (x->obj != y->obj)
        return x->obj - y->obj;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

static void in_add(struct in_run *r, int obj, uint64_t addr, int64_t ir)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4096;
        struct in_cost *c = realloc(r->c, cap * sizeof *c);
        if (!c)
            bench_die("out of memory");
        r->c = c;
        r->cap = cap;
    }
    r->c[r->n++] = (struct in_cost){obj, addr, ir};
}

/* Sort by object and address and merge duplicates (one instruction can
 * appear under several contexts). */
static void in_merge(struct in_run *r)
{
    if (!r->n)
        return;
    qsort(r->c, r->n, sizeof *r->c, in_cmp_cost);
    size_t w = 0;
    for (size_t i = 1; i < r->n; i++) {
        if (r->c[i].obj == r->c[w].obj && r->c[i].addr == r->c[w].addr)
            r->c[w].ir += r->c[i].ir;
        else
            r->c[++w] = r->c[i];
    }
    r->n = w + 1;
}

/* Reads a callgrind.out written with --dump-instr=yes --compress-pos=no
 * --compress-strings=no: "ob=PATH" names the object of the cost lines that
 * follow, "0xADDR [LINE] IR" is one instruction's self cost, and the line
 * after "calls=" is a call's inclusive cost (skipped: its callee's lines
 * are counted where they are). */
static bool in_parse(const char *file, struct in_run *r, char *why, size_t whylen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(why, whylen, "cannot read %.300s: %s", file, strerror(errno));
        return false;
    }
    char line[8192];
    int obj = -1, npos = 1;
    bool after_call = false;
    memset(r, 0, sizeof *r);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '0' && line[1] == 'x') {
            if (after_call) {
                after_call = false;
                continue;
            }
            char *e;
            uint64_t addr = strtoull(line, &e, 16);
            for (int i = 1; i < npos; i++) /* the line number */
                strtoull(e, &e, 10);
            uint64_t ir = strtoull(e, &e, 10);
            if (obj >= 0 && ir)
                in_add(r, obj, addr, (int64_t)ir);
        } else if (!strncmp(line, "calls=", 6)) {
            after_call = true;
        } else if (!strncmp(line, "ob=", 3)) {
            obj = in_obj_id(line + 3);
        } else if (!strncmp(line, "positions:", 10)) {
            npos = 0;
            for (char *s = strtok(line + 10, " "); s; s = strtok(NULL, " "))
                npos++;
        } else if (!strncmp(line, "totals:", 7) || (!strncmp(line, "summary:", 8) && !r->total)) {
            r->total = strtoull(strchr(line, ':') + 1, NULL, 10);
        }
    }
    fclose(f);
    in_merge(r);
    if (!r->total) {
        snprintf(why, whylen, "no totals in %.300s", file);
        return false;
    }
    return true;
}

/* ---- objdump: which executed instructions are locked ---------------------- */

struct in_insn {
    uint64_t addr;
    bool locked;
    char fn[48], text[64];
};

static int in_cmp_insn(const void *a, const void *b)
{
    const struct in_insn *x = a, *y = b;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Is objdump's text for one instruction a locked read-modify-write?  A
 * lock prefix (objdump writes "lock cmpxchg ...", "lock addl ...") or an
 * xchg with a memory operand; xchg between registers is not locked. */
static bool in_is_locked(const char *t)
{
    while (*t == ' ')
        t++;
    for (const char *s = t; (s = strstr(s, "lock")); s += 4)
        if ((s == t || s[-1] == ' ') && (s[4] == ' ' || s[4] == 0))
            return true;
    if (!strncmp(t, "xchg", 4))
        return strchr(t, '(') != NULL;
    return false;
}

/* The instructions objdump decodes in [lo, hi) of path, sorted; NULL if it
 * cannot. */
static struct in_insn *in_disasm(const char *path, uint64_t lo, uint64_t hi, size_t *count)
{
    *count = 0;
    if (strchr(path, '\'') || path[0] != '/')
        return NULL;
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "objdump -d --no-show-raw-insn --start-address=0x%llx --stop-address=0x%llx '%s' "
             "2>/dev/null",
             (unsigned long long)lo, (unsigned long long)hi, path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    struct in_insn *v = NULL;
    size_t n = 0, cap = 0;
    char line[1024], fn[48] = "?";
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        char *e;
        /* "0000000000001190 <loop>:" starts a function */
        if (line[0] != ' ') {
            char *lt = strchr(line, '<'), *gt = lt ? strchr(lt, '>') : NULL;
            if (lt && gt && gt[1] == ':')
                snprintf(fn, sizeof fn, "%.*s", (int)(gt - lt - 1), lt + 1);
            continue;
        }
        /* "    1190:\ttest   %edi,%edi" */
        uint64_t addr = strtoull(line, &e, 16);
        if (e == line || e[0] != ':' || e[1] != '\t')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            struct in_insn *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                pclose(p);
                return NULL;
            }
            v = nv;
        }
        struct in_insn *x = &v[n++];
        x->addr = addr;
        x->locked = in_is_locked(e + 2);
        snprintf(x->fn, sizeof x->fn, "%s", fn);
        snprintf(x->text, sizeof x->text, "%s", e + 2);
        for (char *s = x->text; *s; s++) /* no tabs or pipes in a table cell */
            if (*s == '\t' || *s == '|')
                *s = ' ';
    }
    int st = pclose(p);
    if (st != 0 || !n) {
        free(v);
        return NULL;
    }
    qsort(v, n, sizeof *v, in_cmp_insn);
    *count = n;
    return v;
}

/* ---- the section ---------------------------------------------------------- */

#define IN_MAX_LOCKED 8

struct in_result {
    bool ok;
    char why[512];
    uint64_t total[2];
    double per_rt;     /* instructions per roundtrip */
    double locked;     /* locked instructions per roundtrip; NAN when not mapped */
    char locked_why[256];
    int nlocked;       /* distinct locked instructions executed in the loop */
    struct {
        char fn[48], text[64];
        double per_rt;
    } lk[IN_MAX_LOCKED];
};

/* One callgrind run of the child; false with why[] set. */
static bool in_callgrind(const char *self, const char *kind, uint64_t warm, uint64_t iters,
                         const char *file, char *why, size_t whylen, bool *no_valgrind)
{
    char errf[1200], a_warm[32], a_it[32];
    snprintf(errf, sizeof errf, "%s/callgrind.err", bench_opt.out_dir);
    snprintf(a_warm, sizeof a_warm, "%llu", (unsigned long long)warm);
    snprintf(a_it, sizeof a_it, "%llu", (unsigned long long)iters);
    char outopt[1300];
    snprintf(outopt, sizeof outopt, "--callgrind-out-file=%s", file);
    unlink(file);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int nul = open("/dev/null", O_WRONLY);
        if (e < 0 || nul < 0 || dup2(e, 2) < 0 || dup2(nul, 1) < 0)
            _exit(126);
        /* the child's result goes to fd 1: /dev/null, nobody needs it */
        execlp("valgrind", "valgrind", "--tool=callgrind", outopt, "--dump-instr=yes",
               "--compress-pos=no", "--compress-strings=no", self, "--child", "instr", "1", kind,
               a_warm, a_it, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            bench_die("waitpid: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        *no_valgrind = true;
        snprintf(why, whylen, "valgrind is not installed (apt-get install valgrind)");
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[256] = "";
        FILE *f = fopen(errf, "r");
        if (f) {
            /* the last line valgrind wrote says the most */
            char l[256];
            while (fgets(l, sizeof l, f))
                if (l[0] != '\n')
                    memcpy(line, l, sizeof l);
            fclose(f);
        }
        line[strcspn(line, "\n")] = 0;
        snprintf(why, whylen, "the callgrind run failed (exit %d%s%.200s)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, line[0] ? ": " : "", line);
        return false;
    }
    return true;
}

/* The locked instructions of the difference run[1] - run[0], per roundtrip. */
static void in_locked(const struct in_run *run, uint64_t k, struct in_result *res)
{
    /* the per-instruction difference, both sorted by (obj, addr) */
    struct in_run d = {0};
    size_t i = 0, j = 0;
    while (i < run[0].n || j < run[1].n) {
        int c = i == run[0].n   ? 1
                : j == run[1].n ? -1
                                : in_cmp_cost(&run[0].c[i], &run[1].c[j]);
        if (c == 0) {
            if (run[1].c[j].ir != run[0].c[i].ir)
                in_add(&d, run[0].c[i].obj, run[0].c[i].addr, run[1].c[j].ir - run[0].c[i].ir);
            i++, j++;
        } else if (c < 0) {
            in_add(&d, run[0].c[i].obj, run[0].c[i].addr, -run[0].c[i].ir);
            i++;
        } else {
            in_add(&d, run[1].c[j].obj, run[1].c[j].addr, run[1].c[j].ir);
            j++;
        }
    }
    int64_t locked = 0;
    size_t unmapped = 0;
    res->nlocked = 0;
    for (size_t a = 0; a < d.n;) {
        size_t b = a;
        while (b < d.n && d.c[b].obj == d.c[a].obj)
            b++;
        const char *path = in_objs[d.c[a].obj];
        size_t ninsn;
        struct in_insn *insn = in_disasm(path, d.c[a].addr, d.c[b - 1].addr + 1, &ninsn);
        for (size_t x = a; x < b; x++) {
            struct in_insn key = {.addr = d.c[x].addr};
            struct in_insn *hit =
                insn ? bsearch(&key, insn, ninsn, sizeof *insn, in_cmp_insn) : NULL;
            if (!hit) {
                unmapped++;
                continue;
            }
            if (!hit->locked)
                continue;
            locked += d.c[x].ir;
            if (res->nlocked < IN_MAX_LOCKED) {
                snprintf(res->lk[res->nlocked].fn, sizeof res->lk[0].fn, "%s", hit->fn);
                snprintf(res->lk[res->nlocked].text, sizeof res->lk[0].text, "%s", hit->text);
                res->lk[res->nlocked].per_rt = (double)d.c[x].ir / (double)k;
            }
            res->nlocked++;
        }
        free(insn);
        a = b;
    }
    free(d.c);
    if (unmapped) {
        res->locked = NAN;
        snprintf(res->locked_why, sizeof res->locked_why,
                 "%zu executed addresses not found in objdump's output", unmapped);
    } else {
        res->locked = (double)locked / (double)k;
    }
}

void bench_section_instr(void)
{
    bench_out("## Instructions per roundtrip (callgrind)\n\n");
    char self[512];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) {
        bench_out("Note: cannot read /proc/self/exe; section skipped.\n\n");
        return;
    }
    self[l] = 0;
    /* PIE or not: only said in the text (callgrind's and objdump's addresses
     * are both relative to the object's load address either way) */
    bool pie = false;
    int fd = open(self, O_RDONLY);
    if (fd >= 0) {
        Elf64_Ehdr eh;
        pie = read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh && eh.e_type == ET_DYN;
        close(fd);
    }

    static const struct {
        const char *kind, *label;
        int impl; /* whose note says it is missing, or -1 */
    } kinds[] = {
        {"bufpool", "bufpool", -1},
        {"account", "bufpool through a one-level account", -1},
        {"track", "bufpool with BUFPOOL_TRACK (1 in 113 sampled)", -1},
        {"watch", "bufpool with a watch armed (never crossed)", -1},
        {"v10", "bufpool 1.0", IMPL_V10},
        {"glibc", "glibc malloc+free", -1},
        {"mimalloc", "mimalloc mi_malloc+mi_free", IMPL_MIMALLOC},
        {"jemalloc", "jemalloc malloc+free", IMPL_JEMALLOC},
    };
    enum { NK = sizeof kinds / sizeof kinds[0] };
    const uint64_t warm = bench_opt.quick ? 200u : 1000u;
    const uint64_t k = bench_opt.quick ? 2000u : 100000u;
    static struct in_result res[NK];
    bench_progress("instr: callgrind ...\n");
    for (int i = 0; i < NK; i++) {
        struct in_result *r = &res[i];
        memset(r, 0, sizeof *r);
        if (kinds[i].impl >= 0 && bench_impls[kinds[i].impl].note) {
            snprintf(r->why, sizeof r->why, "not available");
            if (kinds[i].impl == IMPL_V10)
                bench_target_note(BENCH_V10_MISSING);
            continue;
        }
        struct in_run run[2];
        bool no_vg = false;
        r->ok = true;
        for (int t = 0; t < 2 && r->ok; t++) {
            char file[1200];
            snprintf(file, sizeof file, "%s/callgrind_%s_%llu.out", bench_opt.out_dir,
                     kinds[i].kind, (unsigned long long)(k * (uint64_t)(t + 1)));
            r->ok = in_callgrind(self, kinds[i].kind, warm, k * (uint64_t)(t + 1), file, r->why,
                                 sizeof r->why, &no_vg) &&
                    in_parse(file, &run[t], r->why, sizeof r->why);
            if (r->ok)
                unlink(file); /* megabytes each; the counts are in the table */
            else if (t == 1)
                free(run[0].c);
        }
        if (no_vg) {
            bench_out("Note: %s; section skipped (no instruction counts, no target "
                      "verdict).\n\n",
                      r->why);
            return;
        }
        if (!r->ok)
            continue;
        r->total[0] = run[0].total;
        r->total[1] = run[1].total;
        r->per_rt = ((double)run[1].total - (double)run[0].total) / (double)k;
        in_locked(run, k, r);
        free(run[0].c);
        free(run[1].c);
    }

    bench_out("Counted by `valgrind --tool=callgrind`: this binary re-run as a child that warms "
              "up with %llu roundtrips and then does K = %llu, and again 2K = %llu, roundtrips of "
              "n = 1, %d B (allocate, write a byte, fold the pointer in, release; the loop's own "
              "instructions included). Per roundtrip = (Ir(2K) - Ir(K)) / K: start-up and "
              "warm-up cancel out. Locked = executed instructions with a lock prefix or an xchg "
              "with memory, from callgrind's per-instruction counts (--dump-instr=yes) matched "
              "to `objdump -d` of each object (the bench binary, %s, with the library linked in "
              "statically; libc; the dlopen'ed allocators), the same difference divided by K. "
              "One thread: every instruction is the owner's. Counts, not times: deterministic, "
              "one run each.\n\n",
              (unsigned long long)warm, (unsigned long long)k, (unsigned long long)(2 * k), IN_BS,
              pie ? "PIE" : "not PIE");
    bench_out("| implementation | Ir, K | Ir, 2K | instructions per roundtrip | locked "
              "instructions per roundtrip |\n|:--|--:|--:|--:|--:|\n");
    for (int i = 0; i < NK; i++) {
        const struct in_result *r = &res[i];
        if (!r->ok) {
            bench_out("| %s | %s | | | |\n", kinds[i].label, r->why);
            continue;
        }
        char lk[300];
        if (isnan(r->locked))
            snprintf(lk, sizeof lk, "not counted (%s)", r->locked_why);
        else
            snprintf(lk, sizeof lk, "%.2f", r->locked);
        bench_out("| %s | %llu | %llu | %.2f | %s |\n", kinds[i].label,
                  (unsigned long long)r->total[0], (unsigned long long)r->total[1], r->per_rt, lk);
    }
    bench_out("\n");
    bool any = false;
    for (int i = 0; i < NK; i++)
        any |= res[i].ok && res[i].nlocked > 0;
    if (any) {
        bench_out("The locked instructions executed per roundtrip (function: instruction, "
                  "count per roundtrip):\n\n");
        for (int i = 0; i < NK; i++) {
            const struct in_result *r = &res[i];
            if (!r->ok || !r->nlocked)
                continue;
            bench_out("- %s:", kinds[i].label);
            int shown = r->nlocked < IN_MAX_LOCKED ? r->nlocked : IN_MAX_LOCKED;
            for (int j = 0; j < shown; j++)
                bench_out("%s `%s`: `%s` %.3g", j ? ";" : "", r->lk[j].fn, r->lk[j].text,
                          r->lk[j].per_rt);
            if (r->nlocked > shown)
                bench_out("; and %d more", r->nlocked - shown);
            bench_out("\n");
        }
        bench_out("\n");
    }

    if (res[0].ok) {
        bench_target("instructions per n = 1 roundtrip, 64 B (callgrind; aim 60)", res[0].per_rt,
                     BENCH_AT_MOST, 100, "instr");
        if (!isnan(res[0].locked))
            bench_target("locked instructions per roundtrip on the owner's side (callgrind)",
                         res[0].locked, BENCH_AT_MOST, 0, "instr");
        else
            bench_target_text("locked instructions per roundtrip on the owner's side (callgrind)",
                              "not counted", "<= 0", false);
    }
    if (res[0].ok && res[3].ok) /* kinds[3]: the armed watch */
        bench_target("instructions per roundtrip with a watch armed vs unarmed (callgrind)",
                     res[3].per_rt / res[0].per_rt, BENCH_AT_MOST, 1.5, "x");
    if (res[1].ok) {
        bench_target("instructions per n = 1 roundtrip through a one-level account (callgrind; aim "
                     "120)",
                     res[1].per_rt, BENCH_AT_MOST, 150, "instr");
        if (!isnan(res[1].locked))
            bench_target("locked instructions per account roundtrip on the owner's side (callgrind)",
                         res[1].locked, BENCH_AT_MOST, 0, "instr");
    }
}
