/* CPU kernel interface. A kernel computes one node for `batch` samples: NHWC float32 in, NHWC float32 out.
 *
 * Reference kernels (src/cpu/ref/) are plain, readable C for every op of ops.def: the oracle every optimized kernel
 * (src/cpu/x86, src/cpu/arm, later) is tested against. Optimized kernels are extra tactics for the same op; the
 * builder records the chosen tactic per layer in the engine. Tactic 0 is always the reference kernel. */
#ifndef KILN_CPU_KERNEL_H
#define KILN_CPU_KERNEL_H

#include <stddef.h>

#include "../core/graph.h"

typedef struct {
    const kiln_graph *g;     /* shapes: g->values[node->inputs[i]] (dims[0] of activations is NOT the batch) */
    const kiln_node *node;
    int batch;               /* samples in this run */
    const float *in[KILN_MAX_NODE_INPUTS]; /* data of node->inputs[i]: activations or constant weights */
    float *out;              /* data of node->output: batch * numel(output) floats. It never overlaps an input,
                              * except that the memory planner may make it the very same buffer as input 0 of an
                              * elementwise op (Activation, BatchNorm, Add/Sub/Mul/Div/Max/Min of equal shapes,
                              * SqueezeExcite) or of Reshape/Identity; kernels of those ops read element i before
                              * writing element i, and copies skip in == out. */
    void *workspace;         /* kiln_cpu_workspace_bytes(node, batch) bytes, 64-byte aligned, or NULL when 0 */
    /* Row pitches (memory planner views, src/plan/plan.h): an NHWC activation whose pitch P is not 0 stores pixel p's
     * channel c at data[p * P + c] instead of data[p * C + c] (it is a channel slice of a wider buffer, e.g. its part
     * of a Concat's output). 0 = dense. Only ops listed in kiln_plan_op_reads_pitch / kiln_plan_op_writes_pitch ever
     * see a non-zero pitch; every other kernel may ignore these fields. */
    int64_t in_pitch[KILN_MAX_NODE_INPUTS];
    int64_t out_pitch;
    /* Squeeze-excite folded into this layer (src/cpu/stream.h): input 0 is read multiplied by in0_scale[n * C + c]
     * (sample n, channel c: the gates). NULL = none; only gemm tactics of 1x1 convs ever see it. */
    const float *in0_scale;
} kiln_kernel_args;

typedef void (*kiln_kernel_fn)(const kiln_kernel_args *a);

/* Reference kernel of an op (never NULL for a valid op). */
kiln_kernel_fn kiln_ref_kernel(kiln_op op);
/* Scratch bytes the reference kernel of `node` needs for `batch` samples (0 for most ops). */
size_t kiln_ref_workspace_bytes(const kiln_graph *g, const kiln_node *node, int batch);
/* Scratch of the reference squeeze-excite kernel (src/cpu/ref/squeeze_excite.c). */
size_t kiln_ref_squeeze_excite_workspace(const kiln_graph *g, const kiln_node *node, int batch);

/* Declarations of every reference kernel named in ops.def. */
#define KILN_OP(e, name, min_in, max_in, infer, ref) void ref(const kiln_kernel_args *a);
#include "../core/ops.def"
#undef KILN_OP

#endif
