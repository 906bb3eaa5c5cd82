/* Every CUDA kernel of the GPU backend against kiln's CPU reference kernels, over a matrix of shapes, batches and both
 * precisions, through the public API (kiln_engine_build with device = CUDA, then kiln_context_run).
 *
 * The oracle (tests/unit/test_engine_util.h) runs the same one-op graph node by node with the reference kernels.
 * Tolerances, relative to the largest |reference| of the case (at least 1):
 *   FP32: 1e-4 for every op (cuDNN runs with FMA math, no TF32)
 *   FP16: 2e-2 for ops with reductions over many terms (conv, dense, pools, softmax, squeeze-excite) and 1e-2 for
 *         the rest (one FP16 rounding of inputs and outputs).
 * Also: a CUDA engine saved and loaded back gives the same numbers, two contexts of one engine agree, and an engine
 * whose recorded SM version differs from this GPU's is refused with a message naming both.
 *
 * KILN_CUDA_CONV=direct|graph forces kiln's direct convolution kernels / cuDNN graph plans where they apply (the
 * stem and 1x1 cases then check that the direct tactic was taken); `test_cuda_kernels TEXT` runs only the cases whose
 * name contains TEXT.
 * Runs on the GPU machine: make cuda && build/test_cuda_kernels. Without a GPU or without build/libkiln_cuda.so it
 * prints one SKIP line and exits 77 (ctest: skipped). */
#include "../unit/test_engine_util.h"
#include "runtime/backend_cuda.h"

static int g_cases, g_fp16_only_fail;

typedef struct {
    const char *name;
    kiln_graph *(*make)(void);
    float tol16;
    int direct; /* 1: a layer kiln's direct kernel must take under KILN_CUDA_CONV=direct (tactics 300-305) */
} tcase;

static int input(kiln_graph *g, int h, int w, int c)
{
    int64_t d[4] = { 1, h, w, c };
    return kiln_graph_add_input(g, "x", h ? 4 : 2, h ? d : (int64_t[]){ 1, c });
}

static int conv(kiln_graph *g, int x, int k, int s, int dil, int groups, int cout, int pt, int pl, int pb, int pr,
                kiln_act act, int bias)
{
    int64_t cin = g->values[x].dims[3];
    int64_t wd[4] = { k, k, cin / groups, cout }, bd[1] = { cout };
    float sc = 1.0f / sqrtf((float)(k * k * cin / groups));
    int ins[3] = { x, t_const(g, "w", 4, wd, -sc, sc), bias ? t_const(g, "b", 1, bd, -0.2f, 0.2f) : 0 };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = k;
    a.stride[0] = a.stride[1] = s;
    a.dilation[0] = a.dilation[1] = dil;
    a.groups = groups;
    a.pads[0] = pt, a.pads[1] = pl, a.pads[2] = pb, a.pads[3] = pr;
    a.act = act;
    return kiln_graph_add_node(g, KILN_OP_CONV2D, "conv", ins, bias ? 3 : 2, &a);
}

static kiln_graph *fin(kiln_graph *g, int y)
{
    kiln_graph_mark_output(g, y);
    return g;
}

static kiln_act relu6(void) { return kiln_act_make(KILN_ACT_RELU, 0, 6, 0); }
static kiln_act swish(void) { return kiln_act_make(KILN_ACT_SWISH, 0, 0, 0); }
static kiln_act none(void) { return kiln_act_make(KILN_ACT_NONE, 0, INFINITY, 0); }

