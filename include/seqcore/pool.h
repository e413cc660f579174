/* The core's worker threads: run parts 0 .. n-1 of a job at once.
 *
 * Why not Python threads: handing a part to a sleeping Python thread (a
 * futex wake, then the GIL) took about 50 us here, a forward pass hands off
 * twice and a training step four times, so small scans ran no faster on two
 * cores than on one.  These workers are plain C threads that never touch
 * Python: after a job they spin for SC_POOL_SPIN_NS (2 ms) before they
 * sleep, offering the core to anyone else with sched_yield meanwhile, so a
 * job that follows within that time starts in about a microsecond.  (A
 * training step's jobs come with up to a millisecond of NumPy copies between
 * them; with 0.3 ms, half of them found the worker asleep.)  The price: the
 * process's CPU time counts those spins.
 *
 *   sc_pool_run(fn, ctx, n, threads): fn(ctx, i) for i in 0 .. n-1, on the
 *       calling thread and up to threads - 1 workers; returns when all are
 *       done.
 *
 * A job posted while the workers sleep runs on the caller alone and wakes
 * them for the next one: waking a sleeping thread took longer here than
 * many jobs do (up to 0.2 ms on this virtual machine, where an idle CPU is
 * halted), and calls spaced a millisecond apart ran slower on two threads
 * than on one.  A scan's jobs follow each other within microseconds, so its
 * next job finds them awake.
 *
 * Parts are claimed, not assigned: the caller runs parts too, and a part no
 * worker has started when the caller gets to it is the caller's.  On a busy
 * machine, where a worker may not get a core for milliseconds, the job then
 * finishes on the caller instead of waiting for it.  Which thread runs a part
 * never changes its result (the parts are cut by the caller from the problem's
 * shape), so results do not depend on threads or timing.
 *
 * A worker that claimed a part and then lost its core (another process runs
 * there) holds the job up: the caller waits for it.  A job waited when the
 * caller, after its own parts, waited longer than half the time they took
 * (the job then ran no faster than on one thread), although the workers were
 * awake when it was posted.  When 3 of the last 8 such jobs waited, the pool
 * runs the next jobs on the caller alone for 20 ms; if the first job after
 * that waits again, for twice as long, up to 1 s.  This keeps a call on a
 * busy machine within reach of its one-thread time, while a lone late
 * worker (a virtual CPU or a kernel thread taking it for a millisecond,
 * which happens here on an idle machine) costs one job.
 *
 * One job at a time: a caller that finds the pool taken (another Python
 * thread's scan) runs its parts itself, in order.  The pool is per process; a
 * forked child starts with none.
 *
 * The claim word packs the job's generation (32 bits), the workers it may
 * still take on (8), its part count (12) and the next unclaimed part (12):
 * one compare-and-swap both checks that a job is still the one a worker saw
 * and claims a part of it, so a late worker can never run a part of a newer
 * job with an older job's function.
 *
 * Platforms: POSIX threads (Linux, macOS, musl) or Windows threads (SRW
 * locks and condition variables), behind the few sc_mutex / sc_cond /
 * sc_pool_thread wrappers below; the atomics are portable.h's.  Where
 * neither threads nor atomics are known (or with SC_POOL_SERIAL defined),
 * the same interface runs every part on the calling thread.
 */
#ifndef SEQCORE_POOL_H
#define SEQCORE_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "portable.h"

typedef void (*sc_part_fn)(void *ctx, ptrdiff_t part);

#if SC_HAVE_ATOMICS && !defined(SC_POOL_SERIAL)
#define SC_POOL_THREADS 1
#else
#define SC_POOL_THREADS 0
#endif

#if SC_POOL_THREADS && defined(_WIN32)

/* ----------------------------------------------------- Windows threads */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

