/* CPU feature detection: CPUID + XGETBV on x86-64 (the OS must save the wide registers, not only the CPU have
 * them), NEON assumed on aarch64. Detected once; KILN_ISA may lower the level. */
#include "cpu_features.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static kiln_isa detected = KILN_ISA_SCALAR, effective = KILN_ISA_SCALAR;
static char note[160];

#if defined(__x86_64__)
static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static kiln_isa detect(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return KILN_ISA_SCALAR;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return KILN_ISA_SCALAR;
    const unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return KILN_ISA_SCALAR; /* XMM and YMM state saved by the OS */
    if (__get_cpuid_max(0, NULL) < 7) return KILN_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F DQ BW VL */
    if (avx512 && (xcr0 & 0xe6) == 0xe6) return KILN_ISA_AVX512; /* opmask + ZMM state saved too */
    if (avx2 && fma) return KILN_ISA_AVX2;
    return KILN_ISA_SCALAR;
#elif defined(__aarch64__)
    return KILN_ISA_NEON;
#else
    return KILN_ISA_SCALAR;
#endif
}

static int family(kiln_isa i) { return i == KILN_ISA_NEON ? 2 : (i == KILN_ISA_SCALAR ? 0 : 1); }

int kiln_cpu_isa_runs(kiln_isa need)
{
    kiln_isa have = kiln_cpu_isa();
    if (need == KILN_ISA_SCALAR) return 1;
    if (family(need) != family(have)) return 0;
    return need <= have;
}

/* One core's data cache sizes. glibc's sysconf reads them from CPUID (Intel leaf 4, AMD leaf 0x8000001D); a value it
 * cannot tell (0, -1) or an implausible one falls back to the smallest common size, so blocking errs towards
 * fitting. KILN_L2_BYTES (bytes, or with a K / M suffix) overrides L2 for A/B measurements and tests. */
static long l1d_bytes = 32 * 1024, l2_bytes = 1024 * 1024;

static long sized(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'K' || *end == 'k') v *= 1024;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
    return v;
}

static void detect_caches(void)
{
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l1 >= 16 * 1024 && l1 <= 1024 * 1024) l1d_bytes = l1;
    if (l2 >= 256 * 1024 && l2 <= 64 * 1024 * 1024) l2_bytes = l2;
#endif
    const char *env = getenv("KILN_L2_BYTES");
    if (env && *env) {
        const long v = sized(env);
        if (v >= 64 * 1024 && v <= 256L * 1024 * 1024) l2_bytes = v;
    }
}

static void init(void)
{
    detect_caches();
    detected = effective = detect();
    const char *env = getenv("KILN_ISA");
    if (!env || !*env) return;
    kiln_isa want;
    if (!strcmp(env, "scalar")) want = KILN_ISA_SCALAR;
    else if (!strcmp(env, "avx2")) want = KILN_ISA_AVX2;
    else if (!strcmp(env, "avx512")) want = KILN_ISA_AVX512;
    else if (!strcmp(env, "neon")) want = KILN_ISA_NEON;
    else {
        snprintf(note, sizeof note, "KILN_ISA=%.20s is unknown (avx512, avx2, neon, scalar); using %s", env,
                 kiln_isa_name(detected));
        return;
    }
    if (want == KILN_ISA_SCALAR || (family(want) == family(detected) && want <= detected)) {
        effective = want;
        snprintf(note, sizeof note, "KILN_ISA=%s: kernels limited to %s (CPU has %s)", env, kiln_isa_name(want),
                 kiln_isa_name(detected));
    } else {
        snprintf(note, sizeof note, "KILN_ISA=%s ignored: this CPU has only %s", env, kiln_isa_name(detected));
    }
}

kiln_isa kiln_cpu_isa(void)
{
    pthread_once(&once, init);
    return effective;
}

kiln_isa kiln_cpu_isa_detected(void)
{
    pthread_once(&once, init);
    return detected;
}

long kiln_cpu_l1d_bytes(void)
{
    pthread_once(&once, init);
    return l1d_bytes;
}

long kiln_cpu_l2_bytes(void)
{
    pthread_once(&once, init);
    return l2_bytes;
}

const char *kiln_cpu_isa_note(void)
{
    pthread_once(&once, init);
    return note;
}

const char *kiln_isa_name(kiln_isa isa)
{
    switch (isa) {
    case KILN_ISA_AVX2: return "avx2";
    case KILN_ISA_AVX512: return "avx512";
    case KILN_ISA_NEON: return "neon";
    default: return "scalar";
    }
}
