/* Reference Erf (ONNX Erf): y = act(erf(x)). */
#include <math.h>

#include "ref_util.h"

void kiln_ref_erf(const kiln_kernel_args *a)
{
    const int64_t n = ref_count(a, ref_out(a));
    for (int64_t i = 0; i < n; i++) a->out[i] = erff(a->in[0][i]);
    ref_epilogue(a);
}
