/* Streaming read bandwidth of this machine, 1 and 2 threads: each thread sums its own 96 MiB buffer (larger than the
 * caches, like ResNet50's 102 MB of weights read once per batch-1 run) with AVX-512 loads; best of 5. It bounds how
 * fast a layer whose weights come from memory can run (docs/PERFORMANCE.md, "What limits").
 *
 *   gcc -O2 -mavx512f bench/read_bandwidth/read_bandwidth.c -o /tmp/read_bandwidth -lpthread && /tmp/read_bandwidth
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FLOATS (96L * 1024 * 1024 / 4)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *sum_buffer(void *p)
{
    const float *b = p;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0; /* four chains: the loads, not the adds, limit */
    for (long i = 0; i < FLOATS; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_load_ps(b + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(b + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(b + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(b + i + 48));
    }
    volatile float sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    (void)sink;
    return NULL;
}

int main(void)
{
    float *buf[2];
    for (int k = 0; k < 2; k++) {
        if (!(buf[k] = aligned_alloc(64, FLOATS * sizeof(float)))) return 1;
        for (long i = 0; i < FLOATS; i++) buf[k][i] = 1.0f;
    }
    for (int threads = 1; threads <= 2; threads++) {
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            const double t0 = now_s();
            pthread_t t[2];
            for (int k = 0; k < threads; k++) pthread_create(&t[k], NULL, sum_buffer, buf[k]);
            for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
            const double dt = now_s() - t0;
            if (dt < best) best = dt;
        }
        printf("%d thread%s: %.1f GB/s\n", threads, threads == 1 ? "" : "s", threads * FLOATS * 4.0 / best / 1e9);
    }
    free(buf[0]);
    free(buf[1]);
    return 0;
}
