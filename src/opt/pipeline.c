/* The fixed pass pipeline: order, names, switches, the check after every pass and the --verbose trace. */
#include <stdio.h>
#include <string.h>

#include "../core/status.h"
#include "opt.h"

static const kiln_pass pipeline[] = {
    { "remove_identity", "drop Identity/Dropout nodes and reshapes to the same shape", kiln_pass_remove_identity },
    { "fold_batchnorm", "fold BatchNorm into the preceding Conv2D/Dense weights and bias", kiln_pass_fold_batchnorm },
    { "fuse_activation", "fuse an Activation into its producer's epilogue", kiln_pass_fuse_activation },
};
#define N_PASSES ((int)(sizeof(pipeline) / sizeof(pipeline[0])))

int kiln_opt_num_passes(void) { return N_PASSES; }
const kiln_pass *kiln_opt_pass(int index) { return index >= 0 && index < N_PASSES ? &pipeline[index] : NULL; }

/* Is `name` one of the comma-separated, space-tolerant entries of list? */
static int in_list(const char *list, const char *name, size_t name_len)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        const char *e = end;
        while (e > p && e[-1] == ' ') e--;
        if ((size_t)(e - p) == name_len && !strncmp(p, name, name_len)) return 1;
        p = end;
    }
    return 0;
}

kiln_status kiln_opt_check_pass_list(const char *list)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        const char *e = end;
        while (e > p && e[-1] == ' ') e--;
        if (e > p) {
            int known = 0;
            for (int i = 0; i < N_PASSES; i++)
                known |= strlen(pipeline[i].name) == (size_t)(e - p) && !strncmp(pipeline[i].name, p, (size_t)(e - p));
            if (!known) {
                char names[256] = "";
                for (int i = 0; i < N_PASSES; i++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                             pipeline[i].name);
                return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "unknown optimizer pass '%.*s' (the passes are: %s)",
                                 (int)(e - p), p, names);
            }
        }
        p = end;
    }
    return KILN_OK;
}

kiln_status kiln_opt_run(kiln_graph *g, const char *disabled, int verbose)
{
    kiln_status st = kiln_opt_check_pass_list(disabled);
    if (st) return st;
    if ((st = kiln_graph_check(g, "import"))) return st;
    if (verbose) fprintf(stderr, "kiln: optimizer: %d nodes, %d values after import\n", g->n_nodes, g->n_values);
    for (int i = 0; i < N_PASSES; i++) {
        const kiln_pass *p = &pipeline[i];
        if (disabled && in_list(disabled, p->name, strlen(p->name))) {
            if (verbose) fprintf(stderr, "kiln: pass %-16s disabled\n", p->name);
            continue;
        }
        int before = g->n_nodes, changes = 0;
        if ((st = p->run(g, &changes))) return st;
        if ((st = kiln_graph_compact(g))) return st;
        if ((st = kiln_graph_check(g, p->name))) return st;
        if (verbose)
            fprintf(stderr, "kiln: pass %-16s %4d -> %4d nodes (%d rewrites)\n", p->name, before, g->n_nodes, changes);
    }
    return KILN_OK;
}