/* ---- the cases --------------------------------------------------------------------------------------------------- */
#define G kiln_graph *g = kiln_graph_new()
static kiln_graph *c_conv3_relu(void) { G; return fin(g, conv(g, input(g, 16, 16, 16), 3, 1, 1, 1, 32, 1, 1, 1, 1, kiln_act_relu(), 1)); }
static kiln_graph *c_conv1_none(void) { G; return fin(g, conv(g, input(g, 7, 9, 64), 1, 1, 1, 1, 48, 0, 0, 0, 0, none(), 1)); }
static kiln_graph *c_conv3_s2_asym(void) { G; return fin(g, conv(g, input(g, 16, 16, 8), 3, 2, 1, 1, 16, 0, 0, 1, 1, relu6(), 1)); }
static kiln_graph *c_conv7_s2_rgb(void) { G; return fin(g, conv(g, input(g, 32, 32, 3), 7, 2, 1, 1, 16, 3, 3, 3, 3, kiln_act_relu(), 1)); }
static kiln_graph *c_conv5_swish_nobias(void) { G; return fin(g, conv(g, input(g, 9, 11, 12), 5, 1, 1, 1, 20, 2, 2, 2, 2, swish(), 0)); }
static kiln_graph *c_conv3_dil2(void) { G; return fin(g, conv(g, input(g, 12, 12, 8), 3, 1, 2, 1, 8, 2, 2, 2, 2, none(), 1)); }
static kiln_graph *c_conv3_groups2(void) { G; return fin(g, conv(g, input(g, 10, 10, 16), 3, 1, 1, 2, 24, 1, 1, 1, 1, kiln_act_relu(), 1)); }
static kiln_graph *c_conv_odd_channels(void) { G; return fin(g, conv(g, input(g, 8, 8, 33), 3, 1, 1, 1, 17, 1, 1, 1, 1, kiln_act_relu(), 1)); }
static kiln_graph *c_dw3(void) { G; return fin(g, conv(g, input(g, 14, 14, 32), 3, 1, 1, 32, 32, 1, 1, 1, 1, relu6(), 1)); }
static kiln_graph *c_dw3_s2_asym(void) { G; return fin(g, conv(g, input(g, 14, 14, 24), 3, 2, 1, 24, 24, 0, 0, 1, 1, swish(), 1)); }
static kiln_graph *c_dw5_odd(void) { G; return fin(g, conv(g, input(g, 9, 9, 7), 5, 1, 1, 7, 7, 2, 2, 2, 2, none(), 0)); }
static kiln_graph *c_dw_mult2_dil(void) { G; return fin(g, conv(g, input(g, 10, 10, 6), 3, 1, 2, 6, 12, 2, 2, 2, 2, kiln_act_relu(), 1)); }
/* conv (no act) -> Add(conv, x) -> ReLU: the backend fuses the residual into the convolution. */
static kiln_graph *c_residual(void)
{
    G;
    int x = input(g, 8, 8, 16);
    int y = conv(g, x, 3, 1, 1, 1, 16, 1, 1, 1, 1, none(), 1);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = kiln_act_relu();
    int ins[2] = { y, x };
    return fin(g, kiln_graph_add_node(g, KILN_OP_ADD, "add", ins, 2, &a));
}
static kiln_graph *c_residual_swish(void)
{
    G;
    int x = input(g, 8, 8, 16);
    int y = conv(g, x, 1, 1, 1, 1, 16, 0, 0, 0, 0, none(), 1);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = swish();
    int ins[2] = { x, y };
    return fin(g, kiln_graph_add_node(g, KILN_OP_ADD, "add", ins, 2, &a));
}
static kiln_graph *c_dense(void) { G; return fin(g, t_dense(g, "dense", input(g, 0, 0, 100), 37)); }
static kiln_graph *c_dense_4d_act(void)
{
    G;
    int y = t_dense(g, "dense", input(g, 3, 5, 24), 16);
    g->nodes[g->n_nodes - 1].attrs.act = kiln_act_make(KILN_ACT_TANH, 0, 0, 0);
    return fin(g, y);
}
static kiln_graph *c_bn(void) { G; return fin(g, t_bn(g, "bn", input(g, 6, 7, 10))); }
static kiln_graph *c_act_all(void)
{
    G;
    int x = input(g, 4, 4, 8);
    const kiln_act acts[] = { kiln_act_make(KILN_ACT_RELU, 0.1f, 6.0f, 0.5f), kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0),
                              kiln_act_make(KILN_ACT_HARD_SIGMOID, 0.2f, 0.5f, 0), swish(),
                              kiln_act_make(KILN_ACT_HARD_SWISH, 0, 0, 0), kiln_act_make(KILN_ACT_TANH, 0, 0, 0),
                              kiln_act_make(KILN_ACT_ELU, 1.0f, 0, 0), kiln_act_make(KILN_ACT_GELU, 0, 0, 0),
                              kiln_act_make(KILN_ACT_GELU, 1, 0, 0), kiln_act_make(KILN_ACT_SELU, 0, 0, 0),
                              kiln_act_make(KILN_ACT_SOFTPLUS, 0, 0, 0), kiln_act_make(KILN_ACT_SOFTSIGN, 0, 0, 0) };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) x = t_act(g, "act", x, acts[i]);
    return fin(g, x);
}
static kiln_graph *c_softmax(void) { G; int x = input(g, 0, 0, 1000); return fin(g, t_simple(g, KILN_OP_SOFTMAX, "sm", &x, 1, 1)); }
static kiln_graph *c_softmax_axis1(void) { G; int x = input(g, 5, 3, 4); return fin(g, t_simple(g, KILN_OP_SOFTMAX, "sm", &x, 1, 1)); }
static kiln_graph *pool(kiln_op op, int h, int w, int c, int k, int s, int pt, int pl, int pb, int pr, int cip)
{
    G;
    int x = input(g, h, w, c);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.kernel[0] = a.kernel[1] = k;
    a.stride[0] = a.stride[1] = s;
    a.pads[0] = pt, a.pads[1] = pl, a.pads[2] = pb, a.pads[3] = pr;
    a.count_include_pad = cip;
    return fin(g, kiln_graph_add_node(g, op, "pool", &x, 1, &a));
}
static kiln_graph *c_maxpool3_s2(void) { return pool(KILN_OP_MAXPOOL, 15, 15, 16, 3, 2, 1, 1, 1, 1, 0); }
static kiln_graph *c_maxpool2(void) { return pool(KILN_OP_MAXPOOL, 8, 8, 5, 2, 2, 0, 0, 0, 0, 0); }
static kiln_graph *c_avgpool_same(void) { return pool(KILN_OP_AVGPOOL, 7, 7, 16, 3, 1, 1, 1, 1, 1, 0); }
static kiln_graph *c_avgpool_cip(void) { return pool(KILN_OP_AVGPOOL, 9, 9, 4, 3, 2, 0, 0, 1, 1, 1); }
static kiln_graph *c_gap(void)
{
    G;
    int x = input(g, 7, 7, 96);
    kiln_attrs a;
    kiln_attrs_init(&a);
    return fin(g, kiln_graph_add_node(g, KILN_OP_GLOBAL_AVGPOOL, "gap", &x, 1, &a));
}
static kiln_graph *c_gmp_keep(void)
{
    G;
    int x = input(g, 5, 6, 40);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.keepdims = 1;
    return fin(g, kiln_graph_add_node(g, KILN_OP_GLOBAL_MAXPOOL, "gmp", &x, 1, &a));
}
static kiln_graph *c_pad(void)
{
    G;
    int x = input(g, 5, 6, 3);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 4;
    a.pads_begin[1] = 1, a.pads_end[1] = 2, a.pads_begin[2] = 0, a.pads_end[2] = 3, a.pads_begin[3] = 1;
    a.pad_value = 0.5f;
    return fin(g, kiln_graph_add_node(g, KILN_OP_PAD, "pad", &x, 1, &a));
}
static kiln_graph *c_concat(void)
{
    G;
    int x = input(g, 6, 6, 8);
    int a = t_act(g, "a", x, kiln_act_relu()), b = conv(g, x, 1, 1, 1, 1, 12, 0, 0, 0, 0, none(), 1);
    int c = t_act(g, "c", x, swish());
    int ins[3] = { a, b, c };
    return fin(g, t_simple(g, KILN_OP_CONCAT, "cat", ins, 3, 3));
}
static kiln_graph *c_concat_axis1(void)
{
    G;
    int x = input(g, 4, 5, 3);
    int a = t_act(g, "a", x, kiln_act_relu()), b = t_act(g, "b", x, swish());
    int ins[2] = { a, b };
    return fin(g, t_simple(g, KILN_OP_CONCAT, "cat", ins, 2, 1));
}
static kiln_graph *binary(kiln_op op, int bshape)
{
    G;
    int x = input(g, 5, 6, 8);
    int other;
    if (bshape == 0) other = t_act(g, "a", x, swish());                         /* same shape */
    else if (bshape == 1) other = t_const(g, "c", 1, (int64_t[]){ 8 }, 0.5f, 1.5f); /* per-channel constant */
    else {                                                                        /* [N,1,1,C] activation */
        kiln_attrs a;
        kiln_attrs_init(&a);
        a.keepdims = 1;
        other = kiln_graph_add_node(g, KILN_OP_GLOBAL_AVGPOOL, "gap", &x, 1, &a);
    }
    int ins[2] = { x, other };
    return fin(g, t_simple(g, op, "bin", ins, 2, 0));
}
static kiln_graph *c_add(void) { return binary(KILN_OP_ADD, 0); }
static kiln_graph *c_sub_const(void) { return binary(KILN_OP_SUB, 1); }
static kiln_graph *c_mul_bcast(void) { return binary(KILN_OP_MUL, 2); }
static kiln_graph *c_div_const(void) { return binary(KILN_OP_DIV, 1); }
static kiln_graph *c_max(void) { return binary(KILN_OP_MAX, 0); }
static kiln_graph *c_min_bcast(void) { return binary(KILN_OP_MIN, 2); }
static kiln_graph *c_reshape_dense(void)
{
    G;
    int x = input(g, 4, 4, 6);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 1;
    a.shape[0] = 96;
    x = kiln_graph_add_node(g, KILN_OP_RESHAPE, "flatten", &x, 1, &a);
    return fin(g, t_dense(g, "dense", x, 10));
}
static kiln_graph *c_transpose(void)
{
    G;
    int x = input(g, 3, 4, 5);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.rank = 4;
    a.perm[0] = 0, a.perm[1] = 3, a.perm[2] = 1, a.perm[3] = 2;
    return fin(g, kiln_graph_add_node(g, KILN_OP_TRANSPOSE, "tr", &x, 1, &a));
}
static kiln_graph *c_slice(void)
{
    G;
    int x = input(g, 4, 4, 20);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.axis = 3;
    a.pads_begin[3] = 5, a.pads_end[3] = 3;
    return fin(g, kiln_graph_add_node(g, KILN_OP_SLICE, "slice", &x, 1, &a));
}
static kiln_graph *c_squeeze_excite(void)
{
    G;
    int x = input(g, 7, 7, 32);
    int ins[5] = { x, t_const(g, "w1", 2, (int64_t[]){ 32, 8 }, -0.3f, 0.3f), t_const(g, "b1", 1, (int64_t[]){ 8 }, -0.1f, 0.1f),
                   t_const(g, "w2", 2, (int64_t[]){ 8, 32 }, -0.5f, 0.5f), t_const(g, "b2", 1, (int64_t[]){ 32 }, -0.1f, 0.1f) };
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = swish();
    a.act2 = kiln_act_make(KILN_ACT_SIGMOID, 0, 0, 0);
    return fin(g, kiln_graph_add_node(g, KILN_OP_SQUEEZE_EXCITE, "se", ins, 5, &a));
}
/* Direct-kernel shapes (src/cuda/conv_direct.cu): stems with Cin = 3 and 1x1 convolutions with Cin 16/24/32. */
static kiln_graph *c_stem3_s2_asym(void) { G; return fin(g, conv(g, input(g, 17, 18, 3), 3, 2, 1, 1, 32, 0, 0, 1, 1, relu6(), 1)); }
static kiln_graph *c_stem3_s2_pad1(void) { G; return fin(g, conv(g, input(g, 16, 16, 3), 3, 2, 1, 1, 24, 1, 1, 1, 1, swish(), 0)); }
static kiln_graph *c_stem7_s2(void) { G; return fin(g, conv(g, input(g, 23, 20, 3), 7, 2, 1, 1, 64, 3, 3, 3, 3, kiln_act_relu(), 1)); }
static kiln_graph *c_stem5_dil_cin4(void) { G; return fin(g, conv(g, input(g, 12, 13, 4), 5, 1, 2, 1, 13, 4, 4, 3, 5, relu6(), 1)); }
static kiln_graph *c_pw16_relu6(void) { G; return fin(g, conv(g, input(g, 13, 11, 16), 1, 1, 1, 1, 96, 0, 0, 0, 0, relu6(), 1)); }
static kiln_graph *c_pw24_odd(void) { G; return fin(g, conv(g, input(g, 9, 7, 24), 1, 1, 1, 1, 21, 0, 0, 0, 0, none(), 1)); }
static kiln_graph *c_pw32_odd_swish(void) { G; return fin(g, conv(g, input(g, 6, 5, 32), 1, 1, 1, 1, 37, 0, 0, 0, 0, swish(), 0)); }
/* 1x1 (no act) -> Add(conv, x) [+ act]: the residual fused into the direct kernel's epilogue. */
static kiln_graph *pw_residual(int c, kiln_act act)
{
    G;
    int x = input(g, 7, 9, c);
    int y = conv(g, x, 1, 1, 1, 1, c, 0, 0, 0, 0, none(), 1);
    kiln_attrs a;
    kiln_attrs_init(&a);
    a.act = act;
    int ins[2] = { y, x };
    return fin(g, kiln_graph_add_node(g, KILN_OP_ADD, "add", ins, 2, &a));
}
static kiln_graph *c_pw24_residual_relu6(void) { return pw_residual(24, relu6()); }
static kiln_graph *c_pw32_residual(void) { return pw_residual(32, none()); }
static kiln_graph *c_pw16_residual_relu(void) { return pw_residual(16, kiln_act_relu()); }

