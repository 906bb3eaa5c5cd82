/* The CPU tactic registry (tactics.h), weight packing for the gemm kernels and the heuristic choice. */
#include "tactics.h"

#include <stdlib.h>
#include <string.h>

#include "conv_amx.h"
#include "conv_direct.h"
#include "dw_rows.h"
#include "winograd.h"

#if defined(__x86_64__)
#define X86(f) f
#else
#define X86(f) NULL
#endif
#if defined(__aarch64__)
#define ARM(f) f
#else
#define ARM(f) NULL
#endif

/* ---- what each kernel family supports ------------------------------------------------------------------------- */

static const kiln_value *val(const kiln_graph *g, const kiln_node *n, int i) { return &g->values[n->inputs[i]]; }
static int is_const(const kiln_graph *g, const kiln_node *n, int i) { return val(g, n, i)->kind == KILN_VALUE_CONSTANT; }

static int weights_const(const kiln_graph *g, const kiln_node *n)
{
    return n->n_inputs >= 2 && is_const(g, n, 1) && (n->n_inputs < 3 || is_const(g, n, 2));
}

static int conv_ok(const kiln_graph *g, const kiln_node *n)
{
    if (n->op != KILN_OP_CONV2D || !weights_const(g, n) || val(g, n, 0)->rank != 4) return 0;
    const kiln_value *w = val(g, n, 1);
    return w->rank == 4 && w->dims[0] * w->dims[1] <= KILN_GEMM_MAX_TAPS && n->attrs.groups >= 1;
}

static int dw_ok(const kiln_graph *g, const kiln_node *n)
{
    if (!conv_ok(g, n)) return 0;
    const kiln_value *x = val(g, n, 0), *w = val(g, n, 1);
    return w->dims[2] == 1 && n->attrs.groups == x->dims[3] && w->dims[3] == x->dims[3];
}

/* the one-vector-wide gemm: where 16-wide panels compute less padding than 32-wide ones (16 or fewer channels; 40,
 * 48, 80, 112: EfficientNet-B0's 28x28 240 -> 40 projection 0.085 vs 0.121 ms on the 14x32 tile, best of 15 at two
 * threads on Zen 4, bench/cpu_conv_layers 28 28 240 40 1 1 2) */
static int conv_narrow_ok(const kiln_graph *g, const kiln_node *n)
{
    const int64_t c = conv_ok(g, n) ? val(g, n, 1)->dims[3] / n->attrs.groups : 0;
    return c > 0 && c % 32 > 0 && c % 32 <= 16 && !dw_ok(g, n); /* not depthwise */
}

/* the 7-row gemm tiles: output maps of 7 x 7 (every tile whole at any batch) */
static int conv_rows7_ok(const kiln_graph *g, const kiln_node *n)
{
    const kiln_value *y = &g->values[n->output];
    return conv_ok(g, n) && !dw_ok(g, n) && y->rank == 4 && y->dims[1] * y->dims[2] == 49;
}

static int dense_ok(const kiln_graph *g, const kiln_node *n)
{
    return n->op == KILN_OP_DENSE && weights_const(g, n) && val(g, n, 1)->rank == 2;
}

static int pool_ok(const kiln_graph *g, const kiln_node *n)
{
    return val(g, n, 0)->rank == 4 && g->values[n->output].rank >= 2;
}

/* Equal shapes, or one side a channel vector (see simd_kernels.inc binary_job). */
static int binary_ok(const kiln_graph *g, const kiln_node *n)
{
    const kiln_value *y = &g->values[n->output];
    if (y->rank < 1) return 0;
    const int64_t per = kiln_value_numel(y), C = y->dims[y->rank - 1];
    const kiln_value *v[2] = { val(g, n, 0), val(g, n, 1) };
    int full[2];
    for (int i = 0; i < 2; i++) full[i] = v[i]->kind == KILN_VALUE_ACTIVATION && kiln_value_numel(v[i]) == per;
    if (full[0] && full[1]) return 1;
    if (!full[0] && !full[1]) return 0;
    const kiln_value *o = full[0] ? v[1] : v[0];
    if (o->rank < 1 || o->dims[o->rank - 1] != C) return 0;
    return kiln_value_numel(o) == C; /* activations: per sample; constants: in total */
}

/* Fused squeeze-excite with constant weights W1 [...,C,Cr], W2 [...,Cr,C] (Dense [C,Cr] or 1x1 conv [1,1,C,Cr] as
 * the reference reads them: row-major C x Cr) and biases b1 [Cr], b2 [C]. */
