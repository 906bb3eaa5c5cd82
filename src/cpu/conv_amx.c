/* AMX convolution (conv_amx.h): detection, applicability, plan and the weight split / packing. The split of the
 * input and the tile loops are in x86/conv_amx.c. */
#include "conv_amx.h"

#include <pthread.h>
#include <string.h>

#include "cpu_features.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#endif

static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static int amx_found;

static void amx_detect(void)
{
#if defined(__x86_64__) && defined(__linux__)
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const int tile = (d >> 24) & 1, bf16 = (d >> 22) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    const int avx512_bf16 = (a >> 5) & 1;
    if (!tile || !bf16 || !avx512_bf16) return;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return; /* XTILECFG and XTILEDATA state enabled by the OS */
    /* Linux >= 5.16 hands out tile state only on request (per process, for all its threads). */
    amx_found = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#endif
}

int kiln_cpu_has_amx(void)
{
    pthread_once(&amx_once, amx_detect);
    return amx_found && kiln_cpu_isa() == KILN_ISA_AVX512;
}

static const kiln_value *in_val(const kiln_graph *g, const kiln_node *n, int i) { return &g->values[n->inputs[i]]; }

int kiln_amx_supports(const kiln_graph *g, const kiln_node *n)
{
    if (n->op != KILN_OP_CONV2D || n->n_inputs < 2) return 0;
    for (int i = 1; i < n->n_inputs && i < 3; i++)
        if (in_val(g, n, i)->kind != KILN_VALUE_CONSTANT) return 0;
    const kiln_value *x = in_val(g, n, 0), *w = in_val(g, n, 1), *y = &g->values[n->output];
    const kiln_attrs *at = &n->attrs;
    if (x->rank != 4 || w->rank != 4 || y->rank != 4 || at->groups != 1) return 0;
    if (w->dims[2] != x->dims[3] || w->dims[3] != y->dims[3]) return 0;
    if (n->n_inputs > 2 && kiln_value_numel(in_val(g, n, 2)) != w->dims[3]) return 0;
    if (at->dilation[0] != 1 || at->dilation[1] != 1 || at->pads[0] < 0 || at->pads[1] < 0) return 0;
    if (x->dims[3] < 32) /* im2col (stems): the whole window is one row of >= 32 values */
        return w->dims[0] * w->dims[1] * x->dims[3] >= 32 && w->dims[0] * w->dims[1] * x->dims[3] <= 1024 &&
               kiln_cpu_has_amx();
    const int one = w->dims[0] == 1 && w->dims[1] == 1;
    if (!one && (at->stride[0] != 1 || at->stride[1] != 1)) return 0;
    if (one && (at->pads[0] != 0 || at->pads[1] != 0)) return 0;
    if (w->dims[0] * w->dims[1] > 49) return 0;
    return kiln_cpu_has_amx();
}

void kiln_amx_plan_init(const kiln_graph *g, const kiln_node *n, int batch, kiln_amx_plan *p)
{
    const kiln_value *x = in_val(g, n, 0), *w = in_val(g, n, 1), *y = &g->values[n->output];
    const kiln_attrs *at = &n->attrs;
    memset(p, 0, sizeof *p);
    p->N = batch, p->H = x->dims[1], p->W = x->dims[2], p->Cin = x->dims[3];
    p->OH = y->dims[1], p->OW = y->dims[2], p->Cout = y->dims[3];
    p->KH = (int)w->dims[0], p->KW = (int)w->dims[1];
    p->SH = at->stride[0], p->SW = at->stride[1], p->PT = at->pads[0], p->PL = at->pads[1];
    if (p->Cin < 32) { /* im2col: a 1x1 conv over rows of the KH x KW x Cin windows (the weights' own layout) */
        p->im2col = 1, p->IKH = p->KH, p->IKW = p->KW, p->ICin = p->Cin;
        p->Cin = (int64_t)p->KH * p->KW * p->Cin, p->KH = p->KW = 1;
    }
    /* S: the zero-bordered input (stride 1: OH + KH - 1 rows) or the subsampled one (1x1: OH rows) */
    p->Hs = p->OH + p->KH - 1, p->Ws = p->OW + p->KW - 1;
    p->CinP = (p->Cin + 31) / 32 * 32, p->KC = p->CinP / 32;
    /* rows 1 KiB or more apart, a multiple of 1 KiB: 16 rows of a tile load would share a few L1 sets (2048
     * channels: all in one 12-way set); 64 bytes more spread them */
    p->AP = p->CinP >= 512 ? p->CinP + 32 : p->CinP;
    p->CoutP = (p->Cout + 31) / 32 * 32, p->NB = p->CoutP / 32;
    p->Mv = (p->OH - 1) * p->Ws + p->OW;
    p->MB = (p->Mv + 31) / 32;
    const int64_t reach = p->MB * 32 + (int64_t)(p->KH - 1) * p->Ws + p->KW - 1;
    p->Ls = reach > p->Hs * p->Ws ? reach : p->Hs * p->Ws;
    /* Local mode while the split weights stay well inside a core's L2 (2 MiB on Sapphire Rapids): the split input
     * of 56x56 / 28x28 maps (1-5 MB) then never goes out to L3; larger weights are better streamed once per
     * output-channel block over a shared split. */
    const int64_t wbytes = p->NB * p->KH * p->KW * p->KC * 3 * 2 * 1024;
    p->SB = 4;
    p->local = wbytes <= 1024 * 1024;
    p->Lr = p->SB * 32 + (int64_t)(p->KH - 1) * p->Ws + p->KW - 1;
}

