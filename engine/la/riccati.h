// riccati.h: stabilising solutions of the discrete and continuous algebraic Riccati equations.
//
// DARE (discrete-time LQR, x[k+1] = A x[k] + B u[k], cost sum x'Qx + u'Ru):
//   X = A'XA - A'XB (R + B'XB)^-1 B'XA + Q
// solved by the structure-preserving doubling algorithm (SDA; Lin and Xu, "Convergence analysis
// of structure-preserving doubling algorithms for Riccati-type matrix equations", SIAM J. Matrix
// Anal. Appl. 28(1), 2006; Chu, Fan and Lin, Linear Algebra Appl. 396, 2005). With
// G = B R^-1 B' the DARE is X = A'X(I + GX)^-1 A + Q, and the iteration
//   W = I + G_k H_k,  A_{k+1} = A_k W^-1 A_k,  G_{k+1} = G_k + A_k W^-1 G_k A_k',
//   H_{k+1} = H_k + A_k' H_k W^-1 A_k,         (A_0, G_0, H_0) = (A, G, Q)
// converges quadratically to H_k -> X when (A, B) is stabilisable and (A, Q^1/2) detectable. It
// needs only LU solves, does not need A invertible (unlike the symplectic-matrix Schur method),
// and every iterate keeps G and H symmetric. We chose it over the ordered QZ of the symplectic
// pencil because it is shorter, needs no generalised Schur reordering and is as accurate here.
//
// CARE (continuous-time LQR, xdot = A x + B u, cost integral x'Qx + u'Ru):
//   A'X + XA - XBR^-1B'X + Q = 0
// solved by the ordered real Schur form of the Hamiltonian H = [A, -G; -Q, -A'] (Laub, "A Schur
// method for solving algebraic Riccati equations", IEEE TAC 24(6), 1979): LAPACKE_dgees with a
// select function that moves the eigenvalues with negative real part to the leading block; the
// first n Schur vectors [U11; U21] span the stable invariant subspace and X = U21 U11^-1.
//
// Both solvers then check what a user relies on: the relative residual of the equation (Frobenius
// norm of the residual over the norms of its terms) is below 1e-8, and the closed loop with the
// LQR gain is stable (spectral radius < 1 for DARE, all real parts < 0 for CARE). Both need
// (A, B) stabilisable and (A, Q^1/2) detectable: e.g. with Q = 0 and A unstable the doubling
// converges to the non-stabilising X = 0, which the closed-loop check rejects. A failure of
// either check, or no convergence in 100 doublings, returns SP_ENUMERIC; a singular U11, W or
// R + B'XB returns SP_ESINGULAR.
//
// Matrices are dense, row-major float64: A (nx x nx), B (nx x nu), Q (nx x nx) symmetric positive
// semi-definite, R (nu x nu) symmetric positive definite, X (nx x nx) output (symmetric). Argument
// errors: NULL pointer or nx, nu < 1 -> SP_EINVAL; Q or R not symmetric (relative tolerance
// 1e-10) or Q with a negative eigenvalue -> SP_EINVAL; R not positive definite -> SP_ESINGULAR.
// These are design-time routines: they allocate their scratch (sp_malloc, and LAPACKE's own
// transposition buffers) and free it before returning; SP_ENOMEM when that fails. Inputs are never
// modified; X may not alias an input.
#ifndef SP_LA_RICCATI_H
#define SP_LA_RICCATI_H

#include "engine/core/array.h"
#include "engine/core/export.h"

SP_API_BEGIN

// Stabilising solution X of the DARE above.
int sp_dare_solve(double* X, const double* A, const double* B, const double* Q, const double* R,
                  int nx, int nu);

// Stabilising solution X of the CARE above.
int sp_care_solve(double* X, const double* A, const double* B, const double* Q, const double* R,
                  int nx, int nu);

// Relative residuals (what the solvers check): res = ||lhs - rhs||_F / (sum of the terms' norms).
int sp_dare_residual(double* res, const double* X, const double* A, const double* B,
                     const double* Q, const double* R, int nx, int nu);
int sp_care_residual(double* res, const double* X, const double* A, const double* B,
                     const double* Q, const double* R, int nx, int nu);

// Array forms: the same solvers on 2-D contiguous sp_arrays, with the sizes read from the shapes.
// X must already have shape (nx, nx). Any shape that does not fit (A not square, B with a row
// count other than nx, Q not nx x nx, R not nu x nu, an array not 2-D or not contiguous) returns
// SP_ESHAPE before anything is computed.
int sp_dare_solve_array(sp_array* X, const sp_array* A, const sp_array* B, const sp_array* Q,
                        const sp_array* R);
int sp_care_solve_array(sp_array* X, const sp_array* A, const sp_array* B, const sp_array* Q,
                        const sp_array* R);

// The weight checks the solvers make (Q symmetric PSD (nx x nx), R symmetric PD (nu x nu)), for
// other LQR routines (TV-LQR): 0, SP_EINVAL or SP_ESINGULAR as above.
int sp__lqr_check_weights(const double* Q, const double* R, int nx, int nu);

// Eigenvalues (re, im, each n) of a general real matrix M (n x n), via LAPACKE_dgeev. Allocates
// scratch. SP_ENUMERIC when the QR algorithm does not converge.
int sp__eig(double* re, double* im, const double* M, int n);

SP_API_END

#endif  // SP_LA_RICCATI_H
