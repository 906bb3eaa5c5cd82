/* Walking a Keras model config: Sequential and functional models, models nested as layers (inlined), layers called
 * more than once (one graph node per call, weights shared), inbound nodes in the old list form
 * [[name, node_index, tensor_index, kwargs], ...] and the Keras 3 form {"args": [...keras_history...], "kwargs"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keras_internal.h"

#define KK_MAX_OUTPUTS 16
#define KK_MAX_REFS 64

int kk_is_model_class(const char *cls)
{
    return cls && (!strcmp(cls, "Sequential") || !strcmp(cls, "Functional") || !strcmp(cls, "Model"));
}

/* The class name without a registration package ("Custom>CustomScaleLayer" in tf_keras files). */
static const char *class_of(const cJSON *layer)
{
    const char *cls = kk_str(layer, "class_name");
    const char *gt = cls ? strrchr(cls, '>') : NULL;
    return gt ? gt + 1 : cls;
}

static const cJSON *config_of(const cJSON *layer) { return cJSON_GetObjectItemCaseSensitive(layer, "config"); }

static const char *name_of(const cJSON *layer)
{
    const char *n = kk_str(layer, "name");
    if (!n) n = kk_str(config_of(layer), "name");
    return n ? n : "?";
}

/* The layer list of a model: config is the list itself (Keras 2.0 Sequential) or config.layers. */
static const cJSON *layers_of(const cJSON *model)
{
    const cJSON *cfg = config_of(model);
    if (cJSON_IsArray(cfg)) return cfg;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(cfg, "layers");
    return cJSON_IsArray(l) ? l : NULL;
}

/* ---- support check ---------------------------------------------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len, cap;
    int count;
} kk_buf;

static void buf_add(kk_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 256) * 2;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->text, cap);
        if (!p) return;
        b->text = p;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n + 1);
    b->len += n;
}

static void remember_name(kk_ctx *c, const char *name)
{
    if (c->n_layer_names == c->cap_layer_names) {
        int cap = c->cap_layer_names ? c->cap_layer_names * 2 : 256;
        const char **p = realloc(c->layer_names, sizeof(char *) * (size_t)cap);
        if (!p) return;
        c->layer_names = p;
        c->cap_layer_names = cap;
    }
    c->layer_names[c->n_layer_names++] = name;
}

static void check_model(kk_ctx *c, const cJSON *model, kk_buf *b, int depth)
{
    const cJSON *layers = layers_of(model);
    if (!layers || depth > 32) {
        char line[400];
        snprintf(line, sizeof line, "%s'%s' (%s: model without a layer list)", b->count++ ? ", " : "",
                 name_of(model), class_of(model) ? class_of(model) : "?");
        buf_add(b, line);
        return;
    }
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        const char *cls = class_of(layer);
        remember_name(c, name_of(layer));
        if (cls && kk_is_model_class(cls)) {
            check_model(c, layer, b, depth + 1);
            continue;
        }
        if (cls && !strcmp(cls, "InputLayer")) continue;
        const char *why = cls ? kk_layer_unsupported(c, cls, config_of(layer)) : "no class_name";
        if (!why) continue;
        char line[600];
        snprintf(line, sizeof line, "%s'%s' (%s%s%s)", b->count++ ? ", " : "", name_of(layer), cls ? cls : "?",
                 *why ? ": " : "", why);
        buf_add(b, line);
    }
}

kiln_status kk_check_support(kk_ctx *c, const cJSON *model)
{
    kk_buf b = { 0 };
    check_model(c, model, &b, 0);
    if (!b.count) {
        free(b.text);
        return KILN_OK;
    }
    kiln_status st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: unsupported layers: %s", c->path, b.text ? b.text : "?");
    free(b.text);
    return st;
}

/* ---- inputs ----------------------------------------------------------------------------------------------------- */

/* The declared input shape of a layer config (batch_input_shape in Keras 2, batch_shape in Keras 3). */
static const cJSON *declared_shape(const cJSON *cfg)
{
    const cJSON *s = kk_list(cJSON_GetObjectItemCaseSensitive(cfg, "batch_input_shape"));
    if (!s) s = kk_list(cJSON_GetObjectItemCaseSensitive(cfg, "batch_shape"));
    return s;
}

