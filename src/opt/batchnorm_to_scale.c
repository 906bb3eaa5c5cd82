/* Pass batchnorm_to_scale: a 4-D BatchNorm that fold_batchnorm could not fold (after an Add, a pool, a graph input)
 * becomes a per-channel scale-shift, expressed as a 1x1 depthwise Conv2D (groups = C, one weight per channel):
 *
 *     BN(x)[c] = gamma[c] * (x[c] - mean[c]) / sqrt(var[c] + eps) + beta[c] = x[c] * s[c] + t[c]
 *     with s = gamma / sqrt(var + eps),  t = beta - mean * s      (formed in double, rounded once)
 *
 * Being a Conv2D, it then takes part in the other fusions (a following activation, a residual Add). The scale-shift
 * rounds differently from the BN formula by at most a few ulps. Other ranks keep their BatchNorm kernel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/status.h"
#include "opt.h"

kiln_status kiln_pass_batchnorm_to_scale(kiln_graph *g, int *changes)
{
    for (int i = 0; i < g->n_nodes; i++) {
        kiln_node *B = &g->nodes[i];
        if (B->op != KILN_OP_BATCHNORM || g->values[B->inputs[0]].rank != 4) continue;
        int all_const = 1;
        for (int j = 1; j < 5; j++) all_const &= kiln_opt_is_const(g, B->inputs[j]);
        if (!all_const) continue;
        int64_t C = g->values[B->inputs[0]].dims[3];
        const float *gamma = g->values[B->inputs[1]].data, *beta = g->values[B->inputs[2]].data;
        const float *mean = g->values[B->inputs[3]].data, *var = g->values[B->inputs[4]].data;
        float *w = malloc(sizeof(float) * (size_t)C), *b = malloc(sizeof(float) * (size_t)C);
        if (!w || !b) {
            free(w);
            free(b);
            return kiln_fail(KILN_ERR_NO_MEMORY, "batchnorm_to_scale: out of memory at '%s'", B->name);
        }
        for (int64_t c = 0; c < C; c++) {
            double s = (double)gamma[c] / sqrt((double)var[c] + (double)B->attrs.eps);
            w[c] = (float)s;
            b[c] = (float)((double)beta[c] - (double)mean[c] * s);
        }
        char base[512];
        snprintf(base, sizeof base, "%s", B->name);
        int64_t wd[4] = { 1, 1, 1, C };
        int wid = kiln_opt_add_const(g, base, "(scale)", 4, wd, w);
        int bid = wid < 0 ? -1 : kiln_opt_add_const(g, base, "(shift)", 1, &C, b);
        if (wid < 0) free(b);
        if (bid < 0) return KILN_ERR_NO_MEMORY;
        B = &g->nodes[i];
        kiln_act act = B->attrs.act;
        kiln_attrs_init(&B->attrs);
        B->attrs.groups = (int32_t)C;
        B->attrs.act = act;
        B->op = KILN_OP_CONV2D;
        B->inputs[1] = wid;
        B->inputs[2] = bid;
        B->n_inputs = 3;
        (*changes)++;
    }
    return KILN_OK;
}
