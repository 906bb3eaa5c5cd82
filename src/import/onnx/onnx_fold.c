/* Constant folding at import: nodes whose inputs are all host constants are computed here, so shape subgraphs
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ConstantOfShape, Cast, Slice...) never reach the engine.
 * Values are computed in double (exact for the integers of shapes) and stored as int64 or float. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static const char *const foldable[] = { "Constant", "Shape", "Gather", "Slice", "Cast", "Concat", "ConstantOfShape",
                                        "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose", "Identity",
                                        "Add", "Sub", "Mul", "Div", "Equal", "Min", "Max", "Neg", "Sqrt", "Floor",
                                        "Ceil", "Range", "Expand", "Where", "Size", NULL };

int ox_can_fold(const char *op_type)
{
    for (int i = 0; foldable[i]; i++)
        if (!strcmp(foldable[i], op_type)) return 1;
    return 0;
}

int ox_all_const(ox_ctx *c)
{
    for (int i = 0; i < (int)c->node->n_input; i++) {
        if (!ox_has_in(c, i)) continue;
        const ox_val *v = ox_in(c, i);
        if (!v || v->kind != OX_CONST) return 0;
    }
    return 1;
}

static double get(const ox_val *v, int64_t k) { return v->is_int ? (double)v->i[k] : (double)v->f[k]; }
static void put(ox_val *v, int64_t k, double x)
{
    if (v->is_int) v->i[k] = (int64_t)x;
    else v->f[k] = (float)x;
}

static kiln_status make(ox_ctx *c, ox_val *o, int is_int, int rank, const int64_t *dims)
{
    memset(o, 0, sizeof *o);
    o->kind = OX_CONST;
    o->is_int = is_int;
    o->rank = rank;
    o->numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return ox_fail(c, KILN_ERR_UNSUPPORTED, "folded constant has a negative dimension");
        o->dims[i] = dims[i];
        o->numel *= dims[i];
    }
    if (o->numel > ((int64_t)1 << 31)) return ox_fail(c, KILN_ERR_UNSUPPORTED, "folded constant too large");
    size_t n = (size_t)(o->numel ? o->numel : 1);
    if (is_int) o->i = calloc(n, sizeof(int64_t));
    else o->f = calloc(n, sizeof(float));
    if (!o->i && !o->f) return ox_fail(c, KILN_ERR_NO_MEMORY, "out of memory");
    return KILN_OK;
}

static int64_t norm_axis(int64_t a, int r) { return a < 0 ? a + r : a; }

/* Integer list from input i (opset >= 13 style) or attribute name (older opsets). -1 when absent. */
static int ints_from(ox_ctx *c, int i, const char *attr, int64_t *out, int cap)
{
    const ox_val *v = ox_in(c, i);
    if (v && v->kind == OX_CONST) {
        int n = (int)v->numel;
        for (int k = 0; k < n && k < cap; k++) out[k] = (int64_t)get(v, k);
        return n;
    }
    return attr ? ox_attr_ints(c->node, attr, out, cap) : -1;
}

/* Row-major strides of dims. */
static void strides(const int64_t *dims, int r, int64_t *s)
{
    int64_t acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        s[i] = acc;
        acc *= dims[i];
    }
}

