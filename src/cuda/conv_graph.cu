// cuDNN graph API for one convolution (see conv_graph.cuh). This is the path PyTorch takes to cuDNN's runtime-fusion
// and newer precompiled kernels; the legacy cudnnConvolutionForward picks older, slower kernels at small batches.
//
// Tensors (NCHW dims, NHWC strides): x uid 1, w uid 2 ([Cout,Cin,KH,KW], strides of KRSC), bias uid 3 ([1,Cout,1,1]),
// residual uid 4, y uid 5; virtual FP32 intermediates uid 100+.
#include <chrono>
#include <cmath>
#include <vector>

#include "conv_graph.cuh"

namespace kc {

namespace {
enum { UID_X = 1, UID_W = 2, UID_B = 3, UID_Z = 4, UID_Y = 5, UID_C = 6, UID_V = 100 };
}

struct GraphSet {
    cudnnHandle_t h = nullptr;
    bool residual = false, fused = false, clip = false;
    std::vector<cudnnBackendDescriptor_t> own; // tensors, ops, the graph, the heuristics descriptor
    std::vector<cudnnBackendDescriptor_t> cfgs;
    std::vector<int64_t> engine;
    std::vector<char> rtc, tried;
    std::vector<cudnnBackendDescriptor_t> plans;
    std::vector<void *> ws;
};

namespace {

struct Builder {
    GraphSet *s;
    bool ok = true;
    cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t t)
    {
        cudnnBackendDescriptor_t d = nullptr;
        if (!ok || cudnnBackendCreateDescriptor(t, &d) != CUDNN_STATUS_SUCCESS) {
            ok = false;
            return nullptr;
        }
        s->own.push_back(d);
        return d;
    }
    void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t n,
             const void *v)
    {
        if (ok && cudnnBackendSetAttribute(d, a, t, n, v) != CUDNN_STATUS_SUCCESS) ok = false;
    }
    void fin(cudnnBackendDescriptor_t d)
    {
        if (ok && cudnnBackendFinalize(d) != CUDNN_STATUS_SUCCESS) ok = false;
    }
    // NHWC tensor with dims (n, c, h, w) as cuDNN wants them.
    cudnnBackendDescriptor_t tensor(int64_t uid, cudnnDataType_t dt, int64_t n, int64_t c, int64_t h, int64_t w, bool virt)
    {
        cudnnBackendDescriptor_t d = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
        const int64_t dims[4] = {n, c, h, w}, str[4] = {h * w * c, 1, w * c, c}, align = 16;
        set(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
        set(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
        set(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str);
        set(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
        set(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
        set(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt);
        fin(d);
        return d;
    }
    // y = mode(a [, b]) as a pointwise operation.
    cudnnBackendDescriptor_t pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b,
                                       cudnnBackendDescriptor_t y, const kiln_act *act)
    {
        cudnnBackendDescriptor_t pw = make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
        const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
        set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
        set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
        if (mode == CUDNN_POINTWISE_RELU_FWD && act) {
            // The upper bound (ReLU6) is a separate MIN against a tensor: runtime fusion took no engine for
            // RELU_FWD with an upper clip on the H100 (cuDNN 9).
            const float lo = 0.0f;
            set(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_FLOAT, 1, &lo);
        }
        if (mode == CUDNN_POINTWISE_SWISH_FWD) {
            const float beta = 1.0f;
            set(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
        }
        fin(pw);
        cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
        if (b) set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
        fin(op);
        return op;
    }
};

// The activation as a cuDNN pointwise mode; false when cuDNN has no exact equivalent of kiln's function.
bool act_mode(const kiln_act &a, cudnnPointwiseMode_t *m)
{
    switch (a.kind) {
    case KILN_ACT_RELU:
        if (a.gamma != 0.0f || a.alpha != 0.0f) return false; // thresholds and leaky slopes: kiln's epilogue
        *m = CUDNN_POINTWISE_RELU_FWD;
        return true;
    case KILN_ACT_SIGMOID: *m = CUDNN_POINTWISE_SIGMOID_FWD; return true;
    case KILN_ACT_SWISH: *m = CUDNN_POINTWISE_SWISH_FWD; return true;
    case KILN_ACT_TANH: *m = CUDNN_POINTWISE_TANH_FWD; return true;
    default: return false;
    }
}

}  // namespace

GraphSet *graph_set_new(cudnnHandle_t h, const GraphKey &k)
{
    const ConvGeom &g = k.g;
    cudnnPointwiseMode_t am = CUDNN_POINTWISE_IDENTITY;
    const bool has_act = k.fused && k.act.kind != KILN_ACT_NONE;
    if (has_act && !act_mode(k.act, &am)) return nullptr;
    GraphSet *s = new GraphSet();
    s->h = h;
    s->fused = k.fused;
    s->residual = k.fused && k.residual;
    s->clip = has_act && am == CUDNN_POINTWISE_RELU_FWD && std::isfinite(k.act.beta);
    Builder b{s};
    const cudnnDataType_t half = CUDNN_DATA_HALF, f32 = CUDNN_DATA_FLOAT;
    const int64_t N = k.N;
    cudnnBackendDescriptor_t x = b.tensor(UID_X, half, N, g.Cin, g.H, g.W, false);
    cudnnBackendDescriptor_t w = b.tensor(UID_W, half, g.Cout, g.Cin, g.KH, g.KW, false);
    cudnnBackendDescriptor_t y = b.tensor(UID_Y, half, N, g.Cout, g.OH, g.OW, false);
    // conv descriptor
    cudnnBackendDescriptor_t cd = b.make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    {
        const int64_t sd = 2, pre[2] = {g.PT, g.PL}, post[2] = {g.PB, g.PR}, dil[2] = {g.DH, g.DW}, str[2] = {g.SH, g.SW};
        const cudnnDataType_t ct = CUDNN_DATA_FLOAT;
        const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
        b.set(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd);
        b.set(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &ct);
        b.set(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
        b.set(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pre);
        b.set(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, post);
        b.set(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil);
        b.set(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, str);
        b.fin(cd);
    }
    std::vector<cudnnBackendDescriptor_t> ops;
    cudnnBackendDescriptor_t conv_out = k.fused ? b.tensor(UID_V, f32, N, g.Cout, g.OH, g.OW, true) : y;
    {
        cudnnBackendDescriptor_t op = b.make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
        const float alpha = 1.0f, beta = 0.0f;
        b.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
        b.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
        b.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out);
        b.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd);
        b.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
        b.set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
        b.fin(op);
        ops.push_back(op);
    }
    if (k.fused) {
        // conv -> + bias -> (+ residual) -> act -> y; the last op writes y.
        cudnnBackendDescriptor_t bias = b.tensor(UID_B, half, 1, g.Cout, 1, 1, false);
        const int n_rest = (s->residual ? 1 : 0) + (has_act ? 1 : 0);
        cudnnBackendDescriptor_t cur = conv_out;
        cudnnBackendDescriptor_t nxt = n_rest ? b.tensor(UID_V + 1, f32, N, g.Cout, g.OH, g.OW, true) : y;
        ops.push_back(b.pointwise(CUDNN_POINTWISE_ADD, cur, bias, nxt, nullptr));
        cur = nxt;
        if (s->residual) {
            cudnnBackendDescriptor_t z = b.tensor(UID_Z, half, N, g.Cout, g.OH, g.OW, false);
            nxt = has_act ? b.tensor(UID_V + 2, f32, N, g.Cout, g.OH, g.OW, true) : y;
            ops.push_back(b.pointwise(CUDNN_POINTWISE_ADD, cur, z, nxt, nullptr));
            cur = nxt;
        }
        if (has_act && s->clip) {
            cudnnBackendDescriptor_t r = b.tensor(UID_V + 3, f32, N, g.Cout, g.OH, g.OW, true);
            cudnnBackendDescriptor_t c = b.tensor(UID_C, half, 1, g.Cout, 1, 1, false);
            ops.push_back(b.pointwise(am, cur, nullptr, r, &k.act));
            ops.push_back(b.pointwise(CUDNN_POINTWISE_MIN, r, c, y, nullptr));
        } else if (has_act) {
            ops.push_back(b.pointwise(am, cur, nullptr, y, &k.act));
        }
    }
    cudnnBackendDescriptor_t og = b.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    b.set(og, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, (int64_t)ops.size(), ops.data());
    if (b.ok) cudnnBackendSetAttribute(og, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h); // deprecated in 9.x
    b.fin(og);
    cudnnBackendDescriptor_t heur = b.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    const cudnnBackendHeurMode_t hm = CUDNN_HEUR_MODE_A;
    b.set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &og);
    b.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm);
    b.fin(heur);
    int64_t count = 0;
    if (b.ok && cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                         nullptr) != CUDNN_STATUS_SUCCESS)
        b.ok = false;
    if (!b.ok || count <= 0) {
        graph_set_free(s);
        return nullptr;
    }
    if (count > 16) count = 16;
    s->cfgs.assign((size_t)count, nullptr);
    for (auto &c : s->cfgs)
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &c) != CUDNN_STATUS_SUCCESS) c = nullptr;
    int64_t got = 0;
    if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got,
                                 s->cfgs.data()) != CUDNN_STATUS_SUCCESS)
        got = 0;
    for (int64_t i = got; i < count; i++)
        if (s->cfgs[(size_t)i]) cudnnBackendDestroyDescriptor(s->cfgs[(size_t)i]);
    s->cfgs.resize((size_t)got);
    s->engine.assign((size_t)got, -1);
    s->rtc.assign((size_t)got, 0);
    s->tried.assign((size_t)got, 0);
    s->plans.assign((size_t)got, nullptr);
    s->ws.assign((size_t)got, nullptr);
    for (size_t i = 0; i < (size_t)got; i++) {
        cudnnBackendDescriptor_t eng = nullptr;
        if (!s->cfgs[i] || cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) continue;
        int64_t n = 0;
        if (cudnnBackendGetAttribute(s->cfgs[i], CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &eng) ==
            CUDNN_STATUS_SUCCESS) {
            int64_t gi = -1;
            if (cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &gi) == CUDNN_STATUS_SUCCESS)
                s->engine[i] = gi;
            cudnnBackendBehaviorNote_t notes[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT + 4];
            int64_t nn = 0;
            if (cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                         CUDNN_BEHAVIOR_NOTE_TYPE_COUNT + 4, &nn, notes) == CUDNN_STATUS_SUCCESS)
                for (int64_t j = 0; j < nn && j < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT + 4; j++)
                    s->rtc[i] |= notes[j] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
        }
        cudnnBackendDestroyDescriptor(eng);
    }
    return s;
}

