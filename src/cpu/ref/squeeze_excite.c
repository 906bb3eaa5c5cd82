/* Reference squeeze-excite block, composed of the reference kernels it replaces so it is equal to them by
 * construction (same float operations in the same order):
 *
 *   s = GlobalAvgPool(x)                         kiln_ref_global_avgpool   s[N,C]
 *   h = Dense(s, W1, b1) with attrs.act          kiln_ref_dense            h[N,Cr]
 *   g = Dense(h, W2, b2) with attrs.act2         kiln_ref_dense            g[N,C]
 *   y = Mul(x, g as [N,1,1,C])                   kiln_ref_mul
 *
 * A 1x1 convolution on [N,1,1,C] computes the same sums in the same order as Dense (ci ascending, then the bias), so
 * the unfused graph (GAP -> Reshape -> Conv 1x1 -> Conv 1x1 -> Multiply) gives the very same floats.
 * The sub-kernels run on a small graph describing the intermediates, which live in the workspace
 * (kiln_ref_squeeze_excite_workspace floats). y may be x itself (in place): g is complete before y is written and
 * Mul reads x[i] before writing y[i]. */
#include <string.h>

#include "ref_util.h"

size_t kiln_ref_squeeze_excite_workspace(const kiln_graph *g, const kiln_node *node, int batch)
{
    const kiln_value *x = &g->values[node->inputs[0]], *w1 = &g->values[node->inputs[1]];
    const int64_t C = x->dims[3], Cr = w1->dims[w1->rank - 1];
    return sizeof(float) * (size_t)batch * (size_t)(C + Cr + C) + 64 * 3;
}

static kiln_value act_value(int rank, int64_t d1, int64_t d2, int64_t d3)
{
    kiln_value v;
    memset(&v, 0, sizeof v);
    v.kind = KILN_VALUE_ACTIVATION;
    v.rank = rank;
    v.dims[0] = 1;
    v.dims[1] = d1;
    v.dims[2] = d2;
    v.dims[3] = d3;
    v.producer = -1;
    return v;
}

static kiln_value const_value(int64_t rows, int64_t cols)
{
    kiln_value v;
    memset(&v, 0, sizeof v);
    v.kind = KILN_VALUE_CONSTANT;
    v.rank = cols ? 2 : 1;
    v.dims[0] = rows;
    v.dims[1] = cols;
    v.producer = -1;
    return v;
}

static float *aligned_part(void *base, size_t *at, size_t floats)
{
    float *p = (float *)((char *)base + *at);
    *at += (floats * sizeof(float) + 63) / 64 * 64;
    return p;
}

void kiln_ref_squeeze_excite(const kiln_kernel_args *a)
{
    const kiln_value *xv = ref_in(a, 0), *w1v = ref_in(a, 1);
    const int64_t H = xv->dims[1], W = xv->dims[2], C = xv->dims[3], Cr = w1v->dims[w1v->rank - 1];
    size_t at = 0;
    float *s = aligned_part(a->workspace, &at, (size_t)(a->batch * C));
    float *h = aligned_part(a->workspace, &at, (size_t)(a->batch * Cr));
    float *gt = aligned_part(a->workspace, &at, (size_t)(a->batch * C));

    /* values: 0 x, 1 s, 2 W1, 3 b1, 4 h, 5 W2, 6 b2, 7 g[N,C], 8 g[N,1,1,C], 9 y */
    kiln_value v[10] = {
        act_value(4, H, W, C), act_value(2, C, 0, 0), const_value(C, Cr), const_value(Cr, 0),
        act_value(2, Cr, 0, 0), const_value(Cr, C),   const_value(C, 0),  act_value(2, C, 0, 0),
        act_value(4, 1, 1, C),  act_value(4, H, W, C),
    };
    kiln_graph sub;
    memset(&sub, 0, sizeof sub);
    sub.values = v;
    sub.n_values = 10;
    kiln_node n;
    memset(&n, 0, sizeof n);
    n.name = a->node->name;
    kiln_attrs_init(&n.attrs);
    kiln_kernel_args k;
    memset(&k, 0, sizeof k);
    k.g = &sub;
    k.node = &n;
    k.batch = a->batch;

    n.op = KILN_OP_GLOBAL_AVGPOOL; /* keepdims 0: [N,C] */
    n.n_inputs = 1, n.inputs[0] = 0, n.output = 1;
    k.in[0] = a->in[0], k.in_pitch[0] = a->in_pitch[0], k.out = s;
    kiln_ref_global_avgpool(&k);
    k.in_pitch[0] = 0;

    n.op = KILN_OP_DENSE;
    n.n_inputs = 3, n.inputs[0] = 1, n.inputs[1] = 2, n.inputs[2] = 3, n.output = 4;
    n.attrs.act = a->node->attrs.act;
    k.in[0] = s, k.in[1] = a->in[1], k.in[2] = a->in[2], k.out = h;
    kiln_ref_dense(&k);

    n.inputs[0] = 4, n.inputs[1] = 5, n.inputs[2] = 6, n.output = 7;
    n.attrs.act = a->node->attrs.act2;
    k.in[0] = h, k.in[1] = a->in[3], k.in[2] = a->in[4], k.out = gt;
    kiln_ref_dense(&k);

    n.op = KILN_OP_MUL;
    n.n_inputs = 2, n.inputs[0] = 0, n.inputs[1] = 8, n.output = 9;
    kiln_attrs_init(&n.attrs);
    k.in[0] = a->in[0], k.in[1] = gt, k.in[2] = NULL, k.out = a->out;
    kiln_ref_mul(&k);
}
