// bicycle_dyn.c: the dynamic bicycle model with linear tyres.
//
// Rajamani, "Vehicle Dynamics and Control", sec. 2.3 (lateral dynamics, linear tyre model);
// Kong, Pfeiffer, Schildbach, Borrelli, IEEE IV 2015, eq. (2)-(4). State
// x = (px, py, phi, vx, vy, r): world position of the CG, heading, body-frame longitudinal and
// lateral velocity and yaw rate. Action u = (a, delta): longitudinal drive acceleration (rear
// drive force over mass) and front steering angle. Parameters p = (m, Iz, l_f, l_r, C_f, C_r,
// v_min): mass, yaw inertia, CG to front and rear axle, front and rear cornering stiffness (N/rad,
// per axle) and the low-speed regularisation speed below.
//   alpha_f = delta - atan((vy + l_f r) / w),  alpha_r = -atan((vy - l_r r) / w)   slip angles
//   F_f = C_f alpha_f,  F_r = C_r alpha_r                                         lateral forces
//   px' = vx cos(phi) - vy sin(phi),   py' = vx sin(phi) + vy cos(phi),   phi' = r
//   vx' = a - F_f sin(delta) / m + vy r
//   vy' = (F_r + F_f cos(delta)) / m - vx r
//   r'  = (l_f F_f cos(delta) - l_r F_r) / Iz
// Low speed: the textbook slip angles divide by vx, which is singular at standstill. Here
// w = sqrt(vx^2 + v_min^2) replaces vx. It is smooth, equals |vx| to within v_min^2 / (2 |vx|) at
// speed, bounds the slip angles at rest, and keeps tyre forces opposing lateral sliding when
// reversing. The Jacobians are the exact derivatives of this regularised function (v_min is a
// parameter like any other, with its own column in P). Linear tyres do not saturate: the model is
// meant for moderate slip angles. The lateral dynamics are stiff at low speed, with rates up to
// about (C_f + C_r) / (m w): keep dt times that under about 2.5 for RK4 (use sub-steps).
// Defaults are illustrative passenger-car values (m = 1500 kg, Iz = 2250 kg m^2, l_f = 1.2 m,
// l_r = 1.4 m, C_f = C_r = 8e4 N/rad, v_min = 1 m/s); set your vehicle's.
#include <math.h>
#include <string.h>

#include "engine/model/model.h"

enum { PX, PY, PHI, VX, VY, R, NX };
enum { ACC, DELTA, NU };
enum { MASS, IZ, LF, LR, CF, CR, VMIN, NP };

typedef struct {
  double w, yf, yr, af, ar, Ff, Fr;
} tyres;

static tyres tyre_forces(const double* x, const double* u, const double* p) {
  tyres t;
  t.w = sqrt(x[VX] * x[VX] + p[VMIN] * p[VMIN]);
  t.yf = (x[VY] + p[LF] * x[R]) / t.w;
  t.yr = (x[VY] - p[LR] * x[R]) / t.w;
  t.af = u[DELTA] - atan(t.yf);
  t.ar = -atan(t.yr);
  t.Ff = p[CF] * t.af;
  t.Fr = p[CR] * t.ar;
  return t;
}

static void f(const sp_model* m, double* xd, const double* x, const double* u, const double* p) {
  tyres t = tyre_forces(x, u, p);
  double c = cos(x[PHI]), s = sin(x[PHI]), cd = cos(u[DELTA]), sd = sin(u[DELTA]);
  xd[PX] = x[VX] * c - x[VY] * s;
  xd[PY] = x[VX] * s + x[VY] * c;
  xd[PHI] = x[R];
  xd[VX] = u[ACC] - t.Ff * sd / p[MASS] + x[VY] * x[R];
  xd[VY] = (t.Fr + t.Ff * cd) / p[MASS] - x[VX] * x[R];
  xd[R] = (p[LF] * t.Ff * cd - p[LR] * t.Fr) / p[IZ];
}

// derivatives of the three velocity rows through the tyre forces only: out[0..2] for vx', vy', r'
static void through_forces(double out[3], double dFf, double dFr, const double* p, double cd,
                           double sd) {
  out[0] = -dFf * sd / p[MASS];
  out[1] = (dFr + dFf * cd) / p[MASS];
  out[2] = (p[LF] * dFf * cd - p[LR] * dFr) / p[IZ];
}