/* Broadcast n inputs to out (NumPy rules), calling f on each element. */
typedef double (*nary_fn)(const double *x);
/* extra (may be NULL): one more shape taking part in the broadcast without data (Expand's target shape). */
static kiln_status broadcast(ox_ctx *c, const ox_val **in, int n, int is_int, nary_fn f, ox_val *o,
                             const int64_t *extra, int extra_r)
{
    int r = extra ? extra_r : 0;
    int64_t dims[OX_MAX_RANK];
    for (int k = 0; k < n; k++) r = in[k]->rank > r ? in[k]->rank : r;
    for (int d = 0; d < r; d++) {
        dims[d] = 1;
        for (int k = 0; k <= n; k++) {
            if (k == n && !extra) break;
            int rk = k < n ? in[k]->rank : extra_r, j = rk - r + d;
            int64_t dk = j < 0 ? 1 : k < n ? in[k]->dims[j] : extra[j];
            if (dk != 1 && dims[d] != 1 && dk != dims[d])
                return ox_fail(c, KILN_ERR_FORMAT, "constant shapes cannot be broadcast together");
            if (dk != 1) dims[d] = dk;
        }
    }
    kiln_status st = make(c, o, is_int, r, dims);
    if (st) return st;
    int64_t st_in[4][OX_MAX_RANK], idx[OX_MAX_RANK] = { 0 };
    for (int k = 0; k < n; k++) {
        int64_t s[OX_MAX_RANK];
        strides(in[k]->dims, in[k]->rank, s);
        for (int d = 0; d < r; d++) {
            int j = in[k]->rank - r + d;
            st_in[k][d] = j >= 0 && in[k]->dims[j] != 1 ? s[j] : 0;
        }
    }
    for (int64_t e = 0; e < o->numel; e++) {
        double x[4];
        for (int k = 0; k < n; k++) {
            int64_t off = 0;
            for (int d = 0; d < r; d++) off += idx[d] * st_in[k][d];
            x[k] = get(in[k], off);
        }
        put(o, e, f(x));
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return KILN_OK;
}

static double f_add(const double *x) { return x[0] + x[1]; }
static double f_sub(const double *x) { return x[0] - x[1]; }
static double f_mul(const double *x) { return x[0] * x[1]; }
static double f_div(const double *x) { return x[0] / x[1]; }
/* Div of integers truncates (C semantics, like ONNX's reference). */
static double f_idiv(const double *x) { return x[1] ? trunc(x[0] / x[1]) : 0; }
static double f_eq(const double *x) { return x[0] == x[1]; }
static double f_min(const double *x) { return x[0] < x[1] ? x[0] : x[1]; }
static double f_max(const double *x) { return x[0] > x[1] ? x[0] : x[1]; }
static double f_where(const double *x) { return x[0] != 0 ? x[1] : x[2]; }
static double f_first(const double *x) { return x[0]; }

kiln_status ox_op_shape(ox_ctx *c)
{
    const ox_val *x = ox_in(c, 0);
    int r = ox_rank(c, x);
    int64_t start = norm_axis(ox_attr_i(c->node, "start", 0), r), end = norm_axis(ox_attr_i(c->node, "end", r), r);
    if (start < 0) start = 0;
    if (end > r) end = r;
    if (end < start) end = start;
    int64_t n = end - start;
    ox_val o;
    kiln_status st = make(c, &o, 1, 1, &n);
    if (st) return st;
    for (int64_t k = start; k < end; k++) o.i[k - start] = ox_dim(c, x, (int)k);
    return ox_set_const(c, 0, &o);
}

static kiln_status fold_gather(ox_ctx *c, const ox_val *d, const ox_val *ix, ox_val *o)
{
    int64_t axis = norm_axis(ox_attr_i(c->node, "axis", 0), d->rank);
    if (axis < 0 || axis >= d->rank || d->rank + ix->rank - 1 > OX_MAX_RANK)
        return ox_fail(c, KILN_ERR_FORMAT, "bad Gather axis");
    int64_t dims[OX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < axis; i++) dims[r++] = d->dims[i];
    for (int i = 0; i < ix->rank; i++) dims[r++] = ix->dims[i];
    for (int i = (int)axis + 1; i < d->rank; i++) dims[r++] = d->dims[i];
    kiln_status st = make(c, o, d->is_int, r, dims);
    if (st) return st;
    int64_t outer = 1, inner = 1, n = d->dims[axis];
    for (int i = 0; i < axis; i++) outer *= d->dims[i];
    for (int i = (int)axis + 1; i < d->rank; i++) inner *= d->dims[i];
    int64_t e = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < ix->numel; j++) {
            int64_t t = (int64_t)get(ix, j);
            if (t < 0) t += n;
            if (t < 0 || t >= n) return ox_fail(c, KILN_ERR_FORMAT, "Gather index out of range");
            for (int64_t b = 0; b < inner; b++) put(o, e++, get(d, (a * n + t) * inner + b));
        }
    return KILN_OK;
}

