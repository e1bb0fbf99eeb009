/*
 * children.c: child processes, `bench --child NAME FD ARG...` (harness.h,
 * "child processes"): the child's side (dispatch, its reads and writes) and
 * the parent's (spawn, talk, reap).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child that hangs must not hang the run (a conversation re-arms it on
 * every command it reads, see bench_child_read). */
#define CHILD_TIMEOUT_S 120

int bench_child_main(int argc, char **argv)
{
    /* bench --child NAME FD ARG... */
    if (argc < 4)
        return 2;
    int fd = atoi(argv[3]);
    alarm(CHILD_TIMEOUT_S);
#define BENCH_DISPATCH_CHILD(name)                   \
    if (!strcmp(argv[2], #name))                     \
        return bench_child_##name(fd, argc - 4, argv + 4);
    BENCH_CHILDREN(BENCH_DISPATCH_CHILD)
#undef BENCH_DISPATCH_CHILD
    fprintf(stderr, "bench: unknown child '%s'\n", argv[2]);
    return 2;
}

/* Exactly len bytes from fd; false at EOF or on an error. */
static bool read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t r = write(fd, (const char *)buf + put, len - put);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        put += (size_t)r;
    }
    return true;
}

bool bench_child_read(void *buf, size_t len)
{
    bool ok = read_full(0, buf, len);
    alarm(CHILD_TIMEOUT_S);
    return ok;
}

bool bench_child_write(int fd, const void *buf, size_t len)
{
    return write_full(fd, buf, len);
}

void bench_child_spawn(const char *name, const char *const *args, int nargs, struct bench_proc *p)
{
    char fdbuf[16];
    const char *argv[32];
    int res[2], cmd[2];
    if (nargs > 26)
        bench_die("bench_child: %d arguments", nargs);
    /* close-on-exec for the parent's ends, so that later children do not
     * inherit them (a child then sees EOF when the parent closes its end) */
    if (pipe2(res, O_CLOEXEC) || pipe2(cmd, O_CLOEXEC))
        bench_die("pipe: %s", strerror(errno));
    int k = 0;
    argv[k++] = "bench";
    argv[k++] = "--child";
    argv[k++] = name;
    argv[k++] = fdbuf;
    for (int i = 0; i < nargs; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* the result pipe as a new fd without close-on-exec; commands on stdin */
        int wfd = dup(res[1]);
        if (wfd < 0 || (cmd[0] == 0 ? fcntl(0, F_SETFD, 0) : dup2(cmd[0], 0)) < 0)
            _exit(126);
        snprintf(fdbuf, sizeof fdbuf, "%d", wfd);
        execv("/proc/self/exe", (char *const *)argv);
        _exit(127);
    }
    close(res[1]);
    close(cmd[0]);
    p->pid = pid;
    p->from = res[0];
    p->to = cmd[1];
}

bool bench_child_send(struct bench_proc *p, const void *buf, size_t len)
{
    /* a child that died makes write fail with EPIPE, not kill us */
    struct sigaction sa = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old);
    bool ok = write_full(p->to, buf, len);
    sigaction(SIGPIPE, &old, NULL);
    return ok;
}

bool bench_child_recv(struct bench_proc *p, void *buf, size_t len)
{
    return read_full(p->from, buf, len);
}

int bench_child_wait(struct bench_proc *p, const char **why)
{
    static char msg[128];
    *why = msg;
    if (p->to >= 0)
        close(p->to);
    if (p->from >= 0)
        close(p->from);
    p->to = p->from = -1;
    int status;
    while (waitpid(p->pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(msg, sizeof msg, "waitpid: %s", strerror(errno));
            return -1;
        }
    if (WIFSIGNALED(status)) {
        snprintf(msg, sizeof msg, "child killed by %s", strsignal(WTERMSIG(status)));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(msg, sizeof msg, "child exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    msg[0] = 0;
    return 0;
}

int bench_child(const char *name, const char *const *args, int nargs, void *res, size_t len,
                const char **why)
{
    struct bench_proc p;
    bench_child_spawn(name, args, nargs, &p);
    close(p.to); /* nothing to say: the child's stdin is at EOF */
    p.to = -1;
    bool got = bench_child_recv(&p, res, len);
    if (bench_child_wait(&p, why))
        return -1;
    if (!got) {
        *why = "no result from the child";
        return -1;
    }
    return 0;
}
