// clip.c: motion clips: storage, consistent derivatives, interpolation and windows (see clip.h).
#include "clip.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/la/quat.h"

int sp_clip_new(sp_clip** out, int nframes, int nj, double frame_dt, int loop) {
  *out = NULL;
  if (nframes < 2 || nj < 0 || nj > SP_CLIP_MAXJOINTS || !(frame_dt > 0) || !isfinite(frame_dt))
    return SP_EINVAL;
  size_t n = (size_t)nframes, per = 3 + 4 + 3 + 3 + 2 * (size_t)nj;
  sp_clip* c = sp_calloc(1, sizeof *c);
  double* d = sp_calloc(n * per, sizeof(double));
  if (!c || !d) {
    sp_free(c);
    sp_free(d);
    return SP_ENOMEM;
  }
  // one allocation carved into the named arrays
  c->nframes = nframes;
  c->nj = nj;
  c->frame_dt = frame_dt;
  c->loop = loop != 0;
  c->pos = d;
  c->quat = c->pos + 3 * n;
  c->vel = c->quat + 4 * n;
  c->angvel = c->vel + 3 * n;
  c->joints = c->angvel + 3 * n;
  c->jvel = c->joints + n * nj;
  for (size_t i = 0; i < n; i++) c->quat[4 * i] = 1;
  *out = c;
  return 0;
}

void sp_clip_free(sp_clip* c) {
  if (!c) return;
  sp_free(c->pos);
  sp_free(c);
}

int sp_clip_nx(const sp_clip* c) {
  return 13 + 2 * c->nj;
}

double sp_clip_duration(const sp_clip* c) {
  return (c->nframes - 1) * c->frame_dt;
}

static int all_finite(const double* x, int n) {
  for (int i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

int sp_clip_finish(sp_clip* c, char* msg, size_t ms) {
  int n = c->nframes, nj = c->nj;
  for (int i = 0; i < n; i++) {
    if (!all_finite(c->pos + 3 * i, 3))
      return sp_errorf(msg, ms, SP_ENUMERIC, "frame %d: root position is not finite", i);
    if (!all_finite(c->joints + (size_t)i * nj, nj))
      return sp_errorf(msg, ms, SP_ENUMERIC, "frame %d: a joint angle is not finite", i);
    double* q = c->quat + 4 * i;
    if (!all_finite(q, 4))
      return sp_errorf(msg, ms, SP_ENUMERIC, "frame %d: quaternion is not finite", i);
    if (sp_quat_normalize(q) < 1e-12)
      return sp_errorf(msg, ms, SP_ENUMERIC, "frame %d: quaternion is zero", i);
    if (i > 0) {
      const double* qp = q - 4;
      if (qp[0] * q[0] + qp[1] * q[1] + qp[2] * q[2] + qp[3] * q[3] < 0)
        for (int k = 0; k < 4; k++) q[k] = -q[k];
    }
  }
  // central differences inside, first differences at the ends
  double dt = c->frame_dt;
  for (int i = 0; i < n; i++) {
    int a = i > 0 ? i - 1 : 0, b = i < n - 1 ? i + 1 : n - 1;
    double h = (b - a) * dt, dp[3], qa[4], d[4];
    for (int k = 0; k < 3; k++) dp[k] = (c->pos[3 * b + k] - c->pos[3 * a + k]) / h;
    sp_quat_rotate_inv(c->vel + 3 * i, c->quat + 4 * i, dp);
    sp_quat_conj(qa, c->quat + 4 * a);
    sp_quat_mul(d, qa, c->quat + 4 * b);
    sp_quat_log(c->angvel + 3 * i, d);
    for (int k = 0; k < 3; k++) c->angvel[3 * i + k] /= h;
    for (int j = 0; j < nj; j++)
      c->jvel[(size_t)i * nj + j] =
          (c->joints[(size_t)b * nj + j] - c->joints[(size_t)a * nj + j]) / h;
  }
  return 0;
}

void sp_clip_sample(const sp_clip* c, double* out, double t) {
  int n = c->nframes, nj = c->nj;
  double T = sp_clip_duration(c), shift[3] = {0, 0, 0};
  if (!isfinite(t)) t = 0;
  if (c->loop) {
    // wrap into [0, T), shifting by whole cycles of horizontal displacement
    double k = floor(t / T);
    t -= k * T;
    if (t >= T) t = 0, k += 1;  // rounding
    for (int d = 0; d < 2; d++) shift[d] = k * (c->pos[3 * (n - 1) + d] - c->pos[d]);
  } else {
    t = t < 0 ? 0 : t > T ? T : t;
  }
  double s = t / c->frame_dt;
  int i = (int)floor(s);
  if (i > n - 2) i = n - 2;
  if (i < 0) i = 0;
  double u = s - i;
  if (u > 1) u = 1;
    // linear in positions, velocities and joints; slerp in orientation
#define LERP(arr, w, k) \
  ((1 - u) * (arr)[(size_t)i * (w) + (k)] + u * (arr)[(size_t)(i + 1) * (w) + (k)])
  for (int k = 0; k < 3; k++) out[k] = LERP(c->pos, 3, k) + shift[k];
  sp_quat_slerp(out + 3, c->quat + 4 * i, c->quat + 4 * (i + 1), u);
  for (int k = 0; k < 3; k++) out[7 + k] = LERP(c->vel, 3, k);
  for (int k = 0; k < 3; k++) out[10 + k] = LERP(c->angvel, 3, k);
  for (int j = 0; j < nj; j++) out[13 + j] = LERP(c->joints, nj, j);
  for (int j = 0; j < nj; j++) out[13 + nj + j] = LERP(c->jvel, nj, j);
#undef LERP
}

void sp_clip_window(const sp_clip* c, double* out, double t, const double* offsets, int k) {
  int nx = sp_clip_nx(c);
  for (int j = 0; j < k; j++) sp_clip_sample(c, out + (size_t)j * nx, t + offsets[j]);
}
