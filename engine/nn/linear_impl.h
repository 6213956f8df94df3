// linear_impl.h: the affine layer written once for a REAL type (included by linear.c).
//
// Expects REAL, SFX(name) and GEMM (cblas_dgemm or a function with its arguments); GEMM_BIAS, when
// defined, computes the forward pass's y = x W^T + b in one call.

void SFX(sp_linear_forward)(REAL* y, const REAL* x, const REAL* W, const REAL* b, int batch,
                            int nin, int nout) {
#ifdef GEMM_BIAS
  GEMM_BIAS(y, x, W, b, batch, nin, nout);
#else
  // rows of y start as b, then y += x W^T
  if (b)
    for (int r = 0; r < batch; r++) memcpy(y + (size_t)r * nout, b, (size_t)nout * sizeof(REAL));
  else
    memset(y, 0, (size_t)batch * nout * sizeof(REAL));
  if (batch > 0 && nin > 0 && nout > 0)
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, batch, nout, nin, 1, x, nin, W, nin, 1, y, nout);
#endif
}

void SFX(sp_linear_backward)(REAL* gx, REAL* gW, REAL* gb, const REAL* gy, const REAL* x,
                             const REAL* W, int batch, int nin, int nout) {
  if (batch <= 0) return;
  // gW += gy^T x
  if (gW)
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, nout, nin, batch, 1, gy, nout, x, nin, 1, gW,
         nin);
  // gb += column sums of gy
  if (gb)
    for (int r = 0; r < batch; r++) {
      const REAL* gr = gy + (size_t)r * nout;
      for (int j = 0; j < nout; j++) gb[j] += gr[j];
    }
  // gx = gy W
  if (gx)
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, nin, nout, 1, gy, nout, W, nin, 0, gx,
         nin);
}
