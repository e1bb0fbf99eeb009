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
static const char *heading_note; /* bench_heading_note */

static void out_plain(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    vprintf(fmt, ap);
    fflush(stdout);
    if (md) {
        vfprintf(md, fmt, again);
        fflush(md);
    }
    va_end(again);
}

/* A "## " heading, ", note" at the end of its line. */
static void out_heading(const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t eol = strcspn(text, "\n");
    bench_out("%.*s, %s%s", (int)eol, text, heading_note, text + eol);
}

/* stdout and the markdown file: `make bench` shows the run live and keeps
 * it, without a shell pipe that would hide the exit code. */
void bench_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (heading_note && !strncmp(fmt, "## ", 3))
        out_heading(fmt, ap);
    else
        out_plain(fmt, ap);
    va_end(ap);
}

void bench_heading_note(const char *note)
{
    heading_note = note;
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

void bench_md_open(const char *path, bool append)
{
    md = fopen(path, append ? "a" : "w");
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
