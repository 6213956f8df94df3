// unicycle_accel.c: the acceleration-input unicycle, method 1's car model.
//
// Westenbroek, Levy, Fridovich-Keil, "Feedback is All You Need" (arXiv 2307.08168), car
// experiment; shared/METHODS.md, method 1. State x = (px, py, v, phi), action u = (throttle,
// steer as curvature), parameters p = (k_a, k_s):
//   px' = v cos(phi),  py' = v sin(phi),  v' = k_a u1,  phi' = k_s v u2.
// With k_a = k_s = 1 and the Euler integrator one step is exactly the paper's discrete model
//   x+ = x + v cos(phi) dt,  y+ = y + v sin(phi) dt,  v+ = v + u1 dt,  phi+ = phi + v u2 dt.
#include <math.h>
#include <string.h>

#include "engine/model/model.h"

enum { PX, PY, V, PHI, NX };
enum { THROTTLE, STEER, NU };
enum { KA, KS, NP };

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  xd[PX] = x[V] * cos(x[PHI]);
  xd[PY] = x[V] * sin(x[PHI]);
  xd[V] = p[KA] * u[THROTTLE];
  xd[PHI] = p[KS] * x[V] * u[STEER];
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  double c = cos(x[PHI]), s = sin(x[PHI]);
  memset(fx, 0, NX * NX * sizeof(double));
  fx[PX * NX + V] = c;
  fx[PX * NX + PHI] = -x[V] * s;
  fx[PY * NX + V] = s;
  fx[PY * NX + PHI] = x[V] * c;
  fx[PHI * NX + V] = p[KS] * u[STEER];
  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    fu[V * NU + THROTTLE] = p[KA];
    fu[PHI * NU + STEER] = p[KS] * x[V];
  }
  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    fp[V * NP + KA] = u[THROTTLE];
    fp[PHI * NP + KS] = x[V] * u[STEER];
  }
}

static const char* const x_names[NX] = {"px", "py", "v", "phi"};
static const char* const u_names[NU] = {"throttle", "steer"};
static const char* const p_names[NP] = {"k_a", "k_s"};
static const double p_default[NP] = {1, 1};

const sp_model_class sp__model_unicycle_accel = {
    .name = "unicycle_accel",
    .doc = "acceleration-input unicycle (px, py, v, phi); method 1's car model, arXiv 2307.08168",
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
