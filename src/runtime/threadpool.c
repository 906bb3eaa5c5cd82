/* Persistent pthread pool; see threadpool.h for the protocol. */
#ifdef KILN_POOL_STATS
#define _GNU_SOURCE /* dladdr */
#endif
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations before a worker sleeps (~50-100 us): long enough to bridge the gap between two layers. */
#define SPIN_BEFORE_SLEEP 20000

struct kiln_threadpool {
    int threads;
    pthread_t *tids;
    atomic_uint generation;   /* bumped by run() to publish a job */
    atomic_int remaining;     /* workers still busy with the current job */
    atomic_int sleepers;      /* workers blocked on `wake` */
    atomic_int stop;
    kiln_parallel_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct worker {
        kiln_threadpool *pool;
        int index;
#ifdef KILN_POOL_STATS
        unsigned long long t_start, t_end; /* TSC around its share of the current job */
#endif
    } *workers;
};

#ifdef KILN_POOL_STATS
/* Diagnostic build (cmake -DCMAKE_C_FLAGS=-DKILN_POOL_STATS, x86, 2+ threads; docs/PERFORMANCE.md): per parallel
 * function, TSC cycles from publishing a job to its end, of the caller's share (t = 0), of worker 1's share and
 * before worker 1 started it; printed at exit with the function's offset in its binary (addr2line -f -e BINARY
 * 0xOFFSET names it). A share well below 100% of the total is time that thread waited for the other. */
#include <dlfcn.h>
#include <stdio.h>
#include <x86intrin.h>
enum { POOL_STATS_FNS = 256 };
static struct {
    kiln_parallel_fn fn;
    unsigned long long calls, total, caller, worker, delay;
} pool_stats[POOL_STATS_FNS];

static void pool_stats_print(void)
{
    unsigned long long all = 0;
    for (int i = 0; i < POOL_STATS_FNS; i++) all += pool_stats[i].total;
    fprintf(stderr, "kiln pool stats: %.1f M TSC cycles inside parallel jobs in all (compare with the process's run "
            "time to find the serial share)\n", (double)all * 1e-6);
    for (int i = 0; i < POOL_STATS_FNS; i++) {
        if (!pool_stats[i].fn) continue;
        Dl_info di;
        const unsigned long off = dladdr((void *)pool_stats[i].fn, &di)
                                      ? (unsigned long)((char *)pool_stats[i].fn - (char *)di.dli_fbase) : 0;
        const double tot = (double)pool_stats[i].total;
        fprintf(stderr, "kiln pool stats: fn 0x%lx calls %llu: %.1f%% of pool time; caller %.1f%%, worker %.1f%%, worker "
                "start %.1f%% of its total\n", off, pool_stats[i].calls, 100.0 * tot / (double)all,
                100.0 * (double)pool_stats[i].caller / tot, 100.0 * (double)pool_stats[i].worker / tot,
                100.0 * (double)pool_stats[i].delay / tot);
    }
}

static void pool_stats_add(const kiln_threadpool *p, kiln_parallel_fn fn, unsigned long long t0,
                           unsigned long long t1, unsigned long long t2)
{
    static int registered;
    if (!registered) registered = 1, atexit(pool_stats_print);
    int h = (int)(((unsigned long)fn >> 4) % POOL_STATS_FNS);
    while (pool_stats[h].fn && pool_stats[h].fn != fn) h = (h + 1) % POOL_STATS_FNS;
    pool_stats[h].fn = fn;
    pool_stats[h].calls++;
    pool_stats[h].total += t2 - t0;
    pool_stats[h].caller += t1 - t0;
    pool_stats[h].worker += p->workers[1].t_end - p->workers[1].t_start;
    pool_stats[h].delay += p->workers[1].t_start - t0;
}
#endif