/* The input shape of a model used first in a Sequential without an InputLayer of its own. */
static const cJSON *model_input_shape(const cJSON *layer, int depth)
{
    const cJSON *s = declared_shape(config_of(layer));
    if (s || depth > 32 || !kk_is_model_class(class_of(layer))) return s;
    const cJSON *layers = layers_of(layer);
    const cJSON *first = layers ? cJSON_GetArrayItem(layers, 0) : NULL;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        const char *cls = class_of(l);
        if (cls && !strcmp(cls, "InputLayer")) return declared_shape(config_of(l));
    }
    return first ? model_input_shape(first, depth + 1) : NULL;
}

static kiln_status make_input(kk_ctx *c, const char *name, const cJSON *shape, int *id)
{
    int64_t dims[KILN_MAX_RANK];
    int rank = shape ? cJSON_GetArraySize(shape) : 0;
    if (!shape || rank < 2)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s': the model does not declare its input shape", c->path,
                         name);
    if (rank > KILN_MAX_RANK)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s': rank %d is above the supported %d", c->path, name,
                         rank, KILN_MAX_RANK);
    dims[0] = 1; /* batch placeholder */
    for (int i = 1; i < rank; i++) {
        const cJSON *d = kk_unwrap(cJSON_GetArrayItem(shape, i));
        if (!cJSON_IsNumber(d) || d->valuedouble < 1)
            return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: input '%s': dimension %d is not fixed (None); kiln needs a "
                             "fixed input size", c->path, name, i);
        dims[i] = (int64_t)d->valuedouble;
    }
    *id = kiln_graph_add_input(c->g, name, rank, dims);
    if (*id < 0) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: cannot add input '%s'", c->path, name);
    return KILN_OK;
}

/* ---- calls ------------------------------------------------------------------------------------------------------ */

/* A unique graph name: the layer name, or name@2, name@3... when it is taken (second call of a shared layer, or the
 * same name inside two nested models). */
static void unique_name(const kk_ctx *c, const char *base, char *out, size_t cap)
{
    for (int k = 1;; k++) {
        if (k == 1) snprintf(out, cap, "%s", base);
        else snprintf(out, cap, "%s@%d", base, k);
        int taken = 0;
        for (int i = 0; i < c->g->n_values && !taken; i++) taken = !strcmp(c->g->values[i].name, out);
        if (!taken) return;
    }
}

static kiln_status convert_model(kk_ctx *c, const cJSON *model, hid_t root, kk_pool *pool, const int *in, int n_in,
                                 int *outs, int *n_out, int depth);

/* Apply one layer (or a nested model) to `in`. pool: the enclosing nested model's pool, or NULL at top level.
 * kwargs: the call's keyword arguments (NULL when none). In a Keras 3 .keras file every layer has its own weight
 * group (keras_zip.c), found from the layer's position instead of a pool. */
static kiln_status call_layer(kk_ctx *c, const cJSON *layer, hid_t root, kk_pool *pool, const cJSON *kwargs,
                              const cJSON *args, const int *in, int n_in, int *outs, int *n_out, int depth)
{
    const char *cls = class_of(layer), *name = name_of(layer);
    kk_pool own;
    int opened = 0;
    if (c->k3_zip ? !kk_is_model_class(cls) : !pool) {
        const char *why = c->k3_zip ? kk_k3_pool_open(c, layer, &own)
                                    : kk_pool_open(root, name, !kk_is_model_class(cls), &own);
        if (why) {
            kk_pool_free(&own);
            return kiln_fail(KILN_ERR_FORMAT, "%s: layer '%s' (%s): weights: %s", c->path, name, cls, why);
        }
        pool = &own;
        opened = 1;
    }
    kiln_status st;
    if (kk_is_model_class(cls)) {
        st = convert_model(c, layer, root, pool, in, n_in, outs, n_out, depth + 1);
    } else {
        kk_convert_fn conv;
        kk_check_fn check;
        if (!kk_layer_lookup(cls, &conv, &check)) {
            st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: unsupported layers: '%s' (%s)", c->path, name, cls);
        } else {
            kk_layer L = { layer, config_of(layer), cls, name, { 0 }, pool, kwargs, args, 0 };
            unique_name(c, name, L.node_name, sizeof L.node_name);
            *n_out = 1;
            st = kk_convert_layout(c, &L, conv, in, n_in, &outs[0]);
        }
    }
    if (opened) kk_pool_free(&own);
    return st;
}

/* ---- Sequential ------------------------------------------------------------------------------------------------- */

