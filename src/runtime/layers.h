/* Layer queries and the per-layer callback of kiln_context_run (profiling, per-layer compare). Not public API. */
#ifndef KILN_RUNTIME_LAYERS_H
#define KILN_RUNTIME_LAYERS_H

#include <stdint.h>

#include "engine_internal.h"

/* CLOCK_MONOTONIC in milliseconds. */
double kiln_layer_clock_ms(void);
/* Called by kiln_context_run right after layer `index` ran (only when ctx->layer_cb is set): measures the end time and
 * hands the event to the callback. output NULL: a member of a streamed group before its last layer (0 ms). */
void kiln_layer_notify(kiln_context *ctx, int index, int batch, double start_ms, const float *output, int64_t pitch);
/* The same for a layer timer over a run of several passes (kiln_engine.pass_batch): pass `pass` of `passes` of layer
 * `index` ended; its time adds to the layer's sum, and the last pass hands one event for the whole batch to the
 * callback (start: the first pass's; output: the last pass's samples, or NULL). */
void kiln_layer_notify_pass(kiln_context *ctx, int index, int batch, double start_ms, const float *output,
                            int64_t pitch, int pass, int passes);

#endif
