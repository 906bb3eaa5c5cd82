/* Prototypes of every shape-inference function named in ops.def (generated from the table), so an op's inference
 * may live in any file of src/core/ (shape_infer.c holds the first ones). Signature: fill *rank/dims from the node's
 * inputs, or add a diagnostic naming the node and return -1. */
#ifndef KILN_CORE_INFER_H
#define KILN_CORE_INFER_H

#include "graph.h"

#define KILN_OP(e, name, min_in, max_in, infer, ref) \
    int infer(const kiln_graph *g, const kiln_node *n, int *rank, int64_t *dims);
#include "ops.def"
#undef KILN_OP

#endif