typedef SRWLOCK sc_mutex_t;
typedef CONDITION_VARIABLE sc_cond_t;
#define SC_MUTEX_INIT SRWLOCK_INIT
#define SC_COND_INIT CONDITION_VARIABLE_INIT
#define sc_mutex_lock(m) AcquireSRWLockExclusive(m)
#define sc_mutex_unlock(m) ReleaseSRWLockExclusive(m)
#define sc_cond_wait(c, m) SleepConditionVariableSRW((c), (m), INFINITE, 0)
#define sc_cond_signal(c) WakeConditionVariable(c)
#define sc_cond_broadcast(c) WakeAllConditionVariable(c)
#define SC_POOL_PAUSE() YieldProcessor()
#define sc_pool_yield() ((void) SwitchToThread())

static inline int64_t sc_pool_now_ns(void)
{
    static LARGE_INTEGER freq;      /* the race on the first call is benign */
    LARGE_INTEGER t;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    /* in two parts, so that no product overflows */
    return (int64_t) (t.QuadPart / freq.QuadPart) * 1000000000
        + (int64_t) (t.QuadPart % freq.QuadPart) * 1000000000 / freq.QuadPart;
}

static inline long sc_pool_cpus(void)
{
    /* the CPUs of this process's processor group: its threads run there */
    SYSTEM_INFO info;
    GetSystemInfo(&info);
    return (long) info.dwNumberOfProcessors;
}

static void *sc_pool_worker(void *arg);

static DWORD WINAPI sc_pool_thread_main(LPVOID arg)
{
    sc_pool_worker(arg);
    return 0;
}

/* Start a detached worker; 0 on success. */
static inline int sc_pool_thread_start(void *arg)
{
    HANDLE thread = CreateThread(NULL, 0, sc_pool_thread_main, arg, 0, NULL);
    if (thread == NULL)
        return 1;
    CloseHandle(thread);
    return 0;
}

#elif SC_POOL_THREADS

/* ------------------------------------------------------- POSIX threads */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

typedef pthread_mutex_t sc_mutex_t;
typedef pthread_cond_t sc_cond_t;
#define SC_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define SC_COND_INIT PTHREAD_COND_INITIALIZER
#define sc_mutex_lock(m) pthread_mutex_lock(m)
#define sc_mutex_unlock(m) pthread_mutex_unlock(m)
#define sc_cond_wait(c, m) pthread_cond_wait((c), (m))
#define sc_cond_signal(c) pthread_cond_signal(c)
#define sc_cond_broadcast(c) pthread_cond_broadcast(c)
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SC_POOL_PAUSE() _mm_pause()
#elif SC_GNU && defined(__aarch64__)
#define SC_POOL_PAUSE() __asm__ __volatile__("yield")
#else
#define SC_POOL_PAUSE() ((void) 0)
#endif
#define sc_pool_yield() ((void) sched_yield())

static inline int64_t sc_pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline long sc_pool_cpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static void *sc_pool_worker(void *arg);

/* Start a detached worker; 0 on success. */
static inline int sc_pool_thread_start(void *arg)
{
    pthread_t thread;
    pthread_attr_t attr;
    int failed;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    failed = pthread_create(&thread, &attr, sc_pool_worker, arg);
    pthread_attr_destroy(&attr);
#if defined(__linux__) && defined(_GNU_SOURCE)
    if (!failed)
        pthread_setname_np(thread, "seqcore-pool");
#endif
    return failed;
}

#endif

#if SC_POOL_THREADS