void graph_set_free(GraphSet *s)
{
    if (!s) return;
    for (auto d : s->plans)
        if (d) cudnnBackendDestroyDescriptor(d);
    for (void *p : s->ws)
        if (p) cudaFree(p);
    for (auto d : s->cfgs)
        if (d) cudnnBackendDestroyDescriptor(d);
    for (size_t i = s->own.size(); i-- > 0;)
        if (s->own[i]) cudnnBackendDestroyDescriptor(s->own[i]);
    delete s;
}

int graph_set_configs(const GraphSet *s) { return s ? (int)s->cfgs.size() : 0; }
bool graph_config_rtc(const GraphSet *s, int i) { return s && i >= 0 && i < (int)s->rtc.size() && s->rtc[(size_t)i]; }
int64_t graph_config_engine(const GraphSet *s, int i)
{
    return s && i >= 0 && i < (int)s->engine.size() ? s->engine[(size_t)i] : -1;
}

bool graph_plan(GraphSet *s, int i, double *secs)
{
    if (secs) *secs = 0.0;
    if (!s || i < 0 || i >= (int)s->cfgs.size() || !s->cfgs[(size_t)i]) return false;
    const size_t k = (size_t)i;
    if (s->tried[k]) return s->plans[k] != nullptr;
    s->tried[k] = 1;
    const auto t0 = std::chrono::steady_clock::now();
    cudnnBackendDescriptor_t p = nullptr;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p) != CUDNN_STATUS_SUCCESS) return false;
    cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &s->h); // deprecated in 9.x
    bool ok = cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                       &s->cfgs[k]) == CUDNN_STATUS_SUCCESS &&
              cudnnBackendFinalize(p) == CUDNN_STATUS_SUCCESS;
    int64_t wsb = 0, n = 0;
    if (ok && cudnnBackendGetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &wsb) !=
                  CUDNN_STATUS_SUCCESS)
        ok = false;
    if (ok && wsb > ((int64_t)1 << 30)) ok = false; // keep device memory bounded
    if (ok && wsb > 0 && cudaMalloc(&s->ws[k], (size_t)wsb) != cudaSuccess) {
        cudaGetLastError();
        s->ws[k] = nullptr;
        ok = false;
    }
    if (!ok) {
        cudnnBackendDestroyDescriptor(p);
        return false;
    }
    s->plans[k] = p;
    if (secs) *secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return true;
}