static int se_ok(const kiln_graph *g, const kiln_node *n)
{
    if (n->n_inputs != 5 || val(g, n, 0)->rank != 4) return 0;
    for (int i = 1; i < 5; i++)
        if (!is_const(g, n, i) || val(g, n, i)->rank < 1) return 0;
    const kiln_value *w1 = val(g, n, 1), *w2 = val(g, n, 3);
    const int64_t C = val(g, n, 0)->dims[3], Cr = w1->dims[w1->rank - 1];
    return kiln_value_numel(w1) == C * Cr && kiln_value_numel(w2) == Cr * C && w2->dims[w2->rank - 1] == C &&
           kiln_value_numel(val(g, n, 2)) == Cr && kiln_value_numel(val(g, n, 4)) == C;
}

/* ---- the registry ----------------------------------------------------------------------------------------------- */

#define REF { "ref", KILN_ISA_SCALAR, 0, 0, 0, NULL, NULL }

static const kiln_cpu_tactic conv_tactics[] = {
    REF,
    { "conv_gemm_generic_4x8", KILN_ISA_SCALAR, 0, 8, 4, conv_ok, kiln_gemm_4x8_generic },
    { "conv_gemm_avx2_6x16", KILN_ISA_AVX2, 1, 16, 6, conv_ok, X86(kiln_gemm_6x16_avx2) },
    { "conv_gemm_avx2_4x24", KILN_ISA_AVX2, 1, 24, 4, conv_ok, X86(kiln_gemm_4x24_avx2) },
    { "conv_gemm_avx512_8x32", KILN_ISA_AVX512, 2, 32, 8, conv_ok, X86(kiln_gemm_8x32_avx512) },
    { "conv_gemm_avx512_12x32", KILN_ISA_AVX512, 2, 32, 12, conv_ok, X86(kiln_gemm_12x32_avx512) },
    { "conv_gemm_neon_8x8", KILN_ISA_NEON, 1, 8, 8, conv_ok, ARM(kiln_gemm_8x8_neon) },
    { "conv_gemm_neon_4x16", KILN_ISA_NEON, 1, 16, 4, conv_ok, ARM(kiln_gemm_4x16_neon) },
    { "conv_dw_generic", KILN_ISA_SCALAR, 0, 0, 0, dw_ok, kiln_dwconv_generic },
    { "conv_dw_avx2", KILN_ISA_AVX2, 8, 0, 0, dw_ok, X86(kiln_dwconv_avx2) },
    { "conv_dw_avx512", KILN_ISA_AVX512, 9, 0, 0, dw_ok, X86(kiln_dwconv_avx512) },
    { "conv_dw_neon", KILN_ISA_NEON, 8, 0, 0, dw_ok, ARM(kiln_dwconv_neon) },
    /* appended: engine files store these indices */
    { "conv_gemm_avx512_14x32", KILN_ISA_AVX512, 2, 32, 14, conv_ok, X86(kiln_gemm_14x32_avx512) },
    /* Winograd (winograd.h): packing and workspace come from kiln_wino_*, found by kiln_wino_tile_of(run) */
    { "conv_winograd_f4_avx512", KILN_ISA_AVX512, 24, 0, 0, kiln_wino_supports_f4, X86(kiln_wino_f4_avx512) },
    { "conv_winograd_f2_avx512", KILN_ISA_AVX512, 25, 0, 0, kiln_wino_supports, X86(kiln_wino_f2_avx512) },
    /* direct kernels for Cin <= 4 (stems, conv_direct.h): gemm-packed weights with NR = 2 vectors */
    { "conv_direct_avx512", KILN_ISA_AVX512, 16, 32, 0, kiln_conv_direct_supports, X86(kiln_conv_direct_avx512) },
    { "conv_direct_avx2", KILN_ISA_AVX2, 1, 16, 0, kiln_conv_direct_supports, X86(kiln_conv_direct_avx2) },
    /* depthwise row sweep (dw_rows.h): input vectors shared by neighbouring windows loaded once */
    { "conv_dw_rows_avx512", KILN_ISA_AVX512, 18, 0, 0, dw_ok, X86(kiln_dwconv_rows_avx512) },
    { "conv_dw_rows_avx2", KILN_ISA_AVX2, 8, 0, 0, dw_ok, X86(kiln_dwconv_rows_avx2) },
    /* one vector wide, where 32-wide panels would compute more padding (conv_narrow_ok) */
    { "conv_gemm_avx512_16x16", KILN_ISA_AVX512, 2, 16, 16, conv_narrow_ok, X86(kiln_gemm_16x16_avx512) },
    /* AMX tiles at float32 accuracy (conv_amx.h): packing and workspace from kiln_amx_*, found by kiln_amx_is(run) */
    { "conv_amx_bf16x6", KILN_ISA_AVX512, 12, 0, 0, kiln_amx_supports, X86(kiln_conv_amx_bf16x6) },
    /* 7 rows: 7x7 maps (49 pixels, 7 tiles) without the 14-row tile's half-empty last tile (conv_rows7_ok) */
    { "conv_gemm_avx512_7x48", KILN_ISA_AVX512, 2, 48, 7, conv_rows7_ok, X86(kiln_gemm_7x48_avx512) },
    { "conv_gemm_avx512_7x64", KILN_ISA_AVX512, 2, 64, 7, conv_rows7_ok, X86(kiln_gemm_7x64_avx512) },
    /* Winograd F(2x2, 5x5) (winograd.h), like the other Winograd tactics */
    { "conv_winograd_f2k5_avx512", KILN_ISA_AVX512, 26, 0, 0, kiln_wino_supports_k5, X86(kiln_wino_f2k5_avx512) },
    /* Winograd over the portable vector vocabulary (winograd_simd.inc): AVX2 + FMA and NEON */
    { "conv_winograd_f4_avx2", KILN_ISA_AVX2, 2, 0, 0, kiln_wino_supports_f4, X86(kiln_wino_f4_avx2) },
    { "conv_winograd_f2_avx2", KILN_ISA_AVX2, 2, 0, 0, kiln_wino_supports, X86(kiln_wino_f2_avx2) },
    { "conv_winograd_f2k5_avx2", KILN_ISA_AVX2, 2, 0, 0, kiln_wino_supports_k5, X86(kiln_wino_f2k5_avx2) },
    { "conv_winograd_f4_neon", KILN_ISA_NEON, 6, 0, 0, kiln_wino_supports_f4, ARM(kiln_wino_f4_neon) },
    { "conv_winograd_f2_neon", KILN_ISA_NEON, 6, 0, 0, kiln_wino_supports, ARM(kiln_wino_f2_neon) },
    { "conv_winograd_f2k5_neon", KILN_ISA_NEON, 6, 0, 0, kiln_wino_supports_k5, ARM(kiln_wino_f2k5_neon) },
};

