// linalg.c: the Lua binding of engine/la (require "spinal.linalg"): solve, inv, det, cholesky,
// qr, svd, eig, eigh and spectral_radius on spinal arrays (or nested tables).
//
// Every function checks its arguments (2-D, square, matching sizes) before doing anything;
// numerical failures raise errors that say what went wrong ("not positive definite", "singular").
#include "args.h"
#include "engine/core/error.h"
#include "engine/la/la.h"

// the matrix at arg as contiguous row-major data (a copy pushed on the stack when needed)
static const sp_array* check_matrix(lua_State* L, int arg, int square) {
  sp_array* a = spL_toarray(L, arg);
  char shape[SP_MAXDIM * 24];
  if (a->ndim != 2)
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a 2-D matrix, got a %d-D array of shape %s", a->ndim,
                                  sp_array_shape_str(shape, sizeof shape, a)));
  if (square && a->shape[0] != a->shape[1])
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "expected a square matrix, got %s",
                                  sp_array_shape_str(shape, sizeof shape, a)));
  if (a->shape[0] > 1 << 20 || a->shape[1] > 1 << 20)
    luaL_argerror(L, arg, "expected a matrix with fewer than 2^20 rows and columns");
  if (sp_array_is_contiguous(a)) return a;
  sp_array* c = spL_newarray(L, 2, a->shape);
  sp_array_assign(c, a);
  return c;
}

static int fail(lua_State* L, const char* fname, int rc, const char* singular) {
  if (rc == SP_ESINGULAR) return luaL_error(L, "%s: %s", fname, singular);
  if (rc == SP_ENUMERIC)
    return luaL_error(L, "%s: %s (the input holds NaN or Inf, or LAPACK did not converge)", fname,
                      sp_strerror(rc));
  return spL_raise(L, rc, fname);
}

static int l_solve(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  sp_array* b = spL_toarray(L, 2);
  int n = (int)A->shape[0];
  char shape[SP_MAXDIM * 24];
  if ((b->ndim != 1 && b->ndim != 2) || b->shape[0] != n)
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "expected a vector or matrix with %d rows, got shape %s", n,
                                  sp_array_shape_str(shape, sizeof shape, b)));
  int nrhs = b->ndim == 2 ? (int)b->shape[1] : 1;
  sp_array* x = spL_newarray(L, b->ndim, b->shape);
  sp_array_assign(x, b);
  int rc = sp_la_solve(x->data, A->data, x->data, n, nrhs);
  if (rc) return fail(L, "solve", rc, "matrix is singular");
  return 1;
}

static int l_inv(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  sp_array* x = spL_newarray(L, 2, A->shape);
  int rc = sp_la_inv(x->data, A->data, (int)A->shape[0]);
  if (rc) return fail(L, "inv", rc, "matrix is singular");
  return 1;
}

static int l_det(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  double d;
  int rc = sp_la_det(&d, A->data, (int)A->shape[0]);
  if (rc) return fail(L, "det", rc, "matrix is singular");
  lua_pushnumber(L, d);
  return 1;
}

static int l_cholesky(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  sp_array* out = spL_newarray(L, 2, A->shape);
  int rc = sp_la_cholesky(out->data, A->data, (int)A->shape[0]);
  if (rc) return fail(L, "cholesky", rc, "matrix is not positive definite");
  return 1;
}

static int l_qr(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 0);
  int64_t m = A->shape[0], n = A->shape[1], k = m < n ? m : n;
  int64_t qs[2] = {m, k}, rs[2] = {k, n};
  sp_array* Q = spL_newarray(L, 2, qs);
  sp_array* R = spL_newarray(L, 2, rs);
  int rc = sp_la_qr(Q->data, R->data, A->data, (int)m, (int)n);
  if (rc) return fail(L, "qr", rc, "matrix is singular");
  return 2;
}

static int l_svd(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 0);
  int64_t m = A->shape[0], n = A->shape[1], k = m < n ? m : n;
  int64_t us[2] = {m, k}, ss[1] = {k}, vs[2] = {k, n};
  sp_array* U = spL_newarray(L, 2, us);
  sp_array* S = spL_newarray(L, 1, ss);
  sp_array* Vt = spL_newarray(L, 2, vs);
  int rc = sp_la_svd(U->data, S->data, Vt->data, A->data, (int)m, (int)n);
  if (rc) return fail(L, "svd", rc, "matrix is singular");
  return 3;
}

static int l_eig(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  int want_vectors = spA_optboolean(L, 2, 0);
  int64_t n = A->shape[0];
  sp_array* re = spL_newarray(L, 1, &n);
  sp_array* im = spL_newarray(L, 1, &n);
  sp_array* V = want_vectors ? spL_newarray(L, 2, A->shape) : NULL;
  int rc = sp_la_eig(re->data, im->data, V ? V->data : NULL, A->data, (int)n);
  if (rc) return fail(L, "eig", rc, "matrix is singular");
  return want_vectors ? 3 : 2;
}

static int l_eigh(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  int64_t n = A->shape[0];
  sp_array* w = spL_newarray(L, 1, &n);
  sp_array* V = spL_newarray(L, 2, A->shape);
  int rc = sp_la_eigh(w->data, V->data, A->data, (int)n);
  if (rc) return fail(L, "eigh", rc, "matrix is singular");
  return 2;
}

static int l_spectral_radius(lua_State* L) {
  const sp_array* A = check_matrix(L, 1, 1);
  double rho;
  int rc = sp_la_spectral_radius(&rho, A->data, (int)A->shape[0]);
  if (rc) return fail(L, "spectral_radius", rc, "matrix is singular");
  lua_pushnumber(L, rho);
  return 1;
}

static const luaL_Reg functions[] = {
    {"solve", l_solve},
    {"inv", l_inv},
    {"det", l_det},
    {"cholesky", l_cholesky},
    {"qr", l_qr},
    {"svd", l_svd},
    {"eig", l_eig},
    {"eigh", l_eigh},
    {"spectral_radius", l_spectral_radius},
    {NULL, NULL},
};

int luaopen_spinal_linalg(lua_State* L) {
  luaL_newlib(L, functions);
  return 1;
}
