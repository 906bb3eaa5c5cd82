/* Winograd F(m x m, 3 x 3): applicability, blocking plan, weight transform and packing (winograd.h). The transforms
 * and GEMMs that run are per ISA (x86/winograd_avx512.c). */
#include "winograd.h"

#include <string.h>

#include "cpu_features.h"

static const kiln_value *in_val(const kiln_graph *g, const kiln_node *n, int i) { return &g->values[n->inputs[i]]; }

/* An r x r, stride-1, dilation-1, ungrouped conv with constant weights (and bias) and an output of at least 7x7. */
static int wino_shape_ok(const kiln_graph *g, const kiln_node *n, int r)
{
    if (n->op != KILN_OP_CONV2D || n->n_inputs < 2) return 0;
    for (int i = 1; i < n->n_inputs && i < 3; i++)
        if (in_val(g, n, i)->kind != KILN_VALUE_CONSTANT) return 0;
    const kiln_value *x = in_val(g, n, 0), *w = in_val(g, n, 1), *y = &g->values[n->output];
    const kiln_attrs *at = &n->attrs;
    if (x->rank != 4 || w->rank != 4 || y->rank != 4) return 0;
    if (w->dims[0] != r || w->dims[1] != r || w->dims[2] != x->dims[3] || w->dims[3] != y->dims[3]) return 0;
    if (at->groups != 1 || at->stride[0] != 1 || at->stride[1] != 1 || at->dilation[0] != 1 || at->dilation[1] != 1)
        return 0;
    if (n->n_inputs > 2 && kiln_value_numel(in_val(g, n, 2)) != w->dims[3]) return 0;
    /* Output maps smaller than 7x7 have too few tiles a sample to amortize 36 / 16 transformed Cin x Cout weight
     * sets over. ResNet's 7x7x512 stage is a matter of the CPU: on Sapphire Rapids (two 512-bit FMA ports) F(2x2) was
     * 1.2-3x slower than the gemm at batch 1, on Zen 4 (one) 1.7x faster (`KILN_BENCH_COLD=1 bench/cpu_conv_layers 7
     * 7 512 512 3 1 2`: gemm 1.27 ms, F(2x2) 0.70-0.76 ms), so it is offered and the timed build decides; the timing
     * runs flush the weights first (engine_tactics.c evict()), as a network at batch 1 meets them. */
    return y->dims[1] >= 7 && y->dims[2] >= 7 && at->pads[0] >= 0 && at->pads[1] >= 0;
}

int kiln_wino_supports(const kiln_graph *g, const kiln_node *n) { return wino_shape_ok(g, n, 3); }

/* F(2x2, 5x5): 36 points for 4 outputs instead of 100 products (GoogLeNet's and InceptionV3's 5x5 branches, 16-48
 * input channels). Same points, B^T and K-blocked sums as F(4x4, 3x3), and about its error (docs/PERFORMANCE.md). */
int kiln_wino_supports_k5(const kiln_graph *g, const kiln_node *n) { return wino_shape_ok(g, n, 5); }

/* L2 bytes a block's transformed input and output may take: 3/4 of a core's L2 (1.5 MiB of Sapphire Rapids' 2 MiB,
 * 768 KiB of Zen 4's 1 MiB; the weights of one point stream past them). Fewer, larger blocks matter where the weights
 * are large: every block streams all P * Cin * Cout transformed weights. */
static int64_t wino_l2_budget(void) { return (int64_t)kiln_cpu_l2_bytes() / 4 * 3; }

