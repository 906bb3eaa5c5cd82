/* Pass in_place: memory reuse in place. Like eliminate_concat the work is the memory planner's (src/plan/plan.c):
 * a Reshape/Identity output shares its input's bytes, and an elementwise op (Activation, BatchNorm, equal-shape
 * Add/Sub/Mul/Div/Max/Min, SqueezeExcite) writes over an input nobody reads afterwards. This pass only names the
 * switch (0 rewrites); the builder asks kiln_opt_pass_enabled(disabled, "in_place") before planning. */
#include "opt.h"

kiln_status kiln_pass_in_place(kiln_graph *g, int *changes)
{
    (void)g;
    (void)changes;
    return KILN_OK;
}