static kiln_status fold_slice(ox_ctx *c, const ox_val *d, ox_val *o)
{
    int64_t starts[OX_MAX_RANK], ends[OX_MAX_RANK], axes[OX_MAX_RANK], steps[OX_MAX_RANK];
    int ns = ints_from(c, 1, "starts", starts, OX_MAX_RANK), ne = ints_from(c, 2, "ends", ends, OX_MAX_RANK);
    int na = c->opset >= 10 ? ints_from(c, 3, NULL, axes, OX_MAX_RANK) : ox_attr_ints(c->node, "axes", axes, OX_MAX_RANK);
    int nt = c->opset >= 10 ? ints_from(c, 4, NULL, steps, OX_MAX_RANK) : -1;
    if (ns < 0 || ns != ne || ns > d->rank) return ox_fail(c, KILN_ERR_FORMAT, "bad Slice starts/ends");
    int64_t lo[OX_MAX_RANK], step[OX_MAX_RANK], dims[OX_MAX_RANK];
    for (int a = 0; a < d->rank; a++) lo[a] = 0, step[a] = 1, dims[a] = d->dims[a];
    for (int k = 0; k < ns; k++) {
        int64_t a = na >= 0 ? norm_axis(axes[k], d->rank) : k, s = nt >= 0 ? steps[k] : 1, n = d->dims[a];
        if (a < 0 || a >= d->rank || s == 0) return ox_fail(c, KILN_ERR_FORMAT, "bad Slice axis or step");
        int64_t b = starts[k] < 0 ? starts[k] + n : starts[k], e = ends[k] < 0 ? ends[k] + n : ends[k];
        if (s > 0) {
            b = b < 0 ? 0 : b > n ? n : b;
            e = e < 0 ? 0 : e > n ? n : e;
            dims[a] = e > b ? (e - b + s - 1) / s : 0;
        } else {
            b = b < 0 ? -1 : b > n - 1 ? n - 1 : b;
            e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
            dims[a] = b > e ? (b - e - s - 1) / -s : 0;
        }
        lo[a] = b;
        step[a] = s;
    }
    kiln_status st = make(c, o, d->is_int, d->rank, dims);
    if (st) return st;
    int64_t s_in[OX_MAX_RANK], idx[OX_MAX_RANK] = { 0 };
    strides(d->dims, d->rank, s_in);
    for (int64_t e = 0; e < o->numel; e++) {
        int64_t off = 0;
        for (int a = 0; a < d->rank; a++) off += (lo[a] + idx[a] * step[a]) * s_in[a];
        put(o, e, get(d, off));
        for (int a = d->rank - 1; a >= 0; a--) {
            if (++idx[a] < dims[a]) break;
            idx[a] = 0;
        }
    }
    return KILN_OK;
}

