// double_pendulum.c: a torque-driven double pendulum with point masses at the link ends.
//
// Angles: th1 is link 1's angle from UPRIGHT, th2 is link 2's angle RELATIVE to link 1, both
// positive counter-clockwise, so the upright equilibrium is x = 0 (with u = 0) and the hanging
// one is (pi, 0). tau1 acts at the base joint, tau2 at the elbow between the links; b is viscous
// friction at both joints. State x = (th1, th2, w1, w2), action u = (tau1, tau2), parameters
// p = (m1, m2, l1, l2, g, b). Defaults m1 = m2 = 0.1, l1 = l2 = 1, g = 1, b = 0: the double
// pendulum of method 1's feedback ablation (arXiv 2307.08168; shared/METHODS.md).
//
// Lagrangian mechanics (as for the acrobot in Spong, "The swing up control problem for the
// acrobot", IEEE CSM 1995, with point masses and lc = l), with q = (th1, th2), h = m2 l1 l2:
//   M(q) = [ m1 l1^2 + m2 (l1^2 + l2^2) + 2 h cos th2    m2 l2^2 + h cos th2 ]
//          [ m2 l2^2 + h cos th2                         m2 l2^2             ]
//   c(q, qd) = [ -h sin th2 (2 w1 w2 + w2^2),  h sin th2 w1^2 ]          Coriolis and centrifugal
//   G(q) = dV/dq,  V = g (m1 + m2) l1 cos th1 + g m2 l2 cos(th1 + th2)    potential, upright
//   qdd = M^{-1} (tau - c - G - b qd),  so  xdot = (w1, w2, qdd).
// Jacobians use d(M^{-1} z) = M^{-1} (dz - dM M^{-1} z) for every state, action and parameter
// entry. Energy E = qd^T M qd / 2 + V is conserved when tau = b = 0.
#include <math.h>
#include <string.h>

#include "engine/model/mass2.h"
#include "engine/model/model.h"

enum { TH1, TH2, W1, W2, NX };
enum { TAU1, TAU2, NU };
enum { M1, M2, L1, L2, G, B, NP };

typedef struct {
  double M[3];                            // M11, M12, M22
  double Mi[3];                           // inverse, same layout
  double z[2];                            // tau - c - G - b qd
  double qdd[2];                          // M^{-1} z
  double s1, s2, c1, c2, s12, c12, h, k;  // k = 2 w1 w2 + w2^2
} dyn;

static dyn compute(const double* x, const double* u, const double* p) {
  dyn d;
  d.s1 = sin(x[TH1]), d.c1 = cos(x[TH1]);
  d.s2 = sin(x[TH2]), d.c2 = cos(x[TH2]);
  d.s12 = sin(x[TH1] + x[TH2]), d.c12 = cos(x[TH1] + x[TH2]);
  d.h = p[M2] * p[L1] * p[L2];
  d.k = 2 * x[W1] * x[W2] + x[W2] * x[W2];
  d.M[0] = p[M1] * p[L1] * p[L1] + p[M2] * (p[L1] * p[L1] + p[L2] * p[L2]) + 2 * d.h * d.c2;
  d.M[1] = p[M2] * p[L2] * p[L2] + d.h * d.c2;
  d.M[2] = p[M2] * p[L2] * p[L2];
  double det = d.M[0] * d.M[2] - d.M[1] * d.M[1];
  d.Mi[0] = d.M[2] / det, d.Mi[1] = -d.M[1] / det, d.Mi[2] = d.M[0] / det;
  double c[2] = {-d.h * d.s2 * d.k, d.h * d.s2 * x[W1] * x[W1]};
  double Gq[2] = {-p[G] * ((p[M1] + p[M2]) * p[L1] * d.s1 + p[M2] * p[L2] * d.s12),
                  -p[G] * p[M2] * p[L2] * d.s12};
  d.z[0] = u[TAU1] - c[0] - Gq[0] - p[B] * x[W1];
  d.z[1] = u[TAU2] - c[1] - Gq[1] - p[B] * x[W2];
  d.qdd[0] = d.Mi[0] * d.z[0] + d.Mi[1] * d.z[1];
  d.qdd[1] = d.Mi[1] * d.z[0] + d.Mi[2] * d.z[1];
  return d;
}

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  dyn d = compute(x, u, p);
  xd[TH1] = x[W1];
  xd[TH2] = x[W2];
  xd[W1] = d.qdd[0];
  xd[W2] = d.qdd[1];
}

