/* kiln_engine_save: the engine serialized field by field (docs/ENGINE_FORMAT.md). The metadata is assembled in
 * memory, then written together with the weights block and the CRC-32 trailer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../core/status.h"
#include "../runtime/engine_internal.h"
#include "bytes.h"
#include "checksum.h"
#include "engine_file.h"

static void write_attrs(kiln_wbuf *w, const kiln_attrs *a)
{
    for (int i = 0; i < 2; i++) kiln_w_i32(w, a->kernel[i]);
    for (int i = 0; i < 2; i++) kiln_w_i32(w, a->stride[i]);
    for (int i = 0; i < 2; i++) kiln_w_i32(w, a->dilation[i]);
    for (int i = 0; i < 4; i++) kiln_w_i32(w, a->pads[i]);
    kiln_w_i32(w, a->groups);
    kiln_w_i32(w, a->axis);
    kiln_w_i32(w, a->keepdims);
    kiln_w_i32(w, a->count_include_pad);
    kiln_w_i32(w, a->rank);
    for (int i = 0; i < KILN_MAX_RANK; i++) kiln_w_i64(w, a->shape[i]);
    for (int i = 0; i < KILN_MAX_RANK; i++) kiln_w_i32(w, a->perm[i]);
    for (int i = 0; i < KILN_MAX_RANK; i++) kiln_w_i32(w, a->pads_begin[i]);
    for (int i = 0; i < KILN_MAX_RANK; i++) kiln_w_i32(w, a->pads_end[i]);
    kiln_w_f32(w, a->pad_value);
    kiln_w_f32(w, a->eps);
    kiln_w_i32(w, a->act.kind);
    kiln_w_f32(w, a->act.alpha);
    kiln_w_f32(w, a->act.beta);
    kiln_w_f32(w, a->act.gamma);
    kiln_w_i32(w, a->act2.kind);
    kiln_w_f32(w, a->act2.alpha);
    kiln_w_f32(w, a->act2.beta);
    kiln_w_f32(w, a->act2.gamma);
}

/* Everything before the weights block, padded with zeros to its 64-byte aligned start. */
static void write_meta(kiln_wbuf *w, const kiln_engine *e)
{
    const kiln_graph *g = e->g;
    /* header */
    kiln_w_bytes(w, KILN_ENGINE_MAGIC, 8);
    kiln_w_u32(w, KILN_ENGINE_FORMAT_VERSION);
    kiln_w_u32(w, KILN_ENGINE_ENDIAN_MARKER);
    kiln_w_u64(w, 0); /* file_bytes: patched below */
    kiln_w_u32(w, e->target);
    kiln_w_u32(w, e->g->fixed_shape ? KILN_EF_FLAG_FIXED_SHAPE : 0); /* flags (v4): bit 0 fixed-shape */
    kiln_w_u64(w, 0); /* weights_offset: patched below */
    kiln_w_u64(w, (uint64_t)e->weights_bytes);
    /* build options */
    kiln_w_u32(w, (uint32_t)e->precision);
    kiln_w_i32(w, e->batch_min);
    kiln_w_i32(w, e->batch_max);
    kiln_w_i32(w, e->threads);
    kiln_w_i32(w, e->pass_batch); /* v4 */
    kiln_w_str(w, e->source_format);
    /* graph: values */
    kiln_w_u32(w, (uint32_t)g->n_values);
    for (int i = 0; i < g->n_values; i++) {
        const kiln_value *v = &g->values[i];
        kiln_w_str(w, v->name);
        kiln_w_u32(w, (uint32_t)v->kind);
        kiln_w_u32(w, (uint32_t)v->dtype);
        kiln_w_u32(w, (uint32_t)v->rank);
        for (int d = 0; d < v->rank; d++) kiln_w_i64(w, v->dims[d]);
        kiln_w_i32(w, v->producer);
        int64_t woff = -1;
        if (v->kind == KILN_VALUE_CONSTANT && v->data)
            woff = (int64_t)((const char *)v->data - (const char *)e->weights);
        kiln_w_i64(w, woff);
    }
    /* graph: nodes */
    kiln_w_u32(w, (uint32_t)g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        kiln_w_u32(w, (uint32_t)n->op);
        kiln_w_str(w, n->name);
        kiln_w_u32(w, (uint32_t)n->n_inputs);
        for (int j = 0; j < n->n_inputs; j++) kiln_w_i32(w, n->inputs[j]);
        kiln_w_i32(w, n->output);
        write_attrs(w, &n->attrs);
    }
    /* graph: inputs and outputs */
    kiln_w_u32(w, (uint32_t)g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) kiln_w_i32(w, g->inputs[i]);
    kiln_w_u32(w, (uint32_t)g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++) kiln_w_i32(w, g->outputs[i]);
    /* layers */
    kiln_w_u32(w, (uint32_t)g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        kiln_w_i32(w, e->layers[i].backend);
        kiln_w_i32(w, e->layers[i].tactic);
        kiln_w_i64(w, e->layers[i].workspace);
        kiln_w_i32(w, e->layers[i].precision);
        kiln_w_f32(w, e->layers[i].range);
        kiln_w_i32(w, e->layers[i].stream); /* v6 */
    }
    /* memory plan */
    kiln_w_i64(w, e->arena_bytes);
    kiln_w_i64(w, e->workspace_bytes);
    for (int i = 0; i < g->n_values; i++) kiln_w_i64(w, e->value_offset[i]);
    for (int i = 0; i < g->n_values; i++) kiln_w_i64(w, e->value_pitch ? e->value_pitch[i] : 0);
    /* build report (what the optimizer and planner did; kiln inspect's summary) */
    kiln_w_i32(w, e->layers_imported);
    kiln_w_u32(w, (uint32_t)e->n_pass_stats);
    for (int i = 0; i < e->n_pass_stats; i++) {
        kiln_w_str(w, e->pass_name[i]);
        kiln_w_i32(w, e->pass_rewrites[i]);
    }
    kiln_w_i64(w, e->plan_lower_bound);
    /* zero padding up to the weights block */
    size_t pad = (KILN_EF_WEIGHTS_ALIGN - w->len % KILN_EF_WEIGHTS_ALIGN) % KILN_EF_WEIGHTS_ALIGN;
    uint8_t *z = kiln_w_reserve(w, pad);
    if (z) memset(z, 0, pad);
}

