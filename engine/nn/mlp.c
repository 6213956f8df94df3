// mlp.c: multilayer perceptron over flat parameter/gradient vectors (see mlp.h).
//
// Backpropagation (Rumelhart, Hinton and Williams 1986) layer by layer: for a[l+1] =
// act(a[l] W^T + b), dL/dz = dL/da[l+1] * act'(.), dL/dW += dz^T a[l], dL/db += sum_rows dz,
// dL/da[l] = dz W. The kernels are written once (mlp_impl.h) for float64 and float32.
#include "mlp.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/nn/linear.h"

#define REAL double
#define SFX(name) name##_f64
#include "mlp_impl.h"
#undef REAL
#undef SFX

#define REAL float
#define SFX(name) name##_f32
#include "mlp_impl.h"
#undef REAL
#undef SFX

#define SP_MLP_MAXWIDTH (1 << 24)

size_t sp_mlp_count_params(int nlayers, const int* sizes) {
  size_t n = 0;
  for (int l = 0; l < nlayers; l++) n += (size_t)sizes[l + 1] * ((size_t)sizes[l] + 1);
  return n;
}

// ---- workspaces ---------------------------------------------------------------------------------

// elements a workspace for batch rows needs: every a[l], then two scratch blocks; fills off
static size_t work_elems(const sp_mlp* m, int batch, size_t* off) {
  size_t n = 0;
  for (int l = 0; l <= m->nlayers; l++) {
    int width = l == 0 ? m->nin : m->layers[l - 1].nout;
    if (off) off[l] = n;
    n += (size_t)batch * width;
  }
  if (off) off[m->nlayers + 1] = n;
  return n + 2 * (size_t)batch * m->max_width;
}

// allocate ws's storage for batch rows (ws->off already allocated)
static int work_init(const sp_mlp* m, sp_mlp_work* ws, int batch) {
  if (batch < 1) return SP_EINVAL;
  if ((int64_t)batch * m->max_width > INT_MAX) return SP_ERANGE;
  void* d = sp_calloc(work_elems(m, batch, NULL), sp_dtype_size(m->dtype));
  if (!d) return SP_ENOMEM;
  sp_free(ws->data);
  ws->data = d;
  ws->net = m;
  ws->max_batch = batch;
  ws->batch = 0;
  work_elems(m, batch, ws->off);
  return 0;
}

int sp_mlp_work_new(sp_mlp_work** out, const sp_mlp* m, int max_batch) {
  *out = NULL;
  sp_mlp_work* ws = sp_calloc(1, sizeof *ws);
  if (!ws) return SP_ENOMEM;
  ws->off = sp_calloc((size_t)m->nlayers + 2, sizeof *ws->off);
  int rc = ws->off ? work_init(m, ws, max_batch) : SP_ENOMEM;
  if (rc) {
    sp_mlp_work_free(ws);
    return rc;
  }
  *out = ws;
  return 0;
}

void sp_mlp_work_free(sp_mlp_work* ws) {
  if (!ws) return;
  sp_free(ws->data);
  sp_free(ws->off);
  sp_free(ws);
}

int sp_mlp_reserve(sp_mlp* m, sp_mlp_work* ws, int batch) {
  if (!ws) ws = &m->ws;
  if (ws->net != m || batch < 1) return SP_EINVAL;
  return batch <= ws->max_batch ? 0 : work_init(m, ws, batch);
}

// ---- create and destroy -------------------------------------------------------------------------

int sp_mlp_new(sp_mlp** out, int nlayers, const int* sizes, const sp_act* acts, sp_dtype dtype,
               int max_batch) {
  *out = NULL;
  if (nlayers < 1 || nlayers > SP_MLP_MAXLAYERS || !sizes || !acts || max_batch < 1)
    return SP_EINVAL;
  if (!sp_dtype_size(dtype)) return SP_EINVAL;
  int max_width = 0;
  for (int l = 0; l <= nlayers; l++) {
    if (sizes[l] < 1 || sizes[l] > SP_MLP_MAXWIDTH) return SP_EINVAL;
    if (sizes[l] > max_width) max_width = sizes[l];
  }
  for (int l = 0; l < nlayers; l++)
    if ((unsigned)acts[l] >= SP_ACT_COUNT) return SP_EINVAL;
  if ((int64_t)max_batch * max_width > INT_MAX) return SP_ERANGE;

  sp_mlp* m = sp_calloc(1, sizeof *m);
  if (!m) return SP_ENOMEM;
  m->dtype = dtype;
  m->nlayers = nlayers;
  m->nin = sizes[0];
  m->nout = sizes[nlayers];
  m->max_width = max_width;
  m->layers = sp_calloc((size_t)nlayers, sizeof *m->layers);
  m->ws.off = sp_calloc((size_t)nlayers + 2, sizeof *m->ws.off);
  if (!m->layers || !m->ws.off) goto nomem;

  // layers are views into the flat vectors: W_l then b_l
  size_t off = 0;
  for (int l = 0; l < nlayers; l++) {
    sp_layer* ly = &m->layers[l];
    ly->nin = sizes[l];
    ly->nout = sizes[l + 1];
    ly->act = acts[l];
    ly->w = off;
    off += (size_t)ly->nout * ly->nin;
    ly->b = off;
    off += (size_t)ly->nout;
  }
  m->nparams = off;
  size_t es = sp_dtype_size(dtype);
  m->params = sp_calloc(m->nparams, es);
  m->grads = sp_calloc(m->nparams, es);
  if (!m->params || !m->grads) goto nomem;
  if (work_init(m, &m->ws, max_batch)) goto nomem;
  *out = m;
  return 0;

nomem:
  sp_mlp_free(m);
  return SP_ENOMEM;
}

