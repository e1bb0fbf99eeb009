/*
 * machine.c: the machine table at the top of the results, and machine.gp,
 * the plot's label.
 */
#include "harness.h"
#include "v10.h"

#include <gnu/libc-version.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

long bench_cpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static void cpu_model(char *model, size_t len)
{
    snprintf(model, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c += 1 + (c[1] == ' ');
                c[strcspn(c, "\n")] = 0;
                snprintf(model, len, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

/* A string for a gnuplot double-quoted literal: no quotes, no backslashes. */
static void gp_clean(char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\')
            *s = '\'';
}

void bench_machine(void)
{
    char model[256];
    cpu_model(model, sizeof model);
    struct utsname u;
    uname(&u);
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    bench_out("# bufpool benchmark\n\n");
    bench_out("| machine | |\n|:--|:--|\n");
    bench_out("| CPU | %s (%ld online CPUs) |\n", model, bench_cpus());
    bench_out("| kernel | %s %s %s |\n", u.sysname, u.release, u.machine);
    bench_out("| compiler | %s |\n", __VERSION__);
    bench_out("| libc | glibc %s |\n", gnu_get_libc_version());
    int v = bufpool_version();
    bench_out("| bufpool | %d.%d.%d |\n", v / 10000, v / 100 % 100, v % 100);
#if BENCH_HAVE_V10
    v = bp10_version();
    bench_out("| bufpool 1.0 (baseline) | %d.%d.%d, commit f85f7bb |\n", v / 10000, v / 100 % 100,
              v % 100);
#else
    bench_out("| bufpool 1.0 (baseline) | not available (no git history) |\n");
#endif
    bench_out("| date | %s |\n", date);
    char busy[48] = "";
    if (bench_opt.busy)
        snprintf(busy, sizeof busy, ", --busy %d", bench_opt.busy);
    bench_out("| mode | %s%s%s |\n\n",
              bench_opt.quick ? "--quick (short rounds: numbers are rough)" : "full",
              bench_opt.touch_all ? ", --touch-all" : "", busy);
    bench_out("In the timed tables a cell is the median of interleaved rounds and, in "
              "parentheses, the range of the rounds: 12.3 (11.9..13.0). Tables from a single "
              "run say so.\n\n");
    for (int i = 0; i < NIMPL; i++)
        if (bench_impls[i].note)
            bench_out("Note: %s\n\n", bench_impls[i].note);

    /* The plot's label. */
    FILE *f = bench_data_file("machine.gp");
    if (f) {
        char kernel[sizeof u.sysname + sizeof u.release + 2];
        snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
        gp_clean(model);
        gp_clean(kernel);
        fprintf(f, "# written by bench: the machine, for plot.gp\n");
        fprintf(f, "machine_cpu = \"%s\"\n", model);
        fprintf(f, "machine_cpus = %ld\n", bench_cpus());
        fprintf(f, "machine_kernel = \"%s\"\n", kernel);
        fprintf(f, "machine_mode = \"%s\"\n", bench_opt.quick ? "--quick: rough numbers" : "full run");
        fclose(f);
    }
}