static kiln_status convert_sequential(kk_ctx *c, const cJSON *model, hid_t root, kk_pool *pool, const int *in,
                                      int n_in, int *outs, int *n_out, int depth)
{
    const cJSON *layers = layers_of(model);
    if (n_in > 1)
        return kiln_fail(KILN_ERR_FORMAT, "%s: Sequential model '%s' is given %d inputs", c->path, name_of(model),
                         n_in);
    int cur = n_in ? in[0] : -1;
    kiln_status st;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        const char *cls = class_of(layer);
        if (cls && !strcmp(cls, "InputLayer")) {
            if (cur < 0 && (st = make_input(c, name_of(layer), declared_shape(config_of(layer)), &cur))) return st;
            continue;
        }
        if (cur < 0) { /* no InputLayer: the first layer declares the shape; Keras names the input <layer>_input */
            char iname[300];
            snprintf(iname, sizeof iname, "%s_input", name_of(layer));
            if ((st = make_input(c, iname, model_input_shape(layer, 0), &cur))) return st;
        }
        int o[KK_MAX_OUTPUTS], no = 0;
        if ((st = call_layer(c, layer, root, pool, NULL, NULL, &cur, 1, o, &no, depth))) return st;
        if (no != 1)
            return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: layer '%s' in Sequential '%s' has %d outputs", c->path,
                             name_of(layer), name_of(model), no);
        cur = o[0];
    }
    if (cur < 0) return kiln_fail(KILN_ERR_FORMAT, "%s: Sequential model '%s' has no layers", c->path, name_of(model));
    outs[0] = cur;
    *n_out = 1;
    return KILN_OK;
}

/* ---- functional ------------------------------------------------------------------------------------------------- */

typedef struct {
    const char *layer;
    int node;
    int n_out;
    int out[KK_MAX_OUTPUTS];
} kk_call;

typedef struct {
    kk_call *calls;
    int n, cap;
} kk_scope;

static const kk_call *scope_find(const kk_scope *s, const char *layer, int node)
{
    for (int i = 0; i < s->n; i++)
        if (s->calls[i].node == node && !strcmp(s->calls[i].layer, layer)) return &s->calls[i];
    return NULL;
}

static int scope_put(kk_scope *s, const char *layer, int node, const int *out, int n_out)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        kk_call *p = realloc(s->calls, sizeof(kk_call) * (size_t)cap);
        if (!p) return -1;
        s->calls = p;
        s->cap = cap;
    }
    kk_call *e = &s->calls[s->n++];
    e->layer = layer;
    e->node = node;
    e->n_out = n_out < KK_MAX_OUTPUTS ? n_out : KK_MAX_OUTPUTS;
    memcpy(e->out, out, sizeof(int) * (size_t)e->n_out);
    return 0;
}

typedef struct {
    const char *layer;
    int node, tensor;
} kk_ref;

/* [name, node_index, tensor_index, ...] -> ref; 0 on success. */
static int parse_ref_list(const cJSON *r, kk_ref *out)
{
    const cJSON *n = cJSON_GetArrayItem(r, 0), *ni = cJSON_GetArrayItem(r, 1), *ti = cJSON_GetArrayItem(r, 2);
    if (!cJSON_IsString(n) || !cJSON_IsNumber(kk_unwrap(ni))) return -1;
    out->layer = n->valuestring;
    out->node = (int)kk_unwrap(ni)->valuedouble;
    out->tensor = cJSON_IsNumber(kk_unwrap(ti)) ? (int)kk_unwrap(ti)->valuedouble : 0;
    return 0;
}

/* Keras 3: collect every keras_history found in args, depth first, in order. */
static void collect_history(const cJSON *v, kk_ref *refs, int *n, int depth)
{
    if (!v || depth > 8) return;
    if (cJSON_IsObject(v)) {
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(v, "config");
        const cJSON *h = cJSON_IsObject(cfg) ? cJSON_GetObjectItemCaseSensitive(cfg, "keras_history") : NULL;
        if (cJSON_IsArray(h)) {
            if (*n < KK_MAX_REFS && !parse_ref_list(h, &refs[*n])) (*n)++;
            return;
        }
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(v, "items"); /* a __tuple__ */
        if (items) collect_history(items, refs, n, depth + 1);
        return;
    }
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) collect_history(e, refs, n, depth + 1);
    }
}

/* The input refs of one inbound node. Returns the count or -1 when malformed. *kwargs (may be NULL) receives the
 * call's keyword arguments: the 4th element of the first ref (old form) or "kwargs" (Keras 3). In the old form,
 * tensors passed by keyword (tf_keras TFOpLambda `x + y`: {"y": ["layer", 0, 0]}) are appended as extra inputs. */
