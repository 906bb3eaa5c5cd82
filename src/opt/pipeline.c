/* The fixed pass pipeline: order, names, switches, the fixpoint loop, the check after every pass, the --verbose
 * trace and the --dump-after printout. */
#include <stdio.h>
#include <string.h>

#include "../core/status.h"
#include "../runtime/describe.h"
#include "opt.h"

static const kiln_pass pipeline[] = {
    { "remove_identity", "drop Identity/Dropout nodes and reshapes to the same shape", kiln_pass_remove_identity },
    { "cancel_transpose", "drop a Transpose followed by its inverse (and identity transposes)",
      kiln_pass_cancel_transpose },
    { "fold_constants", "compute nodes whose inputs are all constants at build time", kiln_pass_fold_constants },
    { "fold_batchnorm", "fold BatchNorm into the preceding Conv2D/Depthwise/Dense weights and bias",
      kiln_pass_fold_batchnorm },
    { "batchnorm_to_scale", "turn a lone 4-D BatchNorm into a per-channel scale-shift (1x1 depthwise conv)",
      kiln_pass_batchnorm_to_scale },
    { "fold_pad", "fold an explicit Pad into the following Conv2D/AvgPool/MaxPool padding", kiln_pass_fold_pad },
    { "fuse_residual", "fuse a residual Add into the conv producing one of its inputs", kiln_pass_fuse_residual },
    { "fuse_swish", "turn Mul(x, Sigmoid(x)) into swish(x) (and the hard-sigmoid form into hard_swish)",
      kiln_pass_fuse_swish },
    { "fuse_activation", "fuse an Activation into its producer's epilogue", kiln_pass_fuse_activation },
    { "swap_avgpool_conv", "run a 1x1 conv before the stride-1 average pool it reads (pool fewer channels)",
      kiln_pass_swap_avgpool_conv },
    { "fuse_squeeze_excite", "fuse GAP -> FC -> act -> FC -> gate -> Multiply into one SqueezeExcite",
      kiln_pass_fuse_squeeze_excite },
    { "fuse_horizontal", "merge sibling convs reading one tensor into one wider conv (||)", kiln_pass_fuse_horizontal },
    { "eliminate_concat", "let Concat inputs write straight into their slice of the output (memory planner)",
      kiln_pass_eliminate_concat },
    { "in_place", "let elementwise ops overwrite a dying input and reshapes share bytes (memory planner)",
      kiln_pass_in_place },
};
#define N_PASSES ((int)(sizeof(pipeline) / sizeof(pipeline[0])))
_Static_assert(N_PASSES <= KILN_OPT_MAX_PASSES, "raise KILN_OPT_MAX_PASSES");

int kiln_opt_num_passes(void) { return N_PASSES; }
const kiln_pass *kiln_opt_pass(int index) { return index >= 0 && index < N_PASSES ? &pipeline[index] : NULL; }

/* Is `name` one of the comma-separated, space-tolerant entries of list ("all" names every pass)? */
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
        if (e - p == 3 && !strncmp(p, "all", 3)) return 1;
        p = end;
    }
    return 0;
}

int kiln_opt_pass_enabled(const char *disabled, const char *name)
{
    return !(disabled && in_list(disabled, name, strlen(name)));
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
            int known = e - p == 3 && !strncmp(p, "all", 3);
            for (int i = 0; i < N_PASSES; i++)
                known |= strlen(pipeline[i].name) == (size_t)(e - p) && !strncmp(pipeline[i].name, p, (size_t)(e - p));
            if (!known) {
                char names[600] = "";
                for (int i = 0; i < N_PASSES; i++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                             pipeline[i].name);
                return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "unknown optimizer pass '%.*s' (the passes are: %s, all)",
                                 (int)(e - p), p, names);
            }
        }
        p = end;
    }
    return KILN_OK;
}

kiln_status kiln_opt_run(kiln_graph *g, const char *disabled, int verbose)
{
    return kiln_opt_run_full(g, disabled, NULL, verbose, NULL);
}

kiln_status kiln_opt_run_full(kiln_graph *g, const char *disabled, const char *dump_after, int verbose,
                              kiln_opt_stats *stats)
{
    kiln_opt_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    kiln_status st = kiln_opt_check_pass_list(disabled);
    if (!st && dump_after && strcmp(dump_after, "import")) st = kiln_opt_check_pass_list(dump_after); /* or "import" */
    if (st) return st;
    if ((st = kiln_graph_check(g, "import"))) return st;
    stats->nodes_before = g->n_nodes;
    if (verbose) fprintf(stderr, "kiln: optimizer: %d nodes, %d values after import\n", g->n_nodes, g->n_values);
    if (dump_after && in_list(dump_after, "import", 6)) {
        fprintf(stderr, "kiln: graph after import (%d nodes)\n", g->n_nodes);
        kiln_print_layers(g, stderr, NULL, NULL);
    }
    for (int round = 1; round <= KILN_OPT_MAX_ROUNDS; round++) {
        int round_changes = 0;
        stats->rounds = round;
        for (int i = 0; i < N_PASSES; i++) {
            const kiln_pass *p = &pipeline[i];
            if (!kiln_opt_pass_enabled(disabled, p->name)) {
                if (verbose && round == 1) fprintf(stderr, "kiln: pass %-20s disabled\n", p->name);
                continue;
            }
            int before = g->n_nodes, changes = 0;
            if ((st = p->run(g, &changes))) return st;
            if ((st = kiln_graph_compact(g))) return st;
            if ((st = kiln_graph_check(g, p->name))) return st;
            stats->rewrites[i] += changes;
            round_changes += changes;
            if (verbose && (round == 1 || changes))
                fprintf(stderr, "kiln: pass %-20s round %d: %4d -> %4d nodes (%d rewrites)\n", p->name, round, before,
                        g->n_nodes, changes);
            if (dump_after && in_list(dump_after, p->name, strlen(p->name)) && (round == 1 || changes)) {
                fprintf(stderr, "kiln: graph after pass %s, round %d (%d nodes)\n", p->name, round, g->n_nodes);
                kiln_print_layers(g, stderr, NULL, NULL);
            }
        }
        if (!round_changes) break;
    }
    stats->nodes_after = g->n_nodes;
    return KILN_OK;
}
