// unicycle_vel.c: the velocity-input unicycle, method 1's quadruped model.
//
// Westenbroek, Levy, Fridovich-Keil, "Feedback is All You Need" (arXiv 2307.08168), quadruped
// experiment (shared/METHODS.md, method 1): the walking controller is commanded a forward speed
// and a turn rate. State x = (px, py, phi), action u = (v, w), parameters p = (k_v, b_w):
//   px' = k_v u1 cos(phi),  py' = k_v u1 sin(phi),  phi' = u2 + b_w.
// Defaults k_v = 1, b_w = 0 give the paper's model (with Euler, exactly its discrete form
// x+ = x + u1 cos(phi) dt, ...); k_v = 1.18, b_w = 0.1 is the simulated "real" quadruped.
#include <math.h>
#include <string.h>

#include "engine/model/model.h"

enum { PX, PY, PHI, NX };
enum { VEL, OMEGA, NU };
enum { KV, BW, NP };

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  xd[PX] = p[KV] * u[VEL] * cos(x[PHI]);
  xd[PY] = p[KV] * u[VEL] * sin(x[PHI]);
  xd[PHI] = u[OMEGA] + p[BW];
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  double c = cos(x[PHI]), s = sin(x[PHI]);
  memset(fx, 0, NX * NX * sizeof(double));
  fx[PX * NX + PHI] = -p[KV] * u[VEL] * s;
  fx[PY * NX + PHI] = p[KV] * u[VEL] * c;
  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    fu[PX * NU + VEL] = p[KV] * c;
    fu[PY * NU + VEL] = p[KV] * s;
    fu[PHI * NU + OMEGA] = 1;
  }
  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    fp[PX * NP + KV] = u[VEL] * c;
    fp[PY * NP + KV] = u[VEL] * s;
    fp[PHI * NP + BW] = 1;
  }
}

static const char* const x_names[NX] = {"px", "py", "phi"};
static const char* const u_names[NU] = {"v", "w"};
static const char* const p_names[NP] = {"k_v", "b_w"};
static const double p_default[NP] = {1, 0};

const sp_model_class sp__model_unicycle_vel = {
    .name = "unicycle_vel",
    .doc = "velocity-input unicycle (px, py, phi); method 1's quadruped model, arXiv 2307.08168",
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