static int parse_node_kw(const cJSON *node, kk_ref *refs, const cJSON **kwargs, const cJSON **args)
{
    int n = 0;
    if (kwargs) *kwargs = NULL;
    if (args) *args = NULL;
    if (cJSON_IsObject(node)) {
        collect_history(cJSON_GetObjectItemCaseSensitive(node, "args"), refs, &n, 0);
        if (kwargs) *kwargs = cJSON_GetObjectItemCaseSensitive(node, "kwargs");
        if (args) *args = cJSON_GetObjectItemCaseSensitive(node, "args");
        return n;
    }
    if (!cJSON_IsArray(node)) return -1;
    const cJSON *r, *first = node;
    if (cJSON_IsString(cJSON_GetArrayItem(node, 0))) {
        /* tf_keras TFOpLambda / SlicingOpLambda: the node is one flat ref [name, node, tensor, kwargs] */
        if (parse_ref_list(node, &refs[n])) return -1;
        n++;
    } else {
        cJSON_ArrayForEach(r, node)
        {
            if (!cJSON_IsArray(r) || n >= KK_MAX_REFS || parse_ref_list(r, &refs[n])) return -1;
            n++;
        }
        first = cJSON_GetArrayItem(node, 0);
    }
    const cJSON *kw = cJSON_GetArrayItem(first, 3);
    if (cJSON_IsObject(kw)) {
        if (kwargs) *kwargs = kw;
        const cJSON *v;
        cJSON_ArrayForEach(v, kw)
        {
            if (cJSON_IsArray(v) && cJSON_GetArraySize(v) >= 3 && cJSON_IsString(cJSON_GetArrayItem(v, 0)) &&
                n < KK_MAX_REFS && !parse_ref_list(v, &refs[n]))
                n++;
        }
    }
    return n;
}

static int parse_node(const cJSON *node, kk_ref *refs) { return parse_node_kw(node, refs, NULL, NULL); }

/* input_layers / output_layers: a list of refs, or (Keras 3, single tensor) one flat ref. */
static int parse_ref_set(const cJSON *v, kk_ref *refs)
{
    if (!cJSON_IsArray(v)) return -1;
    if (cJSON_IsString(cJSON_GetArrayItem(v, 0))) return parse_ref_list(v, &refs[0]) ? -1 : 1;
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, v)
    {
        if (!cJSON_IsArray(r) || n >= KK_MAX_REFS || parse_ref_list(r, &refs[n])) return -1;
        n++;
    }
    return n;
}

static const cJSON *find_layer(const cJSON *layers, const char *name)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, layers) if (!strcmp(name_of(l), name)) return l;
    return NULL;
}

/* Offset between a nested model's call index in its inbound_nodes and the node_index other layers use to refer to
 * it: tf.keras 2 counts the nested model's own internal node first (refs start at 1), Keras 3 does not. Decided
 * from the refs themselves. */
static int nested_node_offset(const kk_ctx *c, const cJSON *model_cfg, const cJSON *layers, const cJSON *nested)
{
    const char *name = name_of(nested);
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(nested, "inbound_nodes");
    int calls = cJSON_IsArray(nodes) ? cJSON_GetArraySize(nodes) : 0, lo = 1 << 30, hi = -1;
    kk_ref refs[KK_MAX_REFS];
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        const cJSON *node;
        cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(l, "inbound_nodes"))
        {
            int n = parse_node(node, refs);
            for (int i = 0; i < n; i++)
                if (!strcmp(refs[i].layer, name)) {
                    if (refs[i].node < lo) lo = refs[i].node;
                    if (refs[i].node > hi) hi = refs[i].node;
                }
        }
    }
    int n = parse_ref_set(cJSON_GetObjectItemCaseSensitive(model_cfg, "output_layers"), refs);
    for (int i = 0; i < n; i++)
        if (!strcmp(refs[i].layer, name)) {
            if (refs[i].node < lo) lo = refs[i].node;
            if (refs[i].node > hi) hi = refs[i].node;
        }
    if (hi >= calls && calls > 0) return 1;
    if (lo == 0) return 0;
    return c->keras_major >= 3 ? 0 : 1;
}