static const tcase cases[] = {
    { "conv stem 3x3 s2 3->32 asym pad relu6", c_stem3_s2_asym, 2e-2f, 1 },
    { "conv stem 3x3 s2 3->24 pad 1 swish no bias", c_stem3_s2_pad1, 2e-2f, 1 },
    { "conv stem 7x7 s2 3->64 pad 3 relu", c_stem7_s2, 2e-2f, 1 },
    { "conv stem 5x5 dil 2 4->13 uneven pad", c_stem5_dil_cin4, 2e-2f, 1 },
    { "conv1x1 16->96 relu6", c_pw16_relu6, 2e-2f, 1 },
    { "conv1x1 24->21", c_pw24_odd, 2e-2f, 1 },
    { "conv1x1 32->37 swish no bias", c_pw32_odd_swish, 2e-2f, 1 },
    { "conv1x1 24 + residual + relu6", c_pw24_residual_relu6, 2e-2f, 1 },
    { "conv1x1 32 + residual", c_pw32_residual, 2e-2f, 1 },
    { "conv1x1 16 + residual + relu", c_pw16_residual_relu, 2e-2f, 1 },
    { "conv3x3 relu (cuDNN fused)", c_conv3_relu, 2e-2f, 0 },
    { "conv1x1 linear", c_conv1_none, 2e-2f, 0 },
    { "conv3x3 s2 asymmetric pad relu6", c_conv3_s2_asym, 2e-2f, 0 },
    { "conv7x7 s2 3->16 relu", c_conv7_s2_rgb, 2e-2f, 0 },
    { "conv5x5 swish no bias", c_conv5_swish_nobias, 2e-2f, 0 },
    { "conv3x3 dilation 2", c_conv3_dil2, 2e-2f, 0 },
    { "conv3x3 groups 2", c_conv3_groups2, 2e-2f, 0 },
    { "conv3x3 33->17 channels", c_conv_odd_channels, 2e-2f, 0 },
    { "depthwise 3x3 relu6", c_dw3, 2e-2f, 0 },
    { "depthwise 3x3 s2 asymmetric swish", c_dw3_s2_asym, 2e-2f, 0 },
    { "depthwise 5x5 odd C no bias", c_dw5_odd, 2e-2f, 0 },
    { "depthwise multiplier 2 dilation 2", c_dw_mult2_dil, 2e-2f, 0 },
    { "conv + residual add + relu (fused)", c_residual, 2e-2f, 0 },
    { "conv1x1 + residual add + swish", c_residual_swish, 2e-2f, 0 },
    { "dense 100->37", c_dense, 2e-2f, 0 },
    { "dense on 4-D + tanh", c_dense_4d_act, 2e-2f, 0 },
    { "batchnorm", c_bn, 1e-2f, 0 },
    { "activation chain (12 kinds)", c_act_all, 2e-2f, 0 },
    { "softmax 1000", c_softmax, 2e-2f, 0 },
    { "softmax axis 1 of 4-D", c_softmax_axis1, 2e-2f, 0 },
    { "maxpool 3x3 s2 pad", c_maxpool3_s2, 1e-2f, 0 },
    { "maxpool 2x2", c_maxpool2, 1e-2f, 0 },
    { "avgpool 3x3 same (pad excluded)", c_avgpool_same, 2e-2f, 0 },
    { "avgpool 3x3 s2 pad included", c_avgpool_cip, 2e-2f, 0 },
    { "global avg pool", c_gap, 2e-2f, 0 },
    { "global max pool keepdims", c_gmp_keep, 1e-2f, 0 },
    { "pad (value 0.5, asymmetric)", c_pad, 1e-2f, 0 },
    { "concat channels x3", c_concat, 2e-2f, 0 },
    { "concat axis 1", c_concat_axis1, 1e-2f, 0 },
    { "add same shape", c_add, 1e-2f, 0 },
    { "sub per-channel constant", c_sub_const, 1e-2f, 0 },
    { "mul broadcast [N,1,1,C]", c_mul_bcast, 2e-2f, 0 },
    { "div per-channel constant", c_div_const, 1e-2f, 0 },
    { "max same shape", c_max, 1e-2f, 0 },
    { "min broadcast [N,1,1,C]", c_min_bcast, 2e-2f, 0 },
    { "flatten + dense", c_reshape_dense, 2e-2f, 0 },
    { "transpose NHWC->NCHW", c_transpose, 1e-2f, 0 },
    { "slice channels 5..17", c_slice, 1e-2f, 0 },
    { "squeeze-excite", c_squeeze_excite, 2e-2f, 0 },
};

