/* ukva-measure: the experiments behind `ukva measure` (see measure.py, which builds and runs it).

   ukva-measure EXPERIMENT CPUS REPEATS COUNT TRACEPOINT_ID

   EXPERIMENT  threads-update    this thread remaps one page COUNT times while a thread of this MM
                                 spins on each other CPU: the kernel must shoot their TLBs down
               processes-update  the same, but on each other CPU spins a process of its own MM
               lazy-sleep        a thread of this MM ran on each other CPU, then went to sleep: those
                                 CPUs are idle with this MM still loaded (lazy TLB)
               lazy-other        the same, but then a process of its own MM spins on each other CPU
               switch            on the first CPU only: COUNT pipe round trips between two threads of
                                 one MM, then between two processes (each repeat does both)
   CPUS        a comma-separated list of CPU numbers; the first one updates (or ping-pongs)
   TRACEPOINT_ID  the id of tlb:tlb_flush (tracefs events/tlb/tlb_flush/id), or -1: then only
                  /proc/interrupts is read

   Output, JSON lines on stdout: first {"perf": ""} (or why the tracepoint cannot be counted), then
   one line per repeat: for an update experiment the "TLB:" line of /proc/interrupts before and
   after; for the switches which kind ran and its time in ns; and per CPU the tlb:tlb_flush events
   counted, one number per filter in FILTERS.

   Before each update the updater waits until every spinning task is running right now, so the
   schedule measured is the one the engine plays even on a busy machine. Where the kernel permits it
   (root, CAP_SYS_NICE or an RLIMIT_RTPRIO above 0), every task runs at real-time priority
   (SCHED_FIFO 1): nothing of another program's then runs on those CPUs in between, to send them
   shootdowns or to come between two ping-pong partners. The first output line says "realtime": ""
   or why not. Every other task this program makes is pinned (sched_setaffinity), dies with it
   (PR_SET_PDEATHSIG), and is gone when it exits; an alarm ends it if it ever hangs. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 64
#define ALARM_SECONDS 120

/* One counter per CPU and filter. The reasons are the values of enum tlb_flush_reason
   (include/linux/mm_types.h at commit 0c01ea92f545): 0 task switch, 1 remote shootdown, 2 local
   shootdown, 3 local MM shootdown, 4 remote IPI send, 5 remote wrong CPU. The last filter counts
   the task switches that flushed: switch_mm_irqs_off() (arch/x86/mm/tlb.c) traces every CR3 write,
   with 0 pages when the PCID kept the TLB. */
static const char *FILTERS[] = {"reason == 0", "reason == 1", "reason == 2", "reason == 3",
                                "reason == 4", "reason == 5", "reason == 0 && pages != 0"};
#define NFILTERS (int)(sizeof FILTERS / sizeof FILTERS[0])

static int cpus[MAX_CPUS], ncpus;
static int perf_fd[MAX_CPUS][NFILTERS];
static int have_perf;

/* Shared with the other tasks (MAP_SHARED, so forked processes see it too). */
struct shared {
    volatile int stop;
    volatile int running[MAX_CPUS];
    struct { volatile unsigned long n; char pad[56]; } beat[MAX_CPUS];   /* a cache line each */
};
static struct shared *sh;

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() do {} while (0)
#endif

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        fprintf(stderr, "sched_setaffinity(cpu %d): %s\n", cpu, strerror(errno));
        _exit(3);
    }
}

/* SCHED_FIFO for this task and every task it makes afterwards (they inherit it); "" or why not.
   The kernel's RT throttling (sched_rt_runtime_us, 95% by default) still leaves the rest of each
   second to other tasks, and the alarm below ends the program if it ever hangs. */
static void go_real_time(char *why, size_t size) {
    struct sched_param param = {.sched_priority = 1};
    why[0] = 0;
    if (sched_setscheduler(0, SCHED_FIFO, &param) != 0)
        snprintf(why, size, "sched_setscheduler(SCHED_FIFO): %s", strerror(errno));
}

static void wait_until(volatile int *flag, int value) {
    while (*flag != value)
        sched_yield();
}

/* -- counting --------------------------------------------------------------------------------- */

static void open_perf(long id, char *why, size_t size) {
    why[0] = 0;
    if (id < 0) {
        snprintf(why, size, "no tracepoint id");
        return;
    }
    for (int i = 0; i < ncpus; i++)
        for (int f = 0; f < NFILTERS; f++) {
            struct perf_event_attr attr;
            memset(&attr, 0, sizeof attr);
            attr.type = PERF_TYPE_TRACEPOINT;
            attr.size = sizeof attr;
            attr.config = (uint64_t)id;
            attr.disabled = 1;
            /* System-wide on one CPU (pid -1): a shootdown lands in whatever task or idle runs there. */
            int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpus[i], -1, 0);
            if (fd < 0 || ioctl(fd, PERF_EVENT_IOC_SET_FILTER, FILTERS[f]) != 0
                    || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
                snprintf(why, size, "perf_event_open(tlb:tlb_flush, cpu %d): %s", cpus[i], strerror(errno));
                for (int j = 0; j <= i; j++)
                    for (int g = 0; g < NFILTERS; g++)
                        if (perf_fd[j][g] > 0) close(perf_fd[j][g]);
                if (fd >= 0) close(fd);
                return;
            }
            perf_fd[i][f] = fd;
        }
    have_perf = 1;
}