static const kiln_cpu_tactic dense_tactics[] = {
    REF,
    { "dense_gemm_generic_4x8", KILN_ISA_SCALAR, 0, 8, 4, dense_ok, kiln_gemm_4x8_generic },
    { "dense_gemm_generic_1x16", KILN_ISA_SCALAR, 0, 16, 1, dense_ok, kiln_gemm_1x16_generic },
    { "dense_gemm_avx2_6x16", KILN_ISA_AVX2, 1, 16, 6, dense_ok, X86(kiln_gemm_6x16_avx2) },
    { "dense_gemm_avx2_1x32", KILN_ISA_AVX2, 2, 32, 1, dense_ok, X86(kiln_gemm_1x32_avx2) },
    { "dense_gemm_avx512_8x32", KILN_ISA_AVX512, 3, 32, 8, dense_ok, X86(kiln_gemm_8x32_avx512) },
    { "dense_gemm_avx512_1x64", KILN_ISA_AVX512, 4, 64, 1, dense_ok, X86(kiln_gemm_1x64_avx512) },
    { "dense_gemm_neon_8x8", KILN_ISA_NEON, 1, 8, 8, dense_ok, ARM(kiln_gemm_8x8_neon) },
    { "dense_gemm_neon_1x16", KILN_ISA_NEON, 2, 16, 1, dense_ok, ARM(kiln_gemm_1x16_neon) },
    { "dense_gemm_avx512_14x32", KILN_ISA_AVX512, 3, 32, 14, dense_ok, X86(kiln_gemm_14x32_avx512) },
};