/* the number of jobs among the last 8 judged that waited */
static inline int sc_pool_popcount(unsigned x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* One round of a spin-wait: a pause for the first rounds, then the core is
 * offered to whoever else wants it.  Why: the kernel may wake a worker on
 * its waker's CPU; a worker that only spun there took half of the caller's
 * time and never moved (here, two threads then ran no faster than one).
 * sched_yield lets the caller run and the scheduler move the spinner. */
static inline void sc_pool_spin(unsigned spins)
{
    if (spins < 64)
        SC_POOL_PAUSE();
    else
        sc_pool_yield();
}

#define SC_POOL_MAX_WORKERS 255       /* fits the 8 bits of "may take on" */
#define SC_POOL_MAX_PARTS 4095        /* fits the 12 bits of a part index */
/* how long a worker spins for the next job before it sleeps, counted from
 * the end of the last job: a training step starts its next scan well within
 * this */
#define SC_POOL_SPIN_NS 2000000
/* how long the caller spins for workers to finish before it sleeps */
#define SC_POOL_WAIT_SPIN_NS 100000
/* the first and the longest time jobs run on the caller alone after one that
 * waited on a worker */
#define SC_POOL_BACKOFF_NS 20000000
#define SC_POOL_BACKOFF_MAX_NS 1000000000

#define SC_POOL_GEN(w) ((uint32_t) ((w) >> 32))
#define SC_POOL_HELPERS(w) ((unsigned) (((w) >> 24) & 0xFF))
#define SC_POOL_N(w) ((ptrdiff_t) (((w) >> 12) & 0xFFF))
#define SC_POOL_NEXT(w) ((ptrdiff_t) ((w) & 0xFFF))
#define SC_POOL_WORD(gen, helpers, n, next) \
    (((uint64_t) (gen) << 32) | ((uint64_t) (helpers) << 24) | ((uint64_t) (n) << 12) | (uint64_t) (next))

typedef struct {
    sc_mutex_t mu;           /* worker creation, sleeping and waking */
    sc_cond_t wake;
    sc_cond_t finished;      /* the caller sleeps on it for the last parts */
    int n_workers;
    int sleepers;            /* under mu */
    int taken;               /* atomic: a caller owns the job slot */
    uint32_t gen;            /* the last generation posted (the owner's) */
    uint64_t word;           /* atomic: the claim word */
    sc_part_fn fn;           /* the job of the word's generation */
    void *ctx;
    int64_t done;            /* atomic: parts finished */
    int caller_sleeps;       /* atomic: the caller waits on `finished` */
    int64_t alone_until;     /* atomic: run jobs on the caller alone until then */
    int64_t backoff;         /* the owner's: the last time alone (0: none) */
    /* counts, for tests and benchmarks: jobs shared, jobs alone because of
     * a backoff, backoffs started */
    int64_t n_shared, n_alone, n_backoffs;
    int64_t last_own_ns, last_wait_ns;   /* of the last job that backed off */
    unsigned history;        /* the owner's: the last 8 judged jobs, 1 = waited */
    int caller_cpu;          /* atomic: the CPU the last job was posted from */
    int64_t n_moves;         /* atomic: workers moved off their caller's CPU */
    int64_t n_cold;          /* jobs run here because the workers slept */
} sc_pool_t;

static sc_pool_t sc_pool = {SC_MUTEX_INIT, SC_COND_INIT, SC_COND_INIT, 0, 0, 0, 0, 0, NULL, NULL, 0, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0};

/* Claim the next part of generation gen; -1 when it has none left or is gone. */
static inline ptrdiff_t sc_pool_claim(uint32_t gen)
{
    uint64_t w = sc_atomic_load64(&sc_pool.word, SC_ACQUIRE);
    for (;;) {
        if (SC_POOL_GEN(w) != gen || SC_POOL_NEXT(w) >= SC_POOL_N(w))
            return -1;
        if (sc_atomic_cas64(&sc_pool.word, &w, w + 1, SC_ACQ_REL))
            return SC_POOL_NEXT(w);
    }
}

/* Run parts of generation gen until none is left.  fn and ctx are read
 * after a claim succeeds: the job cannot end (and the slot cannot be
 * reused) before the claimed part is counted done. */
static inline void sc_pool_work(uint32_t gen)
{
    ptrdiff_t part;
    while ((part = sc_pool_claim(gen)) >= 0) {
        sc_pool.fn(sc_pool.ctx, part);
        /* sequentially consistent with the caller's flag: either it sees
         * this part done before it sleeps, or this sees it sleeping */
        sc_atomic_add64(&sc_pool.done, 1, SC_SEQ_CST);
        if (sc_atomic_load32(&sc_pool.caller_sleeps, SC_SEQ_CST)) {
            sc_mutex_lock(&sc_pool.mu);
            sc_cond_signal(&sc_pool.finished);
            sc_mutex_unlock(&sc_pool.mu);
        }
    }
}

/* Take on the job of generation gen if it still wants a worker. */
static inline int sc_pool_join(uint32_t gen)
{
    uint64_t w = sc_atomic_load64(&sc_pool.word, SC_ACQUIRE);
    for (;;) {
        if (SC_POOL_GEN(w) != gen || SC_POOL_HELPERS(w) == 0
                || SC_POOL_NEXT(w) >= SC_POOL_N(w))
            return 0;
        if (sc_atomic_cas64(&sc_pool.word, &w, w - ((uint64_t) 1 << 24), SC_ACQ_REL))
            return 1;
    }
}

/* A worker that finds itself on the CPU of the caller it should help moves
 * off it: it narrows its CPU mask to the others, which moves it, and widens
 * it back at once (the kernel then leaves it where it is).  Why: on this
 * virtual machine the kernel woke a sleeping worker on its waker's CPU and
 * left it there; the caller then ran every part itself, with the worker
 * taking turns on its CPU (two threads ran no faster than one).  Linux only,
 * and only when the thread may run on another CPU at all. */
static inline void sc_pool_move_off(int caller_cpu)
{
#if defined(__linux__) && defined(CPU_ISSET)
    cpu_set_t mask, others;
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu != caller_cpu
            || pthread_getaffinity_np(pthread_self(), sizeof(mask), &mask) != 0)
        return;
    others = mask;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0)
        return;
    if (pthread_setaffinity_np(pthread_self(), sizeof(others), &others) == 0) {
        sc_atomic_add64(&sc_pool.n_moves, 1, SC_RELAXED);
        pthread_setaffinity_np(pthread_self(), sizeof(mask), &mask);
    }
