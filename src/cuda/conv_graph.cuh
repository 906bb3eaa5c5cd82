// cuDNN graph (backend descriptor) API for one convolution layer (conv_graph.cu), used by conv_ext.cu: an operation
// graph conv [+ bias add + residual add + activation] in NHWC, FP16 tensors with FP32 compute, its engine configs from
// cuDNN's heuristics (mode A), execution plans built on demand (each with its own device workspace, allocated when the
// plan is built, never at run time) and variant packs bound to fixed device pointers.
#ifndef KILN_CUDA_CONV_GRAPH_CUH
#define KILN_CUDA_CONV_GRAPH_CUH

#include <cudnn.h>
#include <stdint.h>

#include "conv_ext.cuh"

namespace kc {

struct GraphKey {
    ConvGeom g;
    int N;
    bool fused;    // conv + bias + (residual) + act; false: the convolution alone (y = conv(x))
    bool residual; // fused only
    kiln_act act;  // fused only
};

struct GraphSet; // one operation graph, its heuristic engine configs and the plans built so far

// nullptr when cuDNN cannot express/finalize the graph or gives no engine config. Owned by the caller.
GraphSet *graph_set_new(cudnnHandle_t h, const GraphKey &k);
void graph_set_free(GraphSet *s);
int graph_set_configs(const GraphSet *s);
bool graph_config_rtc(const GraphSet *s, int i);        // the engine compiles its kernel at plan time (NVRTC)
int64_t graph_config_engine(const GraphSet *s, int i);  // cuDNN's global engine index, -1 unknown
// Build config i's plan once (and its workspace); false when it does not finalize. *secs: time spent (if built now).
bool graph_plan(GraphSet *s, int i, double *secs);
// A variant pack for plan i bound to these device pointers (z only with a residual); nullptr on failure. Owned by the
// caller (cudnnBackendDestroyDescriptor).
// clip: [Cout] FP16 upper bounds of a clipped ReLU (fused graphs of such layers), else unused.
cudnnBackendDescriptor_t graph_varpack(GraphSet *s, int i, const void *x, const void *w, const void *b, const void *z,
                                       const void *clip, void *y);
cudnnStatus_t graph_execute(GraphSet *s, int i, cudnnBackendDescriptor_t vp);

}  // namespace kc

#endif
