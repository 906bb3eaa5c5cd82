/* AMX bf16x6 convolution (see ../conv_amx.h for the arithmetic and the layout): the split of the input into three
 * bfloat16 images (AVX-512 BF16 conversions) and the tile loops (AMX-TILE / AMX-BF16). Only called when
 * kiln_cpu_has_amx() said yes. */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx512bf16,avx2,fma,amx-tile,amx-bf16")
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "../../core/act.h"
#include "../../runtime/threadpool.h"
#include "../conv_amx.h"
#include "avx512_common.h"

typedef struct {
    kiln_amx_plan p;
    const kiln_kernel_args *a;
    const uint16_t *wt;  /* packed weight tiles, split (local mode) */
    const float *wf;     /* the same as float32 (shared mode) */
    const float *bias;   /* CoutP */
    const float *res;    /* residual (dense NHWC) or NULL */
    const float *gate;   /* a folded squeeze-excite (kiln_kernel_args.in0_scale, [N][Cin]): x * gate is split, or NULL */
    uint16_t *s;         /* 3 split images, each N * Ls rows of AP elements */
    int64_t XP, YP, RP, part;
    int sb; /* local mode: 32-row blocks per superblock */
    int fast;
} amx_job;

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;


/* 32 floats (x: the first 16) as three exact bfloat16 parts by truncation: x0 = the top 16 bits of x, x1 = those of
 * x - x0, x2 = x - x0 - x1 (at most 8 significant bits left, so exact too). */
static inline void split32(__m512 x, __m512 y, uint16_t *d0, uint16_t *d1, uint16_t *d2)
{
    const __m512i top = _mm512_set1_epi32((int)0xffff0000u);
    const __m512 x0 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), top));
    const __m512 y0 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(y), top));
    const __m512 xr = _mm512_sub_ps(x, x0), yr = _mm512_sub_ps(y, y0);
    const __m512 x1 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(xr), top));
    const __m512 y1 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(yr), top));
    /* exact values: the rounding conversion only packs them */
    _mm512_storeu_si512(d0, (__m512i)_mm512_cvtne2ps_pbh(y0, x0));
    _mm512_storeu_si512(d1, (__m512i)_mm512_cvtne2ps_pbh(y1, x1));
    _mm512_storeu_si512(d2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(yr, y1), _mm512_sub_ps(xr, x1)));
}

/* S rows [q0, q0 + count) of sample nn into d (three parts, `stride` elements apart): row q is S pixel
 * (q / Ws, q % Ws), read from the input through the padding (KxK) or the stride (1x1), or (im2col) the window of
 * output pixel q gathered first; rows past Hs * Ws and channels past Cin are zeros. */