#else
    (void) caller_cpu;
#endif
}

static void *sc_pool_worker(void *arg)
{
    uint32_t seen = (uint32_t) (uintptr_t) arg;
    for (;;) {
        /* wait for a generation this worker has not seen: spin, then sleep */
        int64_t until = sc_pool_now_ns() + SC_POOL_SPIN_NS;
        unsigned spins = 0;
        while (SC_POOL_GEN(sc_atomic_load64(&sc_pool.word, SC_ACQUIRE)) == seen) {
            sc_pool_spin(spins);
            if ((++spins & 15) == 0 && sc_pool_now_ns() > until) {
                if (sc_atomic_load32(&sc_pool.taken, SC_RELAXED)) {
                    /* the caller still runs its part of the last job: the
                     * next job is near, do not sleep through it */
                    until = sc_pool_now_ns() + SC_POOL_SPIN_NS;
                    continue;
                }
                /* asleep until a caller posts a generation and wakes the
                 * sleepers (it zeroes their count as it does) */
                sc_mutex_lock(&sc_pool.mu);
                sc_pool.sleepers++;
                while (SC_POOL_GEN(sc_atomic_load64(&sc_pool.word, SC_ACQUIRE)) == seen)
                    sc_cond_wait(&sc_pool.wake, &sc_pool.mu);
                sc_mutex_unlock(&sc_pool.mu);
                break;
            }
        }
        seen = SC_POOL_GEN(sc_atomic_load64(&sc_pool.word, SC_ACQUIRE));
        sc_pool_move_off(sc_atomic_load32(&sc_pool.caller_cpu, SC_RELAXED));
        if (sc_pool_join(seen))
            sc_pool_work(seen);
    }
    return NULL;
}

#if !defined(_WIN32)
static void sc_pool_after_fork(void)
{
    /* the child has none of the parent's workers */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t wake = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
    sc_pool.mu = mu;
    sc_pool.wake = wake;
    sc_pool.finished = finished;
    sc_pool.caller_sleeps = 0;
    sc_pool.n_workers = 0;
    sc_pool.sleepers = 0;
    sc_pool.taken = 0;
    sc_pool.alone_until = 0;
    sc_pool.backoff = 0;
    sc_pool.history = 0;
}

static pthread_once_t sc_pool_fork_once = PTHREAD_ONCE_INIT;

static void sc_pool_register_fork(void)
{
    pthread_atfork(NULL, NULL, sc_pool_after_fork);
}
#endif