#define SIMPLE_TACTICS(var, prefix, fam, ok)                                                    \
    static const kiln_cpu_tactic var[] = {                                                      \
        REF,                                                                                    \
        { prefix "_generic", KILN_ISA_SCALAR, 0, 0, 0, ok, kiln_##fam##_generic },               \
        { prefix "_avx2", KILN_ISA_AVX2, 1, 0, 0, ok, X86(kiln_##fam##_avx2) },                 \
        { prefix "_avx512", KILN_ISA_AVX512, 2, 0, 0, ok, X86(kiln_##fam##_avx512) },           \
        { prefix "_neon", KILN_ISA_NEON, 1, 0, 0, ok, ARM(kiln_##fam##_neon) },                 \
    };
SIMPLE_TACTICS(maxpool_tactics, "maxpool", maxpool, pool_ok)
SIMPLE_TACTICS(avgpool_tactics, "avgpool", avgpool, pool_ok)
SIMPLE_TACTICS(gap_tactics, "global_avgpool", global_avgpool, pool_ok)
SIMPLE_TACTICS(gmp_tactics, "global_maxpool", global_maxpool, pool_ok)
SIMPLE_TACTICS(binary_tactics, "binary", binary, binary_ok)
SIMPLE_TACTICS(se_tactics, "squeeze_excite", squeeze_excite, se_ok)

static const kiln_cpu_tactic ref_only[] = { REF };

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const kiln_cpu_tactic *kiln_cpu_tactics(kiln_op op, int *n)
{
    switch (op) {
    case KILN_OP_CONV2D: *n = COUNT(conv_tactics); return conv_tactics;
    case KILN_OP_DENSE: *n = COUNT(dense_tactics); return dense_tactics;
    case KILN_OP_MAXPOOL: *n = COUNT(maxpool_tactics); return maxpool_tactics;
    case KILN_OP_SQUEEZE_EXCITE: *n = COUNT(se_tactics); return se_tactics;
    case KILN_OP_AVGPOOL: *n = COUNT(avgpool_tactics); return avgpool_tactics;
    case KILN_OP_GLOBAL_AVGPOOL: *n = COUNT(gap_tactics); return gap_tactics;
    case KILN_OP_GLOBAL_MAXPOOL: *n = COUNT(gmp_tactics); return gmp_tactics;
    case KILN_OP_ADD: case KILN_OP_SUB: case KILN_OP_MUL: case KILN_OP_DIV: case KILN_OP_MAX: case KILN_OP_MIN:
        *n = COUNT(binary_tactics);
        return binary_tactics;
    default: *n = 1; return ref_only;
    }
}

const kiln_cpu_tactic *kiln_cpu_tactic_get(kiln_op op, int t)
{
    int n;
    const kiln_cpu_tactic *list = kiln_cpu_tactics(op, &n);
    return t >= 0 && t < n ? &list[t] : NULL;
}

int kiln_cpu_tactic_find(kiln_op op, const char *name)
{
    int n;
    const kiln_cpu_tactic *list = kiln_cpu_tactics(op, &n);
    for (int t = 0; t < n; t++)
        if (!strcmp(list[t].name, name)) return t;
    return -1;
}

const char *kiln_cpu_tactic_name(kiln_op op, int t)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get(op, t);
    return k ? k->name : "?";
}

/* None at present. Winograd F(4x4) was one until its interpolation points changed and its products were summed in K
 * blocks (x86/winograd_avx512.c): its whole-network error is now the gemm's (docs/PERFORMANCE.md). */
int kiln_cpu_tactic_fast_math(kiln_op op, int t)
{
    (void)op, (void)t;
    return 0;
}

/* KILN_TACTICS_EXCLUDE=name,name...: tactics never chosen (by timing or heuristics) on this run - for measuring what
 * one tactic contributes to speed or to float32 error (e.g. conv_winograd_f4_avx512). The reference (0) stays. */
static int excluded(const char *name)
{
    const char *list = getenv("KILN_TACTICS_EXCLUDE");
    const size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        const size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncmp(p, name, n)) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int kiln_cpu_tactic_usable(const kiln_graph *g, const kiln_node *n, int t)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)n->op, t);
    if (!k) return 0;
    if (t == 0) return 1;
    return k->run && kiln_cpu_isa_runs(k->isa) && k->supports && k->supports(g, n) && !excluded(k->name);
}

int kiln_cpu_tactic_resolve(const kiln_graph *g, const kiln_node *n, int t)
{
    for (int hops = 0; hops < 8 && t > 0; hops++) {
        if (kiln_cpu_tactic_usable(g, n, t)) return t;
        const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)n->op, t);
        t = k ? k->fallback : 0;
    }
    return t > 0 && kiln_cpu_tactic_usable(g, n, t) ? t : 0;
}

/* Rows of the gemm for the node at batch `batch`. */
static int64_t gemm_rows(const kiln_graph *g, const kiln_node *n, int batch)
{
    const kiln_value *y = &g->values[n->output];
    return (int64_t)batch * kiln_value_numel(y) / y->dims[y->rank - 1];
}

/* Winograd where it measured faster than the gemm tactics (bench/cpu_conv_layers, docs/PERFORMANCE.md): 3x3
 * stride-1 convs with >= 64 input and output channels and, for F(4x4), >= 14x14 output pixels per batch (1.4-1.8x
 * F(2x2) on 56x56 / 28x28 maps, 1.03-1.15x on 14x14 with the weights from memory), for F(2x2) >= 28x28 (below it the
 * timed builds decide: ResNet50's 7x7x512 stage is 1.7x faster than the gemm on Zen 4, slower on Sapphire Rapids). */
static int wino_heuristic(const kiln_graph *g, const kiln_node *n, int batch_max, int t)
{
    if (!kiln_cpu_tactic_usable(g, n, t)) return 0;
    const kiln_value *w = val(g, n, 1), *y = &g->values[n->output];
    const int f4 = kiln_wino_tile_of(kiln_cpu_tactic_get((kiln_op)n->op, t)->run) == 4;
    return w->dims[2] >= 64 && w->dims[3] >= 64 && (int64_t)batch_max * y->dims[1] * y->dims[2] >= (f4 ? 14 * 14 : 28 * 28);
}

/* Winograd F(2x2, 5x5) for 5x5 convs of >= 16 input and output channels: 1.9-2.1x faster than the 14x32 gemm on
 * every GoogLeNet / InceptionV3 5x5 shape measured, 7x7 to 35x35 maps (`KILN_BENCH_COLD=1 bench/cpu_conv_layers 28
 * 28 32 96 5 1 2`: 0.54 -> 0.26 ms). */
static int wino5_heuristic(const kiln_graph *g, const kiln_node *n, int t)
{
    if (!kiln_cpu_tactic_usable(g, n, t)) return 0;
    const kiln_value *w = val(g, n, 1);
    return w->dims[2] >= 16 && w->dims[3] >= 16;
}

/* AMX bf16x6 (conv_amx.h) where it measured faster than the gemm and Winograd tactics with the weights coming from
 * memory (bench/cpu_conv_layers with KILN_BENCH_COLD=1, 2 threads): >= 64 input channels and >= 14x14 output pixels
 * per batch, with weights small enough for the local mode (1x1 56x56 64->256: 0.53 vs 0.79 ms) or a kernel of
 * several taps (3x3 14x14 256->256: 0.67 vs 0.76 ms); not for 1x1 convs with large weights (14x14 1024->256: 0.51 vs
 * 0.38 ms), where streaming the split weights costs more than the products save. */
static int amx_heuristic(const kiln_graph *g, const kiln_node *n, int batch_max, int t)
{
    if (!kiln_cpu_tactic_usable(g, n, t)) return 0;
    const kiln_value *w = val(g, n, 1), *y = &g->values[n->output];
    if (w->dims[2] < 64 || (int64_t)batch_max * y->dims[1] * y->dims[2] < 14 * 14) return 0;
    kiln_amx_plan p;
    kiln_amx_plan_init(g, n, 1, &p);
    return p.local || p.KH * p.KW > 1;
}

/* The Winograd tactic for the node by the rules above, the best ISA first (AVX-512, AVX2, NEON); 0 if none. */
static int wino_pick(const kiln_graph *g, const kiln_node *n, int batch_max)
{
    static const int f4[] = { 13, 24, 27 }, f2[] = { 14, 25, 28 }, f2k5[] = { 23, 26, 29 };
    for (int i = 0; i < 3; i++)
        if (wino_heuristic(g, n, batch_max, f4[i])) return f4[i];
    for (int i = 0; i < 3; i++)
        if (wino_heuristic(g, n, batch_max, f2[i])) return f2[i];
    for (int i = 0; i < 3; i++)
        if (wino5_heuristic(g, n, f2k5[i])) return f2k5[i];
    return 0;
}

int kiln_cpu_tactic_heuristic(const kiln_graph *g, const kiln_node *n, int batch_max, int fast_math)
{
    (void)fast_math; /* no fast-math tactic at present (kiln_cpu_tactic_fast_math) */
    /* Candidates in order of preference; the first usable one wins. */
    /* depthwise: the row sweeps (dw_rows.inc) on x86, 1.4-2x faster than dw_task at stride 1 and 5x5 */
    static const int conv_dw[] = { 17, 18, 11, 8 }, conv_gemm[] = { 12, 2, 7, 1 }, conv_gemm_small[] = { 4, 2, 7, 1 };
    static const int dense_big[] = { 9, 3, 7, 1 }, dense_gemv[] = { 6, 4, 8, 2 };
    static const int simple[] = { 3, 2, 4, 1 };
    const int *pref = simple;
    int np = 4, wt;
    switch (n->op) {
    case KILN_OP_CONV2D:
        /* 14x32 unless the pixels fill 14-row tiles worse than 8-row ones (e.g. 10x10: 112 vs 104 rows) */
        if (kiln_conv_direct_supports(g, n)) {
            if (kiln_cpu_tactic_usable(g, n, 15)) return 15; /* conv_direct_avx512 */
            if (kiln_cpu_tactic_usable(g, n, 16)) return 16; /* conv_direct_avx2 */
        }
        if (dw_ok(g, n)) pref = conv_dw;
        else if (amx_heuristic(g, n, batch_max, 20)) return 20; /* conv_amx_bf16x6 */
        else if ((wt = wino_pick(g, n, batch_max)) > 0) return wt; /* F(4x4), F(2x2), F(2x2, 5x5) */
        else {
            /* and not for stems (3 channels a tap: its tiles never take the uniform assembly loop, and the C loop
             * with 14 row pointers spills) */
            const int64_t m = gemm_rows(g, n, batch_max);
            const int stem = val(g, n, 1)->dims[2] < 16 && val(g, n, 1)->dims[0] * val(g, n, 1)->dims[1] > 1;
            pref = stem || (m + 13) / 14 * 14 > (m + 7) / 8 * 8 + m / 8 ? conv_gemm_small : conv_gemm;
            /* channels per group 16 or fewer, or 16 past a multiple of 32 (40, 48, 80, 112): the one-vector-wide
             * 16x16 tile (1.1-1.4x the 32-wide ones there) */
            if (!stem && conv_narrow_ok(g, n) && kiln_cpu_tactic_usable(g, n, 19)) return 19;
            /* 7x7 maps: the 7-row tiles (every tile whole), 64 wide unless 48-wide panels pad less (192, 320) */
            if (!stem && conv_rows7_ok(g, n)) {
                const int64_t c = val(g, n, 1)->dims[3] / n->attrs.groups;
                const int t7 = (c + 63) / 64 * 64 <= (c + 47) / 48 * 48 ? 22 : 21;
                if (kiln_cpu_tactic_usable(g, n, t7)) return t7;
            }
        }
        break;
    case KILN_OP_DENSE: pref = gemm_rows(g, n, batch_max) < 4 ? dense_gemv : dense_big; break;
    default: {
        int cnt;
        kiln_cpu_tactics((kiln_op)n->op, &cnt);
        if (cnt == 1) return 0;
    }
    }
    for (int i = 0; i < np; i++)
        if (kiln_cpu_tactic_usable(g, n, pref[i])) return pref[i];
    return 0;
}

/* ---- gemm packing and geometry ----------------------------------------------------------------------------------- */

/* (taps, CinG, Cout, groups) of a conv or dense node. */
static void gemm_dims(const kiln_graph *g, const kiln_node *n, int *taps, int64_t *K, int64_t *Cout, int *groups)
{
    const kiln_value *w = val(g, n, 1);
    if (n->op == KILN_OP_DENSE) {
        *taps = 1, *K = w->dims[0], *Cout = w->dims[1], *groups = 1;
    } else {
        *taps = (int)(w->dims[0] * w->dims[1]), *K = w->dims[2], *Cout = w->dims[3], *groups = n->attrs.groups;
    }
}

size_t kiln_pack_gemm_bytes(const kiln_graph *g, const kiln_node *n, int nr)
{
    int taps, groups;
    int64_t K, Cout;
    gemm_dims(g, n, &taps, &K, &Cout, &groups);
    const int64_t nbg = (Cout / groups + nr - 1) / nr;
    return (size_t)(groups * nbg * (nr + taps * K * nr)) * sizeof(float);
}

void kiln_pack_gemm(const kiln_graph *g, const kiln_node *n, int nr, float *dst)
{
    int taps, groups;
    int64_t K, Cout;
    gemm_dims(g, n, &taps, &K, &Cout, &groups);
    const float *w = val(g, n, 1)->data, *bias = n->n_inputs > 2 ? val(g, n, 2)->data : NULL;
    const int64_t CoutG = Cout / groups, nbg = (CoutG + nr - 1) / nr;
    for (int grp = 0; grp < groups; grp++)
        for (int64_t b = 0; b < nbg; b++) {
            const int64_t co0 = grp * CoutG + b * nr;
            const int64_t cnt = CoutG - b * nr < nr ? CoutG - b * nr : nr;
            for (int j = 0; j < nr; j++) *dst++ = bias && j < cnt ? bias[co0 + j] : 0.0f;
            for (int t = 0; t < taps; t++)
                for (int64_t k = 0; k < K; k++) {
                    const float *src = w + ((int64_t)t * K + k) * Cout + co0;
                    for (int j = 0; j < nr; j++) *dst++ = j < cnt ? src[j] : 0.0f;
                }
        }
}

int kiln_cpu_tactic_writes_over_residual(const kiln_graph *g, const kiln_node *n, int t)
{
    (void)g;
    if (n->op != KILN_OP_CONV2D || n->n_inputs < 4) return 0;
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get(KILN_OP_CONV2D, t);
    return k && k->run && k->gemm_nr > 0 && k->gemm_mr > 0;
}

void kiln_gemm_geom_init(const kiln_kernel_args *a, const void *packed, kiln_gemm_geom *G)
{
    const kiln_graph *g = a->g;
    const kiln_node *n = a->node;
    memset(G, 0, sizeof *G);
    G->x = a->in[0], G->y = a->out, G->packed = packed, G->zero = a->workspace, G->act = n->attrs.act;
    if (n->op == KILN_OP_DENSE) {
        const kiln_value *w = val(g, n, 1);
        G->Cin = G->CinG = (int)w->dims[0], G->Cout = G->CoutG = (int)w->dims[1];
        G->N = 1, G->H = G->OH = gemm_rows(g, n, a->batch), G->W = G->OW = 1;
        G->KH = G->KW = G->SH = G->SW = G->DH = G->DW = 1, G->groups = 1;
        G->XP = G->Cin, G->YP = G->Cout;
        return;
    }
    const kiln_value *x = val(g, n, 0), *w = val(g, n, 1), *y = &g->values[n->output];
    const kiln_attrs *at = &n->attrs;
    G->N = a->batch, G->H = x->dims[1], G->W = x->dims[2], G->Cin = x->dims[3];
    G->OH = y->dims[1], G->OW = y->dims[2], G->Cout = y->dims[3];
    G->KH = (int)w->dims[0], G->KW = (int)w->dims[1], G->CinG = (int)w->dims[2];
    G->SH = at->stride[0], G->SW = at->stride[1], G->DH = at->dilation[0], G->DW = at->dilation[1];
    G->PT = at->pads[0], G->PL = at->pads[1], G->groups = at->groups, G->CoutG = (int)(G->Cout / at->groups);
    G->XP = a->in_pitch[0] ? a->in_pitch[0] : G->Cin;
    G->YP = a->out_pitch ? a->out_pitch : G->Cout;
    G->res = n->n_inputs > 3 ? a->in[3] : NULL;
    if (a->in0_scale) { /* a folded squeeze-excite (stream.h): the scratch follows the zero row */
        G->a_scale = a->in0_scale;
        G->a_scratch = (float *)a->workspace + kiln_gemm_padded_offset(g, n);
    }
}

/* ---- per-tactic resources and running -------------------------------------------------------------------------- */

int64_t kiln_gemm_padded_floats(const kiln_graph *g, const kiln_node *n, int batch, int64_t *Hp, int64_t *Wp)
{
    if (n->op != KILN_OP_CONV2D) return 0;
    const kiln_value *x = val(g, n, 0), *w = val(g, n, 1), *y = &g->values[n->output];
    const kiln_attrs *at = &n->attrs;
    if (x->rank != 4 || w->dims[0] * w->dims[1] <= 1) return 0;
    int64_t pb = (y->dims[1] - 1) * at->stride[0] + (w->dims[0] - 1) * at->dilation[0] + 1 - at->pads[0] - x->dims[1];
    int64_t pr = (y->dims[2] - 1) * at->stride[1] + (w->dims[1] - 1) * at->dilation[1] + 1 - at->pads[1] - x->dims[2];
    if (pb < 0) pb = 0;
    if (pr < 0) pr = 0;
    if (at->pads[0] == 0 && at->pads[1] == 0 && pb == 0 && pr == 0) return 0;
    *Hp = at->pads[0] + x->dims[1] + pb, *Wp = at->pads[1] + x->dims[2] + pr;
    return (int64_t)batch * *Hp * *Wp * x->dims[3];
}

int64_t kiln_gemm_padded_offset(const kiln_graph *g, const kiln_node *n)
{
    return (val(g, n, 0)->dims[3] + 15) / 16 * 16;
}

/* The gemm tactics whose kernels pad their input (gemm_variant.inc under UNIFORM_LOOP: the AVX-512 14x32 and 16x16
 * tiles). */
static int pads_input(const kiln_cpu_tactic *k)
{
    return k->isa == KILN_ISA_AVX512 && ((k->gemm_mr == 14 && k->gemm_nr == 32) || (k->gemm_mr == 16 && k->gemm_nr == 16));
}

size_t kiln_cpu_tactic_workspace(const kiln_graph *g, const kiln_node *n, int t, int batch)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)n->op, t);
    if (!k || t == 0) return kiln_ref_workspace_bytes(g, n, batch);
    if (n->op == KILN_OP_SQUEEZE_EXCITE) return kiln_ref_squeeze_excite_workspace(g, n, batch);
    if (kiln_wino_tile_of(k->run)) return kiln_wino_workspace(g, n, kiln_wino_tile_of(k->run), batch);
    if (kiln_amx_is(k->run)) return kiln_amx_workspace(g, n, batch);
    if (k->gemm_nr <= 0) return 0;
    int taps, groups;
    int64_t K, Cout;
    gemm_dims(g, n, &taps, &K, &Cout, &groups);
    /* the zero row read for padding taps (all groups: the kernels offset it by group and K block like a real row) */
    const size_t zero = ((size_t)K * (size_t)groups * sizeof(float) + 63) / 64 * 64;
    int64_t Hp, Wp;
    const int64_t pad = pads_input(k) ? kiln_gemm_padded_floats(g, n, batch, &Hp, &Wp) : 0;
    return pad ? (size_t)(kiln_gemm_padded_offset(g, n) + pad) * sizeof(float) : zero;
}

