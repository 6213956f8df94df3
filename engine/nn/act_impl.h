// act_impl.h: activation kernels written once for a REAL type (included by act.c per precision).
//
// Expects REAL (double or float), SFX(name) (appends the precision suffix), EXPM1 (exp(z) - 1,
// used for z <= 0 only), TANH and SP_ACT_KERNEL (attributes of the exported kernels).

SP_ACT_KERNEL void SFX(sp_act_forward)(sp_act a, REAL* y, const REAL* z, size_t n) {
  switch (a) {
    case SP_ACT_TANH:
      for (size_t i = 0; i < n; i++) y[i] = TANH(z[i]);
      break;
    case SP_ACT_RELU:
      for (size_t i = 0; i < n; i++) y[i] = z[i] < 0 ? 0 : z[i];  // NaN stays NaN
      break;
    case SP_ACT_ELU:
      for (size_t i = 0; i < n; i++) y[i] = z[i] > 0 ? z[i] : EXPM1(z[i]);
      break;
    default:
      if (y != z)
        for (size_t i = 0; i < n; i++) y[i] = z[i];
      break;
  }
}

SP_ACT_KERNEL void SFX(sp_act_backward)(sp_act a, REAL* gz, const REAL* gy, const REAL* y,
                                        size_t n) {
  switch (a) {
    case SP_ACT_TANH:
      for (size_t i = 0; i < n; i++) gz[i] = gy[i] * (1 - y[i] * y[i]);
      break;
    case SP_ACT_RELU:
      for (size_t i = 0; i < n; i++) gz[i] = y[i] > 0 ? gy[i] : 0;
      break;
    case SP_ACT_ELU:
      // y > 0 exactly when z > 0; below, exp(z) = y + 1
      for (size_t i = 0; i < n; i++) gz[i] = y[i] > 0 ? gy[i] : gy[i] * (y[i] + 1);
      break;
    default:
      if (gz != gy)
        for (size_t i = 0; i < n; i++) gz[i] = gy[i];
      break;
  }
}

SP_ACT_KERNEL void SFX(sp_act_backward_rows)(sp_act a, REAL* g, REAL* gb, const REAL* y, int batch,
                                             int n) {
  for (int r = 0; r < batch; r++) {
    REAL* gr = g + (size_t)r * n;
    SFX(sp_act_backward)(a, gr, gr, y + (size_t)r * n, (size_t)n);
    if (gb)
      for (int j = 0; j < n; j++) gb[j] += gr[j];
  }
}
