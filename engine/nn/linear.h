// linear.h: the affine layer y = x W^T + b on a batch of rows, and its backward pass.
//
// x (batch x nin), W (nout x nin), b (nout), y (batch x nout), all row-major and contiguous.
// Backward, given gy = dL/dy (batch x nout):
//   gx  = gy W             (batch x nin)   overwritten; NULL when not wanted
//   gW += gy^T x           (nout x nin)    accumulated
//   gb += sum_rows(gy)     (nout)          accumulated
// Products go through BLAS (cblas_dgemm; float32 through sp_gemm_f32, engine/nn/gemm.h). Nothing
// allocates.
#ifndef SP_NN_LINEAR_H
#define SP_NN_LINEAR_H

#include "engine/core/export.h"

SP_API_BEGIN

void sp_linear_forward_f64(double* y, const double* x, const double* W, const double* b, int batch,
                           int nin, int nout);
void sp_linear_forward_f32(float* y, const float* x, const float* W, const float* b, int batch,
                           int nin, int nout);

// gx may be NULL; gW and gb may be NULL to skip the parameter gradients (gradients flowing to
// the inputs only). gx must not alias gy.
void sp_linear_backward_f64(double* gx, double* gW, double* gb, const double* gy, const double* x,
                            const double* W, int batch, int nin, int nout);
void sp_linear_backward_f32(float* gx, float* gW, float* gb, const float* gy, const float* x,
                            const float* W, int batch, int nin, int nout);

SP_API_END

#endif  // SP_NN_LINEAR_H
