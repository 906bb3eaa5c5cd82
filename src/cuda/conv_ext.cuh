// Convolution tactics beyond cuDNN's legacy API and the cuBLAS GEMM forms (src/cuda/conv_direct.cu, conv_graph.cu,
// conv_ext.cu). backend.cu creates one ConvExt per groups == 1 convolution, times its candidates against the layer's
// other tactics at build time, and dispatches to conv_ext_run when one of them won. Tactics (kiln_layer.tactic):
//   300 + v   kiln's direct convolution (small Cin: stems with Cin <= 4, 1x1 with Cin <= 64): one thread computes
//             1/2/4 (v = 0/1/2, and 3/4/5 with the coalesced lane split) output pixels x 8 output channels, weights
//             in shared memory, FP32 accumulation, the
//             whole epilogue (bias, residual, any activation) fused, 16-byte FP16 loads/stores where the shape allows.
//   400 + i   cuDNN graph API: conv + bias + residual + activation as one fused operation graph (FP16 layers), the
//             i-th engine config of cuDNN's heuristics (mode A), plan + workspace made before any capture.
//   450 + i   cuDNN graph API: the convolution alone (engine config i), then kiln's epilogue kernel.
// Any failure to build a plan drops that candidate; nothing here is an error for the user.
#ifndef KILN_CUDA_CONV_EXT_CUH
#define KILN_CUDA_CONV_EXT_CUH

#include <cudnn.h>
#include <stddef.h>

#include "kernels.cuh"

namespace kc {

enum { T_DIRECT = 300, T_GRAPH_FUSED = 400, T_GRAPH_CONV = 450, T_EXT_END = 500 };

struct ConvGeom {
    int H, W, Cin, OH, OW, Cout, KH, KW, SH, SW, DH, DW, PT, PL, PB, PR;
};

struct ConvExt;    // one convolution layer's state (owned by the backend's Step; conv_ext_free)
struct ConvExtCtx; // one context's state: the cuDNN handle, plans shared between layers of the same shape

// ctx: owned by the caller, freed with conv_ext_ctx_free (after every ConvExt of it, before the cuDNN handle).
ConvExtCtx *conv_ext_ctx_new(cudnnHandle_t dnn);
void conv_ext_ctx_free(ConvExtCtx *ctx);

// A layer's state, or nullptr (with no error) when none of these tactics can run it. w_host: kiln's [KH,KW,Cin,Cout]
// floats, b_host: [Cout] floats (both read now, not kept); w_krsc: the layer's device weights [Cout,KH,KW,Cin] in the
// layer's type; bias_t / bias_f: the device bias in the layer's type / in float (kept pointers, owned by the caller).
// half: the layer computes in FP16 storage.
ConvExt *conv_ext_new(ConvExtCtx *ctx, const ConvGeom &g, bool half, const float *w_host, const float *b_host,
                      const void *w_krsc, const void *bias_t, const float *bias_f, kiln_act act, bool residual);
void conv_ext_free(ConvExt *e);

// Candidate tactics at batch N (graph plans are built now; failures drop candidates). force: KILN_CUDA_CONV
// ("direct" or "graph" keep that family only, nullptr: all). Returns the count written to tac.
int conv_ext_candidates(ConvExt *e, const char *force, int N, int *tac, int cap);
// Make `tactic` the layer's (0: none of these). False when it cannot run this layer (e.g. a stale timing cache).
bool conv_ext_set(ConvExt *e, int tactic, int N);
int conv_ext_active(const ConvExt *e);
// Run the active tactic once outside and once inside a throw-away stream capture: false when it fails either way
// (a graph plan that is not capturable).
bool conv_ext_probe(ConvExt *e, const void *x, void *y, const void *z, int N, cudaStream_t s);
// Enqueue the layer: y = act(conv(x) + bias + z) (z may be null). 0: done; 2: this tactic has no plan for batch N (the
// caller runs its own path); 1: error (message in err).
int conv_ext_run(ConvExt *e, const void *x, void *y, const void *z, int N, cudaStream_t s, char *err, size_t cap);
// Short text for logs ("direct pix=2", "graph fused cfg 1 (engine 7)").
const char *conv_ext_describe(const ConvExt *e, int tactic, char *buf, size_t cap);
// KILN_CUDA_CONV_LOG=1: one stderr line per timed layer (the layer's own best tactic base_tactic at base_ms, then each
// candidate of these families, then the pick). Diagnosis only.
void conv_ext_log(const ConvExt *e, const char *layer, const int *tac, const double *ms, int n, int pick, double base_ms,
                  int base_tactic);

// im2col with a row stride ldk >= KH*KW*C (columns past K are zero): FP16 im2col GEMMs with K padded to a multiple of 8
// so cuBLAS can use Tensor Cores.
template <class T>
void im2col_ld(const T *x, T *col, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW, int DH,
               int DW, int PT, int PL, int ldk, cudaStream_t s);

// ---- conv_direct.cu ----
// wt: [K = KH*KW*Cin][Cp] float (Cp = Cout rounded up to 8, zero columns), bias [Cp] float. x, z, y in T (NHWC).
bool direct_supported(const ConvGeom &g);
int direct_lanes(const ConvGeom &g); // variants 3-5 apply when > 0
template <class T>
int direct_conv(const T *x, const float *wt, const float *bias, const T *z, T *y, int N, const ConvGeom &g, int variant,
                kiln_act act, cudaStream_t s);

}  // namespace kc

#endif
