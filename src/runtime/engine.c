/* Engine lifetime and the input/output queries. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../core/status.h"
#include "../cpu/engine_tactics.h"
#include "engine_internal.h"

void kiln_engine_free(kiln_engine *e)
{
    if (!e) return;
    kiln_cpu_engine_release(e); /* packed weights */
    kiln_graph_free(e->g); /* constants do not own their data: it is e->weights or the mapping */
    free(e->layers);
    free(e->value_offset);
    free(e->value_pitch);
    if (e->map) munmap(e->map, e->map_bytes);
    else free(e->weights);
    free(e);
}

int kiln_engine_num_threads(const kiln_engine *e)
{
    kiln_diag_clear();
    return e ? (int)e->threads : 0;
}

int kiln_engine_num_inputs(const kiln_engine *e)
{
    kiln_diag_clear();
    return e ? e->g->n_inputs : 0;
}

int kiln_engine_num_outputs(const kiln_engine *e)
{
    kiln_diag_clear();
    return e ? e->g->n_outputs : 0;
}

int kiln_engine_is_fixed_shape(const kiln_engine *e) { return e && e->g && e->g->fixed_shape; }

static void fill_info(const kiln_engine *e, int value, kiln_tensor_info *info)
{
    const kiln_value *v = &e->g->values[value];
    memset(info, 0, sizeof(*info));
    if (e->g->fixed_shape) { /* the model's own shape: drop the virtual size-1 axis 0 */
        info->name = v->name;
        info->dtype = (kiln_dtype)v->dtype;
        info->rank = v->rank - 1;
        info->layout = info->rank == 4 ? KILN_LAYOUT_NHWC : info->rank == 2 ? KILN_LAYOUT_NC : KILN_LAYOUT_ANY;
        for (int d = 1; d < v->rank; d++) info->dims[d - 1] = v->dims[d];
        info->batch_min = info->batch_max = 1;
        info->fixed_shape = 1;
        return;
    }
    info->name = v->name;
    info->dtype = (kiln_dtype)v->dtype;
    info->layout = v->rank == 4 ? KILN_LAYOUT_NHWC : v->rank == 2 ? KILN_LAYOUT_NC : KILN_LAYOUT_ANY;
    info->rank = v->rank;
    for (int d = 0; d < v->rank; d++) info->dims[d] = v->dims[d];
    info->dims[0] = e->batch_max;
    info->batch_min = e->batch_min;
    info->batch_max = e->batch_max;
}

static kiln_status io_info(const kiln_engine *e, int index, kiln_tensor_info *info, int output)
{
    kiln_diag_clear();
    if (!e || !info) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "engine info: engine and info are required");
    int n = output ? e->g->n_outputs : e->g->n_inputs;
    if (index < 0 || index >= n)
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "engine has %d %s, there is no index %d", n,
                         output ? "outputs" : "inputs", index);
    fill_info(e, output ? e->g->outputs[index] : e->g->inputs[index], info);
    return KILN_OK;
}

kiln_status kiln_engine_input_info(const kiln_engine *e, int index, kiln_tensor_info *info)
{
    return io_info(e, index, info, 0);
}

kiln_status kiln_engine_output_info(const kiln_engine *e, int index, kiln_tensor_info *info)
{
    return io_info(e, index, info, 1);
}

static int find(const kiln_engine *e, const char *name, int output)
{
    kiln_diag_clear();
    if (!e || !name) return -1;
    int n = output ? e->g->n_outputs : e->g->n_inputs;
    const int32_t *ids = output ? e->g->outputs : e->g->inputs;
    for (int i = 0; i < n; i++)
        if (!strcmp(e->g->values[ids[i]].name, name)) return i;
    return -1;
}

int kiln_engine_find_input(const kiln_engine *e, const char *name) { return find(e, name, 0); }
int kiln_engine_find_output(const kiln_engine *e, const char *name) { return find(e, name, 1); }
