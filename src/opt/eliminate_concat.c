/* Pass eliminate_concat: channel Concats cost no copy. The rewrite is in the memory planner (src/plan/plan.c): it
 * places each input of a last-axis Concat as a VIEW into its channel range of the Concat's output buffer (row pitch =
 * the buffer's channel count), so the producers (Conv2D, pools, horizontal fusion's wide conv) write there directly
 * and the Concat kernel finds every input already in place. This pass only names the switch: the graph is unchanged
 * (0 rewrites), and the builder asks kiln_opt_pass_enabled(disabled, "eliminate_concat") before planning. */
#include "opt.h"

kiln_status kiln_pass_eliminate_concat(kiln_graph *g, int *changes)
{
    (void)g;
    (void)changes;
    return KILN_OK;
}
