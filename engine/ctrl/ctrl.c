// ctrl.c: what every controller shares (see ctrl.h): one-allocation construction, the action
// clamp and its derivative (zero on saturated channels), the generic VJP through the dense
// Jacobians, and central finite differences.
#include "engine/ctrl/ctrl.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

static size_t align16(size_t n) {
  return (n + 15) & ~(size_t)15;
}

int sp__ctrl_new(sp_ctrl** out, const sp_ctrl_class* cls, int nx, int nu, int nr, int nk, int nwork,
                 int ndata) {
  if (!out || !cls || nx < 1 || nu < 1 || nr < 0 || nk < 0 || nwork < 0 || ndata < 0)
    return SP_EINVAL;
  // doubles: K, lo, hi, raw, jac, g, fd, work
  size_t nd = (size_t)nk + 3 * (size_t)nu + (size_t)nu * (nx + nr + nk) + nu +
              ((size_t)nx + nr + nk + 2 * (size_t)nu) + (size_t)nwork;
  size_t head = align16(sizeof(sp_ctrl));
  size_t dbytes = align16(nd * sizeof(double));
  size_t ibytes = align16((size_t)nu * sizeof(int));
  char* mem = sp_calloc(1, head + dbytes + ibytes + (size_t)ndata);
  if (!mem) return SP_ENOMEM;
  sp_ctrl* c = (sp_ctrl*)mem;
  double* d = (double*)(mem + head);
  c->cls = cls;
  c->nx = nx;
  c->nu = nu;
  c->nr = nr;
  c->nk = nk;
  c->K = d;
  d += nk;
  c->lo = d;
  d += nu;
  c->hi = d;
  d += nu;
  c->raw = d;
  d += nu;
  c->jac = d;
  d += (size_t)nu * (nx + nr + nk);
  c->g = d;
  d += nu;
  c->fd = d;
  d += (size_t)nx + nr + nk + 2 * (size_t)nu;
  c->work = d;
  c->saturated = (int*)(mem + head + dbytes);
  c->data = ndata ? (void*)(mem + head + dbytes + ibytes) : NULL;
  for (int i = 0; i < nu; i++) {
    c->lo[i] = -INFINITY;
    c->hi[i] = INFINITY;
  }
  *out = c;
  return 0;
}

void sp_ctrl_free(sp_ctrl* c) {
  sp_free(c);
}

static int bad_call(const sp_ctrl* c, const double* x, const double* r) {
  return !c || !x || (!r && c->nr > 0);
}

// raw action into c->raw and the saturation flags; returns the number of saturated channels
static int evaluate(sp_ctrl* c, const double* x, const double* r, const double* K) {
  c->cls->raw(c, c->raw, x, r, K);
  int n = 0;
  for (int i = 0; i < c->nu; i++) {
    c->saturated[i] = c->raw[i] < c->lo[i] || c->raw[i] > c->hi[i];
    n += c->saturated[i];
  }
  return n;
}

int sp_ctrl_act(sp_ctrl* c, double* u, const double* x, const double* r, const double* K) {
  if (bad_call(c, x, r) || !u) return SP_EINVAL;
  evaluate(c, x, r, K ? K : c->K);
  int finite = 1;
  for (int i = 0; i < c->nu; i++) {
    double v = c->raw[i];
    u[i] = v < c->lo[i] ? c->lo[i] : v > c->hi[i] ? c->hi[i] : v;
    finite &= isfinite(u[i]) != 0;
  }
  return finite ? 0 : SP_ENUMERIC;
}

// zero the rows of saturated channels in an (nu x n) matrix
static void zero_rows(const sp_ctrl* c, double* D, int n) {
  if (!D) return;
  for (int i = 0; i < c->nu; i++)
    if (c->saturated[i]) memset(D + (size_t)i * n, 0, sizeof(double) * (size_t)n);
}

int sp_ctrl_jac(sp_ctrl* c, double* DuDx, double* DuDr, double* DuDK, const double* x,
                const double* r, const double* K) {
  if (bad_call(c, x, r)) return SP_EINVAL;
  K = K ? K : c->K;
  evaluate(c, x, r, K);
  c->cls->raw_jac(c, DuDx, DuDr, DuDK, x, r, K);
  zero_rows(c, DuDx, c->nx);
  zero_rows(c, DuDr, c->nr);
  zero_rows(c, DuDK, c->nk);
  for (int i = 0; i < c->nu; i++)
    if (!isfinite(c->raw[i])) return SP_ENUMERIC;
  return 0;
}