static void split_rows(const amx_job *j, int64_t nn, int64_t q0, int64_t count, uint16_t *d, int64_t stride)
{
    const kiln_amx_plan *p = &j->p;
    float win[1024 + 32] __attribute__((aligned(64)));
    for (int64_t i = 0; i < count; i++) {
        const int64_t q = q0 + i;
        const float *src = NULL;
        if (p->im2col && q < p->Hs * p->Ws) { /* gather the window of output pixel q */
            const int64_t oy = q / p->Ws, ox = q % p->Ws;
            float *dst = win;
            const int64_t run = (int64_t)p->IKW * p->ICin, ix0 = ox * p->SW - p->PL;
            const int inside = ix0 >= 0 && ix0 + p->IKW <= p->W && j->XP == p->ICin;
            for (int kh = 0; kh < p->IKH; kh++, dst += run) {
                const int64_t iy = oy * p->SH - p->PT + kh;
                if (iy < 0 || iy >= p->H) {
                    memset(dst, 0, sizeof(float) * (size_t)run);
                    continue;
                }
                const float *row = j->a->in[0] + (nn * p->H + iy) * p->W * j->XP;
                if (inside) { /* the kernel row's pixels are contiguous: one masked copy */
                    const float *s = row + ix0 * p->ICin;
                    for (int64_t c = 0; c < run; c += 16) {
                        const __mmask16 m = kiln_lane_mask(run - c);
                        _mm512_mask_storeu_ps(dst + c, m, _mm512_maskz_loadu_ps(m, s + c));
                    }
                    continue;
                }
                for (int kw = 0; kw < p->IKW; kw++) {
                    const int64_t ix = ix0 + kw;
                    for (int64_t c = 0; c < p->ICin; c++)
                        dst[kw * p->ICin + c] = ix >= 0 && ix < p->W ? row[ix * j->XP + c] : 0.0f;
                }
            }
            src = win;
        } else if (!p->im2col && q < p->Hs * p->Ws) {
            const int64_t iy = (q / p->Ws) * p->SH - p->PT, ix = (q % p->Ws) * p->SW - p->PL;
            if (iy >= 0 && iy < p->H && ix >= 0 && ix < p->W) src = j->a->in[0] + ((nn * p->H + iy) * p->W + ix) * j->XP;
        }
        uint16_t *d0 = d + i * p->AP, *d1 = d0 + stride, *d2 = d1 + stride;
        if (!src) {
            memset(d0, 0, (size_t)p->CinP * 2);
            memset(d1, 0, (size_t)p->CinP * 2);
            memset(d2, 0, (size_t)p->CinP * 2);
            continue;
        }
        /* a folded squeeze-excite's product x * gate: the same float multiply as its kernel */
        const float *gate = j->gate && !p->im2col ? j->gate + nn * p->Cin : NULL;
        for (int64_t c = 0; c < p->CinP; c += 32) {
            const __mmask16 m0 = kiln_lane_mask(p->Cin - c), m1 = kiln_lane_mask(p->Cin - c - 16);
            __m512 x0 = _mm512_maskz_loadu_ps(m0, src + c), x1 = _mm512_maskz_loadu_ps(m1, src + c + 16);
            if (gate) {
                x0 = _mm512_mul_ps(x0, _mm512_maskz_loadu_ps(m0, gate + c));
                x1 = _mm512_mul_ps(x1, _mm512_maskz_loadu_ps(m1, gate + c + 16));
            }
            split32(x0, x1, d0 + c, d1 + c, d2 + c);
        }
    }
}

/* The whole split (shared mode): rows of all samples over the threads. */
static void split_task(void *arg, int t, int nt)
{
    const amx_job *j = arg;
    const kiln_amx_plan *p = &j->p;
    long r0, r1;
    kiln_partition((long)(p->N * p->Ls), t, nt, &r0, &r1);
    for (long r = r0; r < r1;) {
        const int64_t nn = r / p->Ls, q = r % p->Ls;
        const int64_t cnt = p->Ls - q < r1 - r ? p->Ls - q : r1 - r;
        split_rows(j, nn, q, cnt, j->s + r * p->AP, j->part);
        r += cnt;
    }
}

/* The 32 x 32 block in c (row stride 32) to the output: rows q0 + r of sample nn whose column is inside the map. */
static void epilogue(const amx_job *j, const float *c, int64_t nn, int64_t q0, int64_t co0)
{
    const kiln_amx_plan *p = &j->p;
    const kiln_act *act = &j->a->node->attrs.act;
    const int64_t left = p->Cout - co0;
    const __mmask16 k0 = kiln_lane_mask(left), k1 = kiln_lane_mask(left - 16);
    const __m512 b0 = _mm512_loadu_ps(j->bias + co0), b1 = _mm512_loadu_ps(j->bias + co0 + 16);
    int64_t oy = q0 / p->Ws, ox = q0 % p->Ws; /* divided once, then stepped */
    for (int r = 0; r < 32; r++, ox == p->Ws - 1 ? (ox = 0, oy++) : ox++) {
        const int64_t q = q0 + r;
        if (q >= p->Mv) break;
        if (ox >= p->OW) continue;
        const int64_t pix = (nn * p->OH + oy) * p->OW + ox;
        __m512 y0 = _mm512_add_ps(_mm512_load_ps(c + r * 32), b0);
        __m512 y1 = _mm512_add_ps(_mm512_load_ps(c + r * 32 + 16), b1);
        if (j->res) {
            y0 = _mm512_add_ps(y0, _mm512_maskz_loadu_ps(k0, j->res + pix * j->RP + co0));
            y1 = _mm512_add_ps(y1, _mm512_maskz_loadu_ps(k1, j->res + pix * j->RP + co0 + 16));
        }
        if (j->fast >= 3) {
            y0 = kiln_sigmoid_swish_avx512(y0, j->fast);
            y1 = kiln_sigmoid_swish_avx512(y1, j->fast);
        } else if (j->fast >= 1) {
            y0 = _mm512_max_ps(y0, _mm512_setzero_ps());
            y1 = _mm512_max_ps(y1, _mm512_setzero_ps());
        }
        if (j->fast == 2) {
            y0 = _mm512_min_ps(y0, _mm512_set1_ps(act->beta));
            y1 = _mm512_min_ps(y1, _mm512_set1_ps(act->beta));
        }
        float *dst = j->a->out + pix * j->YP + co0;
        _mm512_mask_storeu_ps(dst, k0, y0);
        if (left > 16) _mm512_mask_storeu_ps(dst + 16, k1, y1);
        if (j->fast < 0)
            for (int64_t l = 0; l < 32 && l < left; l++) dst[l] = kiln_act_apply(act, dst[l]);
    }
}

