// ctrl.c: what every controller shares (see ctrl.h): one-allocation construction of descriptions
// and workspaces, named gain and reference blocks, the action clamp and its derivative (zero on
// saturated channels), the generic VJP through the dense Jacobians, and central finite
// differences.
#include "engine/ctrl/ctrl.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

static size_t align16(size_t n) {
  return (n + 15) & ~(size_t)15;
}

// ---- names --------------------------------------------------------------------------------------

int sp_ctrl_block_size(const sp_ctrl* c, const sp_ctrl_block* b) {
  switch (b->size) {
    case SP_CTRL_PER_STATE:
      return c->nx;
    case SP_CTRL_PER_ACTION:
      return c->nu;
    case SP_CTRL_MATRIX:
      return c->nx * c->nu;
  }
  return b->size > 0 ? b->size : -1;
}

// blocks must be named and cover exactly n entries (or be absent)
static int blocks_fit(const sp_ctrl* c, const sp_ctrl_block* b, int nb, int n) {
  if (nb == 0) return 1;
  if (nb < 0 || !b) return 0;
  int total = 0;
  for (int i = 0; i < nb; i++) {
    int size = sp_ctrl_block_size(c, &b[i]);
    if (!b[i].name || !b[i].name[0] || size < 1) return 0;
    total += size;
  }
  return total == n;
}

static int find_block(const sp_ctrl* c, const sp_ctrl_block* b, int nb, const char* name,
                      int* count, int* matrix) {
  if (!c || !name) return SP_ENOTFOUND;
  int off = 0;
  for (int i = 0; i < nb; i++) {
    int size = sp_ctrl_block_size(c, &b[i]);
    if (!strcmp(b[i].name, name)) {
      if (count) *count = size;
      if (matrix) *matrix = b[i].size == SP_CTRL_MATRIX;
      return off;
    }
    off += size;
  }
  return SP_ENOTFOUND;
}

int sp_ctrl_gain_index(const sp_ctrl* c, const char* name, int* count, int* matrix) {
  return c ? find_block(c, c->cls->gains, c->cls->ngains, name, count, matrix) : SP_ENOTFOUND;
}

int sp_ctrl_ref_index(const sp_ctrl* c, const char* name, int* count, int* matrix) {
  return c ? find_block(c, c->cls->refs, c->cls->nrefs, name, count, matrix) : SP_ENOTFOUND;
}

// ---- construction -------------------------------------------------------------------------------

int sp_ctrl_new_class(sp_ctrl** out, const sp_ctrl_class* cls, int nx, int nu, int nr, int nk,
                      int nwork, int ndata) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!cls || !cls->raw || !cls->raw_jac || nx < 1 || nu < 1 || nr < 0 || nk < 0 || nwork < 0 ||
      ndata < 0)
    return SP_EINVAL;
  sp_ctrl probe = {.cls = cls, .nx = nx, .nu = nu, .nr = nr, .nk = nk};
  if (!blocks_fit(&probe, cls->gains, cls->ngains, nk) ||
      !blocks_fit(&probe, cls->refs, cls->nrefs, nr))
    return SP_EINVAL;
  // doubles: K, lo, hi
  size_t head = align16(sizeof(sp_ctrl));
  size_t dbytes = align16(((size_t)nk + 2 * (size_t)nu) * sizeof(double));
  char* mem = sp_calloc(1, head + dbytes + (size_t)ndata);
  if (!mem) return SP_ENOMEM;
  sp_ctrl* c = (sp_ctrl*)mem;
  double* d = (double*)(mem + head);
  *c = probe;
  c->nwork = nwork;
  c->K = d;
  c->lo = d + nk;
  c->hi = c->lo + nu;
  c->data = ndata ? (void*)(mem + head + dbytes) : NULL;
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

int sp_ctrl_data_new(sp_ctrl_data** out, const sp_ctrl* c) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!c) return SP_EINVAL;
  int nx = c->nx, nu = c->nu, nr = c->nr, nk = c->nk;
  // doubles: raw, jac, g, fd, work; then the saturation flags
  size_t nd = (size_t)nu + (size_t)nu * (nx + nr + nk) + nu +
              ((size_t)nx + nr + nk + 2 * (size_t)nu) + (size_t)c->nwork;
  size_t head = align16(sizeof(sp_ctrl_data));
  size_t dbytes = align16(nd * sizeof(double));
  char* mem = sp_calloc(1, head + dbytes + (size_t)nu * sizeof(int));
  if (!mem) return SP_ENOMEM;
  sp_ctrl_data* w = (sp_ctrl_data*)mem;
  double* d = (double*)(mem + head);
  w->ctrl = c;
  w->nx = nx, w->nu = nu, w->nr = nr, w->nk = nk, w->nwork = c->nwork;
  w->raw = d;
  d += nu;
  w->jac = d;
  d += (size_t)nu * (nx + nr + nk);
  w->g = d;
  d += nu;
  w->fd = d;
  d += (size_t)nx + nr + nk + 2 * (size_t)nu;
  w->work = d;
  w->saturated = (int*)(mem + head + dbytes);
  *out = w;
  return 0;
}

void sp_ctrl_data_free(sp_ctrl_data* d) {
  sp_free(d);
}

// ---- evaluation ---------------------------------------------------------------------------------

static int bad_call(const sp_ctrl* c, const sp_ctrl_data* d, const double* x, const double* r) {
  return !c || !d || !x || (!r && c->nr > 0) || d->nx != c->nx || d->nu != c->nu ||
         d->nr != c->nr || d->nk != c->nk || d->nwork < c->nwork;
}

