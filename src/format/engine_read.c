/* kiln_engine_load: map an engine file read-only, verify it (size, magic, byte order, version, declared size,
 * checksum, target) and parse it with every count and offset checked against the bytes left, so even a file with
 * a valid checksum but nonsense inside is refused instead of read out of bounds. Constants point into the mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/kernel.h"
#include "../cpu/stream.h"
#include "../cpu/tactics.h"
#include "../plan/plan.h"
#include "../runtime/backend_cuda.h"
#include "../runtime/engine_internal.h"
#include "bytes.h"
#include "checksum.h"
#include "engine_file.h"

static uint32_t le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t le64(const uint8_t *b) { return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32; }

/* Parse state: the reader, the file name for messages, and the first reason the content is corrupt. */
typedef struct {
    kiln_rbuf r;
    const char *path;
    char why[200];
} parser;

#define CORRUPT(P, ...) (snprintf((P)->why, sizeof (P)->why, __VA_ARGS__), -1)

static void read_attrs(kiln_rbuf *r, kiln_attrs *a)
{
    for (int i = 0; i < 2; i++) a->kernel[i] = kiln_r_i32(r);
    for (int i = 0; i < 2; i++) a->stride[i] = kiln_r_i32(r);
    for (int i = 0; i < 2; i++) a->dilation[i] = kiln_r_i32(r);
    for (int i = 0; i < 4; i++) a->pads[i] = kiln_r_i32(r);
    a->groups = kiln_r_i32(r);
    a->axis = kiln_r_i32(r);
    a->keepdims = kiln_r_i32(r);
    a->count_include_pad = kiln_r_i32(r);
    a->rank = kiln_r_i32(r);
    for (int i = 0; i < KILN_MAX_RANK; i++) a->shape[i] = kiln_r_i64(r);
    for (int i = 0; i < KILN_MAX_RANK; i++) a->perm[i] = kiln_r_i32(r);
    for (int i = 0; i < KILN_MAX_RANK; i++) a->pads_begin[i] = kiln_r_i32(r);
    for (int i = 0; i < KILN_MAX_RANK; i++) a->pads_end[i] = kiln_r_i32(r);
    a->pad_value = kiln_r_f32(r);
    a->eps = kiln_r_f32(r);
    a->act.kind = kiln_r_i32(r);
    a->act.alpha = kiln_r_f32(r);
    a->act.beta = kiln_r_f32(r);
    a->act.gamma = kiln_r_f32(r);
    a->act2.kind = kiln_r_i32(r);
    a->act2.alpha = kiln_r_f32(r);
    a->act2.beta = kiln_r_f32(r);
    a->act2.gamma = kiln_r_f32(r);
}

/* A count of records each at least min_bytes long, checked against the bytes left. */
static int read_count(parser *p, const char *what, size_t min_bytes, int32_t *out)
{
    uint32_t n = kiln_r_u32(&p->r);
    if (p->r.bad) return CORRUPT(p, "ends inside the %s count", what);
    if (n > INT32_MAX || (uint64_t)n * min_bytes > p->r.len - p->r.pos)
        return CORRUPT(p, "%s count %u is more than the file holds", what, n);
    *out = (int32_t)n;
    return 0;
}