/* Build `g` for CUDA at `prec`, run batch `batch`, compare with the oracle. */
static void run_case(const tcase *tc, int fp16, int batch)
{
    kiln_graph *g = tc->make();
    if (!g || g->n_outputs != 1) {
        CHECK(0, "%s: graph construction failed: %s", tc->name, kiln_last_error());
        kiln_graph_free(g);
        return;
    }
    const int xin = g->inputs[0], yout = g->outputs[0];
    int64_t nx = t_numel_batch(g, xin, batch), ny = t_numel_batch(g, yout, batch);
    float *x = malloc(sizeof(float) * (size_t)nx), *ref = malloc(sizeof(float) * (size_t)ny),
          *got = malloc(sizeof(float) * (size_t)ny);
    t_fill(x, nx, -2.0f, 2.0f);
    const float *ins[1] = { x };
    float *refs[1] = { ref }, *gots[1] = { got };
    t_oracle(g, batch, ins, refs);
    kiln_network *net = t_network(g);
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.device = KILN_DEVICE_CUDA;
    o.precision = fp16 ? KILN_PRECISION_FP16 : KILN_PRECISION_FP32;
    o.batch_min = 1;
    o.batch_max = batch;
    kiln_engine *e = NULL;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_engine_build(net, &o, &e);
    if (st == KILN_OK) st = kiln_context_create(e, &ctx);
    if (st == KILN_OK) st = t_run(ctx, 1, ins, 1, gots, batch);
    g_cases++;
    if (st != KILN_OK) {
        CHECK(0, "%s %s batch %d: %s", tc->name, fp16 ? "FP16" : "FP32", batch, kiln_last_error());
    } else {
        float scale = 1.0f;
        for (int64_t i = 0; i < ny; i++) scale = fmaxf(scale, fabsf(ref[i]));
        float d = t_max_abs_diff(ref, got, ny), tol = (fp16 ? tc->tol16 : 1e-4f) * scale;
        int tac = 0; /* the first convolution's tactic */
        for (int i = 0; i < e->g->n_nodes && !tac; i++)
            if (e->g->nodes[i].op == KILN_OP_CONV2D) tac = e->layers[i].tactic;
        printf("  %-40s %s batch %3d  max|diff| %.3g (tolerance %.3g)%s", tc->name, fp16 ? "FP16" : "FP32", batch, d, tol,
               d <= tol ? "" : "  FAIL");
        printf(tac ? "  [conv tactic %d]\n" : "\n", tac);
        const char *force = getenv("KILN_CUDA_CONV");
        if (tc->direct && force && !strcmp(force, "direct"))
            CHECK(tac >= 300 && tac < 306, "%s: KILN_CUDA_CONV=direct but the convolution's tactic is %d", tc->name, tac);
        CHECK(d <= tol, "%s %s batch %d: max |diff| %g > %g", tc->name, fp16 ? "FP16" : "FP32", batch, d, tol);
        if (!(d <= tol) && fp16) g_fp16_only_fail++;
    }
    kiln_context_free(ctx);
    kiln_engine_free(e);
    t_network_free(net);
    free(x), free(ref), free(got);
}

