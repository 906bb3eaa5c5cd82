// The glue of conv_ext.cuh: one ConvExt per convolution layer (direct-kernel weights, the chosen tactic, the cuDNN
// graph plans bound to this layer's buffers per batch size) and one ConvExtCtx per context (operation graphs and plans
// shared between layers of the same shape, so e.g. ResNet50's repeated blocks build each plan once).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "conv_graph.cuh"

namespace kc {

struct ConvExtCtx {
    cudnnHandle_t h = nullptr;
    std::map<std::string, GraphSet *> sets; // nullptr: tried, cuDNN cannot run this graph
    double rtc_secs = 0.0;                  // time spent building runtime-compiled plans in this context
    double rtc_budget = 30.0;               // KILN_CUDA_GRAPH_RTC_S; KILN_CUDA_GRAPH_RTC=0 skips them
    int per_family = 3;                     // KILN_CUDA_GRAPH_CONFIGS: engine configs tried per graph
    bool log = false;                       // KILN_CUDA_CONV_LOG=1: candidates and timings on stderr
};

struct ConvExt {
    ConvExtCtx *ctx = nullptr;
    ConvGeom g{};
    bool half = false, residual = false, direct_ok = false;
    kiln_act act{};
    const void *w_krsc = nullptr, *bias_t = nullptr;
    const float *bias_f = nullptr;
    float *wt = nullptr, *bt = nullptr; // direct: [K][Cp] and [Cp] float (owned)
    void *clip = nullptr;               // graph: [Cout] FP16 copies of a clipped ReLU's upper bound (owned)
    int tactic = 0;
    int ref_N = 0, ref_cfg = -1;        // graph: the batch and config the tactic names
    int64_t engine = -1;                // graph: its cuDNN engine (looked for at other batch sizes)
    struct Bound {
        int N;
        GraphSet *set;
        int cfg;
        cudnnBackendDescriptor_t vp;
        const void *x, *z;
        void *y;
    };
    std::vector<Bound> bound;           // graph: plan + variant pack per batch size (cfg < 0: none for that batch)
};

namespace {

bool is_graph(int t) { return t >= T_GRAPH_FUSED && t < T_EXT_END; }
bool is_fused(int t) { return t >= T_GRAPH_FUSED && t < T_GRAPH_CONV; }
int cfg_of(int t) { return is_fused(t) ? t - T_GRAPH_FUSED : t - T_GRAPH_CONV; }

GraphSet *get_set(ConvExt *e, int N, bool fused)
{
    char key[320];
    const ConvGeom &g = e->g;
    snprintf(key, sizeof key, "%d|%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d|%d %d|%d %g %g %g", N, g.H, g.W, g.Cin,
             g.OH, g.OW, g.Cout, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PT, g.PL, g.PB, g.PR, (int)fused,
             (int)(fused && e->residual), fused ? e->act.kind : -1, fused ? e->act.alpha : 0.0f, fused ? e->act.beta : 0.0f,
             fused ? e->act.gamma : 0.0f);
    auto it = e->ctx->sets.find(key);
    if (it != e->ctx->sets.end()) return it->second;
    GraphKey k;
    k.g = g;
    k.N = N;
    k.fused = fused;
    k.residual = e->residual;
    k.act = e->act;
    GraphSet *s = graph_set_new(e->ctx->h, k);
    e->ctx->sets[key] = s;
    return s;
}

// Build plan i of s within the context's budget for runtime-compiled engines.
bool try_plan(ConvExtCtx *ctx, GraphSet *s, int i)
{
    const bool rtc = graph_config_rtc(s, i);
    if (rtc && ctx->rtc_secs >= ctx->rtc_budget) return false;
    double secs = 0.0;
    const bool ok = graph_plan(s, i, &secs);
    if (rtc) ctx->rtc_secs += secs;
    if (ctx->log && secs > 0.0)
        fprintf(stderr, "[kiln conv] plan cfg %d (engine %lld%s): %s in %.3f s\n", i, (long long)graph_config_engine(s, i),
                rtc ? ", runtime-compiled" : "", ok ? "built" : "failed", secs);
    return ok;
}

void unbind(ConvExt *e)
{
    for (auto &b : e->bound)
        if (b.vp) cudnnBackendDestroyDescriptor(b.vp);
    e->bound.clear();
}

// The plan + variant pack of the active graph tactic at batch N for these pointers (built on first use; under a stream
// capture the build runs in relaxed capture mode so cuDNN may allocate). nullptr: none for this batch.
ConvExt::Bound *bind(ConvExt *e, int N, const void *x, void *y, const void *z)
{
    for (auto &b : e->bound)
        if (b.N == N) {
            if (b.cfg < 0) return nullptr;
            if (b.x == x && b.y == y && b.z == z) return &b;
            cudnnBackendDestroyDescriptor(b.vp);
            b.vp = graph_varpack(b.set, b.cfg, x, e->w_krsc, e->bias_t, z, e->clip, y);
            b.x = x, b.y = y, b.z = z;
            if (!b.vp) b.cfg = -1;
            return b.vp ? &b : nullptr;
        }
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    cudaThreadExchangeStreamCaptureMode(&mode);
    const bool fused = is_fused(e->tactic);
    GraphSet *s = get_set(e, N, fused);
    int cfg = -1;
    if (s) {
        if (N == e->ref_N) {
            cfg = try_plan(e->ctx, s, e->ref_cfg) ? e->ref_cfg : -1;
        } else {
            for (int i = 0; i < graph_set_configs(s) && cfg < 0; i++)
                if (graph_config_engine(s, i) == e->engine && try_plan(e->ctx, s, i)) cfg = i;
            for (int i = 0; i < graph_set_configs(s) && i < 8 && cfg < 0; i++)
                if (try_plan(e->ctx, s, i)) cfg = i;
        }
    }
    ConvExt::Bound b{N, s, cfg, nullptr, x, z, y};
    if (cfg >= 0) {
        b.vp = graph_varpack(s, cfg, x, e->w_krsc, e->bias_t, z, e->clip, y);
        if (!b.vp) b.cfg = -1;
    }
    cudaThreadExchangeStreamCaptureMode(&mode);
    e->bound.push_back(b);
    return e->bound.back().cfg >= 0 ? &e->bound.back() : nullptr;
}

}  // namespace

ConvExtCtx *conv_ext_ctx_new(cudnnHandle_t dnn)
{
    ConvExtCtx *c = new ConvExtCtx();
    c->h = dnn;
    const char *v = getenv("KILN_CUDA_GRAPH_RTC");
    if (v && !strcmp(v, "0")) c->rtc_budget = 0.0;
    if ((v = getenv("KILN_CUDA_GRAPH_RTC_S"))) c->rtc_budget = atof(v);
    if ((v = getenv("KILN_CUDA_GRAPH_CONFIGS"))) c->per_family = atoi(v);
    if (c->per_family > 50) c->per_family = 50;
    c->log = getenv("KILN_CUDA_CONV_LOG") && atoi(getenv("KILN_CUDA_CONV_LOG"));
    return c;
}

void conv_ext_ctx_free(ConvExtCtx *c)
{
    if (!c) return;
    for (auto &kv : c->sets) graph_set_free(kv.second);
    delete c;
}

ConvExt *conv_ext_new(ConvExtCtx *ctx, const ConvGeom &g, bool half, const float *w_host, const float *b_host,
                      const void *w_krsc, const void *bias_t, const float *bias_f, kiln_act act, bool residual)
{
    if (!ctx) return nullptr;
    const bool direct = direct_supported(g);
    if (!direct && !half) return nullptr;
    ConvExt *e = new ConvExt();
    e->ctx = ctx;
    e->g = g;
    e->half = half;
    e->act = act;
    e->residual = residual;
    e->w_krsc = w_krsc;
    e->bias_t = bias_t;
    e->bias_f = bias_f;
    if (direct) {
        const int K = g.KH * g.KW * g.Cin, Cp = (g.Cout + 7) / 8 * 8;
        std::vector<float> wt((size_t)K * Cp, 0.0f), bt((size_t)Cp, 0.0f);
        for (int k = 0; k < K; k++)
            for (int co = 0; co < g.Cout; co++) wt[(size_t)k * Cp + co] = w_host[(size_t)k * g.Cout + co];
        for (int co = 0; co < g.Cout; co++) bt[(size_t)co] = b_host ? b_host[co] : 0.0f;
        if (cudaMalloc(&e->wt, wt.size() * sizeof(float)) == cudaSuccess &&
            cudaMalloc(&e->bt, bt.size() * sizeof(float)) == cudaSuccess &&
            cudaMemcpy(e->wt, wt.data(), wt.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(e->bt, bt.data(), bt.size() * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess)
            e->direct_ok = true;
        cudaGetLastError();
    }
    if (half && act.kind == KILN_ACT_RELU && std::isfinite(act.beta)) {
        // ReLU6-style upper bound: the fused graph clamps with a pointwise MIN against this [1,Cout,1,1] tensor.
        std::vector<__half> c((size_t)g.Cout, __float2half_rn(act.beta));
        if (cudaMalloc(&e->clip, c.size() * sizeof(__half)) != cudaSuccess ||
            cudaMemcpy(e->clip, c.data(), c.size() * sizeof(__half), cudaMemcpyHostToDevice) != cudaSuccess) {
            cudaGetLastError();
            if (e->clip) cudaFree(e->clip);
            e->clip = nullptr;
        }
    }
    if (!e->direct_ok && !half) {
        conv_ext_free(e);
        return nullptr;
    }
    return e;
}

void conv_ext_free(ConvExt *e)
{
    if (!e) return;
    unbind(e);
    if (e->wt) cudaFree(e->wt);
    if (e->bt) cudaFree(e->bt);
    if (e->clip) cudaFree(e->clip);
    delete e;
}

int conv_ext_candidates(ConvExt *e, const char *force, int N, int *tac, int cap)
{
    int n = 0;
    if (!e) return 0;
    if (e->direct_ok && (!force || !strcmp(force, "direct")))
        for (int v = 0; v < (direct_lanes(e->g) ? 6 : 3) && n < cap; v++) tac[n++] = T_DIRECT + v;
    if (e->half && (!force || !strcmp(force, "graph"))) {
        for (int f = 1; f >= 0; f--) {
            GraphSet *s = get_set(e, N, f == 1);
            int got = 0;
            for (int i = 0; i < graph_set_configs(s) && i < 50 && got < e->ctx->per_family && n < cap; i++)
                if (try_plan(e->ctx, s, i)) tac[n++] = (f ? T_GRAPH_FUSED : T_GRAPH_CONV) + i, got++;
        }
    }
    return n;
}

bool conv_ext_set(ConvExt *e, int tactic, int N)
{
    if (!e) return tactic == 0;
    unbind(e);
    e->tactic = 0;
    e->ref_cfg = -1;
    e->engine = -1;
    if (tactic == 0) return true;
    if (tactic >= T_DIRECT && tactic < T_DIRECT + 6) {
        if (!e->direct_ok || (tactic >= T_DIRECT + 3 && !direct_lanes(e->g))) return false;
        e->tactic = tactic;
        return true;
    }
    if (!is_graph(tactic) || !e->half) return false;
    GraphSet *s = get_set(e, N, is_fused(tactic));
    const int i = cfg_of(tactic);
    if (!s || i >= graph_set_configs(s) || !try_plan(e->ctx, s, i)) return false;
    e->tactic = tactic;
    e->ref_N = N;
    e->ref_cfg = i;
    e->engine = graph_config_engine(s, i);
    return true;
}

int conv_ext_active(const ConvExt *e) { return e ? e->tactic : 0; }

int conv_ext_run(ConvExt *e, const void *x, void *y, const void *z, int N, cudaStream_t s, char *err, size_t cap)
{
    const ConvGeom &g = e->g;
    if (e->tactic >= T_DIRECT && e->tactic < T_DIRECT + 6) {
        const int v = e->tactic - T_DIRECT;
        if (e->half)
            direct_conv<__half>((const __half *)x, e->wt, e->bt, (const __half *)z, (__half *)y, N, g, v, e->act, s);
        else
            direct_conv<float>((const float *)x, e->wt, e->bt, (const float *)z, (float *)y, N, g, v, e->act, s);
        return 0;
    }
    if (!is_graph(e->tactic)) {
        snprintf(err, cap, "convolution tactic %d is not one of kiln's direct/graph tactics", e->tactic);
        return 1;
    }
    ConvExt::Bound *b = bind(e, N, x, y, z);
    if (!b) return 2;
    const cudnnStatus_t st = graph_execute(b->set, b->cfg, b->vp);
    if (st != CUDNN_STATUS_SUCCESS) {
        snprintf(err, cap, "cuDNN graph plan (tactic %d): %s", e->tactic, cudnnGetErrorString(st));
        return 1;
    }
    if (!is_fused(e->tactic))
        epilogue<__half>((__half *)y, e->bias_f, (const __half *)z, (int64_t)N * g.OH * g.OW * g.Cout, g.Cout, e->act, s);
    return 0;
}

bool conv_ext_probe(ConvExt *e, const void *x, void *y, const void *z, int N, cudaStream_t s)
{
    char err[256];
    if (!is_graph(e->tactic)) return true;
    if (conv_ext_run(e, x, y, z, N, s, err, sizeof err) != 0 || cudaStreamSynchronize(s) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    cudaGraph_t graph = nullptr;
    if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    const int rc = conv_ext_run(e, x, y, z, N, s, err, sizeof err);
    const cudaError_t ce = cudaStreamEndCapture(s, &graph);
    bool ok = rc == 0 && ce == cudaSuccess && graph;
    if (graph) {
        cudaGraphExec_t ex = nullptr;
        if (ok && cudaGraphInstantiate(&ex, graph, 0) != cudaSuccess) ok = false;
        if (ex) cudaGraphExecDestroy(ex);
        cudaGraphDestroy(graph);
    }
    cudaGetLastError();
    return ok;
}

const char *conv_ext_describe(const ConvExt *e, int t, char *buf, size_t cap)
{
    if (t >= T_DIRECT && t < T_DIRECT + 6) snprintf(buf, cap, "direct pix=%d%s", 1 << ((t - T_DIRECT) % 3), t - T_DIRECT >= 3 ? " coalesced" : "");
    else if (is_graph(t)) snprintf(buf, cap, "graph %s cfg %d", is_fused(t) ? "fused" : "conv", cfg_of(t));
    else snprintf(buf, cap, "tactic %d", t);
    (void)e;
    return buf;
}

void conv_ext_log(const ConvExt *e, const char *layer, const int *tac, const double *ms, int n, int pick, double base_ms,
                  int base_tactic)
{
    if (!e || !e->ctx->log) return;
    fprintf(stderr, "[kiln conv] %s (%dx%d s%d, %d->%d, %dx%d): tactic %d %.4f ms", layer, e->g.KH, e->g.KW, e->g.SH,
            e->g.Cin, e->g.Cout, e->g.OH, e->g.OW, base_tactic, base_ms);
    for (int i = 0; i < n; i++) fprintf(stderr, " | %d %.4f", tac[i], ms[i]);
    fprintf(stderr, " -> %d\n", pick);
}

}  // namespace kc
