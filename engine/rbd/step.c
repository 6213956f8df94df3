// step.c: the semi-implicit (symplectic) Euler step on the configuration manifold,
//   v+ = v + dt qdd(q, v, B u),  q+ = q (+) dt v+,
// and its exact Jacobians in the tangent space. For a ball joint q+ = q exp(w), w = dt v+ (local),
// so dq+/dq = R(w)^T and dq+/dw = Jr(w), the right Jacobian of SO(3)'s exponential
// (Sola, Deray & Atchuthan, "A micro Lie theory", 2018, eq. 143); other joints give 1 and 1.
// The backward form multiplies g by the transposed Jacobians.
#include <math.h>
#include <string.h>

#include "engine/rbd/internal.h"
#include "engine/rbd/spatial.h"

// per-link blocks Dq (dq+/dq) and Dv (dq+/dw) of q (+) w, applied to rows
static void ball_blocks(double* Dq, double* Dv, const double* w) {
  double th2 = w[0] * w[0] + w[1] * w[1] + w[2] * w[2], th = sqrt(th2);
  double R[9], W[9] = {0, -w[2], w[1], w[2], 0, -w[0], -w[1], w[0], 0}, W2[9];
  if (th > 0) {
    double ax[3] = {w[0] / th, w[1] / th, w[2] / th};
    sp_m3_axis_angle(R, ax, th);
  } else {
    static const double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(R, eye, sizeof R);
  }
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) Dq[3 * r + c] = R[3 * c + r];
  sp_m3_mul(W2, W, W);
  double a, b;
  if (th > 1e-6)
    a = (1 - cos(th)) / th2, b = (th - sin(th)) / (th2 * th);
  else
    a = 0.5 - th2 / 24, b = 1.0 / 6 - th2 / 120;
  for (int k = 0; k < 9; k++) Dv[k] = (k % 4 == 0) - a * W[k] + b * W2[k];
}

// the top rows (dq+) of a step Jacobian X (2nv x m, row stride ld) from its bottom rows (dv+):
// dq+ = Dv dt dv+ per joint, plus Dq on the diagonal when diag (the columns of dq in A)
static void top_rows(double* X, int ld, int m, int diag, int nv, const sp_rbd_link* l,
                     const double* Dq, const double* Dv, double dt) {
  const double* bottom = X + (size_t)nv * ld;
  if (l->nv == 1) {
    int k = l->iv;
    for (int c = 0; c < m; c++) X[k * ld + c] = dt * bottom[k * ld + c];
    if (diag) X[k * ld + k] += 1.0;
    return;
  }
  for (int r = 0; r < 3; r++) {
    double* row = X + (size_t)(l->iv + r) * ld;
    const double* b = bottom + (size_t)l->iv * ld;
    double w0 = dt * Dv[3 * r], w1 = dt * Dv[3 * r + 1], w2 = dt * Dv[3 * r + 2];
    for (int c = 0; c < m; c++) row[c] = w0 * b[c] + w1 * b[ld + c] + w2 * b[2 * ld + c];
    if (diag)
      for (int k = 0; k < 3; k++) row[l->iv + k] += Dq[3 * r + k];
  }
}

int sp_rbd_step(double* q_next, double* v_next, double* A, double* Bu, double* P, sp_rbd_data* d,
                const double* q, const double* v, const double* u, double dt) {
  const sp_rbd* t = d->tree;
  int nv = t->nv, nu = t->nu, n2 = 2 * nv, np = P ? t->np : 0;
  size_t nn = (size_t)nv * (size_t)nv;
  double *tau = d->tmp + 2 * nv, *vn = d->tmp + 3 * nv, *Mi = d->tmp + 4 * nv + 2 * nn;
  sp_rbd_actuate(t, tau, u);
  if (A || Bu || np) {
    // bottom rows: dv+/d(dq, v) = dt dqdd/d(q, v) (+ 1 on dv+/dv), dv+/dp = dt dqdd/dp
    int rc = sp__rbd_aba_derivatives_scaled(vn, A ? A + (size_t)nv * n2 : NULL, n2, Mi,
                                            np ? P + (size_t)nv * np : NULL, np, dt, d, q, v, tau);
    if (rc) return rc;
  } else {
    sp_rbd_aba(vn, d, q, v, tau);
  }
  for (int k = 0; k < nv; k++) vn[k] = v[k] + dt * vn[k];
  if (q_next) sp_rbd_integrate(t, q_next, q, vn, dt);
  if (A)
    for (int k = 0; k < nv; k++) A[(size_t)(nv + k) * n2 + nv + k] += 1.0;
  // dv+/du = dt M^-1 B
  if (Bu)
    for (int r = 0; r < nv; r++)
      for (int a = 0; a < nu; a++)
        Bu[(nv + r) * nu + a] = dt * Mi[r * nv + t->act_dof[a]] * t->act_gear[a];
  // top rows joint by joint: dq+/dq = Dq + Dv dt dv+/dq, dq+/(v, u, p) = Dv dt dv+/(v, u, p)
  if (A || Bu || np)
    for (int i = 0; i < t->nlinks; i++) {
      const sp_rbd_link* l = &t->links[i];
      if (!l->nv) continue;
      double Dq[9] = {0}, Dv[9] = {0};
      if (l->nv == 3) {
        double w[3];
        for (int k = 0; k < 3; k++) w[k] = dt * vn[l->iv + k];
        ball_blocks(Dq, Dv, w);
      }
      if (A) top_rows(A, n2, n2, 1, nv, l, Dq, Dv, dt);
      if (Bu) top_rows(Bu, nu, nu, 0, nv, l, Dq, Dv, dt);
      if (np) top_rows(P, np, np, 0, nv, l, Dq, Dv, dt);
    }
  if (v_next) memcpy(v_next, vn, (size_t)nv * sizeof *vn);
  return SP_OK;
}

int sp_rbd_step_vjp(double* gx, double* gu, double* gp, sp_rbd_data* d, const double* q,
                    const double* v, const double* u, double dt, const double* g) {
  const sp_rbd* t = d->tree;
  int n2 = 2 * t->nv, nu = t->nu, np = t->np;
  int rc = sp_rbd_step(NULL, NULL, gx ? d->sA : NULL, gu ? d->sB : NULL, gp ? d->sP : NULL, d, q, v,
                       u, dt);
  if (rc) return rc;
  // transposed products, row by row so each Jacobian is read contiguously
  for (int r = 0; r < n2; r++) {
    double gr = g[r];
    if (gr == 0) continue;
    if (gx)
      for (int c = 0; c < n2; c++) gx[c] += d->sA[r * n2 + c] * gr;
    if (gu)
      for (int c = 0; c < nu; c++) gu[c] += d->sB[r * nu + c] * gr;
    if (gp)
      for (int c = 0; c < np; c++) gp[c] += d->sP[r * np + c] * gr;
  }
  return SP_OK;
}