static int parse_values(parser *p, kiln_engine *e)
{
    kiln_graph *g = e->g;
    int32_t n;
    if (read_count(p, "value", 28, &n)) return -1;
    g->values = calloc((size_t)n + 1, sizeof(kiln_value));
    if (!g->values) return CORRUPT(p, "out of memory");
    g->cap_values = n + 1;
    for (int i = 0; i < n; i++) {
        kiln_value *v = &g->values[i];
        g->n_values = i + 1;
        v->name = kiln_r_str(&p->r);
        v->kind = (int32_t)kiln_r_u32(&p->r);
        v->dtype = (int32_t)kiln_r_u32(&p->r);
        uint32_t rank = kiln_r_u32(&p->r);
        if (p->r.bad) return CORRUPT(p, "ends inside value %d", i);
        if (v->kind != KILN_VALUE_ACTIVATION && v->kind != KILN_VALUE_CONSTANT)
            return CORRUPT(p, "value %d '%s' has unknown kind %d", i, v->name, v->kind);
        if (v->dtype != KILN_DTYPE_F32) return CORRUPT(p, "value %d '%s' has unknown dtype %d", i, v->name, v->dtype);
        if (rank > KILN_MAX_RANK || (rank == 0 && v->kind == KILN_VALUE_ACTIVATION))
            return CORRUPT(p, "value %d '%s' has rank %u", i, v->name, rank);
        v->rank = (int32_t)rank;
        int64_t numel = 1;
        for (uint32_t d = 0; d < rank; d++) {
            v->dims[d] = kiln_r_i64(&p->r);
            /* 0: an empty graph output (an ONNX Slice past the end; check_empty_outputs below) */
            const int64_t lo = v->kind == KILN_VALUE_ACTIVATION && d > 0 ? 0 : 1;
            if (v->dims[d] < lo || v->dims[d] > KILN_EF_MAX_NUMEL || (numel *= v->dims[d]) > KILN_EF_MAX_NUMEL)
                return CORRUPT(p, "value %d '%s' has a bad dimension", i, v->name);
        }
        if (v->kind == KILN_VALUE_ACTIVATION && v->dims[0] != 1)
            return CORRUPT(p, "value %d '%s' has batch placeholder %lld (must be 1)", i, v->name,
                           (long long)v->dims[0]);
        v->producer = kiln_r_i32(&p->r);
        int64_t woff = kiln_r_i64(&p->r);
        if (p->r.bad) return CORRUPT(p, "ends inside value %d", i);
        if (v->kind == KILN_VALUE_CONSTANT) {
            int64_t bytes = kiln_value_numel(v) * (int64_t)sizeof(float);
            if (woff < 0 || woff % KILN_EF_WEIGHTS_ALIGN || woff > e->weights_bytes || bytes > e->weights_bytes - woff)
                return CORRUPT(p, "constant '%s' lies outside the weights block", v->name);
            if (v->producer != -1) return CORRUPT(p, "constant '%s' has a producer", v->name);
            v->data = (float *)((char *)e->weights + woff); /* in the mapping: used in place, never written */
            v->owns_data = 0;
        } else if (woff != -1) {
            return CORRUPT(p, "activation '%s' has a weights offset", v->name);
        }
    }
    return 0;
}

/* Empty activations (a zero-length axis) exist only as graph outputs that no layer reads: kernels never see them. */
static int check_empty_outputs(parser *p, const kiln_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        if (g->values[v].kind != KILN_VALUE_ACTIVATION || kiln_value_numel(&g->values[v]) > 0) continue;
        int is_output = 0;
        for (int i = 0; i < g->n_outputs; i++) is_output |= g->outputs[i] == v;
        for (int n = 0; n < g->n_nodes; n++)
            for (int j = 0; j < g->nodes[n].n_inputs; j++)
                if (g->nodes[n].inputs[j] == v) is_output = 0;
        for (int i = 0; i < g->n_inputs; i++)
            if (g->inputs[i] == v) is_output = 0;
        if (!is_output) return CORRUPT(p, "value %d '%s' is empty but not only a graph output", v, g->values[v].name);
    }
    return 0;
}

