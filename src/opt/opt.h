/* Optimizer: a fixed, printable pipeline of small graph rewrites, one file per pass.
 *
 *   remove_identity   IDENTITY nodes and RESHAPEs to the same shape disappear (consumers read the input directly)
 *   fold_batchnorm    BatchNorm after a Conv2D/Dense is folded into that layer's weights and bias
 *   fuse_activation   an Activation after Conv2D/Dense/Add/... becomes the producer's fused epilogue (attrs.act)
 *
 * Every pass can be switched off by name (kiln_build_options.disabled_passes = "fold_batchnorm,fuse_activation").
 * After each pass the pipeline compacts the graph and runs kiln_graph_check naming the pass, so a broken rewrite is
 * caught at the pass that made it. Passes keep the names graph outputs are known by (a fused node writes into the
 * value of the LAST layer of the group, e.g. the Keras output layer's name "Logits"). */
#ifndef KILN_OPT_OPT_H
#define KILN_OPT_OPT_H

#include <stdint.h>

#include "../core/graph.h"

/* A pass rewrites g in place and counts the rewrites it made in *changes. On failure it reports with kiln_fail. */
typedef kiln_status (*kiln_pass_fn)(kiln_graph *g, int *changes);

typedef struct {
    const char *name; /* the name used in disabled_passes and printed by --verbose */
    const char *what; /* one line for help texts */
    kiln_pass_fn run;
} kiln_pass;

/* The pipeline, in the order it runs. */
int kiln_opt_num_passes(void);
const kiln_pass *kiln_opt_pass(int index);

/* Check a comma-separated list of pass names; unknown names are refused with the list of valid ones. */
kiln_status kiln_opt_check_pass_list(const char *disabled_passes);

/* Run every pass not named in disabled_passes (NULL: run all). verbose != 0 prints one line per pass to stderr
 * (the only printing the library does, and only when asked). */
kiln_status kiln_opt_run(kiln_graph *g, const char *disabled_passes, int verbose);

/* The passes (one file each). */
kiln_status kiln_pass_remove_identity(kiln_graph *g, int *changes);
kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, int *changes);
kiln_status kiln_pass_fuse_activation(kiln_graph *g, int *changes);

/* ---- rewrite helpers shared by the passes (rewrite.c) ---- */

/* Number of readers of value v: node inputs plus one per graph-output slot naming it. */
int kiln_opt_use_count(const kiln_graph *g, int v);
int kiln_opt_is_graph_output(const kiln_graph *g, int v);
int kiln_opt_is_graph_input(const kiln_graph *g, int v);
/* Make every node input that reads `from` read `to` instead (graph outputs are left alone). */
void kiln_opt_replace_uses(kiln_graph *g, int from, int to);
/* Vertical fusion: node `keep` takes over node `drop`'s output value (so the value keeps its name and its place
 * among the graph outputs), its name becomes "<keep> + <drop>", and `drop` is marked in dead[] for
 * kiln_opt_remove_nodes. The caller has checked that drop reads keep's output and nobody else does. */
kiln_status kiln_opt_absorb(kiln_graph *g, int keep, int drop, uint8_t *dead);
/* Remove the nodes marked in dead[] (g->n_nodes entries), keeping topological order; values left without a
 * producer are then dropped by kiln_graph_compact if nobody reads them. */
void kiln_opt_remove_nodes(kiln_graph *g, const uint8_t *dead);

#endif
