/*
 * summary.c: the targets, judged from this run (the closing table).
 *
 * Each section calls bench_target() (or bench_target_text()) for its own
 * targets as it finishes; nothing here knows what a section measured.  The
 * summary lists the verdicts in the order they were recorded, then the
 * sections' notes.  A verdict recorded again under the same name replaces
 * the earlier one in place: the "n" section re-measures the latency
 * section's n = 1 case, and the later figure counts, as in its table.
 *
 * The targets (each section's top comment says which are its own):
 *   roundtrip latency   at most the original's / 20 and naive's, every n
 *   flat in n           64 B n=1024 within 1.5x of n=1; 4 KiB n=256 within 3x
 *   no system calls     a million roundtrips add none
 *   thread scaling      2 threads at least 1.6x one thread
 *   RSS within budget   peak RSS growth at most 1.10x the budget
 *   wake latency        p50 at most mutex+condvar's
 *   blocked waiter CPU  at most 1% of the time blocked
 *   backpressure        closed-loop throughput at least mutex's; paced wait
 *                       p50, p99, p99.9 at most mutex's
 *   mixed sizes         1 and 2 threads: at least the best malloc-based
 *                       baseline's ops/s and 5x glibc's; peak RSS growth at
 *                       most 1.05x the budget; allocate-then-release at once
 *                       at least the best malloc-based baseline's
 *   page-sized buffers  RSS growth at most 1.05x the budget; the whole
 *                       budget in one try_allocate after releasing them all
 *   metadata            at most 64 B of RSS per live 8-byte allocation
 *   create              a 64 GiB pool: create + destroy at most 1 ms, at
 *                       most 1 MiB of RSS after create
 *   cross-thread        producer allocates, consumer releases (n = 1, 16 x
 *                       4 KiB; 1 MiB and 256 MiB): at least 3x bufpool 1.0
 *                       on the tight budget, 1.5x on the loose one, and at
 *                       least every malloc-based pool on both
 *   oversubscription    8 and 32 threads, 16 KiB budget: aggregate at least
 *                       naive's; BUFPOOL_FIFO least / most served >= 0.5
 *   isolation           accounts: the protected tenant's wait p99 at most
 *                       1.2x static partitioning's; both tenants' throughput
 *                       at least 0.9x the shared pool's
 *   leak tracking       sampling 1 in 113: the roundtrip at most 1.05x the
 *                       untracked one's time
 *   reclaim             the cache beside bursts (section reclaim): with a
 *                       reclaim callback, the wait p99 at most 1/10 of
 *                       blocking alone's and throughput at least blocking
 *                       alone's
 *   instructions        at most 100 per n = 1 cached roundtrip (callgrind),
 *                       no locked instruction; through an account at most
 *                       150; with a watch armed at most 1.5x unarmed
 */
#include "harness.h"

#include <math.h>
#include <string.h>

#define MAX_TARGETS 64
#define MAX_NOTES 8

struct verdict {
    char what[160], measured[96], limit[64];
    bool met;
};

static struct verdict verdicts[MAX_TARGETS];
static int nverdicts;
static const char *notes[MAX_NOTES];
static int nnotes;

void bench_target_text(const char *what, const char *measured, const char *limit, bool met)
{
    int i = 0;
    while (i < nverdicts && strcmp(verdicts[i].what, what))
        i++;
    if (i == nverdicts) {
        if (nverdicts == MAX_TARGETS) {
            bench_progress("bench: more than %d targets; '%s' left out\n", MAX_TARGETS, what);
            return;
        }
        nverdicts++;
    }
    struct verdict *v = &verdicts[i];
    snprintf(v->what, sizeof v->what, "%s", what);
    snprintf(v->measured, sizeof v->measured, "%s", measured);
    snprintf(v->limit, sizeof v->limit, "%s", limit);
    v->met = met;
}

void bench_target(const char *what, double value, enum bench_cmp cmp, double limit,
                  const char *unit)
{
    if (isnan(value) || isnan(limit))
        return;
    bool le = cmp == BENCH_AT_MOST;
    char measured[96], lim[64];
    snprintf(measured, sizeof measured, "%.2f %s", value, unit);
    snprintf(lim, sizeof lim, "%s %.2f %s", le ? "<=" : ">=", limit, unit);
    bench_target_text(what, measured, lim, le ? value <= limit : value >= limit);
}

void bench_target_note(const char *text)
{
    for (int i = 0; i < nnotes; i++)
        if (!strcmp(notes[i], text))
            return;
    if (nnotes < MAX_NOTES)
        notes[nnotes++] = text;
}

void bench_summary(void)
{
    bench_out("# Targets, judged from this run\n\n");
    if (!nverdicts) {
        bench_out("No section with a target ran.\n");
        return;
    }
    int unmet = 0;
    bench_out("| target | measured | limit | verdict |\n|:--|--:|--:|:--|\n");
    for (int i = 0; i < nverdicts; i++) {
        const struct verdict *v = &verdicts[i];
        bench_out("| %s | %s | %s | %s |\n", v->what, v->measured, v->limit,
                  v->met ? "met" : "**not met**");
        unmet += !v->met;
    }
    bench_out("\n%d of %d targets met.\n", nverdicts - unmet, nverdicts);
    for (int i = 0; i < nnotes; i++)
        bench_out("\n%s\n", notes[i]);
    bench_out("\nThe verdicts compare medians. Medians of short runs on a shared machine move by "
              "several percent between runs; a close call can flip (the tables give each "
              "median's range over the rounds).\n");
}