static void read_perf(uint64_t out[MAX_CPUS][NFILTERS]) {
    for (int i = 0; i < ncpus; i++)
        for (int f = 0; f < NFILTERS; f++) {
            out[i][f] = 0;
            if (have_perf && read(perf_fd[i][f], &out[i][f], sizeof out[i][f]) != sizeof out[i][f])
                out[i][f] = 0;
        }
}

/* The "TLB:" line of /proc/interrupts (without its newline), or "" when there is none. */
static void tlb_line(char *line, size_t size) {
    static char buf[1 << 20];
    line[0] = 0;
    FILE *f = fopen("/proc/interrupts", "r");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        char *s = p;
        while (*s == ' ') s++;
        if (strncmp(s, "TLB:", 4) == 0) {
            size_t len = strcspn(s, "\n");
            if (len >= size) len = size - 1;
            memcpy(line, s, len);
            line[len] = 0;
            return;
        }
    }
}

static void print_counts(uint64_t before[MAX_CPUS][NFILTERS], uint64_t after[MAX_CPUS][NFILTERS]) {
    printf("\"trace\":[");
    for (int i = 0; i < ncpus; i++) {
        printf("%s[", i ? "," : "");
        for (int f = 0; f < NFILTERS; f++)
            printf("%s%llu", f ? "," : "", (unsigned long long)(after[i][f] - before[i][f]));
        printf("]");
    }
    printf("]");
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* -- the other CPUs' tasks -------------------------------------------------------------------- */

struct worker { int index; int sleep; };

/* A thread (or process) on cpus[index]: says it runs there, then spins until told to stop,
   or sleeps (futex-free: a blocking read on a pipe nobody writes) until the program ends. */
static int sleep_pipe[2];

static void *worker(void *arg) {
    struct worker *w = arg;
    pin(cpus[w->index]);
    while (sched_getcpu() != cpus[w->index])
        sched_yield();
    sh->running[w->index] = 1;
    if (w->sleep) {
        char c;
        while (read(sleep_pipe[0], &c, 1) < 0 && errno == EINTR) {}
        return NULL;
    }
    while (!sh->stop) {
        sh->beat[w->index].n++;
        cpu_relax();
    }
    return NULL;
}

static pid_t spawn_process(struct worker *w) {
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        worker(w);
        _exit(0);
    }
    return pid;
}

/* -- the experiments -------------------------------------------------------------------------- */

static char *page;   /* the middle page of three: its neighbours keep the page table in use */

/* One update: map a fresh page over the old one (munmap + mmap in one call) and touch it, so the
   next update again replaces a present entry. The kernel must flush the old translation
   everywhere this MM may be cached. */
static void update(void) {
    long size = sysconf(_SC_PAGESIZE);
    if (mmap(page, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        fprintf(stderr, "mmap: %s\n", strerror(errno));
        _exit(4);
    }
    page[0] = 1;
}

/* Wait until every spinning task on the other CPUs is running right now (its beat moves): the
   schedule measured is "each other CPU runs its task while this one updates", and on a busy machine
   the scheduler may have put something else there for a while. */
static int spinning;

static void await_spinners(void) {
    if (!spinning) return;
    for (int i = 1; i < ncpus; i++) {
        unsigned long seen = sh->beat[i].n;
        while (sh->beat[i].n == seen)
            cpu_relax();
    }
}

static void run_updates(int repeats, long count) {
    static uint64_t before[MAX_CPUS][NFILTERS], after[MAX_CPUS][NFILTERS];
    static char line0[65536], line1[65536];
    for (int r = 0; r < repeats; r++) {
        tlb_line(line0, sizeof line0);
        read_perf(before);
        for (long i = 0; i < count; i++) {
            await_spinners();
            update();
        }
        read_perf(after);
        tlb_line(line1, sizeof line1);
        printf("{\"repeat\":%d,\"before\":\"%s\",\"after\":\"%s\",", r, line0, line1);
        print_counts(before, after);
        printf("}\n");
        fflush(stdout);
    }
}

static void ping_pong(int to[2], int from[2], long count) {
    char c = 0;
    for (long i = 0; i < count; i++) {
        if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1) {
            fprintf(stderr, "pipe: %s\n", strerror(errno));
            _exit(5);
        }
    }
}

