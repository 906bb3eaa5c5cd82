/* Shape inference for every op of ops.def. Each function fills the output rank/dims from the node's input values,
 * or adds a diagnostic naming the node and returns -1. dims[0] (batch) is carried through as given. */
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "infer.h"
#include "status.h"

typedef int (*infer_fn)(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims);

#define IN(i) (&g->values[n->inputs[i]])

static int bad(const kiln_node *n, const char *why)
{
    kiln_diag_add("layer '%s' (%s): %s", n->name, kiln_op_name(n->op), why);
    return -1;
}

static void copy_shape(const kiln_value *v, int *rank, int64_t *dims)
{
    *rank = v->rank;
    for (int i = 0; i < v->rank; i++) dims[i] = v->dims[i];
}

int kiln_infer_same(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    copy_shape(IN(0), rank, dims);
    if (n->op == KILN_OP_BATCHNORM) {
        int64_t c = dims[*rank - 1];
        for (int i = 1; i < 5; i++)
            if (kiln_value_numel(IN(i)) != c) return bad(n, "batch-norm parameter size differs from the channels");
    }
    if (n->op == KILN_OP_SOFTMAX && (n->attrs.axis < 1 || n->attrs.axis >= *rank))
        return bad(n, "softmax axis out of range");
    return 0;
}

/* out = floor((in + pads - dilation*(k-1) - 1) / stride) + 1 */
static int spatial_out(int64_t in, int k, int s, int d, int p0, int p1, int64_t *out)
{
    int64_t eff = (int64_t)d * (k - 1) + 1;
    int64_t span = in + p0 + p1 - eff;
    if (s < 1 || k < 1 || d < 1 || span < 0) return -1;
    *out = span / s + 1;
    return 0;
}

int kiln_infer_conv2d(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0), *w = IN(1);
    const kiln_attrs *a = &n->attrs;
    if (x->rank != 4) return bad(n, "input must be 4-D NHWC");
    if (w->rank != 4) return bad(n, "kernel must be 4-D [KH,KW,Cin/groups,Cout]");
    if (a->groups < 1 || x->dims[3] % a->groups) return bad(n, "input channels not divisible by groups");
    if (w->dims[0] != a->kernel[0] || w->dims[1] != a->kernel[1]) return bad(n, "kernel size differs from weights");
    if (w->dims[2] * a->groups != x->dims[3]) return bad(n, "kernel input channels differ from the input tensor");
    if (w->dims[3] % a->groups) return bad(n, "output channels not divisible by groups");
    if (n->n_inputs > 2 && kiln_value_numel(IN(2)) != w->dims[3]) return bad(n, "bias size differs from filters");
    *rank = 4;
    dims[0] = x->dims[0];
    dims[3] = w->dims[3];
    for (int i = 0; i < 2; i++)
        if (spatial_out(x->dims[1 + i], a->kernel[i], a->stride[i], a->dilation[i], a->pads[i], a->pads[2 + i],
                        &dims[1 + i]))
            return bad(n, "kernel larger than the padded input, or bad stride/dilation");
    if (n->n_inputs > 3) { /* residual input (optimizer's residual fusion): exactly the output's shape */
        const kiln_value *r = IN(3);
        if (r->kind != KILN_VALUE_ACTIVATION || r->rank != 4 || r->dims[1] != dims[1] || r->dims[2] != dims[2] ||
            r->dims[3] != dims[3])
            return bad(n, "residual input differs from the output shape");
    }
    return 0;
}

int kiln_infer_dense(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0), *w = IN(1);
    if (x->rank < 2) return bad(n, "input must have a feature axis");
    if (w->rank != 2 || w->dims[0] != x->dims[x->rank - 1]) return bad(n, "weights must be [Cin, Cout] with Cin = input features");
    if (n->n_inputs > 2 && kiln_value_numel(IN(2)) != w->dims[1]) return bad(n, "bias size differs from units");
    copy_shape(x, rank, dims);
    dims[*rank - 1] = w->dims[1];
    return 0;
}

int kiln_infer_pool(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0);
    const kiln_attrs *a = &n->attrs;
    if (x->rank != 4) return bad(n, "input must be 4-D NHWC");
    copy_shape(x, rank, dims);
    for (int i = 0; i < 2; i++)
        if (spatial_out(x->dims[1 + i], a->kernel[i], a->stride[i], a->dilation[i], a->pads[i], a->pads[2 + i], &dims[1 + i]))
            return bad(n, "pool window larger than the padded input");
    return 0;
}

int kiln_infer_global_pool(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0);
    if (x->rank != 4) return bad(n, "input must be 4-D NHWC");
    dims[0] = x->dims[0];
    if (n->attrs.keepdims) {
        *rank = 4;
        dims[1] = dims[2] = 1;
        dims[3] = x->dims[3];
    } else {
        *rank = 2;
        dims[1] = x->dims[3];
    }
    return 0;
}