static int parse_nodes(parser *p, kiln_engine *e)
{
    kiln_graph *g = e->g;
    int32_t n;
    if (read_count(p, "node", 16 + KILN_EF_ATTRS_BYTES, &n)) return -1; /* fixed fields + attrs */
    g->nodes = calloc((size_t)n + 1, sizeof(kiln_node));
    if (!g->nodes) return CORRUPT(p, "out of memory");
    g->cap_nodes = n + 1;
    for (int i = 0; i < n; i++) {
        kiln_node *nd = &g->nodes[i];
        g->n_nodes = i + 1;
        uint32_t op = kiln_r_u32(&p->r);
        nd->name = kiln_r_str(&p->r);
        uint32_t n_in = kiln_r_u32(&p->r);
        if (p->r.bad) return CORRUPT(p, "ends inside node %d", i);
        if (op >= KILN_OP_COUNT) return CORRUPT(p, "node %d '%s' has unknown op %u", i, nd->name, op);
        nd->op = (int32_t)op;
        if ((int)n_in < kiln_op_min_inputs(nd->op) || (int)n_in > kiln_op_max_inputs(nd->op) ||
            n_in > KILN_MAX_NODE_INPUTS)
            return CORRUPT(p, "node %d '%s' has %u inputs", i, nd->name, n_in);
        nd->n_inputs = (int32_t)n_in;
        for (uint32_t j = 0; j < n_in; j++) {
            nd->inputs[j] = kiln_r_i32(&p->r);
            if (nd->inputs[j] < 0 || nd->inputs[j] >= g->n_values)
                return CORRUPT(p, "node %d '%s' reads a value out of range", i, nd->name);
        }
        nd->output = kiln_r_i32(&p->r);
        read_attrs(&p->r, &nd->attrs);
        if (p->r.bad) return CORRUPT(p, "ends inside node %d", i);
        if (nd->output < 0 || nd->output >= g->n_values)
            return CORRUPT(p, "node %d '%s' writes a value out of range", i, nd->name);
        if ((unsigned)nd->attrs.act.kind >= KILN_ACT_COUNT || (unsigned)nd->attrs.act2.kind >= KILN_ACT_COUNT)
            return CORRUPT(p, "node %d '%s' has unknown activation %d", i, nd->name, nd->attrs.act.kind);
        if (nd->attrs.rank < 0 || nd->attrs.rank > KILN_MAX_RANK)
            return CORRUPT(p, "node %d '%s' has attribute rank %d", i, nd->name, nd->attrs.rank);
        for (int k = 0; k < 4; k++)
            if (nd->attrs.pads[k] < 0) return CORRUPT(p, "node %d '%s' has negative padding", i, nd->name);
    }
    return 0;
}

