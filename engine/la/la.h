// la.h: dense linear algebra on row-major float64 matrices through LAPACKE.
//
// Factorisations and solvers from LAPACK (Anderson et al., LAPACK Users' Guide, 3rd ed., 1999):
// LU (dgesv, dgetrf, dgetri), Cholesky (dpotrf), Householder QR (dgeqrf + dorgqr), SVD by divide
// and conquer (dgesdd), the real nonsymmetric eigenproblem (dgeev) and the symmetric one (dsyevd).
//
// Conventions: matrices are contiguous row-major (an (m x n) matrix has leading dimension n);
// outputs first, then inputs, then sizes. Inputs are never modified: each call copies what LAPACK
// overwrites into scratch from sp_malloc (LAPACKE itself may also allocate its work arrays, so
// none of these belong in a control tick). Returns 0, SP_EINVAL (bad sizes), SP_ENUMERIC
// (non-finite input or no convergence), SP_ESINGULAR (singular or not positive definite) or
// SP_ENOMEM. On an error the outputs are unspecified.
#ifndef SP_LA_LA_H
#define SP_LA_LA_H

#include "engine/core/export.h"

SP_API_BEGIN

// X (n x nrhs) solving A (n x n) X = B (n x nrhs). X may be B. SP_ESINGULAR for an exactly zero
// pivot in the LU factorisation with partial pivoting.
int sp_la_solve(double* X, const double* A, const double* B, int n, int nrhs);

// Ainv (n x n) = inverse of A (n x n). Ainv may be A.
int sp_la_inv(double* Ainv, const double* A, int n);

// *det = determinant of A (n x n) from its LU factors (0 for an exactly singular matrix).
int sp_la_det(double* det, const double* A, int n);

// L (n x n) lower triangular with L L^T = A, upper part zero. Only A's lower triangle is read.
// SP_ESINGULAR when A is not positive definite. L may be A.
int sp_la_cholesky(double* L, const double* A, int n);

// Reduced QR: Q (m x k) with orthonormal columns and R (k x n) upper triangular, A = Q R,
// k = min(m, n). Diagonal signs are LAPACK's (not normalised).
int sp_la_qr(double* Q, double* R, const double* A, int m, int n);

// Reduced SVD: A (m x n) = U (m x k) diag(S (k)) Vt (k x n), k = min(m, n), S descending.
int sp_la_svd(double* U, double* S, double* Vt, const double* A, int m, int n);

// Eigenvalues wr + i wi (n each) of a general A (n x n); complex pairs are adjacent with the
// positive imaginary part first. V (n x n, may be NULL) receives right eigenvectors in LAPACK's
// real form: a real eigenvalue j has vector column j; a pair j, j+1 has vectors
// V[:,j] +- i V[:,j+1]. Each vector has unit 2-norm.
int sp_la_eig(double* wr, double* wi, double* V, const double* A, int n);

// Eigenvalues w (n, ascending) and orthonormal eigenvectors V (n x n, columns; may be NULL) of
// a symmetric A (n x n); only the lower triangle is read.
int sp_la_eigh(double* w, double* V, const double* A, int n);

// *rho = largest |eigenvalue| of A (n x n): a discrete-time closed loop x+ = A x is
// asymptotically stable iff rho < 1.
int sp_la_spectral_radius(double* rho, const double* A, int n);

SP_API_END

#endif  // SP_LA_LA_H
