/*
 * stats.c: sleeps, rounds, medians with their range, percentiles and the
 * CDF data files.
 */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bench_rounds(void)
{
    return bench_opt.quick ? 3 : 9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

bench_spread bench_spread_of(const double *v, size_t n)
{
    double tmp[64];
    if (n == 0 || n > 64)
        return (bench_spread){NAN, NAN, NAN};
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    double med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    return (bench_spread){med, tmp[0], tmp[n - 1]};
}

const char *bench_fmt_spread(char *buf, size_t len, bench_spread s, int prec)
{
    snprintf(buf, len, "%.*f (%.*f..%.*f)", prec, s.med, prec, s.lo, prec, s.hi);
    return buf;
}

uint64_t bench_pct(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    double x = q * (double)n;
    size_t i = (size_t)x;
    if ((double)i < x) /* ceil */
        i++;
    return sorted[i ? i - 1 : 0];
}

void bench_write_cdf(const char *file, int nseries, const char *const names[],
                     uint64_t *const sorted[], const size_t counts[])
{
    FILE *f = bench_data_file(file);
    if (!f)
        return;
    fprintf(f, "q");
    for (int k = 0; k < nseries; k++)
        fprintf(f, " \"%s\"", names[k]);
    fprintf(f, "\n");
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        fprintf(f, "%.3f", q);
        for (int k = 0; k < nseries; k++) {
            if (!counts[k])
                fprintf(f, " NaN");
            else /* q = 0: the fastest sample */
                fprintf(f, " %.3f", (double)(i ? bench_pct(sorted[k], counts[k], q) : sorted[k][0]) / 1e3);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}
