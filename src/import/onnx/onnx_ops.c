/* The ONNX operator table: op_type (default domain) -> converter, and the static support check that lets the
 * importer list every unsupported node in one message before converting anything. docs/ONNX.md documents it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "onnx_internal.h"

/* Operators that exist only to compute shapes: computed at import when their inputs are constants. */
static kiln_status fold_only(ox_ctx *c)
{
    return ox_fail(c, KILN_ERR_UNSUPPORTED, "supported only on constant inputs (shape computations are folded at "
                   "import); here an input is a run-time tensor");
}

static const struct {
    const char *op;
    ox_convert_fn fn;
} table[] = {
    { "Conv", ox_op_conv },
    { "MaxPool", ox_op_pool },
    { "AveragePool", ox_op_pool },
    { "GlobalAveragePool", ox_op_global_pool },
    { "GlobalMaxPool", ox_op_global_pool },
    { "BatchNormalization", ox_op_batchnorm },
    { "LayerNormalization", ox_op_layernorm },
    { "Relu", ox_op_unary },
    { "LeakyRelu", ox_op_unary },
    { "Sigmoid", ox_op_unary },
    { "HardSigmoid", ox_op_unary },
    { "HardSwish", ox_op_unary },
    { "Tanh", ox_op_unary },
    { "Elu", ox_op_unary },
    { "Selu", ox_op_unary },
    { "Softplus", ox_op_unary },
    { "Softsign", ox_op_unary },
    { "Exp", ox_op_unary },
    { "Erf", ox_op_unary },
    { "Gelu", ox_op_unary },
    { "Sqrt", ox_op_unary },
    { "Neg", ox_op_unary },
    { "Log", ox_op_unary },
    { "Abs", ox_op_unary },
    { "Reciprocal", ox_op_unary },
    { "Floor", ox_op_unary },
    { "Ceil", ox_op_unary },
    { "Pow", ox_op_pow },
    { "Add", ox_op_binary },
    { "Sub", ox_op_binary },
    { "Mul", ox_op_binary },
    { "Div", ox_op_binary },
    { "Max", ox_op_binary },
    { "Min", ox_op_binary },
    { "Clip", ox_op_clip },
    { "PRelu", ox_op_prelu },
    { "Softmax", ox_op_softmax },
    { "LogSoftmax", ox_op_softmax },
    { "Identity", ox_op_identity },
    { "Dropout", ox_op_identity },
    { "Cast", ox_op_cast },
    { "Reshape", ox_op_reshape },
    { "Flatten", ox_op_flatten },
    { "Squeeze", ox_op_squeeze },
    { "Unsqueeze", ox_op_squeeze },
    { "Transpose", ox_op_transpose },
    { "Concat", ox_op_concat },
    { "Pad", ox_op_pad },
    { "ReduceMean", ox_op_reduce },
    { "ReduceMax", ox_op_reduce },
    { "Gemm", ox_op_gemm },
    { "MatMul", ox_op_matmul },
    { "Resize", ox_op_resize },
    { "Upsample", ox_op_resize },
    { "Constant", fold_only },
    { "Shape", ox_op_shape },
    { "Size", fold_only },
    { "Gather", ox_op_gather },
    { "Slice", ox_op_slice },
    { "ConstantOfShape", fold_only },
    { "Range", fold_only },
    { "Expand", fold_only },
    { "Where", fold_only },
    { "Equal", fold_only },
};

ox_convert_fn ox_lookup(const char *op_type)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].op, op_type)) return table[i].fn;
    return NULL;
}

static int output_used(const Onnx__NodeProto *n, int i)
{
    return i < (int)n->n_output && n->output[i] && n->output[i][0];
}

static int spatial_rank_ok(const Onnx__NodeProto *n)
{
    int64_t k[8];
    int nk = ox_attr_ints(n, "kernel_shape", k, 8);
    return nk < 0 || nk == 1 || nk == 2 || (nk == 3 && strcmp(n->op_type, "Conv")); /* 3-D pooling: decomposed */
}

const char *ox_unsupported(const ox_ctx *c, const Onnx__NodeProto *n)
{
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx")) return "operator domain not supported";
    if (!ox_lookup(op)) return "";
    char buf[64];
    if (!strcmp(op, "Conv") || !strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
        if (!spatial_rank_ok(n))
            return !strcmp(op, "Conv") ? "only 1-D and 2-D kernels (3-D NCL, 4-D NCHW tensors)"
                                       : "only 1-D, 2-D and 3-D kernels (3-D NCL, 4-D NCHW, 5-D NCDHW tensors)";
    }
    if (!strcmp(op, "MaxPool") && output_used(n, 1)) return "the Indices output is not supported";
    if (!strcmp(op, "BatchNormalization")) {
        if (!ox_attr_i(n, "training_mode", 0) && (output_used(n, 1) || output_used(n, 2)))
            return "running mean/var outputs (training) are not supported";
        if (c->opset < 9 && !ox_attr_i(n, "spatial", 1)) return "spatial=0";
    }
    if (!strcmp(op, "Dropout") && output_used(n, 1)) return "the mask output is not supported";
    if (!strcmp(op, "Pad") && strcmp(ox_attr_s(n, "mode", "constant", buf, sizeof buf), "constant"))
        return "only mode=constant";
    if (!strcmp(op, "Gelu")) {
        const char *a = ox_attr_s(n, "approximate", "none", buf, sizeof buf);
        if (strcmp(a, "none") && strcmp(a, "tanh")) return "approximate must be none or tanh";
    }
    if (!strcmp(op, "Resize") || !strcmp(op, "Upsample")) {
        const char *m = ox_attr_s(n, "mode", "nearest", buf, sizeof buf);
        if (strcmp(m, "nearest") && strcmp(m, "linear") && strcmp(m, "bilinear") && strcmp(m, "cubic") &&
            strcmp(m, "bicubic"))
            return "only nearest, linear and cubic modes";
    }
    if (!strcmp(op, "Max") || !strcmp(op, "Min")) {
        if (n->n_input < 1) return "no inputs";
    }
    return NULL;
}
