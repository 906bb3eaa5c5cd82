/* Pass fuse_horizontal: sibling Conv2Ds that read the same tensor with the same geometry (kernel, stride, dilation,
 * padding, groups 1) and the same fused activation are merged into ONE wider Conv2D; each sibling's output becomes a
 * channel Slice of the wide output:
 *
 *     y_i = act(conv(x, W_i) + b_i),  i = 1..k     ==>     Y = act(conv(x, [W_1 | ... | W_k]) + [b_1 | ... | b_k])
 *                                                          y_i = Y[..., o_i : o_i + C_i]
 *
 * Output channel c of a conv depends only on its own filter W[..., c] and bias b[c], with the same sum order, so each
 * slice holds exactly the numbers its sibling computed. The memory planner makes every Slice a view of the wide
 * output (no copy runs), and with eliminate_concat the wide conv writes its concat-bound channels straight into the
 * Concat's buffer: a sibling feeding the FIRST input of a Concat is placed last in the wide conv, one feeding the
 * LAST input is placed first, so the wide output and the Concat's output can share one buffer without overlapping
 * the other branches. Siblings whose outputs are read by ops that cannot read a channel slice in place (anything
 * but Conv2D input 0, pools, channel Concat) are left out. Name: "conv2d_3 + ... || conv2d_4 + ... || ...". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "opt.h"

/* Can every reader of v read it as a channel slice in place (memory planner views, src/plan/plan.c)? Also reports
 * the Concat position when v feeds a Concat: 0 = first input, 1 = last, 2 = elsewhere, -1 = no Concat. */
static int slice_readable(const kiln_graph *g, int v, int *concat_pos)
{
    *concat_pos = -1;
    if (kiln_opt_is_graph_output(g, v)) return 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            if (n->inputs[j] != v) continue;
            switch (n->op) {
            case KILN_OP_CONV2D:
                if (j != 0) return 0;
                break;
            case KILN_OP_MAXPOOL:
            case KILN_OP_AVGPOOL:
            case KILN_OP_GLOBAL_AVGPOOL:
            case KILN_OP_GLOBAL_MAXPOOL:
                break;
            case KILN_OP_CONCAT:
                if (n->attrs.axis != g->values[n->output].rank - 1) return 0;
                *concat_pos = j == 0 ? 0 : j == n->n_inputs - 1 ? 1 : 2;
                break;
            default:
                return 0;
            }
        }
    }
    return 1;
}

static int same_geometry(const kiln_node *a, const kiln_node *b)
{
    const kiln_attrs *x = &a->attrs, *y = &b->attrs;
    return !memcmp(x->kernel, y->kernel, sizeof x->kernel) && !memcmp(x->stride, y->stride, sizeof x->stride) &&
           !memcmp(x->dilation, y->dilation, sizeof x->dilation) && !memcmp(x->pads, y->pads, sizeof x->pads) &&
           x->groups == 1 && y->groups == 1 && !memcmp(&x->act, &y->act, sizeof x->act);
}

static int eligible(const kiln_graph *g, int i, int *concat_pos)
{
    const kiln_node *n = &g->nodes[i];
    if (n->op != KILN_OP_CONV2D || n->attrs.groups != 1 || n->n_inputs > 3) return 0;
    if (!kiln_opt_is_const(g, n->inputs[1]) || (n->n_inputs > 2 && !kiln_opt_is_const(g, n->inputs[2]))) return 0;
    return slice_readable(g, n->output, concat_pos);
}

