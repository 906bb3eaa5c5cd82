/* Reference kernel table, generated from ops.def, and the reference workspace query. */
#include <assert.h>

#include "../kernel.h"

static const kiln_kernel_fn ref_table[] = {
#define KILN_OP(e, name, min_in, max_in, infer, ref) ref,
#include "../../core/ops.def"
#undef KILN_OP
};
static_assert(sizeof(ref_table) / sizeof(ref_table[0]) == KILN_OP_COUNT, "reference kernel table out of sync");

kiln_kernel_fn kiln_ref_kernel(kiln_op op) { return (unsigned)op < KILN_OP_COUNT ? ref_table[op] : NULL; }

/* No reference kernel needs scratch memory: they compute straight into the output. */
size_t kiln_ref_workspace_bytes(const kiln_graph *g, const kiln_node *node, int batch)
{
    (void)g;
    (void)node;
    (void)batch;
    return 0;
}