size_t kiln_cpu_tactic_packed_bytes(const kiln_graph *g, const kiln_node *n, int t)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)n->op, t);
    if (k && t > 0 && kiln_wino_tile_of(k->run)) return kiln_wino_packed_bytes(g, n, kiln_wino_tile_of(k->run));
    if (k && t > 0 && kiln_amx_is(k->run)) return kiln_amx_packed_bytes(g, n);
    return k && t > 0 && k->gemm_nr > 0 ? kiln_pack_gemm_bytes(g, n, k->gemm_nr) : 0;
}

double kiln_cpu_tactic_mults(const kiln_graph *g, const kiln_node *n, int t)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)n->op, t);
    const int m = k && t > 0 ? kiln_wino_tile_of(k->run) : 0;
    if (!m) return -1;
    kiln_wino_plan p;
    kiln_wino_plan_init(g, n, m, 1, &p);
    return (double)p.T * (double)p.P * (double)p.Cin * (double)p.Cout;
}

void kiln_cpu_tactic_pack(const kiln_graph *g, const kiln_node *n, int t, void *dst)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)n->op, t);
    if (k && t > 0 && kiln_wino_tile_of(k->run)) kiln_wino_pack(g, n, kiln_wino_tile_of(k->run), dst);
    if (k && t > 0 && kiln_amx_is(k->run)) kiln_amx_pack(g, n, dst);
    if (k && t > 0 && k->gemm_nr > 0) kiln_pack_gemm(g, n, k->gemm_nr, dst);
}