// out (n) += D' g for D (nu x n)
static void accumulate(double* out, const double* D, const double* g, int nu, int n) {
  if (!out) return;
  for (int i = 0; i < nu; i++) {
    if (g[i] == 0) continue;
    const double* row = D + (size_t)i * n;
    for (int j = 0; j < n; j++) out[j] += row[j] * g[i];
  }
}

int sp_ctrl_vjp(sp_ctrl* c, double* gx, double* gr, double* gK, const double* x, const double* r,
                const double* K, const double* g) {
  if (bad_call(c, x, r) || !g) return SP_EINVAL;
  K = K ? K : c->K;
  evaluate(c, x, r, K);
  // the clamp passes g through unsaturated channels only
  int any = 0;
  for (int i = 0; i < c->nu; i++) {
    c->g[i] = c->saturated[i] ? 0.0 : g[i];
    any |= c->g[i] != 0;
  }
  if (any) {
    if (c->cls->raw_vjp) {
      c->cls->raw_vjp(c, gx, gr, gK, x, r, K, c->g);
    } else {
      int nx = c->nx, nr = c->nr, nk = c->nk, nu = c->nu;
      double *Dx = c->jac, *Dr = Dx + (size_t)nu * nx, *DK = Dr + (size_t)nu * nr;
      c->cls->raw_jac(c, gx ? Dx : NULL, gr ? Dr : NULL, gK ? DK : NULL, x, r, K);
      if (gx) accumulate(gx, Dx, c->g, nu, nx);
      if (gr) accumulate(gr, Dr, c->g, nu, nr);
      if (gK) accumulate(gK, DK, c->g, nu, nk);
    }
  }
  for (int i = 0; i < c->nu; i++)
    if (!isfinite(c->raw[i])) return SP_ENUMERIC;
  return 0;
}

// one block of central differences: D (nu x n) from perturbing v (n), a copy of the input
static int fd_block(sp_ctrl* c, double* D, double* v, int n, double h, const double* x,
                    const double* r, const double* K) {
  double *up = c->fd + c->nx + c->nr + c->nk, *um = up + c->nu;
  int rc = 0;
  for (int j = 0; j < n; j++) {
    double v0 = v[j];
    v[j] = v0 + h;
    rc |= sp_ctrl_act(c, up, x, r, K);
    v[j] = v0 - h;
    rc |= sp_ctrl_act(c, um, x, r, K);
    v[j] = v0;
    for (int i = 0; i < c->nu; i++) D[(size_t)i * n + j] = (up[i] - um[i]) / (2 * h);
  }
  return rc ? SP_ENUMERIC : 0;
}

int sp_ctrl_jac_fd(sp_ctrl* c, double* DuDx, double* DuDr, double* DuDK, const double* x,
                   const double* r, const double* K, double h) {
  if (bad_call(c, x, r) || !(h > 0)) return SP_EINVAL;
  K = K ? K : c->K;
  double *xc = c->fd, *rc_ = xc + c->nx, *Kc = rc_ + c->nr;
  memcpy(xc, x, sizeof(double) * (size_t)c->nx);
  if (c->nr) memcpy(rc_, r, sizeof(double) * (size_t)c->nr);
  if (c->nk) memcpy(Kc, K, sizeof(double) * (size_t)c->nk);
  int rc = 0;
  if (DuDx) rc |= fd_block(c, DuDx, xc, c->nx, h, xc, rc_, Kc);
  if (DuDr) rc |= fd_block(c, DuDr, rc_, c->nr, h, xc, rc_, Kc);
  if (DuDK) rc |= fd_block(c, DuDK, Kc, c->nk, h, xc, rc_, Kc);
  evaluate(c, x, r, K);
  return rc ? SP_ENUMERIC : 0;
}

int sp_ctrl_set_limits(sp_ctrl* c, const double* lo, const double* hi) {
  if (!c) return SP_EINVAL;
  for (int i = 0; i < c->nu; i++) {
    double l = lo ? lo[i] : -INFINITY, u = hi ? hi[i] : INFINITY;
    if (isnan(l) || isnan(u) || l > u) return SP_EINVAL;
  }
  for (int i = 0; i < c->nu; i++) {
    c->lo[i] = lo ? lo[i] : -INFINITY;
    c->hi[i] = hi ? hi[i] : INFINITY;
  }
  return 0;
}

int sp_ctrl_set_gains(sp_ctrl* c, const double* K) {
  if (!c || (!K && c->nk > 0)) return SP_EINVAL;
  if (c->nk) memcpy(c->K, K, sizeof(double) * (size_t)c->nk);
  return 0;
}