static kiln_status fold_concat(ox_ctx *c, ox_val *o)
{
    const ox_val *first = NULL;
    int n = 0, is_int = 1;
    const ox_val *in[64];
    for (int i = 0; i < (int)c->node->n_input && n < 64; i++) {
        const ox_val *v = ox_in(c, i);
        if (!v) continue;
        if (!first) first = v;
        is_int &= v->is_int;
        in[n++] = v;
    }
    if (!first) return ox_fail(c, KILN_ERR_FORMAT, "Concat without inputs");
    int64_t axis = norm_axis(ox_attr_i(c->node, "axis", 0), first->rank);
    if (axis < 0 || axis >= first->rank) return ox_fail(c, KILN_ERR_FORMAT, "bad Concat axis");
    int64_t dims[OX_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (int k = 0; k < n; k++) {
        if (in[k]->rank != first->rank) return ox_fail(c, KILN_ERR_FORMAT, "Concat inputs differ in rank");
        dims[axis] += in[k]->dims[axis];
    }
    kiln_status st = make(c, o, is_int, first->rank, dims);
    if (st) return st;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= dims[i];
    for (int i = (int)axis + 1; i < first->rank; i++) inner *= dims[i];
    int64_t e = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int k = 0; k < n; k++) {
            int64_t len = in[k]->dims[axis] * inner;
            for (int64_t b = 0; b < len; b++) put(o, e++, get(in[k], a * len + b));
        }
    return KILN_OK;
}

/* Same data, new dims (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Cast). */
static kiln_status relabel(ox_ctx *c, const ox_val *d, int is_int, int rank, const int64_t *dims, ox_val *o)
{
    kiln_status st = make(c, o, is_int, rank, dims);
    if (st) return st;
    if (o->numel != d->numel) return ox_fail(c, KILN_ERR_FORMAT, "element count changes (%lld -> %lld)",
                                             (long long)d->numel, (long long)o->numel);
    int cast_bool = 0;
    if (!strcmp(c->node->op_type, "Cast")) cast_bool = ox_attr_i(c->node, "to", 1) == OX_BOOL;
    for (int64_t k = 0; k < d->numel; k++) {
        double x = get(d, k);
        put(o, k, cast_bool ? x != 0 : is_int ? trunc(x) : x);
    }
    return KILN_OK;
}

static kiln_status fold_reshape_dims(ox_ctx *c, const ox_val *d, int64_t *dims, int *rank)
{
    int n = c->opset >= 5 ? ints_from(c, 1, NULL, dims, OX_MAX_RANK) : ox_attr_ints(c->node, "shape", dims, OX_MAX_RANK);
    if (n < 0 || n > OX_MAX_RANK) return ox_fail(c, KILN_ERR_FORMAT, "Reshape without a usable shape");
    int allowzero = (int)ox_attr_i(c->node, "allowzero", 0), infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] == 0 && !allowzero) dims[i] = i < d->rank ? d->dims[i] : 0;
        if (dims[i] == -1) {
            if (infer >= 0) return ox_fail(c, KILN_ERR_FORMAT, "Reshape with two -1");
            infer = i;
        } else {
            known *= dims[i];
        }
    }
    if (infer >= 0) dims[infer] = known ? d->numel / known : 0;
    *rank = n;
    return KILN_OK;
}

