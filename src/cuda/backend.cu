// The CUDA backend of kiln (build/libkiln_cuda.so): runs an engine's optimized graph on an NVIDIA GPU.
//
//   context_create: one "step" per graph node (a fused residual Add becomes part of the convolution before it),
//     weights uploaded once (FP16 when the engine is FP16; biases and small parameters stay FP32), activations in
//     ONE device arena planned here by liveness (NHWC, T = float or __half), a cuDNN convolution algorithm per layer
//     (the engine's tactic, else timed now with cudnnFind), then one warm-up run and one CUDA graph capture for
//     batch_min and batch_max (other batches are captured on first use and kept).
//   context_run: copy the caller's inputs into pinned staging, H2D, launch the graph, D2H, copy out. No allocation
//     (except the first run of a batch size other than batch_min/batch_max, which captures its graph once).
//
// Convolutions: cuDNN (NHWC; FP16 uses tensor cores with FP32 accumulation; FP32 uses FMA math, no TF32, so results
// stay within 1e-4 of the CPU reference). cudnnConvolutionBiasActivationForward fuses bias + ReLU + residual when the
// activation is a plain ReLU; otherwise kiln's epilogue kernel applies bias + any activation + residual in one pass.
// Depthwise convolutions, pooling, softmax, elementwise ops, concat, pad, slice, transpose and squeeze-excite are
// kiln's own kernels (kernels.cu). Dense layers: cuBLAS GEMM (FP32 accumulation) + the epilogue kernel.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels.cuh"
#include "conv_ext.cuh"
#include "../runtime/backend_cuda.h"

namespace {

using kc::Dims6;

// ---- errors ------------------------------------------------------------------------------------------------------
struct Err {
    char *buf;
    size_t cap;
    int fail(const char *fmt, ...)
    {
        if (buf && cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(buf, cap, fmt, ap);
            va_end(ap);
        }
        return 1;
    }
};

#define CU(call, what)                                                                                                 \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess) return err.fail("%s: %s (%s)", what, cudaGetErrorString(e_), #call);                   \
    } while (0)
#define DNN(call, what)                                                                                                \
    do {                                                                                                               \
        cudnnStatus_t e_ = (call);                                                                                     \
        if (e_ != CUDNN_STATUS_SUCCESS) return err.fail("%s: cuDNN %s", what, cudnnGetErrorString(e_));                \
    } while (0)
#define BLAS(call, what)                                                                                               \
    do {                                                                                                               \
        cublasStatus_t e_ = (call);                                                                                    \
        if (e_ != CUBLAS_STATUS_SUCCESS) return err.fail("%s: cuBLAS status %d", what, (int)e_);                      \
    } while (0)

int64_t prod(const int64_t *d, int from, int to)
{
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= d[i];
    return n;
}
int64_t numel1(const kiln_value *v) { return v->kind == KILN_VALUE_CONSTANT ? prod(v->dims, 0, v->rank) : prod(v->dims, 1, v->rank); }
size_t align256(size_t b) { return (b + 255) / 256 * 256; }

bool is_plain_relu(const kiln_act &a) { return a.kind == KILN_ACT_RELU && a.alpha == 0.0f && a.gamma == 0.0f && isinf(a.beta) && a.beta > 0; }
kiln_act act_none() { kiln_act a; a.kind = KILN_ACT_NONE; a.alpha = a.beta = a.gamma = 0.0f; return a; }

enum Kind {
    S_SKIP, S_CONV, S_DEPTHWISE, S_DENSE, S_BN, S_ACT, S_SOFTMAX, S_POOL, S_GPOOL, S_PAD, S_CONCAT, S_BINARY, S_COPY,
    S_TRANSPOSE, S_SLICE, S_SE
};

// Tactics stored in the engine (kiln_layer.tactic): 0 = choose now; cuDNN convolutions: 1 + cudnnConvolutionFwdAlgo_t;
// kiln's own kernels: 1.
struct Step {
    int node = -1;
    Kind kind = S_SKIP;
    int out = -1;                   // value written
    std::vector<int> reads;         // activation values read
    int residual = -1;              // conv: value added before the activation (a fused Add), or -1
    kiln_act act = act_none();      // activation applied by the step (for a fused Add: the Add's)
    int tactic = 0;
    bool f32 = true;                // runs in FP32: every layer of an FP32 engine, the layer_fp32 layers of an FP16 one
    int fused_add = -1;             // conv: the node of the residual Add fused into it, or -1
    float timed_ms = -1.0f;         // conv: GPU ms of the chosen tactic when it was timed in this context
    kc::ConvExt *ext = nullptr;     // conv: kiln's direct kernel / cuDNN graph plans (conv_ext.cuh), or null
    // cuDNN convolution
    cudnnTensorDescriptor_t xd = nullptr, yd = nullptr, bd = nullptr;
    cudnnFilterDescriptor_t wd = nullptr;
    cudnnConvolutionDescriptor_t cd = nullptr;
    cudnnActivationDescriptor_t ad = nullptr;
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t ws = 0;
    bool fused = false;             // cudnnConvolutionBiasActivationForward
    int gemm = 0;                   // 0: cuDNN; 1: 1x1 conv as one cuBLAS GEMM; 2: im2col + cuBLAS GEMM
    bool gemm_ok = false, im2col_ok = false; // candidates this layer allows
    void *wg = nullptr;             // weights as a [KH*KW*Cin, Cout] matrix in T (GEMM tactics)
    bool prepad = false;            // asymmetric padding: pad into scratch first
    int64_t pH = 0, pW = 0;         // padded input size when prepad
    // weights (device)
    void *w = nullptr;              // conv KRSC / dense [Cin,Cout] in T; depthwise [KH,KW,1,Cout] float
    float *bias = nullptr;          // float
    void *biasT = nullptr;          // bias in T (fused cuDNN path)
    float *scale = nullptr, *shift = nullptr; // batchnorm
    void *cin[2] = {nullptr, nullptr};        // binary: device copies of constant operands (float)
    float *se[4] = {nullptr, nullptr, nullptr, nullptr};
};

struct Ctx {
    const kiln_graph *g = nullptr;
    int fp16 = 0, bmin = 1, bmax = 1;
    size_t esz = 4;
    cudaStream_t stream = nullptr;
    kc::ConvExtCtx *ext = nullptr;      // conv_ext.cuh: plans shared by the layers (freed before the cuDNN handle)
    cudnnHandle_t dnn = nullptr;
    cublasHandle_t blas = nullptr;
    std::vector<void *> allocs;         // device allocations to free
    std::vector<void *> pinned;         // pinned host allocations to free
    std::vector<void *> vptr;           // per value: device pointer
    std::vector<char> vf32;             // per value: stored as float (FP32 engines: all; FP16: FP32 layers' outputs, ...)
    std::vector<void *> vcast;          // per value: a copy in the other type for the readers of the other precision
    std::vector<cudaEvent_t> lev;       // run_layers: one event before each step and one after the last
    std::vector<Step> steps;
    char *arena = nullptr;
    size_t arena_bytes = 0;
    void *ws = nullptr;                 // cuDNN workspace
    size_t ws_bytes = 0;
    void *scratch = nullptr;            // prepad / squeeze-excite intermediates
    size_t scratch_bytes = 0;
    void *blas_ws = nullptr;
    std::vector<float *> in_stage, out_stage; // device float32 staging (FP16 engines)
    std::vector<float *> in_host, out_host;   // pinned host staging
    std::vector<cudaGraphExec_t> graphs;      // per batch (index = batch), null until captured
    bool no_graph = false;                    // KILN_CUDA_NO_GRAPH=1: launch layer by layer (debugging)
    cudaEvent_t tev[4] = {nullptr, nullptr, nullptr, nullptr}; // run_timed: before H2D, compute, D2H, after D2H
};

const kiln_value &V(const Ctx &c, int id) { return c.g->values[id]; }

int dev_alloc(Ctx &c, Err &err, void **p, size_t bytes, const char *what)
{
    *p = nullptr;
    if (!bytes) return 0;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) return err.fail("cudaMalloc of %zu bytes for %s: %s", bytes, what, cudaGetErrorString(e));
    c.allocs.push_back(*p);
    return 0;
}

// Upload host floats as float or as T.
int upload(Ctx &c, Err &err, void **dst, const float *src, int64_t n, bool as_T, const char *what)
{
    if (!as_T || !c.fp16) {
        if (dev_alloc(c, err, dst, sizeof(float) * (size_t)n, what)) return 1;
        CU(cudaMemcpy(*dst, src, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice), what);
        return 0;
    }
    std::vector<__half> h((size_t)n);
    for (int64_t i = 0; i < n; i++) h[(size_t)i] = __float2half_rn(src[i]);
    if (dev_alloc(c, err, dst, sizeof(__half) * (size_t)n, what)) return 1;
    CU(cudaMemcpy(*dst, h.data(), sizeof(__half) * (size_t)n, cudaMemcpyHostToDevice), what);
    return 0;
}

bool is_const(const Ctx &c, int v) { return V(c, v).kind == KILN_VALUE_CONSTANT; }

bool is_depthwise(const kiln_graph *g, const kiln_node &n)
{
    const kiln_value &x = g->values[n.inputs[0]], &y = g->values[n.output];
    const int64_t Cin = x.dims[3], Cout = y.dims[3];
    return n.attrs.groups > 1 && n.attrs.groups == Cin && Cout % Cin == 0;
}

