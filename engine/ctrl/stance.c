// stance.c: a body wrench shared among the stance feet (gait_parts.h).
#include <math.h>

#include "engine/core/error.h"
#include "engine/ctrl/gait_parts.h"

int sp_gait_distribute(double* f, const double* r, int n, const double* w, double wt, double reg,
                       double mu, double fz_max) {
  double A[6][12] = {{0}}, M[6][6], y[6], sw = sqrt(wt);
  for (int i = 0; i < n; i++) {
    const double* ri = r + 3 * i;
    for (int k = 0; k < 3; k++) A[k][3 * i + k] = 1;
    // torque rows: r x f = [r]x f
    A[3][3 * i + 1] = -sw * ri[2], A[3][3 * i + 2] = sw * ri[1];
    A[4][3 * i + 0] = sw * ri[2], A[4][3 * i + 2] = -sw * ri[0];
    A[5][3 * i + 0] = -sw * ri[1], A[5][3 * i + 1] = sw * ri[0];
  }
  for (int a = 0; a < 6; a++)
    for (int b = 0; b < 6; b++) {
      double s = a == b ? reg : 0;
      for (int c = 0; c < 3 * n; c++) s += A[a][c] * A[b][c];
      M[a][b] = s;
    }
  // Cholesky M = L L^T in place (lower triangle)
  for (int j = 0; j < 6; j++) {
    double s = M[j][j];
    for (int k = 0; k < j; k++) s -= M[j][k] * M[j][k];
    if (!(s > 0)) {
      for (int c = 0; c < 3 * n; c++) f[c] = 0;
      return SP_ESINGULAR;
    }
    M[j][j] = sqrt(s);
    for (int i = j + 1; i < 6; i++) {
      double t = M[i][j];
      for (int k = 0; k < j; k++) t -= M[i][k] * M[j][k];
      M[i][j] = t / M[j][j];
    }
  }
  for (int i = 0; i < 6; i++) {
    double s = i < 3 ? w[i] : sw * w[i];
    for (int k = 0; k < i; k++) s -= M[i][k] * y[k];
    y[i] = s / M[i][i];
  }
  for (int i = 5; i >= 0; i--) {
    double s = y[i];
    for (int k = i + 1; k < 6; k++) s -= M[k][i] * y[k];
    y[i] = s / M[i][i];
  }
  for (int c = 0; c < 3 * n; c++) {
    double s = 0;
    for (int a = 0; a < 6; a++) s += A[a][c] * y[a];
    f[c] = s;
  }
  for (int i = 0; i < n; i++) {
    double* fi = f + 3 * i;
    if (fi[2] < 0) fi[2] = 0;
    if (fi[2] > fz_max) fi[2] = fz_max;
    double ft = sqrt(fi[0] * fi[0] + fi[1] * fi[1]), lim = mu * fi[2];
    if (ft > lim) {
      double sc = ft > 0 ? lim / ft : 0;
      fi[0] *= sc, fi[1] *= sc;
    }
  }
  return SP_OK;
}
