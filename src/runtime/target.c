/* The engine's target: which machine family its layers were chosen for. An engine only runs where it was built
 * (later tactics use ISA-specific kernels), so the loader compares it with kiln_host_target(). */
#include <stdio.h>

#include "backend_cuda.h"
#include "engine_internal.h"

uint32_t kiln_host_target(void)
{
#if defined(__x86_64__) || defined(_M_X64)
    return KILN_TARGET_CPU_X86_64;
#elif defined(__aarch64__)
    return KILN_TARGET_CPU_AARCH64;
#else
    return 0;
#endif
}

const char *kiln_target_name(uint32_t target)
{
    switch (target) {
    case KILN_TARGET_CPU_X86_64: return "cpu-x86_64";
    case KILN_TARGET_CPU_AARCH64: return "cpu-aarch64";
    default:
        if (KILN_TARGET_IS_CUDA(target)) {
            static _Thread_local char buf[32];
            snprintf(buf, sizeof buf, "cuda-sm_%u", target - KILN_TARGET_CUDA_BASE);
            return buf;
        }
        return "an unknown target";
    }
}