// column j of rows W1, W2: M^{-1} (dz - dM qdd) (mass2.h)
static void put(const dyn* d, double* J, int ncol, int j, const double dM[3], const double dz[2]) {
  sp__mass2_column(J, ncol, j, W1, W2, d->Mi, d->qdd, dM, dz);
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  dyn d = compute(x, u, p);
  double g = p[G], w1 = x[W1], w2 = x[W2];
  const double zero[3] = {0, 0, 0};

  memset(fx, 0, NX * NX * sizeof(double));
  fx[TH1 * NX + W1] = 1;
  fx[TH2 * NX + W2] = 1;
  // th1: only gravity depends on it; dz = -dG
  {
    double dz[2] = {g * ((p[M1] + p[M2]) * p[L1] * d.c1 + p[M2] * p[L2] * d.c12),
                    g * p[M2] * p[L2] * d.c12};
    put(&d, fx, NX, TH1, zero, dz);
  }
  // th2: mass matrix, Coriolis and gravity
  {
    double dM[3] = {-2 * d.h * d.s2, -d.h * d.s2, 0};
    double dz[2] = {d.h * d.c2 * d.k + g * p[M2] * p[L2] * d.c12,
                    -d.h * d.c2 * w1 * w1 + g * p[M2] * p[L2] * d.c12};
    put(&d, fx, NX, TH2, dM, dz);
  }
  // velocities: Coriolis and friction
  {
    double dz1[2] = {d.h * d.s2 * 2 * w2 - p[B], -2 * d.h * d.s2 * w1};
    put(&d, fx, NX, W1, zero, dz1);
    double dz2[2] = {d.h * d.s2 * (2 * w1 + 2 * w2), -p[B]};
    put(&d, fx, NX, W2, zero, dz2);
  }

  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    const double e1[2] = {1, 0}, e2[2] = {0, 1};
    put(&d, fu, NU, TAU1, zero, e1);
    put(&d, fu, NU, TAU2, zero, e2);
  }

  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    double l1 = p[L1], l2 = p[L2], m2 = p[M2];
    double cw = w1 * w1;  // c = h s2 (-k, w1^2): dc/dh = s2 (-k, w1^2)
    {
      double dM[3] = {l1 * l1, 0, 0};
      double dz[2] = {g * l1 * d.s1, 0};
      put(&d, fp, NP, M1, dM, dz);
    }
    {
      double dh = l1 * l2;
      double dM[3] = {l1 * l1 + l2 * l2 + 2 * dh * d.c2, l2 * l2 + dh * d.c2, l2 * l2};
      double dz[2] = {dh * d.s2 * d.k + g * (l1 * d.s1 + l2 * d.s12),
                      -dh * d.s2 * cw + g * l2 * d.s12};
      put(&d, fp, NP, M2, dM, dz);
    }
    {
      double dh = m2 * l2;
      double dM[3] = {2 * (p[M1] + m2) * l1 + 2 * dh * d.c2, dh * d.c2, 0};
      double dz[2] = {dh * d.s2 * d.k + g * (p[M1] + m2) * d.s1, -dh * d.s2 * cw};
      put(&d, fp, NP, L1, dM, dz);
    }
    {
      double dh = m2 * l1;
      double dM[3] = {2 * m2 * l2 + 2 * dh * d.c2, 2 * m2 * l2 + dh * d.c2, 2 * m2 * l2};
      double dz[2] = {dh * d.s2 * d.k + g * m2 * d.s12, -dh * d.s2 * cw + g * m2 * d.s12};
      put(&d, fp, NP, L2, dM, dz);
    }
    {
      double dz[2] = {(p[M1] + m2) * l1 * d.s1 + m2 * l2 * d.s12, m2 * l2 * d.s12};
      put(&d, fp, NP, G, zero, dz);
    }
    {
      double dz[2] = {-w1, -w2};
      put(&d, fp, NP, B, zero, dz);
    }
  }
}

static const char* const x_names[NX] = {"th1", "th2", "w1", "w2"};
static const char* const u_names[NU] = {"tau1", "tau2"};
static const char* const p_names[NP] = {"m1", "m2", "l1", "l2", "g", "b"};
static const double p_default[NP] = {0.1, 0.1, 1, 1, 1, 0};

const sp_model_class sp__model_double_pendulum = {
    .name = "double_pendulum",
    .doc =
        "double pendulum, point masses at link ends, th1 from upright, th2 relative; method "
        "1's feedback ablation",
    .nx = NX,
    .nu = NU,
    .np = NP,
    .x_names = x_names,
    .u_names = u_names,
    .p_names = p_names,
    .p_default = p_default,
    .discrete = 0,
    .f = f,
    .f_jac = f_jac,
};
