// mass2.h: the one derivative rule the two-degree-of-freedom Lagrangian models share
// (cartpole.c, double_pendulum.c). With M(q) qdd = z(q, qd, u; p) and a symmetric 2x2 M, a
// perturbation gives d qdd = M^{-1} (dz - dM qdd). Internal to engine/model.
#ifndef SP_MODEL_MASS2_H
#define SP_MODEL_MASS2_H

// Write column j of d qdd into rows row0, row1 of the row-major matrix J with ncol columns.
// Mi: the inverse mass matrix (11, 12, 22); qdd (2); dM: the mass matrix's derivative (11, 12,
// 22); dz (2): the right-hand side's derivative.
static inline void sp__mass2_column(double* J, int ncol, int j, int row0, int row1,
                                    const double Mi[3], const double qdd[2], const double dM[3],
                                    const double dz[2]) {
  double r0 = dz[0] - (dM[0] * qdd[0] + dM[1] * qdd[1]);
  double r1 = dz[1] - (dM[1] * qdd[0] + dM[2] * qdd[1]);
  J[row0 * ncol + j] = Mi[0] * r0 + Mi[1] * r1;
  J[row1 * ncol + j] = Mi[1] * r0 + Mi[2] * r1;
}

#endif  // SP_MODEL_MASS2_H
