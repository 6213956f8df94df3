// bicycle_kin.c: the kinematic bicycle model, referenced at the centre of gravity.
//
// Kong, Pfeiffer, Schildbach, Borrelli, "Kinematic and Dynamic Vehicle Models for Autonomous
// Driving Control Design", IEEE IV 2015, eq. (1); Rajamani, "Vehicle Dynamics and Control",
// sec. 2.2. State x = (px, py, phi, v) (CG position, heading, speed), action u = (a, delta)
// (acceleration, front steering angle), parameters p = (l_f, l_r) (CG to front and rear axle):
//   beta = atan(l_r tan(delta) / (l_f + l_r))       slip angle of the CG velocity
//   px' = v cos(phi + beta),  py' = v sin(phi + beta),  phi' = (v / l_r) sin(beta),  v' = a.
// No tyre slip: valid at low lateral acceleration. Defaults are Kong et al.'s l_f = 1.105 m,
// l_r = 1.738 m; set them to your vehicle's (a 1:10 RC car is about 0.13 + 0.13 m).
// delta must stay inside (-pi/2, pi/2).
#include <math.h>
#include <string.h>

#include "engine/model/model.h"

enum { PX, PY, PHI, V, NX };
enum { ACC, DELTA, NU };
enum { LF, LR, NP };

static double slip(const double* u, const double* p) {
  return atan(p[LR] * tan(u[DELTA]) / (p[LF] + p[LR]));
}

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  double beta = slip(u, p);
  xd[PX] = x[V] * cos(x[PHI] + beta);
  xd[PY] = x[V] * sin(x[PHI] + beta);
  xd[PHI] = x[V] / p[LR] * sin(beta);
  xd[V] = u[ACC];
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  double beta = slip(u, p), v = x[V];
  double cp = cos(x[PHI] + beta), sp = sin(x[PHI] + beta), cb = cos(beta), sb = sin(beta);
  memset(fx, 0, NX * NX * sizeof(double));
  fx[PX * NX + PHI] = -v * sp;
  fx[PX * NX + V] = cp;
  fx[PY * NX + PHI] = v * cp;
  fx[PY * NX + V] = sp;
  fx[PHI * NX + V] = sb / p[LR];
  if (!fu && !fp) return;

  // beta = atan(s), s = l_r t / L with t = tan(delta), L = l_f + l_r
  double t = tan(u[DELTA]), L = p[LF] + p[LR], s = p[LR] * t / L, dbds = 1 / (1 + s * s);
  double db_ddelta = dbds * p[LR] / L * (1 + t * t);
  double db_dlf = dbds * (-p[LR] * t / (L * L));
  double db_dlr = dbds * (p[LF] * t / (L * L));
  // each of px', py', phi' depends on the action and parameters through beta (phi' also on l_r)
  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    fu[PX * NU + DELTA] = -v * sp * db_ddelta;
    fu[PY * NU + DELTA] = v * cp * db_ddelta;
    fu[PHI * NU + DELTA] = v / p[LR] * cb * db_ddelta;
    fu[V * NU + ACC] = 1;
  }
  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    fp[PX * NP + LF] = -v * sp * db_dlf;
    fp[PY * NP + LF] = v * cp * db_dlf;
    fp[PHI * NP + LF] = v / p[LR] * cb * db_dlf;
    fp[PX * NP + LR] = -v * sp * db_dlr;
    fp[PY * NP + LR] = v * cp * db_dlr;
    fp[PHI * NP + LR] = v / p[LR] * cb * db_dlr - v * sb / (p[LR] * p[LR]);
  }
}

static const char* const x_names[NX] = {"px", "py", "phi", "v"};
static const char* const u_names[NU] = {"a", "delta"};
static const char* const p_names[NP] = {"l_f", "l_r"};
static const double p_default[NP] = {1.105, 1.738};

const sp_model_class sp__model_bicycle_kin = {
    .name = "bicycle_kin",
    .doc = "kinematic bicycle at the CG with slip angle beta (Kong et al., IEEE IV 2015, eq. 1)",
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