/* Weight tiles of one output-channel block: taps x KC x (3 parts x 2 halves x 512) bfloat16 (local mode) or
 * taps x KC x (2 halves x 512) float32 (shared mode), then the bias. */
static int64_t tile_elems(const kiln_amx_plan *p) { return (int64_t)p->KH * p->KW * p->KC * 1024; }

size_t kiln_amx_packed_bytes(const kiln_graph *g, const kiln_node *n)
{
    kiln_amx_plan p;
    kiln_amx_plan_init(g, n, 1, &p);
    return (size_t)(p.NB * tile_elems(&p) * (p.local ? 6 : 4) + p.CoutP * 4);
}

/* bfloat16 of f rounded to nearest even (finite inputs; weights are checked finite by the importers' consumers). */
static uint16_t bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_float(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void kiln_amx_pack(const kiln_graph *g, const kiln_node *n, void *dst)
{
    kiln_amx_plan p;
    kiln_amx_plan_init(g, n, 1, &p);
    const float *w = in_val(g, n, 1)->data; /* [KH][KW][Cin][Cout] */
    const float *bias = n->n_inputs > 2 ? in_val(g, n, 2)->data : NULL;
    const int taps = p.KH * p.KW;
    uint16_t *t = dst;
    float *f = dst;
    for (int64_t nb = 0; nb < p.NB; nb++)
        for (int tap = 0; tap < taps; tap++)
            for (int64_t kc = 0; kc < p.KC; kc++) {
                const int64_t blk = (nb * taps + tap) * p.KC + kc;
                for (int half = 0; half < 2; half++)
                    for (int r = 0; r < 16; r++)
                        for (int c = 0; c < 16; c++)
                            for (int e = 0; e < 2; e++) {
                                const int64_t k = kc * 32 + 2 * r + e, co = nb * 32 + half * 16 + c;
                                float v = k < p.Cin && co < p.Cout ? w[((int64_t)tap * p.Cin + k) * p.Cout + co] : 0.0f;
                                const int at = half * 512 + r * 32 + c * 2 + e;
                                if (!p.local) { /* float32 in tile order: split per use (x86/conv_amx.c) */
                                    f[blk * 1024 + at] = v;
                                    continue;
                                }
                                for (int part = 0; part < 3; part++) {
                                    const uint16_t h = bf16_rne(v);
                                    t[blk * 3072 + part * 1024 + at] = h;
                                    v -= bf16_float(h); /* exact: what the parts so far leave */
                                }
                            }
            }
    float *b = (float *)((char *)dst + p.NB * tile_elems(&p) * (p.local ? 6 : 4));
    for (int64_t co = 0; co < p.CoutP; co++) b[co] = bias && co < p.Cout ? bias[co] : 0.0f;
}

size_t kiln_amx_workspace(const kiln_graph *g, const kiln_node *n, int batch)
{
    kiln_amx_plan p;
    kiln_amx_plan_init(g, n, batch, &p);
    if (p.local) return (size_t)(3 * KILN_AMX_MAX_THREADS * p.Lr * p.AP * 2 + 63) / 64 * 64;
    /* the split input, then one slot a thread (accumulators and a split weight chunk) */
    return (size_t)kiln_amx_shared_slot_offset(&p) * 2 + (size_t)KILN_AMX_MAX_THREADS * KILN_AMX_SLOT_FLOATS * 4;
}

int64_t kiln_amx_shared_slot_offset(const kiln_amx_plan *p) { return (3 * p->N * p->Ls * p->AP + 31) / 32 * 32; }

int kiln_amx_is(kiln_tactic_run_fn run)
{
#if defined(__x86_64__)
    return run == kiln_conv_amx_bf16x6;
#else
    (void)run;
    return 0;
#endif
}