// Which inputs of an op must be constants (1), activations (0), or either (2).
int input_role(int op, int i)
{
    switch (op) {
    case KILN_OP_CONV2D: return i == 0 || i == 3 ? 0 : 1; // input 3: the optimizer's fused residual
    case KILN_OP_DENSE:
    case KILN_OP_BATCHNORM:
    case KILN_OP_SQUEEZE_EXCITE: return i == 0 ? 0 : 1;
    case KILN_OP_ADD: case KILN_OP_SUB: case KILN_OP_MUL: case KILN_OP_DIV: case KILN_OP_MAX: case KILN_OP_MIN: return 2;
    default: return 0;
    }
}

// Op names from the op table (the backend links nothing of libkiln, so it keeps its own copy of the names).
const char *op_name(int op)
{
#define KILN_OP(e, name, min_in, max_in, infer, ref) name,
    static const char *names[] = {
#include "../core/ops.def"
    };
#undef KILN_OP
    return op >= 0 && op < (int)(sizeof names / sizeof names[0]) ? names[op] : "unknown";
}

int check_graph(const kiln_graph *g, Err &err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node &n = g->nodes[i];
        if (n.op < 0 || n.op > KILN_OP_SQUEEZE_EXCITE)
            return err.fail("layer '%s': %s has no CUDA kernel yet (build for the CPU)", n.name, op_name(n.op));
        if ((n.op == KILN_OP_MAXPOOL || n.op == KILN_OP_AVGPOOL) &&
            ((n.attrs.dilation[0] > 1) || (n.attrs.dilation[1] > 1)))
            return err.fail("layer '%s': dilated pooling has no CUDA kernel yet (build for the CPU)", n.name);
        const kiln_value &y = g->values[n.output];
        for (int j = 0; j < n.n_inputs; j++) {
            const kiln_value &x = g->values[n.inputs[j]];
            int role = input_role(n.op, j), c = x.kind == KILN_VALUE_CONSTANT;
            if ((role == 0 && c) || (role == 1 && !c))
                return err.fail("layer '%s': input %d ('%s') must be %s on the GPU", n.name, j, x.name,
                                role ? "a constant" : "an activation");
        }
        if (n.op == KILN_OP_CONV2D || n.op == KILN_OP_MAXPOOL || n.op == KILN_OP_AVGPOOL || n.op == KILN_OP_GLOBAL_AVGPOOL ||
            n.op == KILN_OP_GLOBAL_MAXPOOL || n.op == KILN_OP_SQUEEZE_EXCITE)
            if (g->values[n.inputs[0]].rank != 4)
                return err.fail("layer '%s': %s wants a 4-D NHWC input", n.name, n.op == KILN_OP_CONV2D ? "Conv2D" : "pooling");
        if (n.op >= KILN_OP_ADD && n.op <= KILN_OP_MIN && g->values[n.inputs[0]].kind == KILN_VALUE_CONSTANT &&
            g->values[n.inputs[1]].kind == KILN_VALUE_CONSTANT)
            return err.fail("layer '%s': both operands are constants (fold them first)", n.name);
        if (n.op == KILN_OP_PAD && (n.attrs.pads_begin[0] || n.attrs.pads_end[0]))
            return err.fail("layer '%s': padding the batch axis is not supported on the GPU", n.name);
        if (n.op == KILN_OP_CONCAT && n.attrs.axis == 0)
            return err.fail("layer '%s': concatenation along the batch axis is not supported on the GPU", n.name);
        if (y.rank > 6) return err.fail("layer '%s': rank %d above 6", n.name, y.rank);
    }
    return 0;
}

// ---- steps: one per node; a residual Add right after a convolution joins it --------------------------------------
void make_steps(Ctx &c)
{
    const kiln_graph *g = c.g;
    std::vector<int> readers(g->n_values, 0), is_output(g->n_values, 0), producer_step(g->n_values, -1);
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) readers[g->nodes[i].inputs[j]]++;
    for (int i = 0; i < g->n_outputs; i++) is_output[g->outputs[i]] = 1;
    c.steps.assign(g->n_nodes, Step());
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node &n = g->nodes[i];
        Step &s = c.steps[i];
        s.node = i;
        s.out = n.output;
        s.act = n.attrs.act;
        for (int j = 0; j < n.n_inputs; j++)
            if (!is_const(c, n.inputs[j])) s.reads.push_back(n.inputs[j]);
        switch (n.op) {
        case KILN_OP_CONV2D:
            s.kind = is_depthwise(g, n) ? S_DEPTHWISE : S_CONV;
            if (n.n_inputs > 3) s.residual = n.inputs[3]; // y = act(conv + bias + residual), already in reads
            break;
        case KILN_OP_DENSE: s.kind = S_DENSE; break;
        case KILN_OP_BATCHNORM: s.kind = S_BN; break;
        case KILN_OP_ACTIVATION: s.kind = S_ACT; break;
        case KILN_OP_SOFTMAX: s.kind = S_SOFTMAX; break;
        case KILN_OP_MAXPOOL: case KILN_OP_AVGPOOL: s.kind = S_POOL; break;
        case KILN_OP_GLOBAL_AVGPOOL: case KILN_OP_GLOBAL_MAXPOOL: s.kind = S_GPOOL; break;
        case KILN_OP_PAD: s.kind = S_PAD; break;
        case KILN_OP_CONCAT: s.kind = S_CONCAT; break;
        case KILN_OP_RESHAPE: case KILN_OP_IDENTITY: s.kind = S_COPY; break;
        case KILN_OP_TRANSPOSE: s.kind = S_TRANSPOSE; break;
        case KILN_OP_SLICE: s.kind = S_SLICE; break;
        case KILN_OP_SQUEEZE_EXCITE: s.kind = S_SE; break;
        default: s.kind = S_BINARY; break;
        }
        producer_step[n.output] = i;
    }
    if (getenv("KILN_CUDA_NO_FUSE")) return;
    // conv (no activation) -> Add(conv, r) [+act], the conv's output read by that Add alone, r ready before the conv.
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node &a = g->nodes[i];
        if (a.op != KILN_OP_ADD) continue;
        for (int k = 0; k < 2; k++) {
            int v = a.inputs[k], r = a.inputs[1 - k];
            int p = producer_step[v];
            if (p < 0 || c.steps[p].kind != S_CONV || c.steps[p].residual >= 0) continue;
            if (readers[v] != 1 || is_output[v] || v == r || is_const(c, r)) continue;
            if (g->nodes[p].attrs.act.kind != KILN_ACT_NONE) continue;
            if (V(c, r).rank != V(c, v).rank || memcmp(V(c, r).dims, V(c, v).dims, sizeof(int64_t) * V(c, v).rank)) continue;
            if (producer_step[r] >= p) continue; // r must exist when the conv runs
            Step &s = c.steps[p];
            s.residual = r;
            s.reads.push_back(r);
            s.out = a.output;
            s.act = a.attrs.act;
            s.fused_add = i;
            c.steps[i].kind = S_SKIP;
            c.steps[i].reads.clear();
            c.steps[i].out = -1;
            break;
        }
    }
}

// ---- precisions: which steps run in FP32 and which values are stored as float ------------------------------------
size_t vesz(const Ctx &c, int v) { return c.vf32[v] ? 4 : c.esz; }
size_t sesz(const Step &s) { return s.f32 ? 4 : 2; }

// FP32 engines: everything float. FP16 engines: the layer_fp32 layers (and a conv whose fused Add is one) run in FP32
// and store float; graph inputs are float when any reader runs in FP32; a final softmax writes float32 directly.
void assign_precision(Ctx &c, const uint8_t *layer_fp32)
{
    const kiln_graph *g = c.g;
    c.vf32.assign(g->n_values, c.fp16 ? 0 : 1);
    if (!c.fp16) return;
    for (Step &s : c.steps) {
        s.f32 = layer_fp32 && (layer_fp32[s.node] || (s.fused_add >= 0 && layer_fp32[s.fused_add]));
        if (s.kind != S_SKIP) c.vf32[s.out] = s.f32;
    }
    for (int i = 0; i < g->n_inputs; i++)
        for (const Step &s : c.steps)
            if (s.kind != S_SKIP && s.f32)
                for (int r : s.reads) c.vf32[g->inputs[i]] |= r == g->inputs[i];
    for (Step &s : c.steps)
        if (s.kind == S_SOFTMAX)
            for (int i = 0; i < g->n_outputs; i++)
                if (g->outputs[i] == s.out) c.vf32[s.out] = 1;
}

// The device pointer of activation v for a reader computing in T (its own buffer, or the cast copy).
template <class T>
const T *in_ptr(const Ctx &c, int v)
{
    const bool want_f32 = sizeof(T) == 4;
    if (V(c, v).kind == KILN_VALUE_CONSTANT || (bool)c.vf32[v] == want_f32) return (const T *)c.vptr[v];
    return (const T *)c.vcast[v];
}

// Refresh v's cast copy (after v was written).
void refresh_cast(Ctx &c, int v, int N)
{
    if (v < 0 || !c.vcast[v]) return;
    const int64_t n = numel1(&V(c, v)) * N;
    if (c.vf32[v]) kc::cast<float, __half>((const float *)c.vptr[v], (__half *)c.vcast[v], n, c.stream);
    else kc::cast<__half, float>((const __half *)c.vptr[v], (float *)c.vcast[v], n, c.stream);
}