/* Tile registers: 0-3 accumulators (rows 0-15 / 16-31 x channels 0-15 / 16-31), 4-5 the input part's two row
 * halves, 6-7 the weight part's two column halves. */
#define DP4()                        \
    do {                             \
        _tile_dpbf16ps(0, 4, 6);     \
        _tile_dpbf16ps(1, 4, 7);     \
        _tile_dpbf16ps(2, 5, 6);     \
        _tile_dpbf16ps(3, 5, 7);     \
    } while (0)
#define LOAD_A(pt)                                                 \
    do {                                                           \
        _tile_loadd(4, a + (pt) * part, ap * 2);                   \
        _tile_loadd(5, a + (pt) * part + 16 * ap, ap * 2);         \
    } while (0)
#define LOAD_B(pt)                                 \
    do {                                           \
        _tile_loadd(6, b + (pt) * 1024, 64);       \
        _tile_loadd(7, b + (pt) * 1024 + 512, 64); \
    } while (0)

/* The 32 x 32 accumulators (tiles 0-3) zeroed, or loaded from / stored to c (row stride 32 floats). */
#define ACC_ZERO()       \
    do {                 \
        _tile_zero(0);   \
        _tile_zero(1);   \
        _tile_zero(2);   \
        _tile_zero(3);   \
    } while (0)
#define ACC_LOAD(c)                                   \
    do {                                              \
        _tile_loadd(0, (c), 128);                     \
        _tile_loadd(1, (c) + 16, 128);                \
        _tile_loadd(2, (c) + 16 * 32, 128);           \
        _tile_loadd(3, (c) + 16 * 32 + 16, 128);      \
    } while (0)
#define ACC_STORE(c)                                  \
    do {                                              \
        _tile_stored(0, (c), 128);                    \
        _tile_stored(1, (c) + 16, 128);               \
        _tile_stored(2, (c) + 16 * 32, 128);          \
        _tile_stored(3, (c) + 16 * 32 + 16, 128);     \
    } while (0)

/* The six products of one 32-channel chunk into the accumulators: input parts at a (`part` elements apart, rows ap
 * elements apart), weight parts at b (1024 apart). x0 w0, x0 w1, x1 w1, x1 w0, x2 w0, x0 w2: 16 tile loads for 24
 * tile products. */
static inline __attribute__((always_inline)) void six_products(const uint16_t *a, int64_t part, int64_t ap,
                                                               const uint16_t *b)
{
    LOAD_A(0);
    LOAD_B(0);
    DP4();
    LOAD_B(1);
    DP4();
    LOAD_A(1);
    DP4();
    LOAD_B(0);
    DP4();
    LOAD_A(2);
    DP4();
    LOAD_A(0);
    LOAD_B(2);
    DP4();
}

/* One 32 x 32 block: rows at base (three parts `part` elements apart, row pitch AP; tap (kh, kw) reads kh * Ws + kw
 * rows further), the split weight tiles wt of one output-channel block; result in c (row stride 32). The tile config
 * is loaded. */
static inline void block(const amx_job *j, const uint16_t *base, int64_t part, const uint16_t *wt, float *c)
{
    const kiln_amx_plan *p = &j->p;
    const int taps = p->KH * p->KW;
    ACC_ZERO();
    for (int tap = 0; tap < taps; tap++) {
        const int64_t off = ((int64_t)(tap / p->KW) * p->Ws + tap % p->KW) * p->AP;
        const uint16_t *bt = wt + (int64_t)tap * p->KC * 3 * 1024;
        for (int64_t kc = 0; kc < p->KC; kc++) six_products(base + off + kc * 32, part, p->AP, bt + kc * 3 * 1024);
    }
    ACC_STORE(c);
}