void sp_mlp_free(sp_mlp* m) {
  if (!m) return;
  sp_free(m->ws.data);
  sp_free(m->ws.off);
  if (!m->borrowed) {
    sp_free(m->grads);
    sp_free(m->params);
  }
  sp_free(m->layers);
  sp_free(m);
}

void sp_mlp_use_storage(sp_mlp* m, void* params, void* grads) {
  size_t bytes = m->nparams * sp_dtype_size(m->dtype);
  memcpy(params, m->params, bytes);
  memcpy(grads, m->grads, bytes);
  if (!m->borrowed) {
    sp_free(m->params);
    sp_free(m->grads);
  }
  m->params = params;
  m->grads = grads;
  m->borrowed = 1;
}

// ---- forward and backward -----------------------------------------------------------------------

// the workspace to use, or NULL when ws belongs to another net
static sp_mlp_work* pick(sp_mlp* m, sp_mlp_work* ws) {
  if (!ws) return &m->ws;
  return ws->net == m ? ws : NULL;
}

int sp_mlp_forward(sp_mlp* m, sp_mlp_work* ws, double* y, const double* x, int batch) {
  if (!(ws = pick(m, ws))) return SP_EINVAL;
  if (batch < 1 || batch > ws->max_batch) return SP_ERANGE;
  size_t nout = (size_t)batch * m->nout;
  if (m->dtype == SP_F64) {
    forward_f64(m, ws, x, batch);
    if (y) memcpy(y, (double*)ws->data + ws->off[m->nlayers], nout * sizeof(double));
    return 0;
  }
  // float32 net: convert the input into a[0], the output back out
  float* a0 = (float*)ws->data + ws->off[0];
  for (size_t i = 0, n = (size_t)batch * m->nin; i < n; i++) a0[i] = (float)x[i];
  forward_f32(m, ws, a0, batch);
  const float* aL = (float*)ws->data + ws->off[m->nlayers];
  if (y)
    for (size_t i = 0; i < nout; i++) y[i] = aL[i];
  return 0;
}

// backward at the float64 boundary, with or without parameter gradients
static int backward64(sp_mlp* m, sp_mlp_work* ws, double* gx, const double* gy, int params) {
  if (!(ws = pick(m, ws))) return SP_EINVAL;
  if (ws->batch < 1) return SP_ESTATE;
  if (m->dtype == SP_F64) {
    backward_f64(m, ws, gx, gy, gx != NULL, params);
    return 0;
  }
  // float32 net: gy into the first scratch block, input gradients back out
  float* s0 = (float*)ws->data + ws->off[m->nlayers + 1];
  for (size_t i = 0, n = (size_t)ws->batch * m->nout; i < n; i++) s0[i] = (float)gy[i];
  const float* g = backward_f32(m, ws, NULL, s0, gx != NULL, params);
  if (gx)
    for (size_t i = 0, n = (size_t)ws->batch * m->nin; i < n; i++) gx[i] = g[i];
  return 0;
}

int sp_mlp_backward(sp_mlp* m, sp_mlp_work* ws, double* gx, const double* gy) {
  return backward64(m, ws, gx, gy, 1);
}

int sp_mlp_backward_input(sp_mlp* m, sp_mlp_work* ws, double* gx, const double* gy) {
  return backward64(m, ws, gx, gy, 0);
}

int sp_mlp_forward_f32(sp_mlp* m, sp_mlp_work* ws, float* y, const float* x, int batch) {
  if (m->dtype != SP_F32 || !(ws = pick(m, ws))) return SP_EINVAL;
  if (batch < 1 || batch > ws->max_batch) return SP_ERANGE;
  forward_f32(m, ws, x, batch);
  if (y) memcpy(y, (float*)ws->data + ws->off[m->nlayers], (size_t)batch * m->nout * sizeof(float));
  return 0;
}