/* Merge siblings sib[0..k) (node ids, in wide-channel order) into one conv. */
static kiln_status merge(kiln_graph *g, const int *sib, int k)
{
    for (int s = 0; s < k; s++)
        if (kiln_opt_ensure_bias(g, sib[s])) return KILN_ERR_NO_MEMORY;
    const kiln_node *n0 = &g->nodes[sib[0]];
    const kiln_value *w0 = &g->values[n0->inputs[1]];
    const int64_t taps = w0->dims[0] * w0->dims[1] * w0->dims[2];
    int64_t total = 0;
    for (int s = 0; s < k; s++) total += g->values[g->nodes[sib[s]].inputs[1]].dims[3];
    float *w = malloc(sizeof(float) * (size_t)(taps * total)), *b = malloc(sizeof(float) * (size_t)total);
    char *name = NULL;
    if (!w || !b) goto oom;
    int64_t off = 0;
    for (int s = 0; s < k; s++) {
        const kiln_node *n = &g->nodes[sib[s]];
        const kiln_value *wv = &g->values[n->inputs[1]];
        const int64_t co = wv->dims[3];
        for (int64_t t = 0; t < taps; t++) memcpy(w + t * total + off, wv->data + t * co, sizeof(float) * (size_t)co);
        memcpy(b + off, g->values[n->inputs[2]].data, sizeof(float) * (size_t)co);
        char *nn = name ? kiln_opt_join(name, " || ", n->name) : kiln_opt_join("", "", n->name);
        free(name);
        if (!(name = nn)) goto oom;
        off += co;
    }
    int64_t wd[4] = { w0->dims[0], w0->dims[1], w0->dims[2], total };
    int x = n0->inputs[0];
    kiln_attrs attrs = n0->attrs;
    int wid = kiln_opt_add_const(g, name, "(weights)", 4, wd, w);
    w = NULL;
    int bid = wid < 0 ? -1 : kiln_opt_add_const(g, name, "(bias)", 1, &total, b);
    if (wid < 0) free(b);
    b = NULL;
    if (bid < 0) goto oom;
    int in[3] = { x, wid, bid };
    int first_new = g->n_nodes;
    int wide = kiln_graph_add_node(g, KILN_OP_CONV2D, name, in, 3, &attrs);
    if (wide < 0) goto oom;
    off = 0;
    for (int s = 0; s < k; s++) {
        const kiln_node *n = &g->nodes[sib[s]];
        int old = n->output;
        const int64_t co = g->values[old].dims[3];
        kiln_attrs sa;
        kiln_attrs_init(&sa);
        sa.axis = 3;
        sa.pads_begin[3] = (int32_t)off;
        sa.pads_end[3] = (int32_t)(total - off - co);
        char vname[512];
        snprintf(vname, sizeof vname, "%s", g->values[old].name);
        int sv = kiln_graph_add_node(g, KILN_OP_SLICE, vname, &wide, 1, &sa);
        if (sv < 0) goto oom;
        kiln_node *sn = &g->nodes[g->n_nodes - 1];
        char *nm = kiln_opt_join("", "", g->nodes[sib[s]].name);
        if (!nm) goto oom;
        free(sn->name);
        sn->name = nm;
        kiln_opt_replace_uses(g, old, sv);
        off += co;
    }
    /* The siblings go; the new nodes move to where the first sibling ran (x exists there; every reader of a slice
     * came after its sibling, hence after that point). */
    int pos = sib[0];
    for (int s = 1; s < k; s++)
        if (sib[s] < pos) pos = sib[s];
    uint8_t *dead = calloc((size_t)g->n_nodes + 1, 1);
    if (!dead) goto oom;
    for (int s = 0; s < k; s++) dead[sib[s]] = 1;
    kiln_opt_remove_nodes(g, dead);
    free(dead);
    int added = 1 + k; (void)first_new;
    kiln_opt_move_tail(g, added, pos);
    free(name);
    return KILN_OK;
oom:
    free(w);
    free(b);
    free(name);
    return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_horizontal: out of memory");
}

kiln_status kiln_pass_fuse_horizontal(kiln_graph *g, int *changes)
{
    int *sib = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    int *pos = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    if (!sib || !pos) {
        free(sib);
        free(pos);
        return kiln_fail(KILN_ERR_NO_MEMORY, "fuse_horizontal: out of memory");
    }
    kiln_status st = KILN_OK;
    int found = 1;
    while (found && !st) {
        found = 0;
        for (int i = 0; i < g->n_nodes && !found; i++) {
            int cp;
            if (!eligible(g, i, &cp) || cp == 2) continue;
            int k = 0, x = g->nodes[i].inputs[0];
            for (int j = i; j < g->n_nodes; j++) {
                int pj;
                if (g->nodes[j].inputs[0] != x || !same_geometry(&g->nodes[i], &g->nodes[j])) continue;
                if (!eligible(g, j, &pj) || pj == 2) continue;
                if (g->values[g->nodes[j].inputs[1]].dims[2] != g->values[g->nodes[i].inputs[1]].dims[2]) continue;
                pos[k] = pj;
                sib[k++] = j;
            }
            if (k < 2) continue;
            /* Channel order: a sibling feeding a Concat's last input first, plain ones next, one feeding a Concat's
             * first input last (at most one of each kind at the ends; extra concat feeders are left out). */
            int order[64], no = 0, head = -1, tail = -1;
            for (int s = 0; s < k && no < 62; s++) {
                if (pos[s] == 1 && head < 0) head = sib[s];
                else if (pos[s] == 0 && tail < 0) tail = sib[s];
                else if (pos[s] < 0) order[no++] = sib[s];
            }
            int final[64], nf = 0;
            if (head >= 0) final[nf++] = head;
            for (int s = 0; s < no; s++) final[nf++] = order[s];
            if (tail >= 0) final[nf++] = tail;
            if (nf < 2) continue;
            st = merge(g, final, nf);
            if (!st) {
                (*changes)++;
                found = 1;
            }
        }
    }
    free(sib);
    free(pos);
    return st;
}