/* A CUDA engine saved and loaded back; two contexts; the SM check. */
static void engine_checks(void)
{
    kiln_graph *g = t_graph_branchy();
    kiln_network *net = t_network(g);
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.device = KILN_DEVICE_CUDA;
    o.batch_max = 4;
    kiln_engine *e = NULL, *l = NULL;
    kiln_context *c1 = NULL, *c2 = NULL, *c3 = NULL;
    const int B = 3;
    int64_t nx = t_numel_batch(g, g->inputs[0], B), n0 = t_numel_batch(g, g->outputs[0], B),
            n1 = t_numel_batch(g, g->outputs[1], B);
    float *x = malloc(sizeof(float) * nx), *r0 = malloc(sizeof(float) * n0), *r1 = malloc(sizeof(float) * n1);
    float *a0 = malloc(sizeof(float) * n0), *a1 = malloc(sizeof(float) * n1), *b0 = malloc(sizeof(float) * n0),
          *b1 = malloc(sizeof(float) * n1);
    t_fill(x, nx, -1, 1);
    const float *ins[1] = { x };
    float *refs[2] = { r0, r1 }, *as[2] = { a0, a1 }, *bs[2] = { b0, b1 };
    t_oracle(g, B, ins, refs);
    CHECK_OK(kiln_engine_build(net, &o, &e));
    const char *path = "/tmp/kiln_test_cuda.engine";
    if (e) CHECK_OK(kiln_engine_save(e, path));
    CHECK_OK(kiln_engine_load(path, &l));
    if (l) {
        CHECK_OK(kiln_context_create(l, &c1));
        CHECK_OK(kiln_context_create(l, &c2));
    }
    if (c1 && c2) {
        CHECK_OK(t_run(c1, 1, ins, 2, as, B));
        CHECK_OK(t_run(c2, 1, ins, 2, bs, B));
        float d0 = t_max_abs_diff(r0, a0, n0), d1 = t_max_abs_diff(r1, a1, n1);
        printf("  %-40s FP32 batch %3d  max|diff| %.3g / %.3g (two outputs, tolerance 1e-4)\n", "engine file round trip", B, d0,
               d1);
        CHECK(d0 <= 1e-4f && d1 <= 1e-4f, "loaded CUDA engine differs from the reference: %g %g", d0, d1);
        CHECK(!memcmp(a0, b0, sizeof(float) * n0) && !memcmp(a1, b1, sizeof(float) * n1),
              "two contexts of one engine give different outputs");
        /* batch 1 after batch 3 (another CUDA graph) */
        CHECK_OK(t_run(c1, 1, ins, 2, as, 1));
        CHECK(t_max_abs_diff(r0, a0, kiln_value_numel(&g->values[g->outputs[0]])) <= 1e-4f, "batch 1 run differs");
    }
    if (l) {
        /* Pretend the engine came from another GPU: context creation must refuse it, naming both SM versions. */
        uint32_t saved = l->target;
        l->target = KILN_TARGET_CUDA_BASE + 75;
        kiln_status st = kiln_context_create(l, &c3);
        CHECK(st == KILN_ERR_TARGET && strstr(kiln_last_error(), "sm_75"), "another GPU's engine: status %d, '%s'", st,
              kiln_last_error());
        printf("  another GPU's engine refused: %s\n", kiln_last_error());
        l->target = saved;
    }
    kiln_context_free(c3);
    kiln_context_free(c1);
    kiln_context_free(c2);
    kiln_engine_free(l);
    kiln_engine_free(e);
    t_network_free(net);
    remove(path);
    free(x), free(r0), free(r1), free(a0), free(a1), free(b0), free(b1);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL; /* run only the cases whose name contains this text */
    const kiln_cuda_backend_api *api = NULL;
    int sm = 0;
    char name[256] = "", err[512] = "";
    if (kiln_cuda_load(&api) != KILN_OK) {
        printf("SKIP test_cuda_kernels: %s\n", kiln_last_error());
        return 77;
    }
    if (api->probe(&sm, name, sizeof name, err, sizeof err)) {
        printf("SKIP test_cuda_kernels: %s\n", err);
        return 77;
    }
    printf("GPU: %s (sm_%d)\n", name, sm);
    const int batches[] = { 1, 5 };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int p = 0; p < 2 && (!only || strstr(cases[i].name, only)); p++)
            for (int b = 0; b < 2; b++) run_case(&cases[i], p, batches[b]);
    if (!only) engine_checks();
    printf("%d cases, %d failures\n", g_cases, t_failures);
    return t_failures ? 1 : 0;
}
