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
 */
#ifndef SEQCORE_POOL_H
#define SEQCORE_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SC_POOL_PAUSE() _mm_pause()
#else
#define SC_POOL_PAUSE() ((void) 0)
#endif

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
        sched_yield();
}

typedef void (*sc_part_fn)(void *ctx, ptrdiff_t part);

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
    pthread_mutex_t mu;      /* worker creation, sleeping and waking */
    pthread_cond_t wake;
    pthread_cond_t finished; /* the caller sleeps on it for the last parts */
    int n_workers;
    int sleepers;            /* under mu */
    int taken;               /* atomic: a caller owns the job slot */
    uint32_t gen;            /* the last generation posted (the owner's) */
    uint64_t word;           /* atomic: the claim word */
    sc_part_fn fn;           /* the job of the word's generation */
    void *ctx;
    ptrdiff_t done;          /* atomic: parts finished */
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

static sc_pool_t sc_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                            PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, NULL, NULL, 0, 0,
                            0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0};

static inline int64_t sc_pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claim the next part of generation gen; -1 when it has none left or is gone. */
static inline ptrdiff_t sc_pool_claim(uint32_t gen)
{
    uint64_t w = __atomic_load_n(&sc_pool.word, __ATOMIC_ACQUIRE);
    for (;;) {
        if (SC_POOL_GEN(w) != gen || SC_POOL_NEXT(w) >= SC_POOL_N(w))
            return -1;
        if (__atomic_compare_exchange_n(&sc_pool.word, &w, w + 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
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
        __atomic_add_fetch(&sc_pool.done, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&sc_pool.caller_sleeps, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&sc_pool.mu);
            pthread_cond_signal(&sc_pool.finished);
            pthread_mutex_unlock(&sc_pool.mu);
        }
    }
}

/* Take on the job of generation gen if it still wants a worker. */
static inline int sc_pool_join(uint32_t gen)
{
    uint64_t w = __atomic_load_n(&sc_pool.word, __ATOMIC_ACQUIRE);
    for (;;) {
        if (SC_POOL_GEN(w) != gen || SC_POOL_HELPERS(w) == 0
                || SC_POOL_NEXT(w) >= SC_POOL_N(w))
            return 0;
        if (__atomic_compare_exchange_n(&sc_pool.word, &w, w - ((uint64_t) 1 << 24), 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
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
        __atomic_add_fetch(&sc_pool.n_moves, 1, __ATOMIC_RELAXED);
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
        while (SC_POOL_GEN(__atomic_load_n(&sc_pool.word, __ATOMIC_ACQUIRE)) == seen) {
            sc_pool_spin(spins);
            if ((++spins & 15) == 0 && sc_pool_now_ns() > until) {
                if (__atomic_load_n(&sc_pool.taken, __ATOMIC_RELAXED)) {
                    /* the caller still runs its part of the last job: the
                     * next job is near, do not sleep through it */
                    until = sc_pool_now_ns() + SC_POOL_SPIN_NS;
                    continue;
                }
                /* asleep until a caller posts a generation and wakes the
                 * sleepers (it zeroes their count as it does) */
                pthread_mutex_lock(&sc_pool.mu);
                sc_pool.sleepers++;
                while (SC_POOL_GEN(__atomic_load_n(&sc_pool.word, __ATOMIC_ACQUIRE)) == seen)
                    pthread_cond_wait(&sc_pool.wake, &sc_pool.mu);
                pthread_mutex_unlock(&sc_pool.mu);
                break;
            }
        }
        seen = SC_POOL_GEN(__atomic_load_n(&sc_pool.word, __ATOMIC_ACQUIRE));
        sc_pool_move_off(__atomic_load_n(&sc_pool.caller_cpu, __ATOMIC_RELAXED));
        if (sc_pool_join(seen))
            sc_pool_work(seen);
    }
    return NULL;
}

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

/* Start workers until there are `want` (fewer if the system refuses). */
static pthread_once_t sc_pool_fork_once = PTHREAD_ONCE_INIT;

static void sc_pool_register_fork(void)
{
    pthread_atfork(NULL, NULL, sc_pool_after_fork);
}

static void sc_pool_grow(int want)
{
    /* before the lock: a fork while it is held must find the handler */
    pthread_once(&sc_pool_fork_once, sc_pool_register_fork);
    pthread_mutex_lock(&sc_pool.mu);
    while (sc_pool.n_workers < want) {
        pthread_t thread;
        pthread_attr_t attr;
        int failed;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* a new worker has seen the current generation: it waits for the next */
        failed = pthread_create(&thread, &attr, sc_pool_worker,
                                (void *) (uintptr_t) SC_POOL_GEN(__atomic_load_n(&sc_pool.word, __ATOMIC_ACQUIRE)));
        pthread_attr_destroy(&attr);
        if (failed)
            break;
#if defined(__linux__)
        pthread_setname_np(thread, "seqcore-pool");
#endif
        sc_pool.n_workers++;
    }
    pthread_mutex_unlock(&sc_pool.mu);
}

/* The next generation (the owner's); never the live one after a fork or a wrap. */
static inline uint32_t sc_pool_next_gen(void)
{
    uint32_t gen = ++sc_pool.gen;
    if (gen == SC_POOL_GEN(__atomic_load_n(&sc_pool.word, __ATOMIC_RELAXED)))
        gen = ++sc_pool.gen;
    return gen;
}

/* Wake the sleeping workers after a new generation was posted; whether
 * there were any.  The count goes to 0 here: a worker woken counts as awake
 * from now on, though it takes a while to run. */
static inline int sc_pool_wake_sleepers(void)
{
    int any;
    pthread_mutex_lock(&sc_pool.mu);
    any = sc_pool.sleepers > 0;
    if (any) {
        sc_pool.sleepers = 0;
        pthread_cond_broadcast(&sc_pool.wake);
    }
    pthread_mutex_unlock(&sc_pool.mu);
    return any;
}

/* Whether jobs run on the caller alone for now (a worker lost its core). */
static inline int sc_pool_backing_off(void)
{
    int64_t until = __atomic_load_n(&sc_pool.alone_until, __ATOMIC_RELAXED);
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
            cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus > 0 && helpers > cpus - 1)
            helpers = (int) (cpus - 1);
    }
    if (helpers > 0 && sc_pool_backing_off()) {
        __atomic_add_fetch(&sc_pool.n_alone, 1, __ATOMIC_RELAXED);
        helpers = 0;
    }
    if (helpers <= 0 || n > SC_POOL_MAX_PARTS
            || __atomic_exchange_n(&sc_pool.taken, 1, __ATOMIC_ACQUIRE)) {
        for (i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    start = sc_pool_now_ns();
    if (sc_pool.n_workers < helpers)
        sc_pool_grow(helpers);
    if (helpers > sc_pool.n_workers)
        helpers = sc_pool.n_workers;
    pthread_mutex_lock(&sc_pool.mu);
    cold = sc_pool.sleepers > 0;
    pthread_mutex_unlock(&sc_pool.mu);
    if (cold) {
        /* the workers sleep (no job came for SC_POOL_SPIN_NS): waking one
         * takes longer than many a job, and it would then hold the job up.
         * This job runs here; an empty generation wakes the workers for the
         * next one (a scan's next job follows within microseconds). */
        gen = sc_pool_next_gen();
        __atomic_store_n(&sc_pool.word, SC_POOL_WORD(gen, 0, 0, 0), __ATOMIC_RELEASE);
        sc_pool_wake_sleepers();
        sc_pool.n_cold++;
        for (i = 0; i < n; i++)
            fn(ctx, i);
        __atomic_store_n(&sc_pool.taken, 0, __ATOMIC_RELEASE);
        return;
    }
    sc_pool.n_shared++;
    sc_pool.fn = fn;
    sc_pool.ctx = ctx;
#if defined(__linux__) && defined(CPU_ISSET)
    __atomic_store_n(&sc_pool.caller_cpu, sched_getcpu(), __ATOMIC_RELAXED);
#endif
    __atomic_store_n(&sc_pool.done, 0, __ATOMIC_RELAXED);
    gen = sc_pool_next_gen();
    __atomic_store_n(&sc_pool.word, SC_POOL_WORD(gen, helpers, n, 0), __ATOMIC_RELEASE);
    /* a worker that fell asleep since the check above: the job is then cold */
    cold = sc_pool_wake_sleepers();

    sc_pool_work(gen);
    own_done = sc_pool_now_ns();

    /* the parts workers claimed: spin a little, then sleep until the last
     * one is done */
    if (__atomic_load_n(&sc_pool.done, __ATOMIC_ACQUIRE) < n) {
        int64_t until = sc_pool_now_ns() + SC_POOL_WAIT_SPIN_NS;
        unsigned spins = 0;
        while (__atomic_load_n(&sc_pool.done, __ATOMIC_ACQUIRE) < n) {
            sc_pool_spin(spins);
            if ((++spins & 15) == 0 && sc_pool_now_ns() > until) {
                pthread_mutex_lock(&sc_pool.mu);
                __atomic_store_n(&sc_pool.caller_sleeps, 1, __ATOMIC_SEQ_CST);
                while (__atomic_load_n(&sc_pool.done, __ATOMIC_SEQ_CST) < n)
                    pthread_cond_wait(&sc_pool.finished, &sc_pool.mu);
                __atomic_store_n(&sc_pool.caller_sleeps, 0, __ATOMIC_SEQ_CST);
                pthread_mutex_unlock(&sc_pool.mu);
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
        if (sc_pool.backoff ? late : __builtin_popcount(sc_pool.history) >= 3) {
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
            __atomic_store_n(&sc_pool.alone_until, end + sc_pool.backoff, __ATOMIC_RELAXED);
        } else if (sc_pool.backoff) {
            sc_pool.backoff = 0;   /* the first job after a backoff ran well */
        }
    }
    __atomic_store_n(&sc_pool.taken, 0, __ATOMIC_RELEASE);
}

#endif /* SEQCORE_POOL_H */
