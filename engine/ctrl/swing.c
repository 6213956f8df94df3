// swing.c: the swing foot's path and where it lands (gait_parts.h).
#include "engine/ctrl/gait_parts.h"

void sp_gait_swing(double* p, double* v, const double* p0, const double* p1, double h, double s,
                   double ts) {
  if (s < 0) s = 0;
  if (s > 1) s = 1;
  double b = s * s * (3 - 2 * s), db = 6 * s * (1 - s);
  double u = s * (1 - s), lift = 64 * h * u * u * u, dlift = 192 * h * u * u * (1 - 2 * s);
  for (int k = 0; k < 3; k++) {
    double d = p1[k] - p0[k];
    if (p) p[k] = p0[k] + d * b + (k == 2 ? lift : 0);
    if (v) v[k] = (d * db + (k == 2 ? dlift : 0)) / ts;
  }
}

void sp_gait_raibert(double* p, const double* hip, const double* v_hip, const double* v_cmd,
                     double t_left, double t_stance, double k) {
  for (int i = 0; i < 2; i++)
    p[i] = hip[i] + v_hip[i] * (t_left + 0.5 * t_stance) + k * (v_hip[i] - v_cmd[i]);
  p[2] = 0;
}