void kiln_cpu_tactic_run(int t, const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool)
{
    const kiln_cpu_tactic *k = kiln_cpu_tactic_get((kiln_op)a->node->op, t);
    if (!k || t == 0 || !k->run) {
        kiln_ref_kernel((kiln_op)a->node->op)(a);
        return;
    }
    /* Dense and binary kernels assume dense rows: a planner view (pitch) goes to the reference kernel. */
    const int op = a->node->op;
    if (op != KILN_OP_CONV2D && op != KILN_OP_MAXPOOL && op != KILN_OP_AVGPOOL && op != KILN_OP_GLOBAL_AVGPOOL &&
        op != KILN_OP_GLOBAL_MAXPOOL) {
        int pitched = a->out_pitch != 0;
        for (int i = 0; i < a->node->n_inputs; i++) pitched |= a->in_pitch[i] != 0;
        if (pitched) {
            kiln_ref_kernel((kiln_op)op)(a);
            return;
        }
    }
    if (k->gemm_nr > 0) { /* the zero row (a padded input copy after it is written whole by the kernel) */
        int taps, groups;
        int64_t K, Cout;
        gemm_dims(a->g, a->node, &taps, &K, &Cout, &groups);
        memset(a->workspace, 0, (size_t)(K * groups) * sizeof(float));
    }
    k->run(a, packed, pool);
}