/* Start workers until there are `want` (fewer if the system refuses). */
static void sc_pool_grow(int want)
{
#if !defined(_WIN32)
    /* before the lock: a fork while it is held must find the handler */
    pthread_once(&sc_pool_fork_once, sc_pool_register_fork);
#endif
    sc_mutex_lock(&sc_pool.mu);
    while (sc_pool.n_workers < want) {
        /* a new worker has seen the current generation: it waits for the next */
        uint32_t seen = SC_POOL_GEN(sc_atomic_load64(&sc_pool.word, SC_ACQUIRE));
        if (sc_pool_thread_start((void *) (uintptr_t) seen) != 0)
            break;
        sc_pool.n_workers++;
    }
    sc_mutex_unlock(&sc_pool.mu);
}

/* The next generation (the owner's); never the live one after a fork or a wrap. */
static inline uint32_t sc_pool_next_gen(void)
{
    uint32_t gen = ++sc_pool.gen;
    if (gen == SC_POOL_GEN(sc_atomic_load64(&sc_pool.word, SC_RELAXED)))
        gen = ++sc_pool.gen;
    return gen;
}

/* Wake the sleeping workers after a new generation was posted; whether
 * there were any.  The count goes to 0 here: a worker woken counts as awake
 * from now on, though it takes a while to run. */
static inline int sc_pool_wake_sleepers(void)
{
    int any;
    sc_mutex_lock(&sc_pool.mu);
    any = sc_pool.sleepers > 0;
    if (any) {
        sc_pool.sleepers = 0;
        sc_cond_broadcast(&sc_pool.wake);
    }
    sc_mutex_unlock(&sc_pool.mu);
    return any;
}

/* Whether jobs run on the caller alone for now (a worker lost its core). */
static inline int sc_pool_backing_off(void)
{
    int64_t until = sc_atomic_load64(&sc_pool.alone_until, SC_RELAXED);
    return until != 0 && sc_pool_now_ns() < until;
}

