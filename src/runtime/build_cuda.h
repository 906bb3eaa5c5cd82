/* The CUDA part of kiln_engine_build (build_cuda.c). */
#ifndef KILN_RUNTIME_BUILD_CUDA_H
#define KILN_RUNTIME_BUILD_CUDA_H

#include "engine_internal.h"

/* Every layer of e (optimized, planned, constants packed) becomes a CUDA layer: layer precisions (FP16 engines:
 * calibration + o->fp32_layers), tactics timed on the GPU present (or from o->timing_cache), target = its SM. */
kiln_status kiln_build_cuda_layers(const kiln_build_options *o, kiln_engine *e);

#endif