static int parse_io(parser *p, kiln_engine *e)
{
    kiln_graph *g = e->g;
    int32_t *counts[2] = { &g->n_inputs, &g->n_outputs };
    int32_t **ids[2] = { &g->inputs, &g->outputs };
    for (int k = 0; k < 2; k++) {
        int32_t n;
        if (read_count(p, k ? "graph output" : "graph input", 4, &n)) return -1;
        *ids[k] = malloc(sizeof(int32_t) * ((size_t)n + 1));
        if (!*ids[k]) return CORRUPT(p, "out of memory");
        *counts[k] = n;
        for (int i = 0; i < n; i++) {
            int32_t v = kiln_r_i32(&p->r);
            if (v < 0 || v >= g->n_values || g->values[v].kind != KILN_VALUE_ACTIVATION)
                return CORRUPT(p, "graph %s %d is not an activation", k ? "output" : "input", i);
            (*ids[k])[i] = v;
        }
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (g->values[g->inputs[i]].producer != -1) return CORRUPT(p, "graph input %d has a producer", i);
    return 0;
}

/* Producer links in both directions, every activation computed or supplied: the runtime relies on all of it. */
static int check_links(parser *p, const kiln_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        if (val->producer < -1 || val->producer >= g->n_nodes || (val->producer >= 0 && g->nodes[val->producer].output != v))
            return CORRUPT(p, "value '%s' has a bad producer", val->name);
        if (val->kind == KILN_VALUE_ACTIVATION && val->producer < 0) {
            int is_input = 0;
            for (int i = 0; i < g->n_inputs; i++) is_input |= g->inputs[i] == v;
            if (!is_input) return CORRUPT(p, "activation '%s' is neither computed nor a graph input", val->name);
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (g->values[g->nodes[i].output].kind != KILN_VALUE_ACTIVATION)
            return CORRUPT(p, "node '%s' writes a constant", g->nodes[i].name);
    return 0;
}

static int parse_layers_and_plan(parser *p, kiln_engine *e)
{
    kiln_graph *g = e->g;
    int32_t n;
    if (read_count(p, "layer", KILN_EF_LAYER_BYTES, &n)) return -1;
    if (n != g->n_nodes) return CORRUPT(p, "%d layers for %d nodes", n, g->n_nodes);
    e->layers = calloc((size_t)n + 1, sizeof(kiln_layer));
    e->value_offset = malloc(sizeof(int64_t) * ((size_t)g->n_values + 1));
    e->value_pitch = malloc(sizeof(int64_t) * ((size_t)g->n_values + 1));
    if (!e->layers || !e->value_offset || !e->value_pitch) return CORRUPT(p, "out of memory");
    for (int i = 0; i < n; i++) {
        e->layers[i].backend = kiln_r_i32(&p->r);
        e->layers[i].tactic = kiln_r_i32(&p->r);
        e->layers[i].workspace = kiln_r_i64(&p->r);
        e->layers[i].precision = kiln_r_i32(&p->r);
        e->layers[i].range = kiln_r_f32(&p->r);
        e->layers[i].stream = kiln_r_i32(&p->r); /* v6 */
        if (p->r.bad) return CORRUPT(p, "ends inside layer %d", i);
        /* FP16 engines (CUDA only) may keep layers in FP32; nothing else mixes precisions. */
        const int32_t lp = e->layers[i].precision;
        if (lp != KILN_PRECISION_FP32 &&
            !(lp == KILN_PRECISION_FP16 && e->precision == KILN_PRECISION_FP16 && e->layers[i].backend == 1))
            return CORRUPT(p, "layer %d '%s' has precision %d in a%s engine", i, g->nodes[i].name, lp,
                           e->precision == KILN_PRECISION_FP16 ? "n FP16" : "n FP32");
        const float rg = e->layers[i].range;
        if (!(rg == -1.0f || rg >= 0.0f)) /* -1 (not calibrated) or a range, +inf included (an overflow); never NaN */
            return CORRUPT(p, "layer %d '%s' has calibration range %g", i, g->nodes[i].name, (double)rg);
        if ((e->layers[i].backend != 0 && e->layers[i].backend != 1) ||
            (e->layers[i].backend == 0 && !kiln_cpu_tactic_get((kiln_op)g->nodes[i].op, e->layers[i].tactic)))
            /* backend 1 = CUDA: its own tactics; CPU tactics: src/cpu/tactics.c (an ISA this CPU lacks falls back) */
            return CORRUPT(p, "layer %d '%s' uses backend %d tactic %d, unknown to this kiln", i, g->nodes[i].name,
                           e->layers[i].backend, e->layers[i].tactic);
        if (e->layers[i].workspace < 0) return CORRUPT(p, "layer %d has a negative workspace", i);
    }
    /* row streaming (src/cpu/stream.h): a CPU expansion conv streamed into the CPU depthwise conv after it */
    for (int i = 0; i < n; i++) {
        const int32_t sm = e->layers[i].stream;
        if (!sm) continue;
        int bad = e->layers[i].backend != 0 || sm < 0 || sm > 3 || (sm == 1 && !kiln_stream_pair_ok(g, i)) ||
                  (sm == 2 && !kiln_se_fold_pair_ok(g, i)) || (sm == 3 && !kiln_stream_triple_ok(g, i));
        for (int k = i + 1; !bad && k <= i + (sm == 3 ? 2 : 1); k++) /* the layers it covers run nothing else */
            bad = e->layers[k].backend != 0 || e->layers[k].stream != 0;
        if (bad)
            return CORRUPT(p, "layer %d '%s' has stream %d but is not %s", i, g->nodes[i].name, sm,
                           sm == 2   ? "a squeeze-excite foldable into the next layer"
                           : sm == 3 ? "an expansion conv streamable with the next two layers"
                                     : "an expansion conv streamable into the next layer");
    }
    e->arena_bytes = kiln_r_i64(&p->r);
    e->workspace_bytes = kiln_r_i64(&p->r);
    for (int v = 0; v < g->n_values; v++) e->value_offset[v] = kiln_r_i64(&p->r);
    for (int v = 0; v < g->n_values; v++) e->value_pitch[v] = kiln_r_i64(&p->r);
    if (p->r.bad) return CORRUPT(p, "ends inside the memory plan");
    for (int i = 0; i < n; i++) /* streamed rows live in dense rings */
        if (e->layers[i].stream && (e->value_pitch[g->nodes[i].output] ||
                                    (e->layers[i].stream == 3 && e->value_pitch[g->nodes[i + 1].output])))
            return CORRUPT(p, "layer %d '%s' is streamed but its output has a row pitch", i, g->nodes[i].name);
    /* Every planned activation must fit the arena at batch_max, and the arena cannot exceed what no planning at all
     * would take (which also bounds the allocation a context makes). */
    int64_t sum = 0;
    for (int v = 0; v < g->n_values; v++) {
        const kiln_value *val = &g->values[v];
        int bound = val->kind == KILN_VALUE_CONSTANT;
        for (int i = 0; i < g->n_inputs; i++) bound |= g->inputs[i] == v;
        for (int i = 0; i < g->n_outputs; i++) bound |= g->outputs[i] == v;
        int64_t off = e->value_offset[v];
        if (bound) {
            if (off != -1) return CORRUPT(p, "value '%s' is bound by the caller but has an arena offset", val->name);
            if (e->value_pitch[v]) return CORRUPT(p, "value '%s' is bound by the caller but has a row pitch", val->name);
            continue;
        }
        int64_t bytes = kiln_plan_value_bytes(val, e->batch_max);
        sum += bytes;
        int64_t pitch = e->value_pitch[v];
        if (pitch) { /* a view (channel slice of a wider buffer): 4-D, pitch above its channels, inside the arena */
            if (val->rank != 4 || pitch <= val->dims[3] || pitch > KILN_EF_MAX_NUMEL)
                return CORRUPT(p, "value '%s' has row pitch %lld", val->name, (long long)pitch);
            bytes = kiln_plan_span_bytes(val, e->batch_max, pitch);
            /* only kernels that honour pitches may write or read it (kiln_kernel_args.in_pitch / out_pitch) */
            if (val->producer < 0 || !kiln_plan_op_writes_pitch(g->nodes[val->producer].op))
                return CORRUPT(p, "value '%s' has a row pitch its producer does not write", val->name);
            for (int i = 0; i < g->n_nodes; i++)
                for (int j = 0; j < g->nodes[i].n_inputs; j++)
                    if (g->nodes[i].inputs[j] == v && !kiln_plan_op_reads_pitch(g->nodes[i].op, j))
                        return CORRUPT(p, "value '%s' has a row pitch layer '%s' cannot read", val->name,
                                       g->nodes[i].name);
        }
        if (off < 0 || off % (pitch ? 4 : KILN_PLAN_ALIGN) || off > e->arena_bytes || bytes > e->arena_bytes - off)
            return CORRUPT(p, "value '%s' lies outside the activation arena", val->name);
    }
    if (e->arena_bytes < 0 || e->arena_bytes > sum) return CORRUPT(p, "arena size %lld is impossible", (long long)e->arena_bytes);
    /* build report */
    e->layers_imported = kiln_r_i32(&p->r);
    uint32_t ns = kiln_r_u32(&p->r);
    if (p->r.bad || ns > KILN_EF_MAX_PASS_STATS || e->layers_imported < 0)
        return CORRUPT(p, "bad build report");
    e->n_pass_stats = (int32_t)ns;
    for (uint32_t i = 0; i < ns; i++) {
        char *name = kiln_r_str(&p->r);
        e->pass_rewrites[i] = kiln_r_i32(&p->r);
        int ok = !p->r.bad && name && strlen(name) < sizeof e->pass_name[i] && e->pass_rewrites[i] >= 0;
        if (ok) strcpy(e->pass_name[i], name);
        free(name);
        if (!ok) return CORRUPT(p, "bad build report entry %u", i);
    }
    e->plan_lower_bound = kiln_r_i64(&p->r);
    if (p->r.bad || e->plan_lower_bound < 0 || e->plan_lower_bound > e->arena_bytes)
        return CORRUPT(p, "bad build report");
    /* Scratch space is what this kiln's kernels need, whatever the file says. */
    e->workspace_bytes = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int64_t ws = (int64_t)kiln_ref_workspace_bytes(g, &g->nodes[i], e->batch_max);
        if (ws > e->workspace_bytes) e->workspace_bytes = ws;
    }
    return 0;
}

static int parse_options(parser *p, kiln_engine *e)
{
    kiln_rbuf *r = &p->r;
    e->precision = (int32_t)kiln_r_u32(r);
    e->batch_min = kiln_r_i32(r);
    e->batch_max = kiln_r_i32(r);
    e->threads = kiln_r_i32(r);
    e->pass_batch = kiln_r_i32(r); /* v4 */
    char *fmt = kiln_r_str(r);
    if (r->bad) {
        free(fmt);
        return CORRUPT(p, "ends inside the build options");
    }
    int fmt_ok = strlen(fmt) < sizeof e->source_format;
    if (fmt_ok) strcpy(e->source_format, fmt);
    free(fmt);
    if (!fmt_ok) return CORRUPT(p, "source format name too long");
    if (e->precision != KILN_PRECISION_FP32 && e->precision != KILN_PRECISION_FP16) /* FP16: CUDA engines */
        return CORRUPT(p, "precision %d unknown", e->precision);
    if (e->batch_min < 1 || e->batch_min > e->batch_max || e->batch_max > KILN_EF_MAX_BATCH)
        return CORRUPT(p, "batch range %d:%d", e->batch_min, e->batch_max);
    if (e->threads < 1 || e->threads > KILN_EF_MAX_THREADS) return CORRUPT(p, "thread count %d", e->threads);
    if (e->pass_batch < 0 || e->pass_batch > e->batch_max)
        return CORRUPT(p, "samples per pass %d outside 0..%d", e->pass_batch, e->batch_max);
    return 0;
}

/* Header checks in the order that gives the most useful message. Returns KILN_OK or the failure. */
static kiln_status check_header(const char *path, const uint8_t *b, size_t size, uint64_t *weights_offset)
{
    if (memcmp(b, KILN_ENGINE_MAGIC, 8))
        return kiln_fail(KILN_ERR_FORMAT, "engine '%s': not a kiln engine (bad magic)", path);
    uint32_t endian = le32(b + KILN_EF_OFF_ENDIAN);
    if (endian == 0x04030201u)
        return kiln_fail(KILN_ERR_FORMAT, "engine '%s': written with the opposite byte order", path);
    if (endian != KILN_ENGINE_ENDIAN_MARKER)
        return kiln_fail(KILN_ERR_FORMAT, "engine '%s': not a kiln engine (bad endianness marker 0x%08x)", path, endian);
    uint32_t version = le32(b + KILN_EF_OFF_VERSION);
    if (version != KILN_ENGINE_FORMAT_VERSION)
        return kiln_fail(KILN_ERR_VERSION, "engine '%s': wrong version (file v%u, this kiln reads v%u)", path, version,
                         KILN_ENGINE_FORMAT_VERSION);
    uint64_t declared = le64(b + KILN_EF_OFF_FILE_BYTES);
    if (size < declared)
        return kiln_fail(KILN_ERR_TRUNCATED, "engine '%s': truncated (%zu bytes, the header says %llu)", path, size,
                         (unsigned long long)declared);
    if (size > declared || declared < KILN_EF_HEADER_BYTES + KILN_EF_CHECKSUM_BYTES)
        return kiln_fail(KILN_ERR_FORMAT, "engine '%s': corrupt (%zu bytes, the header says %llu)", path, size,
                         (unsigned long long)declared);
    uint32_t stored = le32(b + size - KILN_EF_CHECKSUM_BYTES);
    uint32_t computed = kiln_crc32(0, b, size - KILN_EF_CHECKSUM_BYTES);
    if (stored != computed)
        return kiln_fail(KILN_ERR_CHECKSUM, "engine '%s': corrupt (checksum mismatch: stored 0x%08x, computed 0x%08x)",
                         path, stored, computed);
    uint32_t target = le32(b + KILN_EF_OFF_TARGET);
    /* CUDA engines (backend_cuda.h) load anywhere; the GPU's SM version is checked when a context is created. */
    if (target != kiln_host_target() && !KILN_TARGET_IS_CUDA(target))
        return kiln_fail(KILN_ERR_TARGET, "engine '%s': built for %s, this machine is %s", path,
                         kiln_target_name(target), kiln_target_name(kiln_host_target()));
    uint64_t woff = le64(b + KILN_EF_OFF_WEIGHTS_OFFSET), wbytes = le64(b + KILN_EF_OFF_WEIGHTS_BYTES);
    if ((le32(b + KILN_EF_OFF_FLAGS) & ~KILN_EF_FLAG_FIXED_SHAPE) != 0 || woff < KILN_EF_HEADER_BYTES || woff % KILN_EF_WEIGHTS_ALIGN ||
        woff > size || wbytes != size - KILN_EF_CHECKSUM_BYTES - woff)
        return kiln_fail(KILN_ERR_FORMAT, "engine '%s': corrupt (bad weights block placement)", path);
    *weights_offset = woff;
    return KILN_OK;
}

kiln_status kiln_engine_load(const char *path, kiln_engine **out)
{
    kiln_diag_clear();
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_load: out is NULL");
    *out = NULL;
    if (!path) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_load: path is NULL");
    int fd = open(path, O_RDONLY);
    if (fd < 0) return kiln_fail(KILN_ERR_IO, "engine '%s': cannot open: %s", path, strerror(errno));
    struct stat stbuf;
    if (fstat(fd, &stbuf) || !S_ISREG(stbuf.st_mode)) {
        close(fd);
        return kiln_fail(KILN_ERR_IO, "engine '%s': not a regular file", path);
    }
    size_t size = (size_t)stbuf.st_size;
    if (size < KILN_EF_HEADER_BYTES) {
        /* Too short for a header: say "not an engine" when even the bytes present differ from the magic. */
        uint8_t head[8] = { 0 };
        ssize_t got = size ? read(fd, head, size < 8 ? size : 8) : 0;
        close(fd);
        if (got > 0 && memcmp(head, KILN_ENGINE_MAGIC, (size_t)got))
            return kiln_fail(KILN_ERR_FORMAT, "engine '%s': not a kiln engine (bad magic)", path);
        return kiln_fail(KILN_ERR_TRUNCATED, "engine '%s': truncated (%zu bytes, shorter than the %d-byte header)",
                         path, size, KILN_EF_HEADER_BYTES);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return kiln_fail(KILN_ERR_IO, "engine '%s': cannot map: %s", path, strerror(errno));
    uint64_t woff = 0;
    kiln_status st = check_header(path, map, size, &woff);
    if (st) {
        munmap(map, size);
        return st;
    }
    kiln_engine *e = calloc(1, sizeof(kiln_engine));
    if (e) e->g = kiln_graph_new();
    if (!e || !e->g) {
        free(e);
        munmap(map, size);
        return kiln_fail(KILN_ERR_NO_MEMORY, "engine '%s': out of memory", path);
    }
    e->map = map;
    e->map_bytes = size;
    e->target = le32((const uint8_t *)map + KILN_EF_OFF_TARGET);
    e->g->fixed_shape = (le32((const uint8_t *)map + KILN_EF_OFF_FLAGS) & KILN_EF_FLAG_FIXED_SHAPE) != 0;
    e->weights = (uint8_t *)map + woff;
    e->weights_bytes = (int64_t)le64((const uint8_t *)map + KILN_EF_OFF_WEIGHTS_BYTES);

    parser p = { .r = { .p = map, .len = (size_t)woff, .pos = KILN_EF_HEADER_BYTES }, .path = path };
    int bad = parse_options(&p, e) || parse_values(&p, e) || parse_nodes(&p, e) || parse_io(&p, e) ||
              check_links(&p, e->g) || check_empty_outputs(&p, e->g);
    if (!bad && kiln_graph_check(e->g, "load") != KILN_OK) {
        snprintf(p.why, sizeof p.why, "%s", kiln_last_error());
        bad = 1;
    }
    bad = bad || parse_layers_and_plan(&p, e);
    if (!bad && e->g->fixed_shape && (e->batch_min != 1 || e->batch_max != 1)) {
        snprintf(p.why, sizeof p.why, "a fixed-shape engine with batch range %d:%d (only 1:1 exists)", e->batch_min,
                 e->batch_max);
        bad = 1;
    }
    if (bad) {
        kiln_engine_free(e);
        return kiln_fail(KILN_ERR_FORMAT, "engine '%s': corrupt (%s)", path, p.why);
    }
    /* Resolve CPU tactics for this machine (ISA fallbacks) and pack the weights they need. */
    if ((st = kiln_cpu_engine_prepare(e))) {
        kiln_engine_free(e);
        return st;
    }
    *out = e;
    return KILN_OK;
}