static void load_config(void)
{
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64;
    _tile_loadconfig(&cfg);
}

/* Shared mode: the (output-channel block, 32-row block) pairs, channel block outermost, divided evenly over the
 * threads; a thread takes its pairs of one channel block in groups of up to KILN_AMX_GROUP row blocks (it streams
 * only its share of the weights, once per group; a channel block two threads share is read by both). Per run of
 * KILN_AMX_RUN 32-channel chunks of the weights: split their float32 weights (1024 a chunk) into 6 KiB a chunk of bfloat16 (L1), then run the chunks'
 * products on every block of the group, whose accumulators wait in an L1 buffer between runs (kept in the tile
 * registers when the group has one block). A tile store and reload of the accumulators costs about 0.7 of a chunk's
 * 24 tile products (the accumulation chain drains), hence runs of several chunks.
 * The weights of a layer with large weights thus pass through the core once, as float32, and the split costs one
 * pass over them per group. */
#ifndef KILN_AMX_PREFETCH
#define KILN_AMX_PREFETCH (2 * KILN_AMX_RUN) /* chunks (4 KiB each) ahead: the next run */
#endif
static void shared_task(void *arg, int t, int nt)
{
    const amx_job *j = arg;
    const kiln_amx_plan *p = &j->p;
    if (t >= KILN_AMX_MAX_THREADS) return;
    if (nt > KILN_AMX_MAX_THREADS) nt = KILN_AMX_MAX_THREADS;
    const int64_t blocks = p->N * p->MB;
    long u0, u1;
    kiln_partition((long)(p->NB * blocks), t, nt, &u0, &u1);
    if (u0 >= u1) return;
    load_config();
    float *acc = (float *)(j->s + kiln_amx_shared_slot_offset(p)) + (int64_t)t * KILN_AMX_SLOT_FLOATS;
    uint16_t *b = (uint16_t *)(acc + KILN_AMX_GROUP * 1024);
    const int taps = p->KH * p->KW;
    const int64_t part = j->part, chunks = (int64_t)taps * p->KC;
    for (long u = u0; u < u1;) {
        const int64_t nb = u / blocks, b0 = u % blocks;
        int64_t left = blocks - b0 < u1 - u ? blocks - b0 : u1 - u;
        const int nblk = (int)(left < KILN_AMX_GROUP ? left : KILN_AMX_GROUP);
        u += nblk;
        const float *f = j->wf + nb * chunks * 1024;
        const uint16_t *base[KILN_AMX_GROUP];
        for (int k = 0; k < nblk; k++) {
            const int64_t bb = b0 + k;
            base[k] = j->s + ((bb / p->MB) * p->Ls + (bb % p->MB) * 32) * p->AP;
        }
        for (int64_t ch0 = 0; ch0 < chunks; ch0 += KILN_AMX_RUN) {
            const int run = (int)(chunks - ch0 < KILN_AMX_RUN ? chunks - ch0 : KILN_AMX_RUN);
            for (int r = 0; r < run; r++, f += 1024)
                for (int i = 0; i < 1024; i += 32) {
                    uint16_t *br = b + r * 3072;
                    split32(_mm512_load_ps(f + i), _mm512_load_ps(f + i + 16), br + i, br + 1024 + i, br + 2048 + i);
                }
            int64_t off[KILN_AMX_RUN];
            for (int r = 0; r < run; r++) {
                const int64_t ch = ch0 + r, tap = ch / p->KC, kc = ch % p->KC;
                off[r] = ((tap / p->KW) * p->Ws + tap % p->KW) * p->AP + kc * 32;
            }
            /* the float32 weights KILN_AMX_PREFETCH chunks ahead, spread over this run's tile products: a burst of
             * prefetches fills the line fill buffers and stalls, spread out they overlap the products */
            const int64_t pf_chunks = chunks - (ch0 + KILN_AMX_PREFETCH) < run ? chunks - (ch0 + KILN_AMX_PREFETCH) : run;
            const char *pf = (const char *)(f + (KILN_AMX_PREFETCH - run) * 1024);
            const int per = pf_chunks > 0 ? (int)((pf_chunks * 64 + nblk * run - 1) / (nblk * run)) : 0;
            const char *pf_end = pf + (pf_chunks > 0 ? pf_chunks * 4096 : 0);
            for (int k = 0; k < nblk; k++) {
                float *c = acc + k * 1024;
                if (ch0 == 0) ACC_ZERO();
                else if (nblk > 1) ACC_LOAD(c);
                for (int r = 0; r < run; r++) {
                    six_products(base[k] + off[r], part, p->AP, b + r * 3072);
                    for (int q = 0; q < per && pf < pf_end; q++, pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
                }
                if (nblk > 1 || ch0 + run == chunks) ACC_STORE(c);
            }
        }
        for (int k = 0; k < nblk; k++) {
            const int64_t bb = b0 + k;
            epilogue(j, acc + k * 1024, bb / p->MB, (bb % p->MB) * 32, nb * 32);
        }
    }
    _tile_release();
}

/* Local mode: the units are (32-row block, output-channel block) pairs over the batch, block-major; each thread gets
 * an even share and walks it in superblocks of up to sb row blocks within one sample: it splits a superblock's rows
 * into its slot, then runs every output-channel block of its share over them. A row block that two threads share
 * (its channel blocks divided between them) is split by both. (Superblocks as the units left 16 vs 9 row blocks to
 * the two threads at 28x28, and the 7 row blocks of a 14x14 map cannot be divided evenly without the channels.) */
static void local_task(void *arg, int t, int nt)
{
    const amx_job *j = arg;
    const kiln_amx_plan *p = &j->p;
    if (t >= KILN_AMX_MAX_THREADS) return;
    if (nt > KILN_AMX_MAX_THREADS) nt = KILN_AMX_MAX_THREADS;
    long u0, u1;
    kiln_partition((long)(p->N * p->MB * p->NB), t, nt, &u0, &u1);
    if (u0 >= u1) return;
    load_config();
    float c[32 * 32] __attribute__((aligned(64)));
    const int64_t slot = p->Lr * p->AP, taps_kc = (int64_t)p->KH * p->KW * p->KC;
    uint16_t *mine = j->s + (int64_t)t * 3 * slot;
    const int64_t bl0 = u0 / p->NB, bl1 = (u1 - 1) / p->NB + 1; /* row blocks touched */
    for (int64_t bl = bl0; bl < bl1;) {
        const int64_t nn = bl / p->MB, first = bl % p->MB, q0 = first * 32;
        int64_t blocks = bl1 - bl < j->sb ? bl1 - bl : j->sb;
        if (blocks > p->MB - first) blocks = p->MB - first;
        split_rows(j, nn, q0, blocks * 32 + (int64_t)(p->KH - 1) * p->Ws + p->KW - 1, mine, slot);
        for (int64_t nb = 0; nb < p->NB; nb++)
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t u = (bl + b) * p->NB + nb;
                if (u < u0 || u >= u1) continue;
                block(j, mine + b * 32 * p->AP, slot, j->wt + nb * taps_kc * 3 * 1024, c);
                epilogue(j, c, nn, q0 + b * 32, nb * 32);
            }
        bl += blocks;
    }
    _tile_release();
}