static int t_to[2], t_from[2];   /* the thread partner's pipes */

static void *echo_thread(void *arg) {
    (void)arg;
    pin(cpus[0]);
    char c;
    while (read(t_to[0], &c, 1) == 1)
        if (write(t_from[1], &c, 1) != 1) break;
    return NULL;
}

static void run_switches(int repeats, long count) {
    static uint64_t before[MAX_CPUS][NFILTERS], after[MAX_CPUS][NFILTERS];
    int p_to[2], p_from[2];
    if (pipe(t_to) || pipe(t_from) || pipe(p_to) || pipe(p_from)) _exit(6);
    pthread_t t;
    pthread_create(&t, NULL, echo_thread, NULL);
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pin(cpus[0]);
        char c;
        while (read(p_to[0], &c, 1) == 1)
            if (write(p_from[1], &c, 1) != 1) break;
        _exit(0);
    }
    ping_pong(t_to, t_from, 100);    /* both partners are up and pinned */
    ping_pong(p_to, p_from, 100);
    for (int r = 0; r < repeats; r++) {
        /* Alternate which kind goes first, so neither always runs on a cache the other warmed. */
        for (int k = 0; k < 2; k++) {
            int process = (k + r) % 2;
            read_perf(before);
            long long t0 = now_ns();
            ping_pong(process ? p_to : t_to, process ? p_from : t_from, count);
            long long t1 = now_ns();
            read_perf(after);
            printf("{\"repeat\":%d,\"kind\":\"%s\",\"ns\":%lld,", r, process ? "process" : "thread", t1 - t0);
            print_counts(before, after);
            printf("}\n");
            fflush(stdout);
        }
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: ukva-measure EXPERIMENT CPUS REPEATS COUNT TRACEPOINT_ID\n");
        return 2;
    }
    const char *exp = argv[1];
    for (char *s = argv[2]; *s && ncpus < MAX_CPUS; ) {
        cpus[ncpus++] = (int)strtol(s, &s, 10);
        if (*s == ',') s++;
    }
    int repeats = atoi(argv[3]);
    long count = atol(argv[4]);
    long id = atol(argv[5]);
    int is_switch = strcmp(exp, "switch") == 0;
    if (ncpus < 1 || repeats < 1 || count < 1 || (!is_switch && ncpus < 2)) {
        fprintf(stderr, "ukva-measure: bad arguments\n");
        return 2;
    }
    alarm(ALARM_SECONDS);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    long size = sysconf(_SC_PAGESIZE);
    char *three = mmap(NULL, 3 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED || three == MAP_FAILED || pipe(sleep_pipe)) return 6;
    memset(three, 1, 3 * size);
    page = three + size;
    pin(cpus[0]);
    if (is_switch) ncpus = 1;   /* only the first CPU is counted */

    char why[256], rt_why[128];
    open_perf(id, why, sizeof why);
    go_real_time(rt_why, sizeof rt_why);
    printf("{\"perf\":\"%s\",\"realtime\":\"%s\"}\n", why, rt_why);
    fflush(stdout);
    if (is_switch) {
        run_switches(repeats, count);
        return 0;
    }

    int processes = strcmp(exp, "processes-update") == 0;
    int lazy = strncmp(exp, "lazy-", 5) == 0;
    if (!processes && !lazy && strcmp(exp, "threads-update") != 0) {
        fprintf(stderr, "ukva-measure: unknown experiment %s\n", exp);
        return 2;
    }
    static struct worker workers[MAX_CPUS];
    static pthread_t threads[MAX_CPUS];
    static pid_t pids[MAX_CPUS];
    for (int i = 1; i < ncpus; i++) {
        workers[i] = (struct worker){i, lazy};
        if (processes)
            pids[i] = spawn_process(&workers[i]);
        else
            pthread_create(&threads[i], NULL, worker, &workers[i]);
        wait_until(&sh->running[i], 1);
    }
    if (strcmp(exp, "lazy-other") == 0) {
        /* Our threads ran on those CPUs and sleep there; now another MM takes each CPU. */
        for (int i = 1; i < ncpus; i++) {
            sh->running[i] = 0;
            workers[i] = (struct worker){i, 0};
            pids[i] = spawn_process(&workers[i]);
            wait_until(&sh->running[i], 1);
        }
    }
    spinning = strcmp(exp, "lazy-sleep") != 0;
    update();   /* the first replacement, so every counted one finds a present entry */
    run_updates(repeats, count);
    sh->stop = 1;
    for (int i = 1; i < ncpus; i++)
        if (pids[i] > 0) waitpid(pids[i], NULL, 0);
    return 0;   /* exit_group ends the sleeping threads */
}
