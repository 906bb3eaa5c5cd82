/* Portable build of the optimized kernels (simd_kernels.inc) on GCC/Clang vector extensions (4 floats), compiled
 * with the default flags: the last stop of every tactic's ISA fallback before the reference kernel. */
#include <string.h>

typedef float kiln_v4 __attribute__((vector_size(16)));
typedef int kiln_v4i __attribute__((vector_size(16)));

#define SUF generic
#define V kiln_v4
#define VLEN 4
static inline kiln_v4 g_load(const float *p) { kiln_v4 v; memcpy(&v, p, sizeof v); return v; }
static inline void g_store(float *p, kiln_v4 v) { memcpy(p, &v, sizeof v); }
static inline kiln_v4 g_load_n(const float *p, int n) { kiln_v4 v = {0, 0, 0, 0}; for (int i = 0; i < n; i++) v[i] = p[i]; return v; }
static inline void g_store_n(float *p, kiln_v4 v, int n) { for (int i = 0; i < n; i++) p[i] = v[i]; }
static inline kiln_v4 g_set1(float x) { return (kiln_v4){x, x, x, x}; }
/* max/min like fmaxf/fminf on ordinary numbers: select by comparison mask */
static inline kiln_v4 g_max(kiln_v4 a, kiln_v4 b) { kiln_v4i m = a > b; return (kiln_v4)(((kiln_v4i)a & m) | ((kiln_v4i)b & ~m)); }
static inline kiln_v4 g_min(kiln_v4 a, kiln_v4 b) { kiln_v4i m = a < b; return (kiln_v4)(((kiln_v4i)a & m) | ((kiln_v4i)b & ~m)); }
#define V_LOAD(p) g_load(p)
#define V_STORE(p, v) g_store((p), (v))
#define V_LOAD_N(p, n) g_load_n((p), (n))
#define V_STORE_N(p, v, n) g_store_n((p), (v), (n))
#define V_SET1(x) g_set1(x)
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_DIV(a, b) ((a) / (b))
#define V_MAX(a, b) g_max((a), (b))
#define V_MIN(a, b) g_min((a), (b))

#include "../simd_kernels.inc"

#define MR 4
#define NRV 2
#define NR_LIT 8
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT

#define MR 1
#define NRV 4
#define NR_LIT 16
#include "../gemm_variant.inc"
#undef MR
#undef NRV
#undef NR_LIT
