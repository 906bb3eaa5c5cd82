/* Memory planner: on hand-made liveness patterns (chain, diamond, long-lived skip, U-Net-like nesting) no two
 * simultaneously live buffers overlap, offsets are 64-byte aligned, and the arena is within 1.1x of the lower bound
 * (the most bytes live at one step); on random patterns it stays correct; on a real graph the plan leaves bound
 * values (inputs, outputs, constants) out and is consistent with liveness derived here independently. */
#include "plan/plan.h"
#include "test_engine_util.h"

static int64_t check_placement(const char *label, const kiln_plan_buffer *b, int n, double max_ratio)
{
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t arena = kiln_plan_place(b, n, off);
    int64_t lb = kiln_plan_lower_bound(b, n);
    /* the lower bound computed here too, by brute force, so the check does not trust the library's */
    int64_t lb2 = 0;
    for (int t = 0; t < 1000; t++) {
        int64_t live = 0;
        for (int i = 0; i < n; i++)
            if (b[i].first <= t && t <= b[i].last) live += b[i].size;
        if (live > lb2) lb2 = live;
    }
    CHECK(lb == lb2, "%s: lower bound %lld, brute force %lld", label, (long long)lb, (long long)lb2);
    for (int i = 0; i < n; i++) {
        CHECK(off[i] >= 0 && off[i] % 64 == 0 && off[i] + b[i].size <= arena, "%s: buffer %d at %lld (arena %lld)",
              label, i, (long long)off[i], (long long)arena);
        for (int j = i + 1; j < n; j++) {
            int live_together = b[i].first <= b[j].last && b[j].first <= b[i].last;
            int overlap = off[i] < off[j] + b[j].size && off[j] < off[i] + b[i].size;
            CHECK(!(live_together && overlap), "%s: buffers %d and %d are live together and overlap", label, i, j);
        }
    }
    CHECK(arena >= lb, "%s: arena %lld below the lower bound %lld", label, (long long)arena, (long long)lb);
    if (max_ratio > 0)
        CHECK((double)arena <= max_ratio * (double)lb, "%s: arena %lld > %.2f x lower bound %lld", label,
              (long long)arena, max_ratio, (long long)lb);
    free(off);
    return arena;
}

#define K64(x) ((int64_t)(x) * 64)

int main(void)
{
    /* chain: each value read by the next node only; sizes grow and shrink like a CNN */
    {
        int64_t sizes[] = { 300, 1200, 1200, 600, 600, 2400, 150, 150, 75, 10 };
        kiln_plan_buffer b[10];
        for (int i = 0; i < 10; i++) b[i] = (kiln_plan_buffer){ K64(sizes[i]), i, i + 1 };
        int64_t arena = check_placement("chain", b, 10, 1.1);
        CHECK(arena < K64(300 + 1200 + 1200 + 600 + 600 + 2400 + 150 + 150 + 75 + 10) / 2, "chain reuses nothing");
    }
    /* diamond: A feeds B and C, which join in D */
    {
        kiln_plan_buffer b[] = { { K64(100), 0, 2 }, { K64(80), 1, 3 }, { K64(80), 2, 3 }, { K64(100), 3, 4 },
                                 { K64(10), 4, 4 } };
        check_placement("diamond", b, 5, 1.1);
    }
    /* long-lived skip: A is read again at the end of a chain (a residual block) */
    {
        kiln_plan_buffer b[] = { { K64(500), 0, 6 }, { K64(500), 1, 2 }, { K64(250), 2, 3 }, { K64(250), 3, 4 },
                                 { K64(500), 4, 5 }, { K64(500), 5, 6 }, { K64(500), 6, 7 } };
        check_placement("skip", b, 7, 1.1);
    }
    /* two residual blocks in a row, the second's skip starting where the first ends */
    {
        kiln_plan_buffer b[] = { { K64(256), 0, 3 }, { K64(128), 1, 2 }, { K64(128), 2, 3 }, { K64(256), 3, 6 },
                                 { K64(128), 4, 5 }, { K64(128), 5, 6 }, { K64(256), 6, 7 } };
        check_placement("two residuals", b, 7, 1.1);
    }
    /* random lifetimes and sizes: always correct (no ratio promised) */
    t_rng = 2024u;
    for (int round = 0; round < 20; round++) {
        kiln_plan_buffer b[120];
        for (int i = 0; i < 120; i++) {
            int first = (int)t_uniform(0, 100);
            int len = (int)t_uniform(0, 12);
            b[i] = (kiln_plan_buffer){ K64(1 + (int)t_uniform(0, 200)), first, first + len };
        }
        check_placement("random", b, 120, 0);
    }
    /* a real graph: bound values are not planned; planned ones match liveness derived here */
    {
        kiln_graph *g = t_graph_branchy();
        int64_t *off = malloc(sizeof(int64_t) * (size_t)g->n_values), arena = 0, sum = 0;
        CHECK_OK(kiln_plan_memory(g, 3, off, &arena, &sum));
        int *first = malloc(sizeof(int) * (size_t)g->n_values), *last = malloc(sizeof(int) * (size_t)g->n_values);
        for (int v = 0; v < g->n_values; v++) first[v] = last[v] = g->values[v].producer;
        for (int i = 0; i < g->n_nodes; i++)
            for (int j = 0; j < g->nodes[i].n_inputs; j++) last[g->nodes[i].inputs[j]] = i;
        int planned = 0;
        for (int v = 0; v < g->n_values; v++) {
            int bound = g->values[v].kind == KILN_VALUE_CONSTANT;
            for (int i = 0; i < g->n_inputs; i++) bound |= g->inputs[i] == v;
            for (int i = 0; i < g->n_outputs; i++) bound |= g->outputs[i] == v;
            CHECK(bound == (off[v] == -1), "value '%s': bound %d, offset %lld", g->values[v].name, bound,
                  (long long)off[v]);
            if (bound) continue;
            planned++;
            int64_t bytes = kiln_value_numel(&g->values[v]) * 4 * 3;
            CHECK(off[v] % 64 == 0 && off[v] + bytes <= arena, "value '%s' outside the arena", g->values[v].name);
            for (int w = v + 1; w < g->n_values; w++) {
                if (off[w] < 0) continue;
                int64_t wb = kiln_value_numel(&g->values[w]) * 4 * 3;
                int together = first[v] <= last[w] && first[w] <= last[v];
                int overlap = off[v] < off[w] + wb && off[w] < off[v] + bytes;
                CHECK(!(together && overlap), "'%s' and '%s' overlap while both live", g->values[v].name,
                      g->values[w].name);
            }
        }
        CHECK(planned == g->n_nodes - 2, "planned %d values", planned);
        CHECK(arena < sum, "arena %lld not below the sum %lld", (long long)arena, (long long)sum);
        free(first);
        free(last);
        free(off);
        kiln_graph_free(g);
    }
    if (t_failures) {
        fprintf(stderr, "test_plan: %d check(s) failed\n", t_failures);
        return 1;
    }
    printf("test_plan: all checks passed\n");
    return 0;
}