// ---- device memory plan: intermediates share one arena by liveness (greedy by size, best fit) -------------------------
int plan_memory(Ctx &c, Err &err)
{
    const kiln_graph *g = c.g;
    const int nv = g->n_values, ns = (int)c.steps.size();
    std::vector<int> first(nv, -1), last(nv, -1), dedicated(nv, 0);
    for (int i = 0; i < g->n_inputs; i++) dedicated[g->inputs[i]] = 1;
    for (int i = 0; i < g->n_outputs; i++) dedicated[g->outputs[i]] = 1;
    for (int s = 0; s < ns; s++) {
        const Step &st = c.steps[s];
        if (st.kind == S_SKIP) continue;
        if (first[st.out] < 0) first[st.out] = s;
        last[st.out] = std::max(last[st.out], s);
        for (int r : st.reads) last[r] = std::max(last[r], s);
    }
    c.vptr.assign(nv, nullptr);
    struct B { int v; size_t size; int a, b; size_t off; };
    std::vector<B> bufs;
    for (int v = 0; v < nv; v++) {
        if (V(c, v).kind == KILN_VALUE_CONSTANT || first[v] < 0 || dedicated[v]) continue;
        bufs.push_back({v, align256((size_t)numel1(&V(c, v)) * (size_t)c.bmax * vesz(c, v)), first[v], last[v], 0});
    }
    std::sort(bufs.begin(), bufs.end(), [](const B &x, const B &y) { return x.size > y.size || (x.size == y.size && x.v < y.v); });
    size_t top = 0;
    for (size_t i = 0; i < bufs.size(); i++) {
        // Gaps between already placed buffers whose lifetimes overlap this one.
        std::vector<std::pair<size_t, size_t>> used;
        for (size_t j = 0; j < i; j++)
            if (!(bufs[j].b < bufs[i].a || bufs[i].b < bufs[j].a)) used.push_back({bufs[j].off, bufs[j].off + bufs[j].size});
        std::sort(used.begin(), used.end());
        size_t best = (size_t)-1, best_gap = (size_t)-1, at = 0;
        for (auto &u : used) {
            if (u.first > at && u.first - at >= bufs[i].size && u.first - at < best_gap) best = at, best_gap = u.first - at;
            at = std::max(at, u.second);
        }
        if (best == (size_t)-1) best = at;
        bufs[i].off = best;
        top = std::max(top, best + bufs[i].size);
    }
    c.arena_bytes = top;
    if (dev_alloc(c, err, (void **)&c.arena, top ? top : 256, "the activation arena")) return 1;
    for (auto &b : bufs) c.vptr[b.v] = c.arena + b.off;
    // Graph inputs and outputs get their own buffers (the caller's data is staged through them).
    for (int v = 0; v < nv; v++)
        if (dedicated[v] && V(c, v).kind != KILN_VALUE_CONSTANT && !c.vptr[v])
            if (dev_alloc(c, err, &c.vptr[v], align256((size_t)numel1(&V(c, v)) * (size_t)c.bmax * vesz(c, v)), V(c, v).name))
                return 1;
    // Values read by layers of the other precision get a second buffer in that type (written right after the value).
    c.vcast.assign(nv, nullptr);
    for (int v = 0; v < nv; v++) {
        if (V(c, v).kind == KILN_VALUE_CONSTANT) continue;
        bool other = false;
        for (const Step &st : c.steps)
            if (st.kind != S_SKIP)
                for (int r : st.reads) other |= r == v && (bool)c.vf32[v] != st.f32;
        if (other && dev_alloc(c, err, &c.vcast[v], align256((size_t)numel1(&V(c, v)) * (size_t)c.bmax * (c.vf32[v] ? 2 : 4)),
                               "a precision cast buffer"))
            return 1;
    }
    return 0;
}

cudnnDataType_t dt(const Step &s) { return s.f32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_HALF; }

int set_conv_descs(Ctx &c, Step &s, int batch, Err &err)
{
    const kiln_node &n = c.g->nodes[s.node];
    const kiln_value &x = V(c, n.inputs[0]), &y = V(c, n.output);
    const int H = (int)(s.prepad ? s.pH : x.dims[1]), W = (int)(s.prepad ? s.pW : x.dims[2]);
    DNN(cudnnSetTensor4dDescriptor(s.xd, CUDNN_TENSOR_NHWC, dt(s), batch, (int)x.dims[3], H, W), n.name);
    DNN(cudnnSetTensor4dDescriptor(s.yd, CUDNN_TENSOR_NHWC, dt(s), batch, (int)y.dims[3], (int)y.dims[1], (int)y.dims[2]),
        n.name);
    return 0;
}

// The K of an im2col GEMM: FP16 rows padded to a multiple of 8 elements (16 bytes) so cuBLAS can use Tensor Cores.
int im2col_k(const Step &s, int K) { return s.f32 ? K : (K + 7) / 8 * 8; }

// Weights, descriptors and scratch needs of each step.
int setup_steps(Ctx &c, Err &err, size_t &scratch_need)
{
    const kiln_graph *g = c.g;
    scratch_need = 0;
    for (Step &s : c.steps) {
        if (s.kind == S_SKIP) continue;
        const kiln_node &n = g->nodes[s.node];
        const kiln_attrs &at = n.attrs;
        const kiln_value &x = V(c, n.inputs[0]), &y = V(c, n.output);
        if (s.kind == S_CONV) {
            const kiln_value &w = V(c, n.inputs[1]);
            const int KH = (int)w.dims[0], KW = (int)w.dims[1], Cg = (int)w.dims[2], Cout = (int)w.dims[3];
            // KRSC (Cout, KH, KW, Cin/groups) from kiln's [KH, KW, Cin/groups, Cout].
            std::vector<float> t((size_t)KH * KW * Cg * Cout);
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++)
                    for (int ci = 0; ci < Cg; ci++)
                        for (int co = 0; co < Cout; co++)
                            t[(((size_t)co * KH + kh) * KW + kw) * Cg + ci] = w.data[(((size_t)kh * KW + kw) * Cg + ci) * Cout + co];
            if (upload(c, err, &s.w, t.data(), (int64_t)t.size(), !s.f32, n.name)) return 1;
            std::vector<float> zeros;
            const float *b = n.n_inputs > 2 ? V(c, n.inputs[2]).data : nullptr;
            if (!b) zeros.assign((size_t)Cout, 0.0f), b = zeros.data();
            if (upload(c, err, (void **)&s.bias, b, Cout, false, n.name)) return 1;
            if (upload(c, err, &s.biasT, b, Cout, !s.f32, n.name)) return 1;
            DNN(cudnnCreateTensorDescriptor(&s.xd), n.name);
            DNN(cudnnCreateTensorDescriptor(&s.yd), n.name);
            DNN(cudnnCreateTensorDescriptor(&s.bd), n.name);
            DNN(cudnnCreateFilterDescriptor(&s.wd), n.name);
            DNN(cudnnCreateConvolutionDescriptor(&s.cd), n.name);
            DNN(cudnnCreateActivationDescriptor(&s.ad), n.name);
            s.prepad = at.pads[0] != at.pads[2] || at.pads[1] != at.pads[3];
            s.pH = x.dims[1] + at.pads[0] + at.pads[2];
            s.pW = x.dims[2] + at.pads[1] + at.pads[3];
            if (s.prepad) scratch_need = std::max(scratch_need, align256((size_t)(s.pH * s.pW * x.dims[3]) * c.bmax * sesz(s)));
            const int ph = s.prepad ? 0 : at.pads[0], pw = s.prepad ? 0 : at.pads[1];
            DNN(cudnnSetFilter4dDescriptor(s.wd, dt(s), CUDNN_TENSOR_NHWC, Cout, Cg, KH, KW), n.name);
            DNN(cudnnSetConvolution2dDescriptor(s.cd, ph, pw, at.stride[0], at.stride[1], at.dilation[0], at.dilation[1],
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                n.name);
            if (at.groups > 1) DNN(cudnnSetConvolutionGroupCount(s.cd, at.groups), n.name);
            DNN(cudnnSetConvolutionMathType(s.cd, !s.f32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH), n.name);
            DNN(cudnnSetTensor4dDescriptor(s.bd, CUDNN_TENSOR_NHWC, dt(s), 1, Cout, 1, 1), n.name);
            DNN(cudnnSetActivationDescriptor(s.ad, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0), n.name);
            if (set_conv_descs(c, s, c.bmax, err)) return 1;
            int on, oc, oh, ow;
            DNN(cudnnGetConvolution2dForwardOutputDim(s.cd, s.xd, s.wd, &on, &oc, &oh, &ow), n.name);
            if (oh != y.dims[1] || ow != y.dims[2] || oc != y.dims[3])
                return err.fail("layer '%s': cuDNN computes a %dx%dx%d output, the graph says %lldx%lldx%lld", n.name, oh, ow,
                                oc, (long long)y.dims[1], (long long)y.dims[2], (long long)y.dims[3]);
            // cudnnConvolutionBiasActivationForward measured slower than conv + kiln's epilogue on H100 (legacy API):
            // opt-in only.
            s.fused = false; // a timed candidate (choose_algos)
            if (at.groups == 1) {
                const bool pw = KH == 1 && KW == 1 && at.stride[0] == 1 && at.stride[1] == 1 && !at.pads[0] && !at.pads[1] &&
                                !at.pads[2] && !at.pads[3];
                const int Kp = im2col_k(s, KH * KW * Cg); // FP16: K padded to a multiple of 8 (Tensor Cores)
                const size_t col = (size_t)y.dims[1] * y.dims[2] * Kp * c.bmax * sesz(s);
                s.gemm_ok = pw;
                s.im2col_ok = !pw && col <= ((size_t)1 << 30);
                if (s.im2col_ok) scratch_need = std::max(scratch_need, align256(col));
                if (pw || s.im2col_ok) {
                    std::vector<float> wp(w.data, w.data + (size_t)KH * KW * Cg * Cout);
                    if (s.im2col_ok) wp.resize((size_t)Kp * Cout, 0.0f); // zero weight rows for the zero columns
                    if (upload(c, err, &s.wg, wp.data(), (int64_t)wp.size(), !s.f32, n.name)) return 1;
                }
                // kiln's direct kernels / cuDNN graph plans (conv_ext.cuh): candidates timed by choose_ext.
                if (!c.ext) c.ext = kc::conv_ext_ctx_new(c.dnn);
                const kc::ConvGeom eg = {(int)x.dims[1], (int)x.dims[2], Cg, (int)y.dims[1], (int)y.dims[2], Cout, KH, KW,
                                         at.stride[0], at.stride[1], at.dilation[0], at.dilation[1], at.pads[0], at.pads[1],
                                         at.pads[2], at.pads[3]};
                s.ext = kc::conv_ext_new(c.ext, eg, !s.f32, w.data, b, s.w, s.biasT, s.bias, s.act, s.residual >= 0);
            }
        } else if (s.kind == S_DEPTHWISE || s.kind == S_DENSE) {
            const kiln_value &w = V(c, n.inputs[1]);
            const int64_t Cout = w.dims[w.rank - 1];
            if (upload(c, err, &s.w, w.data, numel1(&w), s.kind == S_DENSE && !s.f32, n.name)) return 1;
            if (n.n_inputs > 2 && upload(c, err, (void **)&s.bias, V(c, n.inputs[2]).data, Cout, false, n.name)) return 1;
            s.tactic = 1;
        } else if (s.kind == S_BN) {
            const int64_t C = x.dims[x.rank - 1];
            std::vector<float> sc((size_t)C), sh((size_t)C);
            const float *gm = V(c, n.inputs[1]).data, *bt = V(c, n.inputs[2]).data, *mn = V(c, n.inputs[3]).data,
                        *vr = V(c, n.inputs[4]).data;
            // The reference computes (x - mean) / sqrt(var + eps) * gamma + beta; the folded form differs by rounding only.
            for (int64_t i = 0; i < C; i++) {
                sc[(size_t)i] = gm[i] / sqrtf(vr[i] + at.eps);
                sh[(size_t)i] = bt[i] - mn[i] * sc[(size_t)i];
            }
            if (upload(c, err, (void **)&s.scale, sc.data(), C, false, n.name)) return 1;
            if (upload(c, err, (void **)&s.shift, sh.data(), C, false, n.name)) return 1;
        } else if (s.kind == S_BINARY) {
            for (int k = 0; k < 2; k++)
                if (is_const(c, n.inputs[k]))
                    if (upload(c, err, &s.cin[k], V(c, n.inputs[k]).data, numel1(&V(c, n.inputs[k])), false, n.name)) return 1;
        } else if (s.kind == S_SE) {
            for (int k = 0; k < 4; k++)
                if (upload(c, err, (void **)&s.se[k], V(c, n.inputs[k + 1]).data, numel1(&V(c, n.inputs[k + 1])), false, n.name))
                    return 1;
            const kiln_value &w1 = V(c, n.inputs[1]);
            const int64_t C = x.dims[3], Cr = w1.dims[w1.rank - 1];
            scratch_need = std::max(scratch_need, (size_t)(sizeof(float) * c.bmax * (2 * C + Cr) + 1024));
        }
        if (s.kind != S_CONV && s.kind != S_DEPTHWISE && s.kind != S_DENSE) s.tactic = 1;
        (void)y;
    }
    return 0;
}

