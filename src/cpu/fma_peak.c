/* kiln_cpu_peak_gflops: one core's measured FMA rate, the denominator of "% of peak" in `kiln bench --dumpProfile`.
 * Fifteen independent vfmadd231ps chains (enough to cover the FMA latency on two ports), best of three ~15 ms runs.
 * Inline assembly, so this file needs no AVX flags; it runs only at the level kiln_cpu_isa() says the CPU has. */
#include <time.h>

#include "../../include/kiln.h"
#include "cpu_features.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

/* 15 chains of vfmadd231ps on vector registers REG ("zmm" or "ymm") 1..15, `it` iterations. */
#define FMA_LOOP(REG)                                                                                                  \
    "vxorps %%xmm0, %%xmm0, %%xmm0\n"                                                                                  \
    "1:\n"                                                                                                             \
    ".irp r,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"                                                                      \
    "vfmadd231ps %%" REG "0, %%" REG "0, %%" REG "\\r\n"                                                               \
    ".endr\n"                                                                                                          \
    "dec %0\n"                                                                                                         \
    "jnz 1b\n"                                                                                                         \
    "vzeroupper\n"
#define FMA_CLOBBERS                                                                                                   \
    "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
        "xmm13", "xmm14", "xmm15"

double kiln_cpu_peak_gflops(void)
{
#if defined(__x86_64__)
    const kiln_isa isa = kiln_cpu_isa();
    if (isa != KILN_ISA_AVX512 && isa != KILN_ISA_AVX2) return 0.0;
    const long n = 2000000;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        long it = n;
        const double t0 = now_ms();
        if (isa == KILN_ISA_AVX512) __asm__ volatile(FMA_LOOP("zmm") : "+r"(it)::FMA_CLOBBERS);
        else __asm__ volatile(FMA_LOOP("ymm") : "+r"(it)::FMA_CLOBBERS);
        const double dt = now_ms() - t0;
        if (dt < best) best = dt;
    }
    const double flops_per_iter = 15.0 * 2.0 * (isa == KILN_ISA_AVX512 ? 16.0 : 8.0);
    return best > 0 ? (double)n * flops_per_iter / best / 1e6 : 0.0;
#else
    return 0.0;
#endif
}
