/*
 * busy.c: --busy N, a section run while N CPU-bound threads compete with
 * it for the CPUs (harness.h, "busy threads").
 *
 * The threads live in a child process, `bench --child busy FD N LIMIT
 * PARENT`, started before the section and killed after it.  Three things
 * bound its life, so that no crash of the bench leaves it spinning: the
 * parent kills it when the section ends; the kernel kills it when the
 * thread that started it (the bench's main thread) dies
 * (PR_SET_PDEATHSIG); and it ends itself after LIMIT seconds (alarm(2),
 * whose default action terminates the process).  A section that outlives
 * the limit runs its end without the load: its tables then say so.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the child ------------------------------------------------------------ */

static void *spin(void *arg)
{
    volatile unsigned long n = 0;
    (void)arg;
    for (;;)
        n++;
    return NULL;
}

int bench_child_busy(int fd, int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int n = atoi(argv[0]);
    unsigned limit = (unsigned)atoi(argv[1]);
    pid_t parent = (pid_t)atol(argv[2]);
    /* the parent may have died before prctl: then we were re-parented */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        return 1;
    alarm(limit); /* replaces bench_child_main's shorter one */
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, spin, NULL) != 0)
            return 1;
    }
    if (!bench_child_write(fd, "r", 1)) /* ready: every thread started */
        return 1;
    for (;;)
        pause();
}

/* ---- the parent ----------------------------------------------------------- */

static struct bench_proc busy;
static bool running;

void bench_busy_start(int n)
{
    char nbuf[16], limit[16], parent[24];
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(limit, sizeof limit, "%d", BENCH_BUSY_LIMIT_S);
    snprintf(parent, sizeof parent, "%ld", (long)getpid());
    const char *args[] = {nbuf, limit, parent};
    bench_child_spawn("busy", args, 3, &busy);
    char c;
    if (!bench_child_recv(&busy, &c, 1))
        bench_die("--busy: the child with the busy threads did not start");
    running = true;
}

/* Has the child ended on its own?  Looks without reaping it. */
static bool child_ended(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        if (errno != EINTR)
            return true;
    return info.si_pid == pid;
}

void bench_busy_stop(void)
{
    if (!running)
        return;
    running = false;
    bool ended = child_ended(busy.pid);
    if (!ended)
        kill(busy.pid, SIGKILL);
    const char *why;
    bench_child_wait(&busy, &why);
    if (ended)
        bench_out("Note: the busy threads stopped before this section ended (%s): its last "
                  "figures were taken without them.\n\n",
                  why);
}

bool bench_busy_running(void)
{
    return running;
}