static void sc_pool_run(sc_part_fn fn, void *ctx, ptrdiff_t n, int threads)
{
    ptrdiff_t i;
    int helpers;
    uint32_t gen;
    int64_t start, own_done, end;
    int cold;
    if (n <= 0)
        return;
    helpers = threads - 1;
    if (helpers > n - 1)
        helpers = (int) (n - 1);
    if (helpers > SC_POOL_MAX_WORKERS)
        helpers = SC_POOL_MAX_WORKERS;
    if (helpers > 0) {
        /* no more workers than the other CPUs: more would only take turns */
        static long cpus = 0;
        if (cpus == 0)
            cpus = sc_pool_cpus();
        if (cpus > 0 && helpers > cpus - 1)
            helpers = (int) (cpus - 1);
    }
    if (helpers > 0 && sc_pool_backing_off()) {
        sc_atomic_add64(&sc_pool.n_alone, 1, SC_RELAXED);
        helpers = 0;
    }
    if (helpers <= 0 || n > SC_POOL_MAX_PARTS
            || sc_atomic_exchange32(&sc_pool.taken, 1, SC_ACQUIRE)) {
        for (i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    start = sc_pool_now_ns();
    if (sc_pool.n_workers < helpers)
        sc_pool_grow(helpers);
    if (helpers > sc_pool.n_workers)
        helpers = sc_pool.n_workers;
    sc_mutex_lock(&sc_pool.mu);
    cold = sc_pool.sleepers > 0;
    sc_mutex_unlock(&sc_pool.mu);
    if (cold) {
        /* the workers sleep (no job came for SC_POOL_SPIN_NS): waking one
         * takes longer than many a job, and it would then hold the job up.
         * This job runs here; an empty generation wakes the workers for the
         * next one (a scan's next job follows within microseconds). */
        gen = sc_pool_next_gen();
        sc_atomic_store64(&sc_pool.word, SC_POOL_WORD(gen, 0, 0, 0), SC_RELEASE);
        sc_pool_wake_sleepers();
        sc_pool.n_cold++;
        for (i = 0; i < n; i++)
            fn(ctx, i);
        sc_atomic_store32(&sc_pool.taken, 0, SC_RELEASE);
        return;
    }
    sc_pool.n_shared++;
    sc_pool.fn = fn;
    sc_pool.ctx = ctx;
#if defined(__linux__) && defined(CPU_ISSET)
    sc_atomic_store32(&sc_pool.caller_cpu, sched_getcpu(), SC_RELAXED);
#endif
    sc_atomic_store64(&sc_pool.done, 0, SC_RELAXED);
    gen = sc_pool_next_gen();
    sc_atomic_store64(&sc_pool.word, SC_POOL_WORD(gen, helpers, n, 0), SC_RELEASE);
    /* a worker that fell asleep since the check above: the job is then cold */
    cold = sc_pool_wake_sleepers();

    sc_pool_work(gen);
    own_done = sc_pool_now_ns();

    /* the parts workers claimed: spin a little, then sleep until the last
     * one is done */
    if (sc_atomic_load64(&sc_pool.done, SC_ACQUIRE) < n) {
        int64_t until = sc_pool_now_ns() + SC_POOL_WAIT_SPIN_NS;
        unsigned spins = 0;
        while (sc_atomic_load64(&sc_pool.done, SC_ACQUIRE) < n) {
            sc_pool_spin(spins);
            if ((++spins & 15) == 0 && sc_pool_now_ns() > until) {
                sc_mutex_lock(&sc_pool.mu);
                sc_atomic_store32(&sc_pool.caller_sleeps, 1, SC_SEQ_CST);
                while (sc_atomic_load64(&sc_pool.done, SC_SEQ_CST) < n)
                    sc_cond_wait(&sc_pool.finished, &sc_pool.mu);
                sc_atomic_store32(&sc_pool.caller_sleeps, 0, SC_SEQ_CST);
                sc_mutex_unlock(&sc_pool.mu);
            }
        }
    }
    end = sc_pool_now_ns();
    /* waited on a worker for over half of the caller's own time (and more
     * than a scheduler's wake-up): alone for a while, longer each time.  A
     * job that had to wake a sleeping worker proves nothing (waking one
     * took up to 0.2 ms on a virtual machine here, where an idle CPU is
     * halted) and is not judged: the next job finds the worker awake. */
    if (!cold) {
        int late = end - own_done > (own_done - start) / 2 + 50000;
        sc_pool.history = ((sc_pool.history << 1) | (unsigned) late) & 0xFF;
        if (sc_pool.backoff ? late : sc_pool_popcount(sc_pool.history) >= 3) {
            /* 3 of the last 8 jobs waited (a lone late worker is a hiccup:
             * a virtual CPU or a kernel thread took it for a millisecond),
             * or the first after a backoff did again */
            sc_pool.n_backoffs++;
            sc_pool.last_own_ns = own_done - start;
            sc_pool.last_wait_ns = end - own_done;
            sc_pool.backoff = sc_pool.backoff ? 2 * sc_pool.backoff : SC_POOL_BACKOFF_NS;
            if (sc_pool.backoff > SC_POOL_BACKOFF_MAX_NS)
                sc_pool.backoff = SC_POOL_BACKOFF_MAX_NS;
            sc_pool.history = 0;
            sc_atomic_store64(&sc_pool.alone_until, end + sc_pool.backoff, SC_RELAXED);
        } else if (sc_pool.backoff) {
            sc_pool.backoff = 0;   /* the first job after a backoff ran well */
        }
    }
    sc_atomic_store32(&sc_pool.taken, 0, SC_RELEASE);
}

#else /* no threads: the same interface, every part on the caller */

typedef struct {
    int n_workers;
    int64_t n_shared, n_alone, n_backoffs, last_own_ns, last_wait_ns, n_moves, n_cold;
} sc_pool_t;

static sc_pool_t sc_pool = {0, 0, 0, 0, 0, 0, 0, 0};

static inline int sc_pool_backing_off(void)
{
    return 0;
}

static void sc_pool_run(sc_part_fn fn, void *ctx, ptrdiff_t n, int threads)
{
    ptrdiff_t i;
    (void) threads;
    for (i = 0; i < n; i++)
        fn(ctx, i);
}

#endif /* SC_POOL_THREADS */

#endif /* SEQCORE_POOL_H */
