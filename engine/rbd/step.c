// step.c: the semi-implicit (symplectic) Euler step on the configuration manifold,
//   v+ = v + dt qdd(q, v, B u),  q+ = q (+) dt v+,
// and its exact Jacobians in the tangent space. For a ball joint q+ = q exp(w), w = dt v+ (local),
// so dq+/dq = R(w)^T and dq+/dw = Jr(w), the right Jacobian of SO(3)'s exponential
// (Sola, Deray & Atchuthan, "A micro Lie theory", 2018, eq. 143); other joints give 1 and 1.
// The backward form multiplies g by the transposed Jacobians.
#include <math.h>
#include <string.h>

#include "engine/rbd/rbd.h"
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

// out (nv x m, row stride ld) = D X where D is the block-diagonal map of the tree's joints
static void apply_blocks(const sp_rbd* t, const double* vnext, double dt, int which, double* out,
                         int ld, const double* X, int ldx, int m) {
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nv == 1) {
      for (int c = 0; c < m; c++) out[l->iv * ld + c] = X[l->iv * ldx + c];
    } else if (l->nv == 3) {
      double w[3], Dq[9], Dv[9];
      for (int k = 0; k < 3; k++) w[k] = dt * vnext[l->iv + k];
      ball_blocks(Dq, Dv, w);
      const double* D = which ? Dv : Dq;
      for (int r = 0; r < 3; r++)
        for (int c = 0; c < m; c++) {
          double s = 0;
          for (int k = 0; k < 3; k++) s += D[3 * r + k] * X[(l->iv + k) * ldx + c];
          out[(l->iv + r) * ld + c] = s;
        }
    }
  }
}

int sp_rbd_step(double* q_next, double* v_next, double* A, double* Bu, double* P, sp_rbd_data* d,
                const double* q, const double* v, const double* u, double dt) {
  const sp_rbd* t = d->tree;
  int nv = t->nv, nu = t->nu, n2 = 2 * nv;
  size_t nn = (size_t)nv * (size_t)nv;
  double *tau = d->tmp + 2 * nv, *vn = d->tmp + 3 * nv;
  double *Gq = d->tmp + 4 * nv + 2 * nn, *Gv = Gq + nn, *Mi = Gv + nn;
  sp_rbd_actuate(t, tau, u);
  int rc;
  int np = t->np;
  if (A || Bu || P) {
    rc = sp_rbd_aba_derivatives(vn, A ? Gq : NULL, A ? Gv : NULL, Bu ? Mi : NULL,
                                P && np ? d->dp : NULL, d, q, v, tau);
    if (rc) return rc;
  } else {
    sp_rbd_aba(vn, d, q, v, tau);
  }
  for (int k = 0; k < nv; k++) vn[k] = v[k] + dt * vn[k];
  if (q_next) sp_rbd_integrate(t, q_next, q, vn, dt);
  if (A) {
    // bottom: dv+/dq = dt Gq, dv+/dv = 1 + dt Gv
    for (int r = 0; r < nv; r++)
      for (int c = 0; c < nv; c++) {
        A[(nv + r) * n2 + c] = dt * Gq[r * nv + c];
        A[(nv + r) * n2 + nv + c] = dt * Gv[r * nv + c] + (r == c);
      }
    // top: dq+/dq = Dq + Dv dt dv+/dq, dq+/dv = Dv dt dv+/dv
    apply_blocks(t, vn, dt, 1, A, n2, A + nv * n2, n2, n2);
    for (int r = 0; r < nv; r++)
      for (int c = 0; c < n2; c++) A[r * n2 + c] *= dt;
    double* I = Gq;  // reuse as identity
    memset(I, 0, nn * sizeof *I);
    for (int k = 0; k < nv; k++) I[k * nv + k] = 1.0;
    double* Dq = Gv;
    apply_blocks(t, vn, dt, 0, Dq, nv, I, nv, nv);
    for (int r = 0; r < nv; r++)
      for (int c = 0; c < nv; c++) A[r * n2 + c] += Dq[r * nv + c];
  }
  if (Bu) {
    // dv+/du = dt M^-1 B, dq+/du = Dv dt dv+/du
    for (int r = 0; r < nv; r++)
      for (int a = 0; a < nu; a++)
        Bu[(nv + r) * nu + a] = dt * Mi[r * nv + t->act_dof[a]] * t->act_gear[a];
    apply_blocks(t, vn, dt, 1, Bu, nu, Bu + nv * nu, nu, nu);
    for (int r = 0; r < nv * nu; r++) Bu[r] *= dt;
  }
  if (P && np) {
    // dv+/dp = dt dqdd/dp, dq+/dp = Dv dt dv+/dp
    for (int r = 0; r < nv; r++)
      for (int c = 0; c < np; c++) P[(nv + r) * np + c] = dt * d->dp[r * np + c];
    apply_blocks(t, vn, dt, 1, P, np, P + nv * np, np, np);
    for (int r = 0; r < nv * np; r++) P[r] *= dt;
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
