/* A persistent pool of worker threads for one execution context.
 *
 * kiln_threadpool_run(pool, fn, arg) calls fn(arg, t, n) once for every t in [0, n) where n is the pool's thread
 * count; the calling thread runs t = 0 itself, the workers the rest, and it returns when all are done. Work is split
 * statically by the callee from (t, n). run() neither allocates nor takes a lock while the workers are awake: they
 * spin on an atomic generation counter for a short while after each job (consecutive layers keep them spinning) and
 * only then sleep on a condition variable, which run() signals when someone sleeps. Not reentrant: one run at a time
 * per pool (a context is used by one thread at a time). */
#ifndef KILN_RUNTIME_THREADPOOL_H
#define KILN_RUNTIME_THREADPOOL_H

typedef struct kiln_threadpool kiln_threadpool;
typedef void (*kiln_parallel_fn)(void *arg, int t, int n);

/* New pool of `threads` threads in total (the caller counts as one: threads - 1 workers are started).
 * Returns NULL when out of memory or when a thread cannot start. Owned by the caller (kiln_threadpool_free). */
kiln_threadpool *kiln_threadpool_create(int threads);
void kiln_threadpool_free(kiln_threadpool *p);
/* Thread count (1 for a NULL pool). */
int kiln_threadpool_size(const kiln_threadpool *p);
/* fn(arg, t, n) for t = 0..n-1 in parallel; a NULL pool runs fn(arg, 0, 1). */
void kiln_threadpool_run(kiln_threadpool *p, kiln_parallel_fn fn, void *arg);

/* Static partition helper: the [begin, end) share of `total` items for thread t of n (contiguous, sizes differ by at
 * most one). */
static inline void kiln_partition(long total, int t, int n, long *begin, long *end)
{
    long q = total / n, r = total % n;
    *begin = t * q + (t < r ? t : r);
    *end = *begin + q + (t < r ? 1 : 0);
}

#endif