static int backward32(sp_mlp* m, sp_mlp_work* ws, float* gx, const float* gy, int params) {
  if (m->dtype != SP_F32 || !(ws = pick(m, ws))) return SP_EINVAL;
  if (ws->batch < 1) return SP_ESTATE;
  backward_f32(m, ws, gx, gy, gx != NULL, params);
  return 0;
}

int sp_mlp_backward_f32(sp_mlp* m, sp_mlp_work* ws, float* gx, const float* gy) {
  return backward32(m, ws, gx, gy, 1);
}

int sp_mlp_backward_input_f32(sp_mlp* m, sp_mlp_work* ws, float* gx, const float* gy) {
  return backward32(m, ws, gx, gy, 0);
}

const void* sp_mlp_output(const sp_mlp* m, const sp_mlp_work* ws) {
  if (!ws) ws = &m->ws;
  if (ws->net != m || ws->batch < 1) return NULL;
  return (const char*)ws->data + ws->off[m->nlayers] * sp_dtype_size(m->dtype);
}

// ---- parameters ---------------------------------------------------------------------------------

void sp_mlp_zero_grad(sp_mlp* m) {
  memset(m->grads, 0, m->nparams * sp_dtype_size(m->dtype));
}

int sp_mlp_layer(const sp_mlp* m, int l) {
  if (l < 0) l += m->nlayers;
  return l >= 0 && l < m->nlayers ? l : -1;
}

void* sp_mlp_weight(sp_mlp* m, int l) {
  if ((l = sp_mlp_layer(m, l)) < 0) return NULL;
  return (char*)m->params + m->layers[l].w * sp_dtype_size(m->dtype);
}

void* sp_mlp_bias(sp_mlp* m, int l) {
  if ((l = sp_mlp_layer(m, l)) < 0) return NULL;
  return (char*)m->params + m->layers[l].b * sp_dtype_size(m->dtype);
}

static void to_f64(double* out, const void* in, sp_dtype t, size_t n) {
  if (t == SP_F64) {
    memcpy(out, in, n * sizeof(double));
    return;
  }
  const float* f = in;
  for (size_t i = 0; i < n; i++) out[i] = f[i];
}

void sp_mlp_get_params(const sp_mlp* m, double* out) {
  to_f64(out, m->params, m->dtype, m->nparams);
}

void sp_mlp_get_grads(const sp_mlp* m, double* out) {
  to_f64(out, m->grads, m->dtype, m->nparams);
}

void sp_mlp_set_params(sp_mlp* m, const double* in) {
  if (m->dtype == SP_F64) {
    memcpy(m->params, in, m->nparams * sizeof(double));
    return;
  }
  float* f = m->params;
  for (size_t i = 0; i < m->nparams; i++) f[i] = (float)in[i];
}

int sp_mlp_copy_widened(sp_mlp* dst, const sp_mlp* src) {
  if (dst->nlayers != src->nlayers || dst->nin < src->nin) return SP_EINVAL;
  for (int l = 0; l < src->nlayers; l++)
    if (dst->layers[l].nout != src->layers[l].nout ||
        (l && dst->layers[l].nin != src->layers[l].nin))
      return SP_EINVAL;
  double* p = sp_malloc(src->nparams * sizeof(double));
  double* q = sp_calloc(dst->nparams, sizeof(double));
  if (!p || !q) {
    sp_free(p);
    sp_free(q);
    return SP_ENOMEM;
  }
  sp_mlp_get_params(src, p);
  // the first layer's matrix row by row (nin entries each), then everything after it as it is
  const sp_layer *l0 = &src->layers[0], *m0 = &dst->layers[0];
  for (int o = 0; o < l0->nout; o++)
    memcpy(q + m0->w + (size_t)o * m0->nin, p + l0->w + (size_t)o * l0->nin,
           (size_t)l0->nin * sizeof(double));
  memcpy(q + m0->b, p + l0->b, (src->nparams - l0->b) * sizeof(double));
  sp_mlp_set_params(dst, q);
  sp_free(p);
  sp_free(q);
  return 0;
}

int sp_mlp_describe(const sp_mlp* m, char* buf, size_t n) {
  size_t len = 0;
  char tmp[64];
  int k = snprintf(buf, n, "mlp %s: %d", sp_dtype_name(m->dtype), m->nin);
  if (k > 0) len = (size_t)k;
  for (int l = 0; l < m->nlayers; l++) {
    k = snprintf(tmp, sizeof tmp, " -> %d %s", m->layers[l].nout, sp_act_name(m->layers[l].act));
    if (len < n) snprintf(buf + len, n - len, "%s", tmp);
    len += (size_t)k;
  }
  k = snprintf(tmp, sizeof tmp, " (%zu parameters)", m->nparams);
  if (len < n) snprintf(buf + len, n - len, "%s", tmp);
  len += (size_t)k;
  return (int)len;
}