void kiln_wino_plan_init(const kiln_graph *g, const kiln_node *n, int m, int batch, kiln_wino_plan *p)
{
    const kiln_value *x = in_val(g, n, 0), *y = &g->values[n->output];
    memset(p, 0, sizeof *p);
    p->r = (int)in_val(g, n, 1)->dims[0];
    p->m = m, p->alpha = m + p->r - 1, p->P = p->alpha * p->alpha;
    p->N = batch, p->H = x->dims[1], p->W = x->dims[2], p->Cin = x->dims[3];
    p->OH = y->dims[1], p->OW = y->dims[2], p->Cout = y->dims[3];
    p->PT = n->attrs.pads[0], p->PL = n->attrs.pads[1];
    p->tiles_h = (p->OH + m - 1) / m, p->tiles_w = (p->OW + m - 1) / m;
    p->T = p->N * p->tiles_h * p->tiles_w;
    p->CinP = (p->Cin + 15) / 16 * 16;
    p->CoutP = (p->Cout + KILN_WINO_NR - 1) / KILN_WINO_NR * KILN_WINO_NR;
    p->ncb = p->CoutP / KILN_WINO_NR;
    const int64_t tile_bytes = (int64_t)p->P * (p->CinP + p->CoutP) * (int64_t)sizeof(float);
    const int64_t tb = wino_l2_budget() / tile_bytes;
    p->tb_max = tb < KILN_WINO_MR ? KILN_WINO_MR : tb;
    p->slot_tiles = p->T < p->tb_max ? p->T : p->tb_max;
    p->slot_floats = ((int64_t)p->P * p->slot_tiles * (p->CinP + p->CoutP) + 15) / 16 * 16;
    const int64_t units = p->T * p->ncb; /* most (tile block, channel split) pairs any thread count makes */
    p->slots = (int)(units < KILN_WINO_MAX_THREADS ? units : KILN_WINO_MAX_THREADS);
}

/* F(4x4) on output maps of at least 14x14 (a 7x7 map takes 2x2 tiles of 16 pixels for 49: its 36 transformed weight
 * sets, 2.25x F(2x2)'s, stream from memory for 4 tiles a sample). Its float32 error was ~4.5x the gemm's until the
 * points and the K-blocked sums of stop 20 (x86/winograd_avx512.c): ResNet152 with F(4x4) on all 47 of its 3x3
 * layers of 14x14 and more now ends 1.10e-4 from a float64 Keras, the gemm alone 1.53e-4, TensorFlow's float32
 * 0.8-2.1e-4 (tests/keras/f64_reference.py). Cin >= KILN_WINO_F4_MIN_CIN: see winograd.h. At 14x14 it is 3-15%
 * faster than F(2x2) with the weights from memory (`KILN_BENCH_COLD=1 bench/cpu_conv_layers 14 14 256 256 3 1 2`:
 * 0.46 vs 0.54 ms), on 56x56 / 28x28 maps 1.4-1.8x. */
int kiln_wino_supports_f4(const kiln_graph *g, const kiln_node *n)
{
    const kiln_value *y = &g->values[n->output];
    return kiln_wino_supports(g, n) && in_val(g, n, 0)->dims[3] >= KILN_WINO_F4_MIN_CIN &&
           y->dims[1] * y->dims[2] >= 14 * 14;
}

size_t kiln_wino_packed_bytes(const kiln_graph *g, const kiln_node *n, int m)
{
    kiln_wino_plan p;
    kiln_wino_plan_init(g, n, m, 1, &p);
    return (size_t)((int64_t)p.P * p.ncb * p.Cin * KILN_WINO_NR + p.CoutP) * sizeof(float);
}

/* G (alpha x 3) of F(4x4, 3x3) and F(2x2, 3x3): interpolation points 0, 1, -1, 1/2, -2, inf (x86/winograd_avx512.c
 * says why these) and 0, +-1, inf. */
static const double G4[6][3] = { { 1, 0, 0 },
                                 { 1.0 / 3, 1.0 / 3, 1.0 / 3 },
                                 { -1.0 / 3, 1.0 / 3, -1.0 / 3 },
                                 { -16.0 / 15, -8.0 / 15, -4.0 / 15 },
                                 { 1.0 / 15, -2.0 / 15, 4.0 / 15 },
                                 { 0, 0, 1 } };