static void f_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                  const double* u, const double* p) {
  tyres t = tyre_forces(x, u, p);
  double c = cos(x[PHI]), s = sin(x[PHI]), cd = cos(u[DELTA]), sd = sin(u[DELTA]);
  double w3 = t.w * t.w * t.w;
  // datan(y)/dy, and the slip angles' partials: alpha_f = delta - atan(yf), alpha_r = -atan(yr)
  double gf = 1 / (1 + t.yf * t.yf), gr = 1 / (1 + t.yr * t.yr);
  double nf = x[VY] + p[LF] * x[R], nr = x[VY] - p[LR] * x[R];
  double daf_dvx = gf * nf * x[VX] / w3, dar_dvx = gr * nr * x[VX] / w3;
  double daf_dvy = -gf / t.w, dar_dvy = -gr / t.w;
  double daf_dr = -gf * p[LF] / t.w, dar_dr = gr * p[LR] / t.w;
  double d[3];

  // kinematic rows
  memset(fx, 0, NX * NX * sizeof(double));
  fx[PX * NX + PHI] = -x[VX] * s - x[VY] * c;
  fx[PX * NX + VX] = c;
  fx[PX * NX + VY] = -s;
  fx[PY * NX + PHI] = x[VX] * c - x[VY] * s;
  fx[PY * NX + VX] = s;
  fx[PY * NX + VY] = c;
  fx[PHI * NX + R] = 1;

  // velocity rows: through the tyre forces, plus the rotating-frame terms vy r and -vx r
  const int cols[3] = {VX, VY, R};
  const double daf[3] = {daf_dvx, daf_dvy, daf_dr}, dar[3] = {dar_dvx, dar_dvy, dar_dr};
  for (int k = 0; k < 3; k++) {
    through_forces(d, p[CF] * daf[k], p[CR] * dar[k], p, cd, sd);
    fx[VX * NX + cols[k]] = d[0];
    fx[VY * NX + cols[k]] = d[1];
    fx[R * NX + cols[k]] = d[2];
  }
  fx[VX * NX + VY] += x[R];
  fx[VX * NX + R] += x[VY];
  fx[VY * NX + VX] -= x[R];
  fx[VY * NX + R] -= x[VX];

  if (fu) {
    memset(fu, 0, NX * NU * sizeof(double));
    fu[VX * NU + ACC] = 1;
    // delta enters alpha_f (d alpha_f / d delta = 1) and the force directions cos, sin(delta)
    fu[VX * NU + DELTA] = -(p[CF] * sd + t.Ff * cd) / p[MASS];
    fu[VY * NU + DELTA] = (p[CF] * cd - t.Ff * sd) / p[MASS];
    fu[R * NU + DELTA] = p[LF] * (p[CF] * cd - t.Ff * sd) / p[IZ];
  }

  if (fp) {
    memset(fp, 0, NX * NP * sizeof(double));
    double vxd = -t.Ff * sd / p[MASS], vyd = (t.Fr + t.Ff * cd) / p[MASS];
    double rd = (p[LF] * t.Ff * cd - p[LR] * t.Fr) / p[IZ];
    fp[VX * NP + MASS] = -vxd / p[MASS];
    fp[VY * NP + MASS] = -vyd / p[MASS];
    fp[R * NP + IZ] = -rd / p[IZ];
    // l_f: through alpha_f, and as the front moment arm
    through_forces(d, p[CF] * (-gf * x[R] / t.w), 0, p, cd, sd);
    fp[VX * NP + LF] = d[0];
    fp[VY * NP + LF] = d[1];
    fp[R * NP + LF] = d[2] + t.Ff * cd / p[IZ];
    // l_r: through alpha_r, and as the rear moment arm
    through_forces(d, 0, p[CR] * (gr * x[R] / t.w), p, cd, sd);
    fp[VX * NP + LR] = d[0];
    fp[VY * NP + LR] = d[1];
    fp[R * NP + LR] = d[2] - t.Fr / p[IZ];
    // cornering stiffnesses scale the forces
    through_forces(d, t.af, 0, p, cd, sd);
    fp[VX * NP + CF] = d[0];
    fp[VY * NP + CF] = d[1];
    fp[R * NP + CF] = d[2];
    through_forces(d, 0, t.ar, p, cd, sd);
    fp[VX * NP + CR] = d[0];
    fp[VY * NP + CR] = d[1];
    fp[R * NP + CR] = d[2];
    // v_min: through w (dw / dv_min = v_min / w)
    double dw = p[VMIN] / t.w;
    through_forces(d, p[CF] * gf * t.yf / t.w * dw, p[CR] * gr * t.yr / t.w * dw, p, cd, sd);
    fp[VX * NP + VMIN] = d[0];
    fp[VY * NP + VMIN] = d[1];
    fp[R * NP + VMIN] = d[2];
  }
}

static const char* const x_names[NX] = {"px", "py", "phi", "vx", "vy", "r"};
static const char* const u_names[NU] = {"a", "delta"};
static const char* const p_names[NP] = {"m", "Iz", "l_f", "l_r", "C_f", "C_r", "v_min"};
static const double p_default[NP] = {1500, 2250, 1.2, 1.4, 8e4, 8e4, 1};

const sp_model_class sp__model_bicycle_dyn = {
    .name = "bicycle_dyn",
    .doc =
        "dynamic bicycle with linear tyres and a low-speed regularised slip angle (Rajamani "
        "sec. 2.3)",
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