// Tactics of cuDNN-eligible convolutions beyond cuDNN's own algorithms (1 + algo).
const int T_GEMM = 100, T_IM2COL = 101, T_FUSED = 201; // T_FUSED + algo: cudnnConvolutionBiasActivationForward
int time_step(Ctx &c, int i, int N, double *ms, Err &err);

// kiln's direct kernels and cuDNN graph plans (conv_ext.cuh: tactics 300+, 400+, 450+), timed at batch_max against
// the layer's choice so far (the whole layer each time, epilogue included); KILN_CUDA_CONV=direct|graph takes that
// family wherever it can run the layer. A candidate that fails to run or to be captured is dropped.
int choose_ext(Ctx &c, const std::vector<char> &found, Err &err)
{
    const char *force = getenv("KILN_CUDA_CONV");
    const bool only = force && (!strcmp(force, "direct") || !strcmp(force, "graph"));
    if ((force && !only) || (getenv("KILN_CUDA_EXT") && !strcmp(getenv("KILN_CUDA_EXT"), "0"))) return 0;
    for (size_t i = 0; i < c.steps.size(); i++) {
        Step &s = c.steps[i];
        if (s.kind != S_CONV || !found[i] || !s.ext) continue;
        int tac[64];
        double ms[64];
        const int nt = kc::conv_ext_candidates(s.ext, force, c.bmax, tac, 64);
        if (!nt) continue;
        const kiln_node &n = c.g->nodes[s.node];
        const void *x = s.f32 ? (const void *)in_ptr<float>(c, n.inputs[0]) : (const void *)in_ptr<__half>(c, n.inputs[0]);
        const void *z = s.residual < 0 ? nullptr
                        : s.f32        ? (const void *)in_ptr<float>(c, s.residual)
                                       : (const void *)in_ptr<__half>(c, s.residual);
        double base = 1e30;
        if (!only && time_step(c, (int)i, c.bmax, &base, err)) return 1;
        double best = base;
        int pick = 0;
        for (int k = 0; k < nt; k++) {
            ms[k] = -1.0;
            if (!kc::conv_ext_set(s.ext, tac[k], c.bmax) || !kc::conv_ext_probe(s.ext, x, c.vptr[s.out], z, c.bmax, c.stream))
                continue;
            if (time_step(c, (int)i, c.bmax, &ms[k], err)) return 1;
            if (ms[k] < best) best = ms[k], pick = tac[k];
        }
        kc::conv_ext_log(s.ext, n.name, tac, ms, nt, pick, base, s.tactic);
        kc::conv_ext_set(s.ext, pick, c.bmax);
        if (pick) s.tactic = pick, s.gemm = 0, s.fused = false, s.timed_ms = (float)best;
    }
    return 0;
}