cudnnBackendDescriptor_t graph_varpack(GraphSet *s, int i, const void *x, const void *w, const void *b, const void *z,
                                       const void *clip, void *y)
{
    if (!s || i < 0 || i >= (int)s->plans.size() || !s->plans[(size_t)i]) return nullptr;
    if (s->clip && !clip) return nullptr;
    int64_t uids[6] = {UID_X, UID_W, UID_Y, UID_B, 0, 0};
    void *ptrs[6] = {(void *)x, (void *)w, y, (void *)b, nullptr, nullptr};
    int64_t n = s->fused ? 4 : 3;
    if (s->fused && s->residual) uids[n] = UID_Z, ptrs[n] = (void *)z, n++;
    if (s->fused && s->clip) uids[n] = UID_C, ptrs[n] = (void *)clip, n++;
    cudnnBackendDescriptor_t vp = nullptr;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp) != CUDNN_STATUS_SUCCESS) return nullptr;
    void *ws = s->ws[(size_t)i];
    const bool ok =
        cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendFinalize(vp) == CUDNN_STATUS_SUCCESS;
    if (!ok) {
        cudnnBackendDestroyDescriptor(vp);
        return nullptr;
    }
    return vp;
}

cudnnStatus_t graph_execute(GraphSet *s, int i, cudnnBackendDescriptor_t vp)
{
    if (!s || i < 0 || i >= (int)s->plans.size() || !s->plans[(size_t)i] || !vp) return CUDNN_STATUS_BAD_PARAM;
    return cudnnBackendExecute(s->h, s->plans[(size_t)i], vp);
}

}  // namespace kc
