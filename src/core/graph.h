/* Graph IR: values and nodes in arrays addressed by integer ids.
 *
 * A value is an activation (produced by a node or a graph input) or a constant (weights). Activation shapes include
 * the batch as dims[0], stored as 1 in the IR; kernels receive the run's batch separately, so one graph serves every
 * batch of the engine's range. Nodes are kept in topological order: importers add a node only after its inputs
 * exist, and passes preserve the order.
 *
 * Every node carries `name`: the source layer names it came from, joined with " + " (vertical fusion) or " || "
 * (horizontal fusion), e.g. "conv2d_3 + batch_normalization_3 + activation_3". */
#ifndef KILN_CORE_GRAPH_H
#define KILN_CORE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"
#include "ops.h"

typedef enum { KILN_VALUE_ACTIVATION = 0, KILN_VALUE_CONSTANT = 1 } kiln_value_kind;

typedef struct {
    char *name;            /* owned */
    int32_t kind;          /* kiln_value_kind */
    int32_t dtype;         /* kiln_dtype */
    int32_t rank;
    int64_t dims[KILN_MAX_RANK]; /* activations: dims[0] is the batch placeholder (1) */
    int32_t producer;      /* node id, or -1 for graph inputs and constants */
    float *data;           /* constants only: the weights */
    int32_t owns_data;     /* 1: data is malloc'd by the graph; 0: it points into an engine's weight block */
} kiln_value;

typedef struct {
    int32_t op;            /* kiln_op */
    char *name;            /* owned; source layer names (see above) */
    int32_t n_inputs;
    int32_t inputs[KILN_MAX_NODE_INPUTS]; /* value ids */
    int32_t output;        /* value id */
    kiln_attrs attrs;
} kiln_node;

typedef struct kiln_graph {
    kiln_value *values;
    int32_t n_values, cap_values;
    kiln_node *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *inputs;       /* value ids of graph inputs, in order */
    int32_t n_inputs;
    int32_t *outputs;      /* value ids of graph outputs, in order */
    int32_t n_outputs;
    /* 1: fixed-shape graph (ONNX import of a model that uses its first axis as data, every shape static): dims[0] of
     * every activation is a virtual size-1 axis, not a batch; its engines run batch 1 only and report the shapes
     * without that axis (kiln_engine_input_info). 0 otherwise. */
    int32_t fixed_shape;
    char fixed_note[256];  /* fixed_shape: why, one line for the build ("node 'x' (Concat) uses axis 0 as data") */
} kiln_graph;

/* New empty graph, owned by the caller (kiln_graph_free). NULL when out of memory. */
kiln_graph *kiln_graph_new(void);
void kiln_graph_free(kiln_graph *g);
/* Deep copy (constants are copied and owned by the copy). NULL when out of memory. */
kiln_graph *kiln_graph_clone(const kiln_graph *g);

/* Add a graph input activation of the given shape (dims[0] = batch placeholder). Returns the value id or -1. */
int kiln_graph_add_input(kiln_graph *g, const char *name, int rank, const int64_t *dims);
/* Add a constant; the graph takes ownership of data (malloc'd, float32, row-major). Returns the value id or -1
 * (data is freed on failure too). */
int kiln_graph_add_constant(kiln_graph *g, const char *name, int rank, const int64_t *dims, float *data);
/* Add a node computing a new activation value called `name` (also the node's name). Checks the input count against
 * the op table and infers the output shape; on a shape error it reports (naming `name`) and returns -1.
 * Returns the id of the OUTPUT VALUE. */
int kiln_graph_add_node(kiln_graph *g, kiln_op op, const char *name, const int *inputs, int n_inputs,
                        const kiln_attrs *attrs);
/* Mark a value as a graph output. Returns 0 or -1. */
int kiln_graph_mark_output(kiln_graph *g, int value_id);

/* Element count of a value; activations count one sample (dims[0] excluded). */
int64_t kiln_value_numel(const kiln_value *v);
/* Number of weight elements held by constants. */
int64_t kiln_graph_param_count(const kiln_graph *g);
/* Structural check (ids in range, topological order, input counts, shapes re-inferred equal). Reports and returns
 * KILN_ERR_INTERNAL naming the first broken node; `stage` names the pass that ran last. */
kiln_status kiln_graph_check(const kiln_graph *g, const char *stage);
/* Drop nodes whose outputs nobody reads (and unreferenced constants); renumbers ids. */
kiln_status kiln_graph_compact(kiln_graph *g);
/* Format "[1,224,224,3]" into buf. */
const char *kiln_shape_str(const kiln_value *v, char *buf, size_t cap);

/* Shape inference entry used by add_node and the checker: fills out_rank/out_dims from the node's inputs.
 * Returns 0, or -1 with a diagnostic naming the node. */
int kiln_infer_node(const kiln_graph *g, const kiln_node *n, int *out_rank, int64_t *out_dims);

#endif
