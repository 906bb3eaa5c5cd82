// kiln's own CUDA kernels (src/cuda/kernels.cu): everything cuDNN/cuBLAS do not do for us. NHWC, activations of
// type T (float, or __half for FP16 engines), arithmetic and accumulation in float, attrs.act applied by the same
// kiln_act_apply() the CPU reference kernels use (src/core/act.h compiled for the device).
#ifndef KILN_CUDA_KERNELS_CUH
#define KILN_CUDA_KERNELS_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#define KILN_HD __host__ __device__
#include "../core/act.h"

namespace kc {

// Up to 6-D shapes/strides passed by value.
struct Dims6 {
    int64_t d[6];
};

// y[i] = act(y[i] + bias[i % C] + (z ? z[i] : 0)), in place. bias may be NULL.
template <class T>
void epilogue(T *y, const float *bias, const T *z, int64_t n, int64_t C, kiln_act act, cudaStream_t s);
template <class TI, class TO>
void cast(const TI *x, TO *y, int64_t n, cudaStream_t s);
// Depthwise conv (groups == Cin, Cout = Cin * m): w is [KH,KW,1,Cout] float, bias [Cout] float or NULL.
template <class T>
void depthwise(const T *x, const float *w, const float *bias, T *y, int N, int H, int W, int Cin, int OH, int OW,
               int Cout, int KH, int KW, int SH, int SW, int DH, int DW, int PT, int PL, kiln_act act, cudaStream_t s);
template <class T>
void pool2d(const T *x, T *y, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW, int PT,
            int PL, int is_max, int count_include_pad, kiln_act act, cudaStream_t s);
template <class T>
void global_pool(const T *x, T *y, int N, int HW, int C, int is_max, kiln_act act, cudaStream_t s);
template <class TI, class TO>
void softmax(const TI *x, TO *y, int64_t outer, int64_t len, int64_t inner, kiln_act act, cudaStream_t s);
// General pad of every axis (rank <= 6): out dims od, in dims xd, begin pads pb.
template <class T>
void pad(const T *x, T *y, int rank, Dims6 xd, Dims6 od, Dims6 pb, float value, kiln_act act, cudaStream_t s);
// Copy one concat operand: [outer, block] into y at column `offset` of rows of `row` elements.
template <class T>
void concat_part(const T *x, T *y, int64_t outer, int64_t block, int64_t row, int64_t offset, cudaStream_t s);
template <class T>
void apply_act(const T *x, T *y, int64_t n, kiln_act act, cudaStream_t s);
// Binary op (kiln_op ADD..MIN) with broadcasting: out dims od (rank r), per-operand strides (0 on broadcast axes).
template <class TA, class TB, class T>
void binary(int op, const TA *a, const TB *b, T *y, int rank, Dims6 od, Dims6 as, Dims6 bs, int64_t n, kiln_act act,
            cudaStream_t s);
template <class T>
void scale_shift(const T *x, T *y, const float *scale, const float *shift, int64_t n, int64_t C, kiln_act act,
                 cudaStream_t s);
template <class T>
void transpose(const T *x, T *y, int rank, Dims6 od, Dims6 step, int64_t n, kiln_act act, cudaStream_t s);
// y[p, c] = x[p, begin + c], c < Cy, x rows of Cx.
template <class T>
void slice_last(const T *x, T *y, int64_t pixels, int64_t Cx, int64_t Cy, int64_t begin, kiln_act act, cudaStream_t s);
// Squeeze-excite: s = mean_hw(x) [N,C] f32; h = act(s W1 + b1) [N,Cr]; g = act2(h W2 + b2) [N,C]; y = x * g.
template <class T>
void squeeze_excite(const T *x, T *y, const float *w1, const float *b1, const float *w2, const float *b2, float *s_buf,
                    float *h_buf, float *g_buf, int N, int HW, int C, int Cr, kiln_act act, kiln_act act2,
                    cudaStream_t s);

// im2col for a convolution run as one GEMM: col[(n,oh,ow)][(kh,kw,ci)] (zero where the window leaves the input), the
// row order of kiln's weights [KH,KW,Cin,Cout] seen as a [KH*KW*Cin, Cout] matrix.
template <class T>
void im2col(const T *x, T *col, int N, int H, int W, int C, int OH, int OW, int KH, int KW, int SH, int SW, int DH, int DW,
            int PT, int PL, cudaStream_t s);

}  // namespace kc

#endif