// raw action into d->raw and the saturation flags; returns the number of saturated channels
static int evaluate(const sp_ctrl* c, sp_ctrl_data* d, const double* x, const double* r,
                    const double* K) {
  c->cls->raw(c, d, d->raw, x, r, K);
  int n = 0;
  for (int i = 0; i < c->nu; i++) {
    d->saturated[i] = d->raw[i] < c->lo[i] || d->raw[i] > c->hi[i];
    n += d->saturated[i];
  }
  return n;
}

int sp_ctrl_act(const sp_ctrl* c, sp_ctrl_data* d, double* u, const double* x, const double* r,
                const double* K) {
  if (bad_call(c, d, x, r) || !u) return SP_EINVAL;
  evaluate(c, d, x, r, K ? K : c->K);
  int finite = 1;
  for (int i = 0; i < c->nu; i++) {
    double v = d->raw[i];
    u[i] = v < c->lo[i] ? c->lo[i] : v > c->hi[i] ? c->hi[i] : v;
    finite &= isfinite(u[i]) != 0;
  }
  return finite ? 0 : SP_ENUMERIC;
}

// zero the rows of saturated channels in an (nu x n) matrix
static void zero_rows(const sp_ctrl_data* d, double* D, int n) {
  if (!D) return;
  for (int i = 0; i < d->nu; i++)
    if (d->saturated[i]) memset(D + (size_t)i * n, 0, sizeof(double) * (size_t)n);
}

int sp_ctrl_jac(const sp_ctrl* c, sp_ctrl_data* d, double* DuDx, double* DuDr, double* DuDK,
                const double* x, const double* r, const double* K) {
  if (bad_call(c, d, x, r)) return SP_EINVAL;
  K = K ? K : c->K;
  evaluate(c, d, x, r, K);
  c->cls->raw_jac(c, d, DuDx, DuDr, DuDK, x, r, K);
  zero_rows(d, DuDx, c->nx);
  zero_rows(d, DuDr, c->nr);
  zero_rows(d, DuDK, c->nk);
  for (int i = 0; i < c->nu; i++)
    if (!isfinite(d->raw[i])) return SP_ENUMERIC;
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

int sp_ctrl_vjp(const sp_ctrl* c, sp_ctrl_data* d, double* gx, double* gr, double* gK,
                const double* x, const double* r, const double* K, const double* g) {
  if (bad_call(c, d, x, r) || !g) return SP_EINVAL;
  K = K ? K : c->K;
  evaluate(c, d, x, r, K);
  // the clamp passes g through unsaturated channels only
  int any = 0;
  for (int i = 0; i < c->nu; i++) {
    d->g[i] = d->saturated[i] ? 0.0 : g[i];
    any |= d->g[i] != 0;
  }
  if (any) {
    if (c->cls->raw_vjp) {
      c->cls->raw_vjp(c, d, gx, gr, gK, x, r, K, d->g);
    } else {
      int nx = c->nx, nr = c->nr, nk = c->nk, nu = c->nu;
      double *Dx = d->jac, *Dr = Dx + (size_t)nu * nx, *DK = Dr + (size_t)nu * nr;
      c->cls->raw_jac(c, d, gx ? Dx : NULL, gr ? Dr : NULL, gK ? DK : NULL, x, r, K);
      if (gx) accumulate(gx, Dx, d->g, nu, nx);
      if (gr) accumulate(gr, Dr, d->g, nu, nr);
      if (gK) accumulate(gK, DK, d->g, nu, nk);
    }
  }
  for (int i = 0; i < c->nu; i++)
    if (!isfinite(d->raw[i])) return SP_ENUMERIC;
  return 0;
}

// one block of central differences: D (nu x n) from perturbing v (n), a copy of the input
static int fd_block(const sp_ctrl* c, sp_ctrl_data* d, double* D, double* v, int n, double h,
                    const double* x, const double* r, const double* K) {
  double *up = d->fd + c->nx + c->nr + c->nk, *um = up + c->nu;
  int rc = 0;
  for (int j = 0; j < n; j++) {
    double v0 = v[j];
    v[j] = v0 + h;
    rc |= sp_ctrl_act(c, d, up, x, r, K);
    v[j] = v0 - h;
    rc |= sp_ctrl_act(c, d, um, x, r, K);
    v[j] = v0;
    for (int i = 0; i < c->nu; i++) D[(size_t)i * n + j] = (up[i] - um[i]) / (2 * h);
  }
  return rc ? SP_ENUMERIC : 0;
}

int sp_ctrl_jac_fd(const sp_ctrl* c, sp_ctrl_data* d, double* DuDx, double* DuDr, double* DuDK,
                   const double* x, const double* r, const double* K, double h) {
  if (bad_call(c, d, x, r) || !(h > 0)) return SP_EINVAL;
  K = K ? K : c->K;
  double *xc = d->fd, *rc_ = xc + c->nx, *Kc = rc_ + c->nr;
  memcpy(xc, x, sizeof(double) * (size_t)c->nx);
  if (c->nr) memcpy(rc_, r, sizeof(double) * (size_t)c->nr);
  if (c->nk) memcpy(Kc, K, sizeof(double) * (size_t)c->nk);
  int rc = 0;
  if (DuDx) rc |= fd_block(c, d, DuDx, xc, c->nx, h, xc, rc_, Kc);
  if (DuDr) rc |= fd_block(c, d, DuDr, rc_, c->nr, h, xc, rc_, Kc);
  if (DuDK) rc |= fd_block(c, d, DuDK, Kc, c->nk, h, xc, rc_, Kc);
  evaluate(c, d, x, r, K);
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
