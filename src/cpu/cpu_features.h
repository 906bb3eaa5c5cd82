/* CPU feature levels the optimized kernels are compiled for, detected once per process.
 *
 * The level only rises with capability: a tactic compiled for level L runs on any CPU whose level is >= L (on the
 * same architecture). KILN_ISA=avx512|avx2|neon|scalar lowers the level for testing (it never raises it above what
 * the CPU has: asking for more is ignored and reported by kiln_cpu_isa_note()). */
#ifndef KILN_CPU_FEATURES_H
#define KILN_CPU_FEATURES_H

typedef enum {
    KILN_ISA_SCALAR = 0,  /* portable C (any CPU) */
    KILN_ISA_AVX2 = 1,    /* x86-64 AVX2 + FMA */
    KILN_ISA_AVX512 = 2,  /* x86-64 AVX-512 F/BW/DQ/VL */
    KILN_ISA_NEON = 3     /* aarch64 Advanced SIMD (every aarch64 CPU has it) */
} kiln_isa;

/* The level kernels may use on this machine (detected once, thread-safe; KILN_ISA applied). */
kiln_isa kiln_cpu_isa(void);
/* The level the CPU itself has, ignoring KILN_ISA. */
kiln_isa kiln_cpu_isa_detected(void);
/* 1 when code compiled for `need` may run here (same family and level <= the host's). */
int kiln_cpu_isa_runs(kiln_isa need);
/* "avx512", "avx2", "neon", "scalar". */
const char *kiln_isa_name(kiln_isa isa);
/* Static text explaining a KILN_ISA override that was ignored or applied, or "" when none was set. */
const char *kiln_cpu_isa_note(void);
/* One core's L1 data / L2 cache in bytes (detected once; 32 KiB / 1 MiB when the system cannot tell; KILN_L2_BYTES
 * overrides L2). Kernels size their cache blocks from these: Sapphire Rapids has 48 KiB / 2 MiB, Zen 4 32 KiB / 1 MiB. */
long kiln_cpu_l1d_bytes(void);
long kiln_cpu_l2_bytes(void);

#endif