int kiln_infer_pad(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0);
    copy_shape(x, rank, dims);
    if (n->attrs.pads_begin[0] || n->attrs.pads_end[0]) return bad(n, "cannot pad the batch axis");
    for (int i = 1; i < x->rank; i++) {
        if (n->attrs.pads_begin[i] < 0 || n->attrs.pads_end[i] < 0) return bad(n, "negative padding");
        dims[i] += n->attrs.pads_begin[i] + n->attrs.pads_end[i];
    }
    return 0;
}

int kiln_infer_concat(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0);
    int ax = n->attrs.axis;
    if (ax < 1 || ax >= x->rank) return bad(n, "concat axis out of range (the batch axis cannot be concatenated)");
    copy_shape(x, rank, dims);
    for (int i = 1; i < n->n_inputs; i++) {
        const kiln_value *y = IN(i);
        if (y->rank != x->rank) return bad(n, "inputs differ in rank");
        for (int d = 1; d < x->rank; d++)
            if (d != ax && y->dims[d] != x->dims[d]) return bad(n, "inputs differ outside the concat axis");
        dims[ax] += y->dims[ax];
    }
    return 0;
}

int kiln_infer_broadcast(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *a = IN(0), *b = IN(1);
    /* Constants have no batch axis placeholder semantics: treat their dims literally, right-aligned. */
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = a->rank - r + i, ib = b->rank - r + i;
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return bad(n, "input shapes cannot be broadcast together");
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    if (a->kind == KILN_VALUE_CONSTANT && b->kind == KILN_VALUE_CONSTANT)
        return bad(n, "both inputs are constants (fold them first)");
    /* The batch axis must come from an activation input of full rank. */
    const kiln_value *act = a->kind == KILN_VALUE_ACTIVATION ? a : b;
    if (act->rank != r) return bad(n, "a constant has more axes than the activation it combines with");
    return 0;
}

int kiln_infer_reshape(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0);
    const kiln_attrs *a = &n->attrs;
    if (a->rank < 0 || a->rank + 1 > KILN_MAX_RANK) return bad(n, "target rank out of range");
    int64_t total = kiln_value_numel(x), known = 1;
    int infer_at = -1;
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] == -1) {
            if (infer_at >= 0) return bad(n, "more than one -1 in the target shape");
            infer_at = i;
        } else if (a->shape[i] <= 0) {
            return bad(n, "target shape has a non-positive dimension");
        } else {
            known *= a->shape[i];
        }
    }
    *rank = a->rank + 1;
    dims[0] = x->dims[0];
    for (int i = 0; i < a->rank; i++) dims[i + 1] = a->shape[i];
    if (infer_at >= 0) {
        if (known == 0 || total % known) return bad(n, "cannot infer the -1 dimension");
        dims[infer_at + 1] = total / known;
    } else if (known != total) {
        char msg[160];
        snprintf(msg, sizeof msg, "target shape holds %lld elements, input has %lld", (long long)known,
                 (long long)total);
        return bad(n, msg);
    }
    return 0;
}

int kiln_infer_transpose(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims)
{
    const kiln_value *x = IN(0);
    const kiln_attrs *a = &n->attrs;
    if (a->rank != x->rank) return bad(n, "permutation rank differs from the input rank");
    if (a->perm[0] != 0) return bad(n, "the batch axis must stay first");
    int seen[KILN_MAX_RANK] = { 0 };
    for (int i = 0; i < a->rank; i++) {
        if (a->perm[i] < 0 || a->perm[i] >= a->rank || seen[a->perm[i]]++) return bad(n, "not a permutation");
        dims[i] = x->dims[a->perm[i]];
    }
    *rank = x->rank;
    return 0;
}

static const infer_fn infer_table[] = {
#define KILN_OP(e, name, min_in, max_in, infer, ref) infer,
#include "ops.def"
#undef KILN_OP
};
_Static_assert(sizeof(infer_table) / sizeof(infer_table[0]) == KILN_OP_COUNT, "infer table out of sync");

int kiln_infer_node(const kiln_graph *g, const kiln_node *n, int *out_rank, int64_t *out_dims)
{
    if ((unsigned)n->op >= KILN_OP_COUNT) return bad(n, "unknown op");
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] < 0 || n->inputs[i] >= g->n_values) return bad(n, "input id out of range");
    if (g->values[n->inputs[0]].kind != KILN_VALUE_ACTIVATION) return bad(n, "first input must be an activation");
    return infer_table[n->op](g, n, out_rank, out_dims);
}