/* Parallel kernels run with denormals flushed to zero (x86 MXCSR FTZ + DAZ), as ONNX Runtime and oneDNN can: a
 * subnormal operand costs an FMA a ~100-cycle microcode assist, and random-weight or saturated squeeze-excite gates
 * (sigmoid of a very negative sum ~ 1e-39) feed whole layers of them (EfficientNet-B0's 7x7 project convs ran 7x
 * slower). Results differ from the reference kernels only where a value is below 1.2e-38 in magnitude. Workers set
 * it once; the calling thread sets it for the duration of each run and restores its own mode. */
static inline unsigned denormals_off(void)
{
#if defined(__x86_64__)
    const unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
#else
    return 0;
#endif
}

static inline void denormals_restore(unsigned old)
{
#if defined(__x86_64__)
    _mm_setcsr(old);
#else
    (void)old;
#endif
}

static void *worker_main(void *p_)
{
    struct worker *w = p_;
    (void)denormals_off();
    kiln_threadpool *p = w->pool;
    unsigned seen = 0; /* the generation at creation: a job published before this thread got here is not missed */
    for (;;) {
        int spins = 0;
        unsigned g;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_BEFORE_SLEEP) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&p->stop)) return NULL;
#ifdef KILN_POOL_STATS
        w->t_start = __rdtsc();
#endif
        p->fn(p->arg, w->index, p->threads);
#ifdef KILN_POOL_STATS
        w->t_end = __rdtsc();
#endif
        atomic_fetch_sub_explicit(&p->remaining, 1, memory_order_release);
    }
}

static void publish(kiln_threadpool *p)
{
    atomic_fetch_add(&p->generation, 1); /* seq_cst: pairs with the sleeper's increment + re-check */
    if (atomic_load(&p->sleepers) > 0) { /* only when a worker went to sleep (idle for a while) */
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
}

kiln_threadpool *kiln_threadpool_create(int threads)
{
    if (threads < 1) threads = 1;
    kiln_threadpool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (threads == 1) return p;
    p->tids = calloc((size_t)threads, sizeof(pthread_t));
    p->workers = calloc((size_t)threads, sizeof(struct worker));
    if (!p->tids || !p->workers) {
        p->threads = 1;
        kiln_threadpool_free(p);
        return NULL;
    }
    for (int i = 1; i < threads; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        if (pthread_create(&p->tids[i], NULL, worker_main, &p->workers[i]) != 0) {
            p->threads = i; /* join the ones that started */
            kiln_threadpool_free(p);
            return NULL;
        }
    }
    return p;
}

void kiln_threadpool_free(kiln_threadpool *p)
{
    if (!p) return;
    if (p->threads > 1) {
        atomic_store(&p->stop, 1);
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->generation, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->tids);
    free(p->workers);
    free(p);
}

int kiln_threadpool_size(const kiln_threadpool *p) { return p ? p->threads : 1; }

void kiln_threadpool_run(kiln_threadpool *p, kiln_parallel_fn fn, void *arg)
{
    const unsigned saved = denormals_off(); /* the caller's FP mode comes back below */
    if (!p || p->threads == 1) {
        fn(arg, 0, 1);
        denormals_restore(saved);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->remaining, p->threads - 1, memory_order_relaxed);
#ifdef KILN_POOL_STATS
    const unsigned long long t0 = __rdtsc();
#endif
    publish(p);
    fn(arg, 0, p->threads);
#ifdef KILN_POOL_STATS
    const unsigned long long t1 = __rdtsc();
#endif
    /* Spin briefly, then yield: on an oversubscribed machine (more runnable threads than CPUs) a caller that only
     * spins holds the CPU the straggling worker needs, and every layer then costs a scheduler time slice. */
    for (int spins = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) > 0; spins++) {
        if (spins < 2000) cpu_relax();
        else sched_yield();
    }
#ifdef KILN_POOL_STATS
    pool_stats_add(p, fn, t0, t1, __rdtsc());
#endif
    denormals_restore(saved);
}
