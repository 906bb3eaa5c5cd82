/* Optimizer: a fixed, printable pipeline of small graph rewrites, one file per pass (the math is in each file's head).
 *
 *   remove_identity       IDENTITY nodes and RESHAPEs to the same shape disappear
 *   cancel_transpose      a Transpose followed by its inverse disappears (ONNX NHWC<->NCHW pairs); identity perms too
 *   fold_constants        a node whose inputs are all constants is computed now (reference kernel) into a constant
 *   fold_batchnorm        BatchNorm after a Conv2D/Depthwise/Dense is folded into that layer's weights and bias
 *   batchnorm_to_scale    a lone 4-D BatchNorm becomes a per-channel scale-shift (a 1x1 depthwise Conv2D)
 *   fold_pad              an explicit Pad is folded into the following Conv2D / AvgPool / MaxPool's own padding
 *   fuse_residual         Add(conv(x), r) becomes the conv's epilogue: y = act(conv + bias + r)
 *   fuse_swish            Mul(x, Sigmoid(x)) becomes swish(x); Mul(x, HardSigmoid(x)) becomes hard_swish(x)
 *   fuse_activation       an Activation after Conv2D/Dense/Add/pools/... becomes the producer's fused epilogue
 *   swap_avgpool_conv     a 1x1 conv reading a stride-1 average pool runs first; the pool averages its output channels
 *   fuse_squeeze_excite   GAP -> 1x1/Dense -> act -> 1x1/Dense -> gate -> Multiply becomes one SqueezeExcite node
 *   fuse_horizontal       sibling Conv2Ds reading one tensor with the same geometry become one wider Conv2D
 *   eliminate_concat      (memory planner) Concat inputs are written straight into their slice of the output
 *   in_place              (memory planner) elementwise ops overwrite a dying input; reshapes share bytes
 *
 * Every pass can be switched off by name (kiln_build_options.disabled_passes = "fold_batchnorm,fuse_activation";
 * "all" switches every one off). The pipeline repeats until a whole round changes nothing (at most
 * KILN_OPT_MAX_ROUNDS rounds). After each pass it compacts the graph and runs kiln_graph_check naming the pass, so a
 * broken rewrite is caught at the pass that made it. Passes keep the names graph outputs are known by (a fused node
 * writes into the value of the LAST layer of the group, e.g. the Keras output layer's name "Logits"). */
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

#define KILN_OPT_MAX_ROUNDS 8
#define KILN_OPT_MAX_PASSES 16

/* What the pipeline did: node counts before/after and the rewrites each pass made (summed over rounds). */
typedef struct {
    int32_t nodes_before, nodes_after, rounds;
    int32_t rewrites[KILN_OPT_MAX_PASSES]; /* by pipeline index */
} kiln_opt_stats;

/* Run every pass not named in disabled_passes (NULL: run all). verbose != 0 prints one line per pass to stderr
 * (the only printing the library does, and only when asked). */
kiln_status kiln_opt_run(kiln_graph *g, const char *disabled_passes, int verbose);
/* The same, plus: dump_after names a pass (or "all") after which the graph is printed to stderr with the layer printer
 * of `kiln inspect`; stats (may be NULL) receives the counts. */
kiln_status kiln_opt_run_full(kiln_graph *g, const char *disabled_passes, const char *dump_after, int verbose,
                              kiln_opt_stats *stats);
/* Is pass `name` switched on by this disabled list? (eliminate_concat is applied by the memory planner.) */
int kiln_opt_pass_enabled(const char *disabled_passes, const char *name);

/* The passes (one file each). */
kiln_status kiln_pass_remove_identity(kiln_graph *g, int *changes);
kiln_status kiln_pass_cancel_transpose(kiln_graph *g, int *changes);
kiln_status kiln_pass_fold_constants(kiln_graph *g, int *changes);
kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, int *changes);
kiln_status kiln_pass_batchnorm_to_scale(kiln_graph *g, int *changes);
kiln_status kiln_pass_fold_pad(kiln_graph *g, int *changes);
kiln_status kiln_pass_fuse_residual(kiln_graph *g, int *changes);
kiln_status kiln_pass_fuse_swish(kiln_graph *g, int *changes);
kiln_status kiln_pass_fuse_activation(kiln_graph *g, int *changes);
kiln_status kiln_pass_swap_avgpool_conv(kiln_graph *g, int *changes);
kiln_status kiln_pass_fuse_squeeze_excite(kiln_graph *g, int *changes);
kiln_status kiln_pass_fuse_horizontal(kiln_graph *g, int *changes);
kiln_status kiln_pass_eliminate_concat(kiln_graph *g, int *changes);
kiln_status kiln_pass_in_place(kiln_graph *g, int *changes);

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
/* Is v a constant with data? */
int kiln_opt_is_const(const kiln_graph *g, int v);
/* Is v read by exactly one node input and not a graph output? */
int kiln_opt_single_reader(const kiln_graph *g, int v);
/* The node reading v (the first one found), or -1. */
int kiln_opt_reader(const kiln_graph *g, int v);
/* "<a><sep><b>", malloc'd, or NULL when out of memory. */
char *kiln_opt_join(const char *a, const char *sep, const char *b);
/* Prepend "<src> + " to node n's name (the source layer came first). */
kiln_status kiln_opt_prepend_name(kiln_node *n, const char *src);
/* Add a constant called "<base> <suffix>" (dims copied); takes ownership of data. Returns its id or -1 (reported). */
int kiln_opt_add_const(kiln_graph *g, const char *base, const char *suffix, int rank, const int64_t *dims, float *data);
/* Make sure conv/dense node n has a bias input (a new zero constant when it has none). Returns 0 or -1 (reported). */
int kiln_opt_ensure_bias(kiln_graph *g, int n);
/* Move the last `count` nodes to position `pos` (before the node now there), fixing producer links. */
void kiln_opt_move_tail(kiln_graph *g, int count, int pos);
/* Does the output of op `op` never go below 0 (its fused activation or its own function)? Used by fold_pad. */
int kiln_opt_output_nonnegative(const kiln_graph *g, int v);

#endif