static const double G2[4][3] = { { 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 } };
/* G (6 x 5) of F(2x2, 5x5) on the points of F(4x4, 3x3): row i is p_i^k / prod_{j != i} (p_i - p_j), the last e_5. */
static const double G25[6][5] = { { 1, 0, 0, 0, 0 },
                                  { 1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1.0 / 3 },
                                  { -1.0 / 3, 1.0 / 3, -1.0 / 3, 1.0 / 3, -1.0 / 3 },
                                  { -16.0 / 15, -8.0 / 15, -4.0 / 15, -2.0 / 15, -1.0 / 15 },
                                  { 1.0 / 15, -2.0 / 15, 4.0 / 15, -8.0 / 15, 16.0 / 15 },
                                  { 0, 0, 0, 0, 1 } };

/* Row i, column k of the G of plan p. */
static double gmat(const kiln_wino_plan *p, int i, int k)
{
    if (p->r == 5) return G25[i][k];
    return p->m == 4 ? G4[i][k] : G2[i][k];
}

void kiln_wino_pack(const kiln_graph *g, const kiln_node *n, int m, float *dst)
{
    kiln_wino_plan p;
    kiln_wino_plan_init(g, n, m, 1, &p);
    const float *w = in_val(g, n, 1)->data; /* [r][r][Cin][Cout] */
    const float *bias = n->n_inputs > 2 ? in_val(g, n, 2)->data : NULL;
    const int A = p.alpha, R = p.r, NR = KILN_WINO_NR;
    const int64_t Cin = p.Cin, Cout = p.Cout;
    memset(dst, 0, kiln_wino_packed_bytes(g, n, m));
    for (int64_t ci = 0; ci < Cin; ci++)
        for (int64_t co = 0; co < Cout; co++) {
            double gk[5][5], t[6][5];
            for (int kh = 0; kh < R; kh++)
                for (int kw = 0; kw < R; kw++) gk[kh][kw] = w[((int64_t)(kh * R + kw) * Cin + ci) * Cout + co];
            for (int i = 0; i < A; i++) /* t = G g */
                for (int j = 0; j < R; j++) {
                    double s = 0;
                    for (int k = 0; k < R; k++) s += gmat(&p, i, k) * gk[k][j];
                    t[i][j] = s;
                }
            for (int i = 0; i < A; i++) /* U = t G^T */
                for (int j = 0; j < A; j++) {
                    double s = 0;
                    for (int k = 0; k < R; k++) s += t[i][k] * gmat(&p, j, k);
                    const int64_t pt = i * A + j, cb = co / NR;
                    dst[((pt * p.ncb + cb) * Cin + ci) * NR + co % NR] = (float)s;
                }
        }
    float *b = dst + (int64_t)p.P * p.ncb * Cin * NR;
    for (int64_t co = 0; co < Cout && bias; co++) b[co] = bias[co];
}

size_t kiln_wino_workspace(const kiln_graph *g, const kiln_node *n, int m, int batch)
{
    kiln_wino_plan p;
    kiln_wino_plan_init(g, n, m, batch, &p);
    return (size_t)p.slots * (size_t)p.slot_floats * sizeof(float);
}

int kiln_wino_tile_of(kiln_tactic_run_fn run)
{
#if defined(__x86_64__)
    if (run == kiln_wino_f4_avx512 || run == kiln_wino_f4_avx2) return 4;
    if (run == kiln_wino_f2_avx512 || run == kiln_wino_f2k5_avx512 || run == kiln_wino_f2_avx2 ||
        run == kiln_wino_f2k5_avx2)
        return 2;
#endif
#if defined(__aarch64__)
    if (run == kiln_wino_f4_neon) return 4;
    if (run == kiln_wino_f2_neon || run == kiln_wino_f2k5_neon) return 2;
#endif
    (void)run;
    return 0;
}
