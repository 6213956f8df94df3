// init.c: Xavier/Glorot uniform and orthogonal initialisation (see init.h for the sources).
#include "init.h"

#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

const char* sp_init_name(sp_init k) {
  return k == SP_INIT_XAVIER ? "xavier" : k == SP_INIT_ORTHOGONAL ? "orthogonal" : "?";
}

int sp_init_parse(sp_init* out, const char* name) {
  if (!name) return SP_EINVAL;
  if (!strcmp(name, "xavier") || !strcmp(name, "glorot")) {
    *out = SP_INIT_XAVIER;
    return 0;
  }
  if (!strcmp(name, "orthogonal")) {
    *out = SP_INIT_ORTHOGONAL;
    return 0;
  }
  return SP_EINVAL;
}

// store w (n) as the layer's dtype at its weight offset, and zero its bias
static void store_layer(sp_mlp* m, int l, const double* w, size_t n) {
  const sp_layer* ly = &m->layers[l];
  if (m->dtype == SP_F64) {
    double* p = m->params;
    memcpy(p + ly->w, w, n * sizeof(double));
    memset(p + ly->b, 0, (size_t)ly->nout * sizeof(double));
  } else {
    float* p = m->params;
    for (size_t i = 0; i < n; i++) p[ly->w + i] = (float)w[i];
    memset(p + ly->b, 0, (size_t)ly->nout * sizeof(float));
  }
}

// W (rows x cols) with orthonormal rows (rows <= cols) or columns (rows > cols), times gain
static int orthogonal(double* W, int rows, int cols, double gain, sp_rng* r) {
  // factor the tall orientation: A (tall x wide), tall >= wide, column-major = its transpose
  int tall = rows > cols ? rows : cols, wide = rows > cols ? cols : rows;
  double* A = sp_malloc((size_t)tall * wide * sizeof(double));
  double* tau = sp_malloc((size_t)wide * sizeof(double));
  double* d = sp_malloc((size_t)wide * sizeof(double));
  int rc = 0;
  if (!A || !tau || !d) {
    rc = SP_ENOMEM;
    goto done;
  }
  sp_rng_fill_normal(r, A, (size_t)tall * wide, 0, 1);
  if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, tall, wide, A, tall, tau)) {
    rc = SP_ENUMERIC;
    goto done;
  }
  // signs of diag(R) make Q uniformly distributed (Mezzadri 2007)
  for (int j = 0; j < wide; j++) d[j] = A[(size_t)j * tall + j] < 0 ? -1 : 1;
  if (LAPACKE_dorgqr(LAPACK_COL_MAJOR, tall, wide, wide, A, tall, tau)) {
    rc = SP_ENUMERIC;
    goto done;
  }
  // Q is column-major (tall x wide): Q[i][j] = A[j * tall + i]
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      int qi = rows > cols ? i : j, qj = rows > cols ? j : i;
      W[(size_t)i * cols + j] = gain * d[qj] * A[(size_t)qj * tall + qi];
    }
done:
  sp_free(d);
  sp_free(tau);
  sp_free(A);
  return rc;
}

int sp_mlp_init_layer(sp_mlp* m, int l, sp_init kind, double gain, sp_rng* r) {
  l = sp_mlp_layer(m, l);
  if (l < 0 || !(gain >= 0)) return SP_EINVAL;
  const sp_layer* ly = &m->layers[l];
  size_t n = (size_t)ly->nout * ly->nin;
  double* w = sp_malloc(n * sizeof(double));
  if (!w) return SP_ENOMEM;
  int rc = 0;
  if (kind == SP_INIT_XAVIER) {
    double a = gain * sqrt(6.0 / (ly->nin + ly->nout));
    sp_rng_fill_uniform(r, w, n, -a, a);
  } else if (kind == SP_INIT_ORTHOGONAL) {
    rc = orthogonal(w, ly->nout, ly->nin, gain, r);
  } else {
    rc = SP_EINVAL;
  }
  if (!rc) store_layer(m, l, w, n);
  sp_free(w);
  return rc;
}

int sp_mlp_init(sp_mlp* m, sp_init kind, uint64_t seed) {
  sp_rng r;
  sp_rng_seed(&r, seed, 0);
  for (int l = 0; l < m->nlayers; l++) {
    int rc = sp_mlp_init_layer(m, l, kind, 1.0, &r);
    if (rc) return rc;
  }
  return 0;
}

int sp_mlp_zero_layer(sp_mlp* m, int l) {
  l = sp_mlp_layer(m, l);
  if (l < 0) return SP_EINVAL;
  const sp_layer* ly = &m->layers[l];
  size_t es = sp_dtype_size(m->dtype);
  memset((char*)m->params + ly->w * es, 0, (size_t)ly->nout * (ly->nin + 1) * es);
  return 0;
}