// cuDNN algorithm per convolution: the engine's tactic when valid, else the fastest of cudnnFind on this GPU.
int choose_algos(Ctx &c, Err &err)
{
    size_t cap = (size_t)1 << 30;
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess) cap = std::min(cap, fr / 4);
    void *tmp_ws = nullptr;
    bool need_find = false;
    for (Step &s : c.steps) need_find |= s.kind == S_CONV && s.tactic <= 0;
    if (need_find) CU(cudaMalloc(&tmp_ws, cap), "cuDNN algorithm search workspace");
    size_t ws_max = 0;
    int rc = 0;
    std::vector<char> found(c.steps.size(), 0);
    for (Step &s : c.steps) {
        if (s.kind != S_CONV) continue;
        const kiln_node &n = c.g->nodes[s.node];
        if (s.tactic >= kc::T_DIRECT && s.tactic < kc::T_EXT_END) { // kiln's direct kernel / a cuDNN graph plan
            if (kc::conv_ext_set(s.ext, s.tactic, c.bmax)) continue;
            s.tactic = 0; // not possible here (a stale timing cache): choose anew
            if (!tmp_ws && cudaMalloc(&tmp_ws, cap) != cudaSuccess) { rc = err.fail("cuDNN algorithm search workspace"); break; }
        }
        if ((s.tactic == T_GEMM && s.gemm_ok) || (s.tactic == T_IM2COL && s.im2col_ok)) {
            s.gemm = s.tactic == T_GEMM ? 1 : 2;
            continue;
        }
        if (s.tactic == T_GEMM || s.tactic == T_IM2COL) { // not possible for this layer (a stale timing cache): choose anew
            s.tactic = 0;
            if (!tmp_ws && cudaMalloc(&tmp_ws, cap) != cudaSuccess) { rc = err.fail("cuDNN algorithm search workspace"); break; }
        }
        if (s.tactic >= T_FUSED && s.tactic < T_FUSED + CUDNN_CONVOLUTION_FWD_ALGO_COUNT) s.fused = true, s.tactic -= T_FUSED - 1;
        else s.fused = false;
        if (s.fused && !is_plain_relu(s.act)) s.fused = false; // cuDNN's fused form applies ReLU: not this layer's act
        if (s.tactic > 0 && s.tactic <= CUDNN_CONVOLUTION_FWD_ALGO_COUNT) {
            s.algo = (cudnnConvolutionFwdAlgo_t)(s.tactic - 1);
            if (s.fused) s.tactic += T_FUSED - 1;
            if (cudnnGetConvolutionForwardWorkspaceSize(c.dnn, s.xd, s.wd, s.cd, s.yd, s.algo, &s.ws) == CUDNN_STATUS_SUCCESS) {
                ws_max = std::max(ws_max, s.ws);
                continue;
            }
            s.tactic = 0;
            if (!tmp_ws && cudaMalloc(&tmp_ws, cap) != cudaSuccess) { rc = err.fail("cuDNN algorithm search workspace"); break; }
        }
        // The input in this layer's type (an FP32 layer of an FP16 engine reads the cast copy).
        void *xin = s.f32 ? (void *)in_ptr<float>(c, n.inputs[0]) : (void *)in_ptr<__half>(c, n.inputs[0]);
        void *x = s.prepad ? c.scratch : xin;
        if (!x) x = xin;
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int got = 0;
        cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithmEx(c.dnn, s.xd, x, s.wd, s.w, s.cd, s.yd, c.vptr[s.out],
                                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf, tmp_ws, cap);
        if (st != CUDNN_STATUS_SUCCESS) { rc = err.fail("layer '%s': cudnnFind: %s", n.name, cudnnGetErrorString(st)); break; }
        int pick = -1;
        for (int i = 0; i < got && pick < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cap &&
                (!s.f32 || perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
                pick = i;
        if (pick < 0) { rc = err.fail("layer '%s': cuDNN has no algorithm for this convolution", n.name); break; }
        s.algo = perf[pick].algo;
        s.ws = perf[pick].memory;
        s.tactic = 1 + (int)s.algo;
        s.timed_ms = perf[pick].time;
        found[&s - &c.steps[0]] = 1;
        ws_max = std::max(ws_max, s.ws);
    }
    if (tmp_ws) cudaFree(tmp_ws);
    if (rc) return rc;
    c.ws_bytes = ws_max;
    if (dev_alloc(c, err, &c.ws, ws_max, "the cuDNN workspace")) return 1;
    // Layers still to choose (tactic from cudnnFind, not from the engine): time cuDNN's pick against the GEMM tactics
    // on this GPU at batch_max, the whole layer each time (epilogue included), and keep the fastest.
    const char *force = getenv("KILN_CUDA_CONV"); // "cudnn" or "gemm": restrict the candidates (tests, diagnosis)
    for (size_t i = 0; i < c.steps.size(); i++) {
        Step &s = c.steps[i];
        if (s.kind != S_CONV || !found[i]) continue;
        const bool can_fuse = is_plain_relu(s.act) && !(force && !strcmp(force, "unfused"));
        const bool can_gemm = (s.gemm_ok || s.im2col_ok) && !(force && !strcmp(force, "cudnn"));
        const int cand = s.gemm_ok ? 1 : 2;
        if (force && !strcmp(force, "gemm") && can_gemm) {
            s.gemm = cand, s.tactic = cand == 1 ? T_GEMM : T_IM2COL, s.fused = false;
            continue;
        }
        if (force && !strcmp(force, "fused")) {
            if (can_fuse) s.fused = true, s.tactic = T_FUSED + (int)s.algo;
            continue;
        }
        if (!can_fuse && !can_gemm) continue;
        double t_dnn = 0, t_fused = 1e30, t_gemm = 1e30;
        s.fused = false;
        if (time_step(c, (int)i, c.bmax, &t_dnn, err)) return 1;
        if (can_fuse) {
            s.fused = true;
            if (time_step(c, (int)i, c.bmax, &t_fused, err)) return 1;
            if (!s.fused) t_fused = 1e30; // cuDNN refused the fused form
            s.fused = false;
        }
        if (can_gemm) {
            s.gemm = cand;
            if (time_step(c, (int)i, c.bmax, &t_gemm, err)) return 1;
            s.gemm = 0;
        }
        if (t_gemm < t_dnn && t_gemm < t_fused) s.gemm = cand, s.tactic = cand == 1 ? T_GEMM : T_IM2COL;
        else if (t_fused < t_dnn) s.fused = true, s.tactic = T_FUSED + (int)s.algo;
        s.timed_ms = (float)std::min(t_dnn, std::min(t_fused, t_gemm));
    }
    return choose_ext(c, found, err);
}

// ---- one run's work, enqueued on c.stream (captured into a CUDA graph) --------------------------------------------
// A cuDNN convolution with the step's algorithm, else (this batch size has no such kernel, or needs more workspace)
// the fastest algorithm cuDNN's heuristics give that fits the workspace.
int conv_forward(Ctx &c, Step &s, const void *x, void *y, Err &err, const char *name)
{
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t r = cudnnConvolutionForward(c.dnn, &one, s.xd, x, s.wd, s.w, s.cd, s.algo, c.ws, s.ws, &zero, s.yd, y);
    if (r == CUDNN_STATUS_SUCCESS) return 0;
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    DNN(cudnnGetConvolutionForwardAlgorithm_v7(c.dnn, s.xd, s.wd, s.cd, s.yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf),
        name);
    for (int i = 0; i < got; i++) {
        size_t ws = 0;
        if (perf[i].status != CUDNN_STATUS_SUCCESS ||
            cudnnGetConvolutionForwardWorkspaceSize(c.dnn, s.xd, s.wd, s.cd, s.yd, perf[i].algo, &ws) != CUDNN_STATUS_SUCCESS ||
            ws > c.ws_bytes)
            continue;
        if (cudnnConvolutionForward(c.dnn, &one, s.xd, x, s.wd, s.w, s.cd, perf[i].algo, c.ws, ws, &zero, s.yd, y) ==
            CUDNN_STATUS_SUCCESS)
            return 0;
    }
    return err.fail("%s: cuDNN %s (algorithm %d, workspace %zu) and no other algorithm fits", name, cudnnGetErrorString(r),
                    (int)s.algo, s.ws);
}

template <class T>
int enqueue_steps_t(Ctx &c, int N, Err &err, int from, int to)
{
    const kiln_graph *g = c.g;
    cudaStream_t st = c.stream;
    const float one = 1.0f, zero = 0.0f;
    if (to < 0) to = (int)c.steps.size();
    for (int si = from; si < to; si++) {
        Step &s = c.steps[si];
        if (s.kind == S_SKIP) continue;
        const kiln_node &n = g->nodes[s.node];
        const kiln_attrs &at = n.attrs;
        const kiln_value &xv = V(c, n.inputs[0]), &yv = V(c, n.output);
        const T *x = in_ptr<T>(c, n.inputs[0]);
        T *y = (T *)c.vptr[s.out];
        int64_t xd[6], od[6];
        for (int d = 0; d < xv.rank; d++) xd[d] = xv.dims[d];
        for (int d = 0; d < yv.rank; d++) od[d] = yv.dims[d];
        if (xv.kind != KILN_VALUE_CONSTANT) xd[0] = N;
        od[0] = N;
        const int64_t ny = prod(od, 0, yv.rank);
        switch (s.kind) {
        case S_CONV: {
            const void *xin = x;
            const T *z = s.residual >= 0 ? in_ptr<T>(c, s.residual) : nullptr;
            if (kc::conv_ext_active(s.ext)) { // kiln's direct kernel / a cuDNN graph plan (conv_ext.cuh)
                char e[256] = "";
                const int r = kc::conv_ext_run(s.ext, x, y, z, N, st, e, sizeof e);
                if (r == 1) return err.fail("layer '%s': %s", n.name, e);
                if (r == 0) break; // 2: no graph plan for this batch size: the cuDNN path below
            }
            if (s.gemm) {
                const kiln_value &w = V(c, n.inputs[1]);
                const int K0 = (int)(w.dims[0] * w.dims[1] * w.dims[2]), Cout = (int)w.dims[3], M = (int)(ny / Cout);
                const int K = s.gemm == 2 ? im2col_k(s, K0) : K0;
                const void *A = x;
                if (s.gemm == 2) {
                    kc::im2col_ld<T>(x, (T *)c.scratch, N, (int)xv.dims[1], (int)xv.dims[2], (int)xv.dims[3], (int)yv.dims[1],
                                     (int)yv.dims[2], at.kernel[0], at.kernel[1], at.stride[0], at.stride[1], at.dilation[0],
                                     at.dilation[1], at.pads[0], at.pads[1], K, st);
                    A = c.scratch;
                }
                const cudaDataType_t ty = sizeof(T) == 2 ? CUDA_R_16F : CUDA_R_32F;
                BLAS(cublasGemmEx(c.blas, CUBLAS_OP_N, CUBLAS_OP_N, Cout, M, K, &one, s.wg, ty, Cout, A, ty, K, &zero, y, ty,
                                  Cout, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     n.name);
                kc::epilogue<T>(y, s.bias, z, ny, od[3], s.act, st);
                break;
            }
            if (s.prepad) {
                Dims6 a = {{N, xv.dims[1], xv.dims[2], xv.dims[3], 1, 1}}, b = {{N, s.pH, s.pW, xv.dims[3], 1, 1}},
                      p = {{0, at.pads[0], at.pads[1], 0, 0, 0}};
                kc::pad<T>(x, (T *)c.scratch, 4, a, b, p, 0.0f, act_none(), st);
                xin = c.scratch;
            }
            if (set_conv_descs(c, s, N, err)) return 1;
            bool done = false;
            if (s.fused) {
                const float a2 = z ? 1.0f : 0.0f;
                cudnnStatus_t r = cudnnConvolutionBiasActivationForward(c.dnn, &one, s.xd, xin, s.wd, s.w, s.cd, s.algo, c.ws,
                                                                        s.ws, &a2, s.yd, z ? (const void *)z : (const void *)y,
                                                                        s.bd, s.biasT, s.ad, s.yd, y);
                if (r == CUDNN_STATUS_SUCCESS) done = true;
                else s.fused = false; // this algorithm/config has no fused form: plain conv + kiln's epilogue from now on
            }
            if (!done) {
                if (conv_forward(c, s, xin, y, err, n.name)) return 1;
                kc::epilogue<T>(y, s.bias, z, ny, od[3], s.act, st);
            }
            break;
        }
        case S_DEPTHWISE: {
            const bool res = s.residual >= 0; // a residual is added before the activation, by the epilogue
            kc::depthwise<T>(x, (const float *)s.w, s.bias, y, N, (int)xv.dims[1], (int)xv.dims[2], (int)xv.dims[3],
                             (int)yv.dims[1], (int)yv.dims[2], (int)yv.dims[3], at.kernel[0], at.kernel[1], at.stride[0],
                             at.stride[1], at.dilation[0], at.dilation[1], at.pads[0], at.pads[1], res ? act_none() : s.act,
                             st);
            if (res) kc::epilogue<T>(y, nullptr, in_ptr<T>(c, s.residual), ny, od[3], s.act, st);
            break;
        }
        case S_DENSE: {
            const kiln_value &w = V(c, n.inputs[1]);
            const int K = (int)w.dims[0], Cout = (int)w.dims[1];
            const int M = (int)(ny / Cout);
            const cudaDataType_t ty = sizeof(T) == 2 ? CUDA_R_16F : CUDA_R_32F;
            BLAS(cublasGemmEx(c.blas, CUBLAS_OP_N, CUBLAS_OP_N, Cout, M, K, &one, s.w, ty, Cout, x, ty, K, &zero, y, ty, Cout,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 n.name);
            kc::epilogue<T>(y, s.bias, nullptr, ny, Cout, s.act, st);
            break;
        }
        case S_BN: kc::scale_shift<T>(x, y, s.scale, s.shift, ny, od[yv.rank - 1], s.act, st); break;
        case S_ACT: kc::apply_act<T>(x, y, ny, s.act, st); break;
        case S_SOFTMAX: {
            const int ax = at.axis;
            const int64_t outer = prod(od, 0, ax), len = od[ax], inner = prod(od, ax + 1, yv.rank);
            if (c.vf32[s.out]) kc::softmax<T, float>(x, (float *)c.vptr[s.out], outer, len, inner, s.act, st);
            else kc::softmax<T, T>(x, y, outer, len, inner, s.act, st);
            break;
        }
        case S_POOL:
            kc::pool2d<T>(x, y, N, (int)xv.dims[1], (int)xv.dims[2], (int)xv.dims[3], (int)yv.dims[1], (int)yv.dims[2],
                          at.kernel[0], at.kernel[1], at.stride[0], at.stride[1], at.pads[0], at.pads[1],
                          n.op == KILN_OP_MAXPOOL, at.count_include_pad, s.act, st);
            break;
        case S_GPOOL:
            kc::global_pool<T>(x, y, N, (int)(xv.dims[1] * xv.dims[2]), (int)xv.dims[3], n.op == KILN_OP_GLOBAL_MAXPOOL, s.act,
                               st);
            break;
        case S_PAD: {
            Dims6 a, b, p;
            for (int d = 0; d < 6; d++) {
                a.d[d] = d < xv.rank ? xd[d] : 1;
                b.d[d] = d < yv.rank ? od[d] : 1;
                p.d[d] = d < xv.rank ? at.pads_begin[d] : 0;
            }
            kc::pad<T>(x, y, xv.rank, a, b, p, at.pad_value, s.act, st);
            break;
        }
        case S_CONCAT: {
            const int ax = at.axis;
            const int64_t outer = prod(od, 0, ax), inner = prod(od, ax + 1, yv.rank), row = od[ax] * inner;
            int64_t off = 0;
            for (int k = 0; k < n.n_inputs; k++) {
                const int64_t block = V(c, n.inputs[k]).dims[ax] * inner;
                kc::concat_part<T>(in_ptr<T>(c, n.inputs[k]), y, outer, block, row, off, st);
                off += block;
            }
            if (s.act.kind != KILN_ACT_NONE) kc::apply_act<T>(y, y, ny, s.act, st);
            break;
        }
        case S_BINARY: {
            const int r = yv.rank;
            Dims6 o, sa, sb;
            for (int d = 0; d < 6; d++) o.d[d] = d < r ? od[d] : 1, sa.d[d] = sb.d[d] = 0;
            for (int k = 0; k < 2; k++) {
                const kiln_value &v = V(c, n.inputs[k]);
                int64_t vd[6];
                for (int d = 0; d < v.rank; d++) vd[d] = v.dims[d];
                if (v.kind != KILN_VALUE_CONSTANT) vd[0] = N;
                int64_t stride = 1;
                for (int d = v.rank - 1; d >= 0; d--) {
                    const int od_i = r - v.rank + d;
                    (k ? sb : sa).d[od_i] = vd[d] == 1 && od[od_i] != 1 ? 0 : stride;
                    stride *= vd[d];
                }
            }
            const bool ca = s.cin[0] != nullptr, cb = s.cin[1] != nullptr;
            if (!ca && !cb) kc::binary<T, T, T>(n.op, x, in_ptr<T>(c, n.inputs[1]), y, r, o, sa, sb, ny, s.act, st);
            else if (cb) kc::binary<T, float, T>(n.op, x, (const float *)s.cin[1], y, r, o, sa, sb, ny, s.act, st);
            else kc::binary<float, T, T>(n.op, (const float *)s.cin[0], in_ptr<T>(c, n.inputs[1]), y, r, o, sa, sb, ny,
                                         s.act, st);
            break;
        }
        case S_COPY:
            if ((const void *)x != (const void *)y)
                CU(cudaMemcpyAsync(y, x, (size_t)ny * sizeof(T), cudaMemcpyDeviceToDevice, st), n.name);
            if (s.act.kind != KILN_ACT_NONE) kc::apply_act<T>(y, y, ny, s.act, st);
            break;
        case S_TRANSPOSE: {
            int64_t xs[6];
            int64_t stv = 1;
            for (int d = xv.rank - 1; d >= 0; d--) xs[d] = stv, stv *= xd[d];
            Dims6 o, step;
            for (int d = 0; d < 6; d++) o.d[d] = d < yv.rank ? od[d] : 1, step.d[d] = d < yv.rank ? xs[at.perm[d]] : 0;
            kc::transpose<T>(x, y, yv.rank, o, step, ny, s.act, st);
            break;
        }
        case S_SLICE: {
            const int ax = at.axis;
            const int64_t Cx = xv.dims[ax], Cy = yv.dims[ax];
            kc::slice_last<T>(x, y, ny / Cy, Cx, Cy, at.pads_begin[ax], s.act, st);
            break;
        }
        case S_SE: {
            const kiln_value &w1 = V(c, n.inputs[1]);
            const int C = (int)xv.dims[3], Cr = (int)w1.dims[w1.rank - 1];
            float *sb = (float *)c.scratch, *hb = sb + (size_t)N * C, *gb = hb + (size_t)N * Cr;
            kc::squeeze_excite<T>(x, y, s.se[0], s.se[1], s.se[2], s.se[3], sb, hb, gb, N, (int)(xv.dims[1] * xv.dims[2]), C, Cr,
                                  at.act, at.act2, st);
            break;
        }
        case S_SKIP: break;
        }
    }
    return 0;
}

// Steps from..to-1, each in its own precision; a value read by layers of the other precision is cast right after it
// is written.
int enqueue_steps(Ctx &c, int N, Err &err, int from = 0, int to = -1)
{
    if (to < 0) to = (int)c.steps.size();
    for (int si = from; si < to; si++) {
        Step &s = c.steps[si];
        if (s.kind == S_SKIP) continue;
        const int rc = s.f32 ? enqueue_steps_t<float>(c, N, err, si, si + 1) : enqueue_steps_t<__half>(c, N, err, si, si + 1);
        if (rc) return rc;
        refresh_cast(c, s.out, N);
    }
    return 0;
}

// Graph inputs: staged float32 -> the input values (FP16 engines: cast, unless the input is stored as float) and their
// cast copies.
void enqueue_inputs(Ctx &c, int N)
{
    const kiln_graph *g = c.g;
    for (int i = 0; i < g->n_inputs; i++) {
        const int v = g->inputs[i];
        if (c.fp16 && !c.vf32[v]) kc::cast<float, __half>(c.in_stage[i], (__half *)c.vptr[v], numel1(&V(c, v)) * N, c.stream);
        refresh_cast(c, v, N);
    }
}

// Outputs: values -> float32 staging (FP16 engines).
int enqueue_outputs(Ctx &c, int N, Err &err)
{
    const kiln_graph *g = c.g;
    if (c.fp16)
        for (int i = 0; i < g->n_outputs; i++) {
            const int v = g->outputs[i];
            if (c.vf32[v]) {
                if ((void *)c.out_stage[i] != c.vptr[v])
                    CU(cudaMemcpyAsync(c.out_stage[i], c.vptr[v], sizeof(float) * numel1(&V(c, v)) * N, cudaMemcpyDeviceToDevice,
                                       c.stream), "output copy");
            } else {
                kc::cast<__half, float>((const __half *)c.vptr[v], c.out_stage[i], numel1(&V(c, v)) * N, c.stream);
            }
        }
    CU(cudaGetLastError(), "kernel launch");
    return 0;
}

int enqueue(Ctx &c, int N, Err &err)
{
    enqueue_inputs(c, N);
    if (enqueue_steps(c, N, err)) return 1;
    return enqueue_outputs(c, N, err);
}

// GPU time of step i alone at batch N (median-free: mean of 10 after 3 warm-ups).
int time_step(Ctx &c, int i, int N, double *ms, Err &err)
{
    auto one = [&]() { return enqueue_steps(c, N, err, i, i + 1); };
    for (int r = 0; r < 3; r++)
        if (one()) return 1;
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    cudaEventRecord(a, c.stream);
    for (int r = 0; r < 10; r++)
        if (one()) return 1;
    cudaEventRecord(b, c.stream);
    CU(cudaEventSynchronize(b), "tactic timing");
    float m = 0;
    cudaEventElapsedTime(&m, a, b);
    cudaEventDestroy(a), cudaEventDestroy(b);
    *ms = m / 10.0;
    return 0;
}

int capture(Ctx &c, int N, Err &err)
{
    if (c.no_graph || c.graphs[N]) return 0;
    cudaGraph_t graph = nullptr;
    CU(cudaStreamBeginCapture(c.stream, cudaStreamCaptureModeThreadLocal), "CUDA graph capture");
    int rc = enqueue(c, N, err);
    cudaError_t e = cudaStreamEndCapture(c.stream, &graph);
    if (rc) {
        if (graph) cudaGraphDestroy(graph);
        return rc;
    }
    if (e != cudaSuccess) return err.fail("CUDA graph capture: %s", cudaGetErrorString(e));
    e = cudaGraphInstantiate(&c.graphs[N], graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) return err.fail("CUDA graph instantiate: %s", cudaGetErrorString(e));
    return 0;
}

// Launch the compute of one run (the captured graph, or layer by layer).
int launch(Ctx &c, int N, Err &err)
{
    if (c.no_graph) return enqueue(c, N, err);
    if (!c.graphs[N] && capture(c, N, err)) return 1;
    CU(cudaGraphLaunch(c.graphs[N], c.stream), "CUDA graph launch");
    return 0;
}

int h2d(Ctx &c, const float *const *inputs, int N, Err &err)
{
    const kiln_graph *g = c.g;
    for (int i = 0; i < g->n_inputs; i++) {
        const size_t bytes = sizeof(float) * (size_t)numel1(&V(c, g->inputs[i])) * N;
        if (inputs) memcpy(c.in_host[i], inputs[i], bytes);
        void *dst = c.fp16 && !c.vf32[g->inputs[i]] ? (void *)c.in_stage[i] : c.vptr[g->inputs[i]];
        CU(cudaMemcpyAsync(dst, c.in_host[i], bytes, cudaMemcpyHostToDevice, c.stream), "input copy");
    }
    return 0;
}

int d2h(Ctx &c, int N, Err &err)
{
    const kiln_graph *g = c.g;
    for (int i = 0; i < g->n_outputs; i++) {
        const size_t bytes = sizeof(float) * (size_t)numel1(&V(c, g->outputs[i])) * N;
        const void *src = c.fp16 ? (const void *)c.out_stage[i] : c.vptr[g->outputs[i]];
        CU(cudaMemcpyAsync(c.out_host[i], src, bytes, cudaMemcpyDeviceToHost, c.stream), "output copy");
    }
    return 0;
}

void destroy(Ctx *c)
{
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    for (auto &gexec : c->graphs)
        if (gexec) cudaGraphExecDestroy(gexec);
    for (Step &s : c->steps) {
        if (s.xd) cudnnDestroyTensorDescriptor(s.xd);
        if (s.yd) cudnnDestroyTensorDescriptor(s.yd);
        if (s.bd) cudnnDestroyTensorDescriptor(s.bd);
        if (s.wd) cudnnDestroyFilterDescriptor(s.wd);
        if (s.cd) cudnnDestroyConvolutionDescriptor(s.cd);
        if (s.ad) cudnnDestroyActivationDescriptor(s.ad);
        kc::conv_ext_free(s.ext);
    }
    kc::conv_ext_ctx_free(c->ext);
    for (cudaEvent_t ev : c->tev)
        if (ev) cudaEventDestroy(ev);
    for (cudaEvent_t ev : c->lev)
        if (ev) cudaEventDestroy(ev);
    for (void *p : c->allocs) cudaFree(p);
    for (void *p : c->pinned) cudaFreeHost(p);
    if (c->blas) cublasDestroy(c->blas);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->stream) cudaStreamDestroy(c->stream);
    delete c;
}

int create(const kiln_graph *g, int fp16, const uint8_t *layer_fp32, int bmin, int bmax, const int32_t *tactic, Ctx **out,
           Err &err)
{
    *out = nullptr;
    if (check_graph(g, err)) return 1;
    Ctx *c = new Ctx();
    c->g = g;
    c->fp16 = fp16;
    c->bmin = bmin;
    c->bmax = bmax;
    c->esz = fp16 ? 2 : 4;
    c->no_graph = getenv("KILN_CUDA_NO_GRAPH") && atoi(getenv("KILN_CUDA_NO_GRAPH"));
    int rc = [&]() -> int {
        CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "stream");
        DNN(cudnnCreate(&c->dnn), "cuDNN handle");
        DNN(cudnnSetStream(c->dnn, c->stream), "cuDNN stream");
        BLAS(cublasCreate(&c->blas), "cuBLAS handle");
        BLAS(cublasSetStream(c->blas, c->stream), "cuBLAS stream");
        const size_t blas_ws = (size_t)32 << 20;
        if (dev_alloc(*c, err, &c->blas_ws, blas_ws, "the cuBLAS workspace")) return 1;
        BLAS(cublasSetWorkspace(c->blas, c->blas_ws, blas_ws), "cuBLAS workspace");
        make_steps(*c);
        for (int i = 0; i < g->n_nodes; i++) c->steps[i].tactic = tactic ? tactic[i] : 0;
        assign_precision(*c, layer_fp32);
        if (plan_memory(*c, err)) return 1;
        size_t scratch = 0;
        if (setup_steps(*c, err, scratch)) return 1;
        c->scratch_bytes = scratch;
        if (dev_alloc(*c, err, &c->scratch, scratch, "the layer scratch")) return 1;
        if (choose_algos(*c, err)) return 1;
        c->in_stage.assign(g->n_inputs, nullptr);
        c->out_stage.assign(g->n_outputs, nullptr);
        c->in_host.assign(g->n_inputs, nullptr);
        c->out_host.assign(g->n_outputs, nullptr);
        for (int i = 0; i < g->n_inputs; i++) {
            const size_t bytes = sizeof(float) * (size_t)numel1(&V(*c, g->inputs[i])) * bmax;
            if (fp16 && dev_alloc(*c, err, (void **)&c->in_stage[i], bytes, "input staging")) return 1;
            CU(cudaMallocHost((void **)&c->in_host[i], bytes), "pinned input buffer");
            c->pinned.push_back(c->in_host[i]);
            memset(c->in_host[i], 0, bytes);
        }
        for (int i = 0; i < g->n_outputs; i++) {
            const int v = g->outputs[i];
            const size_t bytes = sizeof(float) * (size_t)numel1(&V(*c, v)) * bmax;
            if (fp16) {
                if (c->vf32[v]) {
                    // Stored as float32 (a final softmax, an FP32 layer): the output's own buffer is the staging.
                    c->out_stage[i] = (float *)c->vptr[v];
                } else if (dev_alloc(*c, err, (void **)&c->out_stage[i], bytes, "output staging")) {
                    return 1;
                }
            }
            CU(cudaMallocHost((void **)&c->out_host[i], bytes), "pinned output buffer");
            c->pinned.push_back(c->out_host[i]);
        }
        // Zero inputs once: the warm-up run below reads defined memory.
        for (int i = 0; i < g->n_inputs; i++) {
            const size_t bytes = vesz(*c, g->inputs[i]) * (size_t)numel1(&V(*c, g->inputs[i])) * bmax;
            CU(cudaMemset(c->vptr[g->inputs[i]], 0, bytes), "input clear");
            if (fp16) CU(cudaMemset(c->in_stage[i], 0, sizeof(float) * (size_t)numel1(&V(*c, g->inputs[i])) * bmax), "input clear");
        }
        c->graphs.assign((size_t)bmax + 1, nullptr);
        // Warm-up (loads every kernel, settles cuDNN's fused/unfused choice), then capture.
        if (enqueue(*c, bmax, err)) return 1;
        CU(cudaStreamSynchronize(c->stream), "warm-up run");
        if (capture(*c, bmax, err) || capture(*c, bmin, err)) return 1;
        CU(cudaStreamSynchronize(c->stream), "capture");
        return 0;
    }();
    if (rc) {
        destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

// ---- the exported table ----------------------------------------------------------------------------------------
int api_probe(int *sm, char *name, size_t name_cap, char *ebuf, size_t ecap)
{
    Err err{ebuf, ecap};
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return err.fail("no CUDA GPU is available (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "no device");
    int dev = 0;
    CU(cudaGetDevice(&dev), "device");
    cudaDeviceProp p;
    CU(cudaGetDeviceProperties(&p, dev), "device properties");
    *sm = p.major * 10 + p.minor;
    if (name && name_cap) snprintf(name, name_cap, "%s", p.name);
    if (p.major < 7) return err.fail("%s (sm_%d) is too old: kiln's CUDA backend needs sm_70 or newer", p.name, *sm);
    return 0;
}

int api_context_create(const kiln_graph *g, int fp16, const uint8_t *layer_fp32, int bmin, int bmax, const int32_t *tactic,
                       void **state, char *ebuf, size_t ecap)
{
    Err err{ebuf, ecap};
    Ctx *c = nullptr;
    if (create(g, fp16, layer_fp32, bmin, bmax, tactic, &c, err)) return 1;
    *state = c;
    return 0;
}

int api_choose_tactics(const kiln_graph *g, int fp16, const uint8_t *layer_fp32, int bmax, int32_t *tactic,
                       float *layer_ms, char *ebuf, size_t ecap)
{
    Err err{ebuf, ecap};
    Ctx *c = nullptr;
    // A context chooses every tactic not given (0) by timing (cudnnFind on the real buffers, then the GEMM and fused
    // candidates); the given ones (timing cache) are kept when valid. Keep its choices.
    if (create(g, fp16, layer_fp32, bmax, bmax, tactic, &c, err)) return 1;
    for (int i = 0; i < g->n_nodes; i++) {
        tactic[i] = c->steps[i].tactic;
        if (layer_ms) layer_ms[i] = c->steps[i].timed_ms;
    }
    destroy(c);
    return 0;
}

int api_context_run(void *state, const float *const *inputs, float *const *outputs, int N, char *ebuf, size_t ecap)
{
    Err err{ebuf, ecap};
    Ctx *c = (Ctx *)state;
    if (N < 1 || N > c->bmax) return err.fail("batch %d outside 1..%d", N, c->bmax);
    if (h2d(*c, inputs, N, err) || launch(*c, N, err) || d2h(*c, N, err)) return 1;
    CU(cudaStreamSynchronize(c->stream), "run");
    for (int i = 0; i < c->g->n_outputs; i++)
        memcpy(outputs[i], c->out_host[i], sizeof(float) * (size_t)numel1(&V(*c, c->g->outputs[i])) * N);
    return 0;
}

// One run with trtexec's split: events around H2D, the graph launch and D2H on c->stream; the host clock around the
// enqueue (staging memcpy of the inputs + the three launches, before waiting).
int api_context_run_timed(void *state, const float *const *inputs, float *const *outputs, int N, float ms[4], char *ebuf,
                          size_t ecap)
{
    Err err{ebuf, ecap};
    Ctx *c = (Ctx *)state;
    if (N < 1 || N > c->bmax) return err.fail("batch %d outside 1..%d", N, c->bmax);
    for (cudaEvent_t &ev : c->tev)
        if (!ev) CU(cudaEventCreate(&ev), "timing event");
    if (!c->no_graph && !c->graphs[N] && capture(*c, N, err)) return 1; // first use of this batch: not timed
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CU(cudaEventRecord(c->tev[0], c->stream), "timing event");
    if (h2d(*c, inputs, N, err)) return 1;
    CU(cudaEventRecord(c->tev[1], c->stream), "timing event");
    if (launch(*c, N, err)) return 1;
    CU(cudaEventRecord(c->tev[2], c->stream), "timing event");
    if (d2h(*c, N, err)) return 1;
    CU(cudaEventRecord(c->tev[3], c->stream), "timing event");
    clock_gettime(CLOCK_MONOTONIC, &b);
    CU(cudaEventSynchronize(c->tev[3]), "run");
    for (int i = 0; i < 3; i++) CU(cudaEventElapsedTime(&ms[i], c->tev[i], c->tev[i + 1]), "timing event");
    ms[3] = (float)((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6);
    for (int i = 0; i < c->g->n_outputs; i++)
        memcpy(outputs[i], c->out_host[i], sizeof(float) * (size_t)numel1(&V(*c, c->g->outputs[i])) * N);
    return 0;
}

// One run layer by layer (no CUDA graph) with an event before every step: per-node GPU times for the layer profile.
int api_context_run_layers(void *state, const float *const *inputs, float *const *outputs, int N, float *layer_ms,
                           float ms[4], char *ebuf, size_t ecap)
{
    Err err{ebuf, ecap};
    Ctx *c = (Ctx *)state;
    if (N < 1 || N > c->bmax) return err.fail("batch %d outside 1..%d", N, c->bmax);
    const int ns = (int)c->steps.size();
    for (cudaEvent_t &ev : c->tev)
        if (!ev) CU(cudaEventCreate(&ev), "timing event");
    if (c->lev.empty()) { // created on the first profiled run and kept
        c->lev.assign((size_t)ns + 1, nullptr);
        for (cudaEvent_t &ev : c->lev) CU(cudaEventCreate(&ev), "layer timing event");
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CU(cudaEventRecord(c->tev[0], c->stream), "timing event");
    if (h2d(*c, inputs, N, err)) return 1;
    CU(cudaEventRecord(c->tev[1], c->stream), "timing event");
    enqueue_inputs(*c, N);
    for (int i = 0; i < ns; i++) {
        CU(cudaEventRecord(c->lev[i], c->stream), "layer timing event");
        if (enqueue_steps(*c, N, err, i, i + 1)) return 1;
    }
    CU(cudaEventRecord(c->lev[ns], c->stream), "layer timing event");
    if (enqueue_outputs(*c, N, err)) return 1;
    CU(cudaEventRecord(c->tev[2], c->stream), "timing event");
    if (d2h(*c, N, err)) return 1;
    CU(cudaEventRecord(c->tev[3], c->stream), "timing event");
    clock_gettime(CLOCK_MONOTONIC, &b);
    CU(cudaEventSynchronize(c->tev[3]), "run");
    for (int i = 0; i < 3; i++) CU(cudaEventElapsedTime(&ms[i], c->tev[i], c->tev[i + 1]), "timing event");
    ms[3] = (float)((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6);
    for (int i = 0; i < ns; i++) {
        float m = 0.0f;
        if (c->steps[i].kind != S_SKIP) CU(cudaEventElapsedTime(&m, c->lev[i], c->lev[i + 1]), "layer timing event");
        layer_ms[i] = m;
    }
    for (int i = 0; i < c->g->n_outputs; i++)
        memcpy(outputs[i], c->out_host[i], sizeof(float) * (size_t)numel1(&V(*c, c->g->outputs[i])) * N);
    return 0;
}

int api_context_bench(void *state, int N, int iters, kiln_cuda_timing *t, char *ebuf, size_t ecap)
{
    Err err{ebuf, ecap};
    Ctx *c = (Ctx *)state;
    if (N < 1 || N > c->bmax) return err.fail("batch %d outside 1..%d", N, c->bmax);
    if (iters < 1) iters = 1;
    cudaEvent_t e0, e1, e2, e3;
    cudaEventCreate(&e0), cudaEventCreate(&e1), cudaEventCreate(&e2), cudaEventCreate(&e3);
    for (int i = 0; i < 3; i++)
        if (launch(*c, N, err)) return 1;
    CU(cudaStreamSynchronize(c->stream), "warm-up");
    double h = 0, comp = 0, d = 0, enq = 0;
    // Compute alone: back-to-back graph launches (the GPU never waits for the host).
    cudaEventRecord(e1, c->stream);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < iters; i++)
        if (launch(*c, N, err)) return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    cudaEventRecord(e2, c->stream);
    CU(cudaEventSynchronize(e2), "bench");
    float ms = 0;
    cudaEventElapsedTime(&ms, e1, e2);
    comp = ms / iters;
    enq = ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6) / iters;
    // Copies, a few times each.
    const int reps = std::max(1, std::min(iters, 20));
    for (int i = 0; i < reps; i++) {
        cudaEventRecord(e0, c->stream);
        if (h2d(*c, nullptr, N, err)) return 1;
        cudaEventRecord(e1, c->stream);
        if (d2h(*c, N, err)) return 1;
        cudaEventRecord(e3, c->stream);
        CU(cudaEventSynchronize(e3), "bench copies");
        float m1 = 0, m2 = 0;
        cudaEventElapsedTime(&m1, e0, e1);
        cudaEventElapsedTime(&m2, e1, e3);
        h += m1, d += m2;
    }
    t->h2d_ms = h / reps;
    // KILN_CUDA_PROFILE=1: time every layer alone (no graph) and print the most expensive ones to stderr.
    if (getenv("KILN_CUDA_PROFILE")) {
        const int ns = (int)c->steps.size();
        std::vector<double> ms_of(ns, 0.0);
        std::vector<cudaEvent_t> ev(ns + 1);
        for (auto &e : ev) cudaEventCreate(&e);
        const int preps = 5;
        for (int r = 0; r < preps; r++) {
            for (int i = 0; i < ns; i++) {
                cudaEventRecord(ev[i], c->stream);
                int rc2 = enqueue_steps(*c, N, err, i, i + 1);
                if (rc2) return 1;
            }
            cudaEventRecord(ev[ns], c->stream);
            CU(cudaEventSynchronize(ev[ns]), "profile");
            for (int i = 0; i < ns; i++) {
                float m = 0;
                cudaEventElapsedTime(&m, ev[i], ev[i + 1]);
                ms_of[i] += m / preps;
            }
        }
        for (auto &e : ev) cudaEventDestroy(e);
        std::vector<int> order(ns);
        for (int i = 0; i < ns; i++) order[i] = i;
        std::sort(order.begin(), order.end(), [&](int x, int y) { return ms_of[x] > ms_of[y]; });
        double total = 0;
        for (double m : ms_of) total += m;
        static const char *kn[] = {"skip", "conv", "depthwise", "dense", "bn", "act", "softmax", "pool", "gpool", "pad",
                                   "concat", "binary", "copy", "transpose", "slice", "se"};
        double by_kind[16] = {0};
        for (int i = 0; i < ns; i++) by_kind[c->steps[i].kind] += ms_of[i];
        fprintf(stderr, "profile batch %d: layers alone sum to %.3f ms (graph: %.3f ms)\n", N, total, comp);
        for (int k = 0; k < 16; k++)
            if (by_kind[k] > 0) fprintf(stderr, "  %-10s %.3f ms\n", kn[k], by_kind[k]);
        for (int j = 0; j < ns && j < 12; j++) {
            const Step &s = c->steps[order[j]];
            const kiln_node &n = c->g->nodes[s.node];
            fprintf(stderr, "  %.4f ms  %-9s tactic %d  %s\n", ms_of[order[j]], kn[s.kind], s.tactic, n.name);
        }
    }
    t->d2h_ms = d / reps;
    t->compute_ms = comp;
    t->enqueue_ms = enq;
    cudaEventDestroy(e0), cudaEventDestroy(e1), cudaEventDestroy(e2), cudaEventDestroy(e3);
    return 0;
}

void api_context_free(void *state) { destroy((Ctx *)state); }

const kiln_cuda_backend_api table = {KILN_CUDA_ABI,      api_probe,         api_choose_tactics, api_context_create,
                                     api_context_run,    api_context_bench, api_context_free,
                                     api_context_run_timed, api_context_run_layers};

}  // namespace

extern "C" __attribute__((visibility("default"))) const kiln_cuda_backend_api *kiln_cuda_backend(void) { return &table; }
