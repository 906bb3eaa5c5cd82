/* FP16 overflow protection for CUDA engines: calibration ranges and per-layer precision.
 *
 * FP16 ends at 65504. A layer whose values leave that range stores inf and poisons every layer after it, so at build
 * time the optimized graph runs in FP32 on this CPU (kiln's CPU kernels, dense buffers) over calibration samples and
 * each layer's range is measured: max |x| over every activation it reads, its output and, for convolutions and dense
 * layers (whose raw GEMM result the GPU stores before the epilogue), the pre-activation value. Layers above
 * KILN_FP16_SAFE_RANGE (include/kiln.h), and layers named in opt->fp32_layers, run in FP32; the others in FP16. */
#ifndef KILN_RUNTIME_CALIBRATE_H
#define KILN_RUNTIME_CALIBRATE_H

#include "engine_internal.h"

/* Random samples used when opt->calib_data is NULL. */
#define KILN_CALIB_RANDOM_SAMPLES 4

/* range[i] (g->n_nodes floats, caller-owned) = layer i's range over the calibration samples of o (opt->calib_data,
 * else KILN_CALIB_RANDOM_SAMPLES uniform samples in [calib_lo, calib_hi]). e's constants must be in place. */
kiln_status kiln_calibrate_ranges(const kiln_engine *e, const kiln_build_options *o, float *range);

/* Layer precisions of an FP16 engine: layers[i].range = range[i] (NULL: -1), layers[i].precision = FP32 when the
 * range exceeds KILN_FP16_SAFE_RANGE or the layer is named in o->fp32_layers (an unknown name fails), else FP16. */
kiln_status kiln_assign_precision(kiln_engine *e, const kiln_build_options *o, const float *range);

/* Does `want` name layer n: its full (fused) name, its output's name, or one of its ' + ' / ' || ' parts? */
int kiln_layer_name_matches(const kiln_graph *g, const kiln_node *n, const char *want, size_t want_len);

#endif