kiln_status kiln_engine_save(const kiln_engine *e, const char *path)
{
    kiln_diag_clear();
    if (!e || !path) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_engine_save: engine and path are required");
    kiln_wbuf w = { 0 };
    write_meta(&w, e);
    if (w.oom) {
        free(w.p);
        return kiln_fail(KILN_ERR_NO_MEMORY, "engine '%s': out of memory writing the engine", path);
    }
    uint64_t weights_offset = w.len;
    uint64_t file_bytes = weights_offset + (uint64_t)e->weights_bytes + KILN_EF_CHECKSUM_BYTES;
    kiln_w_patch_u64(&w, KILN_EF_OFF_FILE_BYTES, file_bytes);
    kiln_w_patch_u64(&w, KILN_EF_OFF_WEIGHTS_OFFSET, weights_offset);
    uint32_t crc = kiln_crc32(0, w.p, w.len);
    crc = kiln_crc32(crc, e->weights, (size_t)e->weights_bytes);
    uint8_t trailer[4] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24) };

    FILE *f = fopen(path, "wb");
    if (!f) {
        free(w.p);
        return kiln_fail(KILN_ERR_IO, "engine '%s': cannot create the file: %s", path, strerror(errno));
    }
    int ok = fwrite(w.p, 1, w.len, f) == w.len;
    ok = ok && fwrite(e->weights, 1, (size_t)e->weights_bytes, f) == (size_t)e->weights_bytes;
    ok = ok && fwrite(trailer, 1, 4, f) == 4;
    int err = errno;
    ok = (fclose(f) == 0) && ok;
    free(w.p);
    if (!ok) {
        remove(path);
        return kiln_fail(KILN_ERR_IO, "engine '%s': write failed: %s", path, strerror(err ? err : errno));
    }
    return KILN_OK;
}