kiln_status ox_fold(ox_ctx *c)
{
    const char *op = c->node->op_type;
    const ox_val *a = ox_in(c, 0), *b = ox_in(c, 1);
    ox_val o;
    memset(&o, 0, sizeof o);
    kiln_status st = KILN_OK;
    int64_t dims[OX_MAX_RANK];
    int rank = 0;
    if (!strcmp(op, "Constant")) {
        const Onnx__AttributeProto *t;
        if ((t = ox_attr(c->node, "value")) && t->t) {
            st = ox_tensor(c, t->t, &o);
            if (st) return ox_fail(c, st, "%s", kiln_last_error());
        } else if ((t = ox_attr(c->node, "value_float")) || (t = ox_attr(c->node, "value_int"))) {
            int is_int = !strcmp(t->name, "value_int");
            if ((st = make(c, &o, is_int, 0, dims))) return st;
            put(&o, 0, is_int ? (double)t->i : (double)t->f);
        } else if ((t = ox_attr(c->node, "value_floats")) || (t = ox_attr(c->node, "value_ints"))) {
            int is_int = !strcmp(t->name, "value_ints");
            dims[0] = is_int ? (int64_t)t->n_ints : (int64_t)t->n_floats;
            if ((st = make(c, &o, is_int, 1, dims))) return st;
            for (int64_t k = 0; k < dims[0]; k++) put(&o, k, is_int ? (double)t->ints[k] : (double)t->floats[k]);
        } else {
            return ox_fail(c, KILN_ERR_UNSUPPORTED, "Constant without a value/value_float(s)/value_int(s) (sparse "
                           "and string constants are not supported)");
        }
        return ox_set_const(c, 0, &o);
    }
    if (!strcmp(op, "Shape")) return ox_op_shape(c);
    if (!a) return ox_fail(c, KILN_ERR_FORMAT, "missing input");
    if (!strcmp(op, "Size")) {
        if ((st = make(c, &o, 1, 0, dims))) return st;
        o.i[0] = a->numel;
    } else if (!strcmp(op, "Gather")) {
        if (!b) return ox_fail(c, KILN_ERR_FORMAT, "missing indices");
        st = fold_gather(c, a, b, &o);
    } else if (!strcmp(op, "Slice")) {
        st = fold_slice(c, a, &o);
    } else if (!strcmp(op, "Concat")) {
        st = fold_concat(c, &o);
    } else if (!strcmp(op, "Cast")) {
        int64_t to = ox_attr_i(c->node, "to", OX_FLOAT);
        st = relabel(c, a, !(to == OX_FLOAT || to == OX_DOUBLE || to == OX_FLOAT16), a->rank, a->dims, &o);
    } else if (!strcmp(op, "Identity")) {
        st = relabel(c, a, a->is_int, a->rank, a->dims, &o);
    } else if (!strcmp(op, "ConstantOfShape")) {
        int n = (int)a->numel;
        if (n > OX_MAX_RANK) return ox_fail(c, KILN_ERR_UNSUPPORTED, "rank %d too large", n);
        for (int k = 0; k < n; k++) dims[k] = (int64_t)get(a, k);
        const Onnx__AttributeProto *t = ox_attr(c->node, "value");
        ox_val fill;
        memset(&fill, 0, sizeof fill);
        if (t && t->t && (st = ox_tensor(c, t->t, &fill))) return ox_fail(c, st, "%s", kiln_last_error());
        int is_int = t && t->t ? fill.is_int : 0;
        double x = t && t->t && fill.numel ? get(&fill, 0) : 0.0;
        free(fill.f);
        free(fill.i);
        if ((st = make(c, &o, is_int, n, dims))) return st;
        for (int64_t k = 0; k < o.numel; k++) put(&o, k, x);
    } else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) {
        int64_t axes[OX_MAX_RANK];
        int na = ints_from(c, 1, "axes", axes, OX_MAX_RANK), sq = op[0] == 'S';
        int out_r = sq ? a->rank - (na < 0 ? 0 : na) : a->rank + na;
        if (!sq && na < 0) return ox_fail(c, KILN_ERR_FORMAT, "Unsqueeze without axes");
        unsigned mark = 0;
        for (int k = 0; k < na; k++) mark |= 1u << norm_axis(axes[k], sq ? a->rank : out_r);
        if (sq) {
            for (int i = 0; i < a->rank; i++)
                if (na < 0 ? a->dims[i] != 1 : !(mark >> i & 1)) dims[rank++] = a->dims[i];
        } else {
            for (int i = 0, j = 0; i < out_r; i++) dims[rank++] = (mark >> i & 1) ? 1 : a->dims[j++];
        }
        st = relabel(c, a, a->is_int, rank, dims, &o);
    } else if (!strcmp(op, "Reshape")) {
        if (!(st = fold_reshape_dims(c, a, dims, &rank))) st = relabel(c, a, a->is_int, rank, dims, &o);
    } else if (!strcmp(op, "Flatten")) {
        int64_t axis = norm_axis(ox_attr_i(c->node, "axis", 1), a->rank);
        dims[0] = dims[1] = 1;
        for (int i = 0; i < a->rank; i++) dims[i >= axis] *= a->dims[i];
        st = relabel(c, a, a->is_int, 2, dims, &o);
    } else if (!strcmp(op, "Transpose")) {
        int64_t perm[OX_MAX_RANK], s_in[OX_MAX_RANK], idx[OX_MAX_RANK] = { 0 };
        if (ox_attr_ints(c->node, "perm", perm, OX_MAX_RANK) != a->rank)
            for (int i = 0; i < a->rank; i++) perm[i] = a->rank - 1 - i;
        for (int i = 0; i < a->rank; i++) dims[i] = a->dims[perm[i]];
        if ((st = make(c, &o, a->is_int, a->rank, dims))) return st;
        strides(a->dims, a->rank, s_in);
        for (int64_t e = 0; e < o.numel; e++) {
            int64_t off = 0;
            for (int i = 0; i < a->rank; i++) off += idx[i] * s_in[perm[i]];
            put(&o, e, get(a, off));
            for (int i = a->rank - 1; i >= 0; i--) {
                if (++idx[i] < dims[i]) break;
                idx[i] = 0;
            }
        }
    } else if (!strcmp(op, "Range")) {
        const ox_val *d = ox_in(c, 2);
        if (!b || !d) return ox_fail(c, KILN_ERR_FORMAT, "Range needs start, limit, delta");
        double s = get(a, 0), l = get(b, 0), dl = get(d, 0);
        if (dl == 0) return ox_fail(c, KILN_ERR_FORMAT, "Range delta 0");
        dims[0] = (int64_t)fmax(ceil((l - s) / dl), 0);
        if ((st = make(c, &o, a->is_int, 1, dims))) return st;
        for (int64_t k = 0; k < dims[0]; k++) put(&o, k, s + (double)k * dl);
    } else if (!strcmp(op, "Expand")) {
        if (!b || b->numel > OX_MAX_RANK) return ox_fail(c, KILN_ERR_FORMAT, "bad Expand shape");
        for (int k = 0; k < b->numel; k++) dims[k] = (int64_t)get(b, k);
        const ox_val *in[1] = { a };
        st = broadcast(c, in, 1, a->is_int, f_first, &o, dims, (int)b->numel);
    } else if (!strcmp(op, "Neg") || !strcmp(op, "Sqrt") || !strcmp(op, "Floor") || !strcmp(op, "Ceil")) {
        if (!(st = make(c, &o, a->is_int, a->rank, a->dims)))
            for (int64_t k = 0; k < a->numel; k++) {
                double x = get(a, k);
                put(&o, k, op[0] == 'N' ? -x : op[0] == 'S' ? sqrt(x) : op[0] == 'F' ? floor(x) : ceil(x));
            }
    } else if (!strcmp(op, "Where")) {
        const ox_val *in[3] = { a, b, ox_in(c, 2) };
        if (!in[1] || !in[2]) return ox_fail(c, KILN_ERR_FORMAT, "Where needs 3 inputs");
        st = broadcast(c, in, 3, in[1]->is_int && in[2]->is_int, f_where, &o, NULL, 0);
    } else {
        if (!b) return ox_fail(c, KILN_ERR_FORMAT, "missing second input");
        const ox_val *in[2] = { a, b };
        nary_fn f = !strcmp(op, "Add") ? f_add : !strcmp(op, "Sub") ? f_sub : !strcmp(op, "Mul") ? f_mul
                  : !strcmp(op, "Div") ? f_div : !strcmp(op, "Equal") ? f_eq : !strcmp(op, "Min") ? f_min : f_max;
        if (f == f_div && a->is_int && b->is_int) f = f_idiv;
        st = broadcast(c, in, 2, f == f_eq ? 1 : a->is_int && b->is_int, f, &o, NULL, 0);
    }
    if (st) {
        free(o.f);
        free(o.i);
        return st;
    }
    return ox_set_const(c, 0, &o);
}
