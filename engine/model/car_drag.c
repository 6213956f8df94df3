// car_drag.c: the simulated "real" car of method 1's car experiment.
//
// Westenbroek, Levy, Fridovich-Keil, "Feedback is All You Need" (arXiv 2307.08168), car
// experiment as run by the reference implementation (shared/METHODS.md, method 1). State
// x = (px, py, v, phi), action u = (throttle, steer as curvature), parameters
// p = (k_a, c_d, k_s, b_s):
//   px' = v cos(phi),  py' = v sin(phi),  v' = k_a u1 - c_d v |v|,  phi' = (k_s u2 + b_s) v,
// with defaults k_a = 11.25, c_d = 0.55, k_s = 6.5, b_s = 0.1 (b_s is a steering bias).
// METHODS.md writes the drag as c_d v^2; v |v| is the same for v >= 0 (where the experiment
// drives) and keeps drag opposing motion in reverse. It is continuously differentiable
// (d/dv = 2 |v|), so the Jacobians below are exact everywhere.
//
// The method-1 experiment's approximate model is this structure with every parameter scaled by
// gamma (gamma = 0.5 by default; the mismatch study sweeps 1, 0.75, 0.5, 0.25): create it with
// p = gamma * (11.25, 0.55, 6.5, 0.1). unicycle_accel is the simpler model the paper's estimator
// actually differentiates.
#include <math.h>
#include <string.h>

#include "engine/model/model.h"

enum { PX, PY, V, PHI, NX };
enum { THROTTLE, STEER, NU };
enum { KA, CD, KS, BS, NP };

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  xd[PX] = x[V] * cos(x[PHI]);
  xd[PY] = x[V] * sin(x[PHI]);
  xd[V] = p[KA] * u[THROTTLE] - p[CD] * x[V] * fabs(x[V]);
  xd[PHI] = (p[KS] * u[STEER] + p[BS]) * x[V];
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  double c = cos(x[PHI]), s = sin(x[PHI]), v = x[V];
  memset(fx, 0, NX * NX * sizeof(double));
  fx[PX * NX + V] = c;
  fx[PX * NX + PHI] = -v * s;
  fx[PY * NX + V] = s;
  fx[PY * NX + PHI] = v * c;
  fx[V * NX + V] = -2 * p[CD] * fabs(v);
  fx[PHI * NX + V] = p[KS] * u[STEER] + p[BS];
  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    fu[V * NU + THROTTLE] = p[KA];
    fu[PHI * NU + STEER] = p[KS] * v;
  }
  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    fp[V * NP + KA] = u[THROTTLE];
    fp[V * NP + CD] = -v * fabs(v);
    fp[PHI * NP + KS] = u[STEER] * v;
    fp[PHI * NP + BS] = v;
  }
}

static const char* const x_names[NX] = {"px", "py", "v", "phi"};
static const char* const u_names[NU] = {"throttle", "steer"};
static const char* const p_names[NP] = {"k_a", "c_d", "k_s", "b_s"};
static const double p_default[NP] = {11.25, 0.55, 6.5, 0.1};

const sp_model_class sp__model_car_drag = {
    .name = "car_drag",
    .doc =
        "unicycle car with quadratic drag and steering bias; method 1's simulated car "
        "(arXiv 2307.08168)",
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
