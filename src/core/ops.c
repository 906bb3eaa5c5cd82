#include "ops.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    int min_in, max_in;
} op_table[] = {
#define KILN_OP(e, name, min_in, max_in, infer, ref) { name, min_in, max_in },
#include "ops.def"
#undef KILN_OP
};
static_assert(sizeof(op_table) / sizeof(op_table[0]) == KILN_OP_COUNT, "op table out of sync with ops.def");

static const char *const act_names[] = {
#define X(e, s) s,
    KILN_ACT_LIST(X)
#undef X
};
static_assert(sizeof(act_names) / sizeof(act_names[0]) == KILN_ACT_COUNT, "activation names out of sync");

const char *kiln_op_name(kiln_op op) { return (unsigned)op < KILN_OP_COUNT ? op_table[op].name : "?"; }
int kiln_op_min_inputs(kiln_op op) { return (unsigned)op < KILN_OP_COUNT ? op_table[op].min_in : 0; }
int kiln_op_max_inputs(kiln_op op) { return (unsigned)op < KILN_OP_COUNT ? op_table[op].max_in : 0; }
const char *kiln_act_name(int kind) { return (unsigned)kind < KILN_ACT_COUNT ? act_names[kind] : "?"; }

void kiln_attrs_init(kiln_attrs *a)
{
    memset(a, 0, sizeof(*a));
    a->kernel[0] = a->kernel[1] = 1;
    a->stride[0] = a->stride[1] = 1;
    a->dilation[0] = a->dilation[1] = 1;
    a->groups = 1;
    a->eps = 1e-3f;
    a->act.kind = KILN_ACT_NONE;
    a->act.beta = INFINITY;
    a->act2.kind = KILN_ACT_NONE;
    a->act2.beta = INFINITY;
}
