/* kiln_engine_num_layers / kiln_engine_layer_info and the layer callback: what `kiln bench --dumpProfile` times and
 * `kiln compare --per-layer` reads. The context only pays for it when a callback is set (context.c reads no clock
 * otherwise). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/status.h"
#include "layers.h"
#include "../cpu/engine_tactics.h"
#include "../cpu/tactics.h"

int kiln_engine_num_layers(const kiln_engine *e)
{
    kiln_diag_clear();
    return e ? e->g->n_nodes : 0;
}

kiln_status kiln_engine_layer_info(const kiln_engine *e, int index, kiln_layer_info *info)
{
    kiln_diag_clear();
    if (!e || !info) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "layer_info: engine and info are required");
    if (index < 0 || index >= e->g->n_nodes)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "layer_info: the engine has %d layers, there is no index %d",
                         e->g->n_nodes, index);
    const kiln_node *n = &e->g->nodes[index];
    const kiln_value *v = &e->g->values[n->output];
    memset(info, 0, sizeof *info);
    info->name = n->name;
    info->type = kiln_op_name((kiln_op)n->op);
    info->output = v->name;
    info->rank = v->rank;
    for (int d = 0; d < v->rank && d < KILN_TENSOR_MAX_RANK; d++) info->dims[d] = v->dims[d];
    if (v->rank > 0) info->dims[0] = e->batch_max;
    info->backend = e->layers[index].backend;
    info->tactic = e->layers[index].tactic;
    info->precision = e->layers[index].precision;
    info->range = e->layers[index].range;
    /* inside a streamed group (layers j .. j + span computed together) and not its last layer */
    for (int j = index - 2; j <= index; j++)
        if (j >= 0 && j + kiln_cpu_stream_span(kiln_cpu_engine_streams(e, j)) > index) info->fused_into_next = 1;
    const int run = info->backend == 0 ? kiln_cpu_engine_run_tactic(e, index) : -1; /* the CPU kernel running it */
    if ((n->op == KILN_OP_CONV2D || n->op == KILN_OP_DENSE) && n->n_inputs >= 2) {
        /* per sample: outputs x the weights each reads (conv HWIO weights: KH*KW*Cin/groups per output; dense [K,N]) */
        const kiln_value *w = &e->g->values[n->inputs[1]];
        const int64_t outs = kiln_value_numel(v), cout = v->dims[v->rank - 1];
        const int64_t per_out = w->rank >= 2 && cout > 0 ? kiln_value_numel(w) / w->dims[w->rank - 1] : 0;
        info->flops = 2.0 * (double)outs * (double)per_out;
        info->kernel_flops = info->flops;
        const double mults = run >= 0 && n->op == KILN_OP_CONV2D ? kiln_cpu_tactic_mults(e->g, n, run) : -1;
        if (mults >= 0) info->kernel_flops = 2.0 * mults;
    }
    const size_t packed = run >= 0 ? kiln_cpu_tactic_packed_bytes(e->g, n, run) : 0;
    if (packed) info->weight_bytes = (int64_t)packed;
    else
        for (int i = 0; i < n->n_inputs; i++)
            if (n->inputs[i] >= 0 && e->g->values[n->inputs[i]].data)
                info->weight_bytes += kiln_value_numel(&e->g->values[n->inputs[i]]) * (int64_t)sizeof(float);
    return KILN_OK;
}

kiln_status kiln_context_set_layer_callback(kiln_context *c, kiln_layer_callback cb, void *user)
{
    kiln_diag_clear();
    if (!c) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "set_layer_callback: no context given");
    c->layer_cb = cb;
    c->layer_user = cb ? user : NULL;
    c->layer_times_only = 0;
    return KILN_OK;
}

kiln_status kiln_context_set_layer_timer(kiln_context *c, kiln_layer_callback cb, void *user)
{
    kiln_status st = kiln_context_set_layer_callback(c, cb, user);
    if (st || !cb) return st;
    /* runs go in passes as unprofiled runs do: each layer's time is summed over them here (no allocation in run) */
    const int n = c->engine->g->n_nodes;
    if (!c->layer_pass_ms && !(c->layer_pass_ms = calloc((size_t)(2 * n + 1), sizeof(double)))) {
        c->layer_cb = NULL, c->layer_user = NULL;
        return kiln_fail(KILN_ERR_NO_MEMORY, "set_layer_timer: out of memory");
    }
    c->layer_times_only = 1;
    return KILN_OK;
}

double kiln_layer_clock_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void emit(kiln_context *c, int index, int batch, double start_ms, double ms, const float *output, int64_t pitch)
{
    kiln_layer_event ev;
    ev.index = index;
    ev.batch = batch;
    ev.start_ms = start_ms;
    ev.ms = ms;
    ev.output = output;
    ev.pitch = pitch;
    c->layer_cb(c->layer_user, &ev);
}

void kiln_layer_notify(kiln_context *c, int index, int batch, double start_ms, const float *output, int64_t pitch)
{
    /* a streamed group's members (no output of their own: context.c) took no time of their own, exactly 0 ms: the
     * group's time is on its last layer (a clock read here could see a preemption between two reads) */
    emit(c, index, batch, start_ms, output ? kiln_layer_clock_ms() - start_ms : 0.0, output, pitch);
}

void kiln_layer_notify_pass(kiln_context *c, int index, int batch, double start_ms, const float *output,
                            int64_t pitch, int pass, int passes)
{
    if (passes <= 1) {
        kiln_layer_notify(c, index, batch, start_ms, output, pitch);
        return;
    }
    const int n = c->engine->g->n_nodes;
    double *sum = c->layer_pass_ms, *start = c->layer_pass_ms + n;
    if (pass == 0) sum[index] = 0.0, start[index] = start_ms;
    sum[index] += output ? kiln_layer_clock_ms() - start_ms : 0.0;
    if (pass + 1 == passes) emit(c, index, batch, start[index], sum[index], output, pitch);
}
