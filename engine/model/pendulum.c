// pendulum.c: a torque-driven pendulum, a point mass on a massless rod, with viscous damping.
//
// Angle theta is measured from UPRIGHT (theta = 0 is the unstable equilibrium, theta = pi hangs
// down), positive counter-clockwise. State x = (theta, omega), action u = (torque), parameters
// p = (m, l, g, b). From Newton's law about the pivot,
// m l^2 omega' = tau - b omega + m g l sin(theta):
//   theta' = omega,   omega' = (tau - b omega) / (m l^2) + (g / l) sin(theta).
// The energy E = m l^2 omega^2 / 2 + m g l cos(theta) is conserved when tau = b = 0.
// Defaults m = 1 kg, l = 1 m, g = 9.81 m/s^2, b = 0.
#include <math.h>

#include "engine/model/model.h"

enum { TH, OM, NX };
enum { TAU, NU };
enum { M, L, G, B, NP };

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  double I = p[M] * p[L] * p[L];
  xd[TH] = x[OM];
  xd[OM] = (u[TAU] - p[B] * x[OM]) / I + p[G] / p[L] * sin(x[TH]);
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  double I = p[M] * p[L] * p[L], net = u[TAU] - p[B] * x[OM], s = sin(x[TH]);
  fx[TH * NX + TH] = 0;
  fx[TH * NX + OM] = 1;
  fx[OM * NX + TH] = p[G] / p[L] * cos(x[TH]);
  fx[OM * NX + OM] = -p[B] / I;
  if (fu) {
    fu[TH] = 0;
    fu[OM] = 1 / I;
  }
  if (fp) {
    for (int j = 0; j < NP; j++) fp[TH * NP + j] = 0;
    fp[OM * NP + M] = -net / (I * p[M]);
    fp[OM * NP + L] = -2 * net / (I * p[L]) - p[G] / (p[L] * p[L]) * s;
    fp[OM * NP + G] = s / p[L];
    fp[OM * NP + B] = -x[OM] / I;
  }
}

static const char* const x_names[NX] = {"theta", "omega"};
static const char* const u_names[NU] = {"tau"};
static const char* const p_names[NP] = {"m", "l", "g", "b"};
static const double p_default[NP] = {1, 1, 9.81, 0};

const sp_model_class sp__model_pendulum = {
    .name = "pendulum",
    .doc = "torque-driven point-mass pendulum (theta from upright, omega) with viscous damping",
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
