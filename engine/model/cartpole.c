// cartpole.c: a cart on a frictionless rail carrying a pole with its mass at the tip.
//
// Lagrangian mechanics of the cart-pole (as in Tedrake, "Underactuated Robotics", ch. 3, with
// the angle measured from UPRIGHT instead of from down). State x = (p, theta, pdot, thetadot):
// cart position, pole angle from upright (positive tips the pole towards +p; the tip is at
// (p + l sin(theta), l cos(theta))). Action u = (F), the horizontal force on the cart.
// Parameters (m_c, m_p, l, g): cart mass, tip mass, pole length, gravity. With
// M(q) = [[m_c + m_p, m_p l cos(theta)], [m_p l cos(theta), m_p l^2]] and
// z = (F + m_p l sin(theta) thetadot^2, m_p g l sin(theta)), qdd = M^{-1} z, i.e.
//   pdd = (F + m_p sin(theta) (l thetadot^2 - g cos(theta))) / (m_c + m_p sin(theta)^2)
//   thetadd = (g sin(theta) - cos(theta) pdd) / l.
// Jacobians use d(M^{-1} z) = M^{-1} (dz - dM qdd). Upright (x = 0, F = 0) is an unstable
// equilibrium. Defaults m_c = 1 kg, m_p = 0.1 kg, l = 0.5 m, g = 9.81 m/s^2.
#include <math.h>
#include <string.h>

#include "engine/model/mass2.h"
#include "engine/model/model.h"

enum { P, TH, PD, THD, NX };
enum { FORCE, NU };
enum { MC, MP, L, G, NP };

typedef struct {
  double Mi[3];   // inverse mass matrix (11, 12, 22)
  double qdd[2];  // (pdd, thetadd)
  double s, c;
} dyn;

static dyn compute(const double* x, const double* u, const double* p) {
  dyn d;
  d.s = sin(x[TH]), d.c = cos(x[TH]);
  double M0 = p[MC] + p[MP], M1 = p[MP] * p[L] * d.c, M2 = p[MP] * p[L] * p[L];
  double det = M0 * M2 - M1 * M1;
  d.Mi[0] = M2 / det, d.Mi[1] = -M1 / det, d.Mi[2] = M0 / det;
  double z0 = u[FORCE] + p[MP] * p[L] * d.s * x[THD] * x[THD], z1 = p[MP] * p[G] * p[L] * d.s;
  d.qdd[0] = d.Mi[0] * z0 + d.Mi[1] * z1;
  d.qdd[1] = d.Mi[1] * z0 + d.Mi[2] * z1;
  return d;
}

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  dyn d = compute(x, u, p);
  xd[P] = x[PD];
  xd[TH] = x[THD];
  xd[PD] = d.qdd[0];
  xd[THD] = d.qdd[1];
}

// column j of rows PD, THD: M^{-1} (dz - dM qdd) (mass2.h)
static void put(const dyn* d, double* J, int ncol, int j, const double dM[3], const double dz[2]) {
  sp__mass2_column(J, ncol, j, PD, THD, d->Mi, d->qdd, dM, dz);
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  dyn d = compute(x, u, p);
  double mp = p[MP], l = p[L], g = p[G], w = x[THD];
  const double zero[3] = {0, 0, 0};

  memset(fx, 0, NX * NX * sizeof(double));
  fx[P * NX + PD] = 1;
  fx[TH * NX + THD] = 1;
  {
    double dM[3] = {0, -mp * l * d.s, 0};
    double dz[2] = {mp * l * d.c * w * w, mp * g * l * d.c};
    put(&d, fx, NX, TH, dM, dz);
  }
  {
    double dz[2] = {2 * mp * l * d.s * w, 0};
    put(&d, fx, NX, THD, zero, dz);
  }
  // fx[.][P] and fx[.][PD] stay zero: the dynamics do not depend on cart position or speed

  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    const double e[2] = {1, 0};
    put(&d, fu, NU, FORCE, zero, e);
  }

  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    {
      double dM[3] = {1, 0, 0};
      const double dz[2] = {0, 0};
      put(&d, fp, NP, MC, dM, dz);
    }
    {
      double dM[3] = {1, l * d.c, l * l};
      double dz[2] = {l * d.s * w * w, g * l * d.s};
      put(&d, fp, NP, MP, dM, dz);
    }
    {
      double dM[3] = {0, mp * d.c, 2 * mp * l};
      double dz[2] = {mp * d.s * w * w, mp * g * d.s};
      put(&d, fp, NP, L, dM, dz);
    }
    {
      double dz[2] = {0, mp * l * d.s};
      put(&d, fp, NP, G, zero, dz);
    }
  }
}

static const char* const x_names[NX] = {"p", "theta", "pdot", "thetadot"};
static const char* const u_names[NU] = {"F"};
static const char* const p_names[NP] = {"m_c", "m_p", "l", "g"};
static const double p_default[NP] = {1, 0.1, 0.5, 9.81};

const sp_model_class sp__model_cartpole = {
    .name = "cartpole",
    .doc =
        "cart-pole with a point mass at the pole tip, theta from upright (Tedrake, "
        "Underactuated Robotics, ch. 3)",
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
