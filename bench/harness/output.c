/*
 * output.c: where the bench's words go (harness.h, "output"): the tables to
 * stdout and the markdown file, progress and errors to stderr, the plot's
 * data files into --out DIR.
 */
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static FILE *md;

/* stdout and the markdown file: `make bench` shows the run live and keeps
 * it, without a shell pipe that would hide the exit code. */
void bench_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (md) {
        va_start(ap, fmt);
        vfprintf(md, fmt, ap);
        va_end(ap);
        fflush(md);
    }
}

void bench_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void bench_md_open(const char *path)
{
    md = fopen(path, "w");
    if (!md)
        fprintf(stderr, "bench: cannot write %s: %s (stdout only)\n", path, strerror(errno));
}

void bench_md_close(void)
{
    if (md)
        fclose(md);
    md = NULL;
}

FILE *bench_data_file(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", bench_opt.out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "bench: cannot write %s: %s (plot data skipped)\n", path, strerror(errno));
    return f;
}
