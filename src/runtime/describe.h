/* The layer printer shared by `kiln inspect` (kiln_engine_describe) and the optimizer's --dump-after. */
#ifndef KILN_RUNTIME_DESCRIBE_H
#define KILN_RUNTIME_DESCRIBE_H

#include <stdio.h>

#include "../core/graph.h"

/* Print g's layers as the table `kiln inspect` shows (index, op, output shape, activation, tactic, name).
 * tactic_of(i) names layer i's kernel; NULL prints "-" (a graph not yet built). */
void kiln_print_layers(const kiln_graph *g, FILE *f, const char *(*tactic_of)(const void *ctx, int layer),
                       const void *ctx);
/* The same with the precision column from precision_of(ctx, i) ("FP16"/"FP32"; NULL: the output's dtype). */
void kiln_print_layers_prec(const kiln_graph *g, FILE *f, const char *(*tactic_of)(const void *ctx, int layer),
                            const char *(*precision_of)(const void *ctx, int layer), const void *ctx);

#endif
