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

/* Only the squeeze-excite block needs scratch memory (its pooled vector and gates); the other reference kernels
 * compute straight into the output. */
size_t kiln_ref_workspace_bytes(const kiln_graph *g, const kiln_node *node, int batch)
{
    if (node->op == KILN_OP_SQUEEZE_EXCITE) return kiln_ref_squeeze_excite_workspace(g, node, batch);
    return 0;
}