static kiln_status convert_functional(kk_ctx *c, const cJSON *model, hid_t root, kk_pool *pool, const int *in,
                                      int n_in, int *outs, int *n_out, int depth)
{
    const cJSON *cfg = config_of(model), *layers = layers_of(model);
    const char *mname = name_of(model);
    kk_scope s = { 0 };
    kk_ref refs[KK_MAX_REFS];
    kiln_status st = KILN_OK;
    int n = parse_ref_set(cJSON_GetObjectItemCaseSensitive(cfg, "input_layers"), refs);
    if (n < 1) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: model '%s': malformed input_layers", c->path, mname);
        goto done;
    }
    if (n_in && n_in != n) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: model '%s' takes %d inputs, is given %d", c->path, mname, n, n_in);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int id;
        if (n_in) {
            id = in[i];
        } else {
            const cJSON *il = find_layer(layers, refs[i].layer);
            if (!il) {
                st = kiln_fail(KILN_ERR_FORMAT, "%s: model '%s': input layer '%s' not found", c->path, mname,
                               refs[i].layer);
                goto done;
            }
            if ((st = make_input(c, refs[i].layer, declared_shape(config_of(il)), &id))) goto done;
        }
        if (scope_put(&s, refs[i].layer, refs[i].node, &id, 1)) goto oom;
    }
    /* Convert calls whose inputs are ready until nothing changes (a shared layer's later calls may be listed
     * before the layers feeding them). */
    for (int progress = 1; progress;) {
        progress = 0;
        const cJSON *layer;
        cJSON_ArrayForEach(layer, layers)
        {
            const char *cls = class_of(layer), *lname = name_of(layer);
            if (!cls || !strcmp(cls, "InputLayer")) continue;
            int offset = kk_is_model_class(cls) ? nested_node_offset(c, cfg, layers, layer) : 0;
            const cJSON *node;
            int k = 0;
            cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(layer, "inbound_nodes"))
            {
                int key = k++ + offset;
                if (scope_find(&s, lname, key)) continue;
                const cJSON *kwargs, *args;
                int nr = parse_node_kw(node, refs, &kwargs, &args);
                if (nr < 1) {
                    st = kiln_fail(KILN_ERR_FORMAT, "%s: layer '%s' (%s): malformed inbound node %d", c->path, lname,
                                   cls, key);
                    goto done;
                }
                int ins[KK_MAX_REFS], ready = 1;
                for (int i = 0; i < nr && ready; i++) {
                    const kk_call *src = scope_find(&s, refs[i].layer, refs[i].node);
                    ready = src && refs[i].tensor >= 0 && refs[i].tensor < src->n_out;
                    if (ready) ins[i] = src->out[refs[i].tensor];
                }
                if (!ready) continue;
                int o[KK_MAX_OUTPUTS], no = 0;
                if ((st = call_layer(c, layer, root, pool, kwargs, args, ins, nr, o, &no, depth))) goto done;
                if (scope_put(&s, lname, key, o, no)) goto oom;
                progress = 1;
            }
        }
    }
    n = parse_ref_set(cJSON_GetObjectItemCaseSensitive(cfg, "output_layers"), refs);
    if (n < 1 || n > KK_MAX_OUTPUTS) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: model '%s': malformed output_layers", c->path, mname);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const kk_call *src = scope_find(&s, refs[i].layer, refs[i].node);
        if (!src || refs[i].tensor < 0 || refs[i].tensor >= src->n_out) {
            st = kiln_fail(KILN_ERR_FORMAT, "%s: model '%s': output '%s' cannot be computed from the inputs "
                           "(disconnected graph)", c->path, mname, refs[i].layer);
            goto done;
        }
        outs[i] = src->out[refs[i].tensor];
    }
    *n_out = n;
done:
    free(s.calls);
    return st;
oom:
    free(s.calls);
    return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
}

static kiln_status convert_model(kk_ctx *c, const cJSON *model, hid_t root, kk_pool *pool, const int *in, int n_in,
                                 int *outs, int *n_out, int depth)
{
    if (depth > 32) return kiln_fail(KILN_ERR_FORMAT, "%s: models nested too deeply", c->path);
    if (!layers_of(model))
        return kiln_fail(KILN_ERR_FORMAT, "%s: model '%s' has no layer list", c->path, name_of(model));
    if (!strcmp(class_of(model), "Sequential"))
        return convert_sequential(c, model, root, pool, in, n_in, outs, n_out, depth);
    return convert_functional(c, model, root, pool, in, n_in, outs, n_out, depth);
}

kiln_status kk_convert_root(kk_ctx *c, const cJSON *model, hid_t root)
{
    if (!kk_is_model_class(class_of(model)))
        return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: model_config class '%s' is not a Sequential or functional model",
                         c->path, class_of(model) ? class_of(model) : "?");
    int outs[KK_MAX_OUTPUTS], n_out = 0;
    kiln_status st = convert_model(c, model, root, NULL, NULL, 0, outs, &n_out, 0);
    if (st) return st;
    for (int i = 0; i < n_out; i++)
        if (kiln_graph_mark_output(c->g, outs[i])) return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
    return KILN_OK;
}