void kiln_conv_amx_bf16x6(const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool)
{
    amx_job j;
    memset(&j, 0, sizeof j);
    kiln_amx_plan_init(a->g, a->node, a->batch, &j.p);
    const kiln_amx_plan *p = &j.p;
    j.a = a, j.wt = packed;
    j.wf = packed;
    j.bias = (const float *)((const char *)packed + p->NB * p->KH * p->KW * p->KC * 1024 * (p->local ? 6 : 4));
    j.res = a->node->n_inputs > 3 ? a->in[3] : NULL;
    j.gate = a->in0_scale;
    j.s = a->workspace, j.part = p->N * p->Ls * p->AP;
    j.XP = a->in_pitch[0] ? a->in_pitch[0] : (p->im2col ? p->ICin : p->Cin), j.YP = a->out_pitch ? a->out_pitch : p->Cout;
    j.RP = a->node->n_inputs > 3 && a->in_pitch[3] ? a->in_pitch[3] : p->Cout;
    j.fast = kiln_act_kind_avx512(&a->node->attrs.act);
    if (!p->local) kiln_threadpool_run(pool, split_task, &j);
    if (p->local) {
        /* superblocks of up to SB blocks */
        j.sb = p->SB;
    }
    kiln_threadpool_run(pool, p->local ? local_task : shared_task, &j);
}
#endif
