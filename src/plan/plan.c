#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "../core/status.h"

static int64_t align_up(int64_t x) { return (x + KILN_PLAN_ALIGN - 1) / KILN_PLAN_ALIGN * KILN_PLAN_ALIGN; }

int64_t kiln_plan_value_bytes(const kiln_value *v, int batch)
{
    return align_up(kiln_value_numel(v) * (int64_t)batch * (int64_t)sizeof(float));
}

typedef struct {
    int64_t lo, hi;
} span;

static int by_lo(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int64_t kiln_plan_place(const kiln_plan_buffer *bufs, int n, int64_t *offsets)
{
    int *order = malloc(sizeof(int) * (size_t)(n + 1));
    int *placed = malloc(sizeof(int) * (size_t)(n + 1));
    span *busy = malloc(sizeof(span) * (size_t)(n + 1));
    if (!order || !placed || !busy) {
        free(order); free(placed); free(busy);
        return -1;
    }
    for (int i = 0; i < n; i++) order[i] = i;
    /* Largest first, earlier birth first among equals. An insertion sort over indices: qsort's comparator takes no
     * context, and graphs have at most a few thousand planned values. */
    for (int i = 1; i < n; i++) {
        int k = order[i], j = i - 1;
        while (j >= 0 && (bufs[order[j]].size < bufs[k].size ||
                          (bufs[order[j]].size == bufs[k].size && bufs[order[j]].first > bufs[k].first))) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = k;
    }
    int n_placed = 0;
    int64_t arena = 0;
    for (int oi = 0; oi < n; oi++) {
        const kiln_plan_buffer *b = &bufs[order[oi]];
        int nb = 0;
        for (int k = 0; k < n_placed; k++) {
            const kiln_plan_buffer *o = &bufs[placed[k]];
            if (o->first <= b->last && b->first <= o->last)
                busy[nb++] = (span){ offsets[placed[k]], offsets[placed[k]] + o->size };
        }
        qsort(busy, (size_t)nb, sizeof(span), by_lo);
        /* Best fit: the smallest gap between overlapping buffers that holds b; else on top of them all. */
        int64_t best = -1, best_gap = INT64_MAX, top = 0;
        for (int k = 0; k < nb; k++) {
            int64_t gap = busy[k].lo - top;
            if (gap >= b->size && gap < best_gap) {
                best = top;
                best_gap = gap;
            }
            if (busy[k].hi > top) top = busy[k].hi;
        }
        offsets[order[oi]] = best >= 0 ? best : top;
        if (offsets[order[oi]] + b->size > arena) arena = offsets[order[oi]] + b->size;
        placed[n_placed++] = order[oi];
    }
    free(order);
    free(placed);
    free(busy);
    return arena;
}

int64_t kiln_plan_lower_bound(const kiln_plan_buffer *bufs, int n)
{
    int32_t steps = 0;
    for (int i = 0; i < n; i++)
        if (bufs[i].last + 1 > steps) steps = bufs[i].last + 1;
    int64_t best = 0;
    for (int32_t t = 0; t < steps; t++) {
        int64_t live = 0;
        for (int i = 0; i < n; i++)
            if (bufs[i].first <= t && t <= bufs[i].last) live += bufs[i].size;
        if (live > best) best = live;
    }
    return best;
}

kiln_status kiln_plan_memory(const kiln_graph *g, int batch, int64_t *value_offset, int64_t *arena_bytes,
                             int64_t *sum_bytes)
{
    int nv = g->n_values;
    kiln_plan_buffer *bufs = malloc(sizeof(kiln_plan_buffer) * (size_t)(nv + 1));
    int *buf_value = malloc(sizeof(int) * (size_t)(nv + 1));
    int *buf_of = malloc(sizeof(int) * (size_t)(nv + 1));
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(nv + 1));
    if (!bufs || !buf_value || !buf_of || !offs) {
        free(bufs); free(buf_value); free(buf_of); free(offs);
        return kiln_fail(KILN_ERR_NO_MEMORY, "memory planner: out of memory");
    }
    for (int v = 0; v < nv; v++) buf_of[v] = -1;
    for (int i = 0; i < g->n_inputs; i++) buf_of[g->inputs[i]] = -2;
    for (int i = 0; i < g->n_outputs; i++) buf_of[g->outputs[i]] = -2;
    int nb = 0;
    int64_t sum = 0;
    /* Birth: the producing step. */
    for (int i = 0; i < g->n_nodes; i++) {
        int v = g->nodes[i].output;
        if (buf_of[v] != -1 || g->values[v].kind != KILN_VALUE_ACTIVATION) continue;
        bufs[nb] = (kiln_plan_buffer){ kiln_plan_value_bytes(&g->values[v], batch), i, i };
        sum += bufs[nb].size;
        buf_value[nb] = v;
        buf_of[v] = nb++;
    }
    /* Death: the last reading step. */
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_inputs; j++) {
            int b = buf_of[g->nodes[i].inputs[j]];
            if (b >= 0 && i > bufs[b].last) bufs[b].last = i;
        }
    int64_t arena = kiln_plan_place(bufs, nb, offs);
    if (arena < 0) {
        free(bufs); free(buf_value); free(buf_of); free(offs);
        return kiln_fail(KILN_ERR_NO_MEMORY, "memory planner: out of memory");
    }
    for (int v = 0; v < nv; v++) value_offset[v] = -1;
    for (int b = 0; b < nb; b++) value_offset[buf_value[b]] = offs[b];
    *arena_bytes = arena;
    if (sum_bytes) *sum_bytes = sum;
    free(bufs);
    free(buf_value);
    free(buf_of);
    free(offs);
    return KILN_OK;
}
