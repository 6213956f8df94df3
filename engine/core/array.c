// array.c: dense float64 arrays: reference-counted storage, strided views, broadcasting
// elementwise kernels, reductions, BLAS-backed products and numpy-style printing.
//
// Broadcasting follows numpy's rules (numpy.org, "Broadcasting"); products call the CBLAS
// routines dgemm/dgemv (BLAS level 2/3 reference, netlib.org/blas); printing follows the layout
// of numpy's array repr (precision 8, 75 columns, summaries above 1000 elements, 3 edge items).
#include "array.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

// the storage header and the elements in one allocation; refs is a plain counter
// (single-threaded ownership, see array.h)
struct sp_buffer {
  int refs;
  int64_t n;
  double data[];
};

// ---- lifetime --------------------------------------------------------------------------------

static void clear(sp_array* a) {
  memset(a, 0, sizeof *a);
}

int sp_array_new(sp_array* a, int ndim, const int64_t* shape) {
  clear(a);
  if (ndim < 0 || ndim > SP_MAXDIM || (ndim > 0 && !shape)) return SP_EINVAL;
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return SP_EINVAL;
    if (shape[d] > 0 && n > (INT64_MAX / 16) / shape[d]) return SP_ENOMEM;
    n *= shape[d];
  }
  if ((uint64_t)n > (SIZE_MAX - sizeof(sp_buffer)) / sizeof(double)) return SP_ENOMEM;
  sp_buffer* b = sp_calloc(1, sizeof(sp_buffer) + (size_t)n * sizeof(double));
  if (!b) return SP_ENOMEM;
  b->refs = 1;
  b->n = n;
  a->buf = b;
  a->data = b->data;
  a->ndim = ndim;
  for (int d = 0; d < ndim; d++) a->shape[d] = shape[d];
  sp_array_set_contiguous_strides(a);
  return SP_OK;
}

int sp_array_wrap(sp_array* a, double* data, int ndim, const int64_t* shape) {
  clear(a);
  if (ndim < 0 || ndim > SP_MAXDIM || (ndim > 0 && !shape) || !data) return SP_EINVAL;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return SP_EINVAL;
    a->shape[d] = shape[d];
  }
  a->data = data;
  a->ndim = ndim;
  sp_array_set_contiguous_strides(a);
  return SP_OK;
}

void sp_array_release(sp_array* a) {
  if (a->buf && --a->buf->refs == 0) sp_free(a->buf);
  clear(a);
}

void sp_array_retain(sp_array* dst, const sp_array* src) {
  if (dst != src) *dst = *src;
  if (dst->buf) dst->buf->refs++;
}

int sp_array_refcount(const sp_array* a) {
  return a->buf ? a->buf->refs : 0;
}

// ---- shape -------------------------------------------------------------------------------------

int64_t sp_array_size(const sp_array* a) {
  int64_t n = 1;
  for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
  return n;
}

int sp_array_is_contiguous(const sp_array* a) {
  int64_t s = 1;
  for (int d = a->ndim - 1; d >= 0; d--) {
    if (a->shape[d] == 0) return 1;
    if (a->shape[d] != 1 && a->stride[d] != s) return 0;
    s *= a->shape[d];
  }
  return 1;
}

void sp_array_set_contiguous_strides(sp_array* a) {
  int64_t s = 1;
  for (int d = a->ndim - 1; d >= 0; d--) {
    a->stride[d] = s;
    s *= a->shape[d] > 0 ? a->shape[d] : 1;
  }
}

double* sp_array_at(const sp_array* a, const int64_t* index) {
  int64_t off = 0;
  for (int d = 0; d < a->ndim; d++) off += index[d] * a->stride[d];
  return a->data + off;
}

int sp_array_same_shape(const sp_array* a, const sp_array* b) {
  if (a->ndim != b->ndim) return 0;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return 0;
  return 1;
}

char* sp_array_shape_str(char* buf, size_t n, const sp_array* a) {
  if (!buf || n == 0) return buf;
  if (a->ndim == 0) {
    snprintf(buf, n, "scalar");
    return buf;
  }
  size_t len = 0;
  buf[0] = '\0';
  for (int d = 0; d < a->ndim && len < n; d++)
    len += (size_t)snprintf(buf + len, n - len, d ? "x%lld" : "%lld", (long long)a->shape[d]);
  return buf;
}

static int shape_broadcast(int* ndim, int64_t* shape, int na, const int64_t* sa, int nb,
                           const int64_t* sb) {
  int n = na > nb ? na : nb;
  for (int d = 0; d < n; d++) {
    int da = d - (n - na), db = d - (n - nb);
    int64_t ea = da >= 0 ? sa[da] : 1, eb = db >= 0 ? sb[db] : 1;
    if (ea != eb && ea != 1 && eb != 1) return SP_ESHAPE;
    shape[d] = ea == 1 ? eb : ea;
  }
  *ndim = n;
  return SP_OK;
}

int sp_array_broadcast_shape(int* ndim, int64_t* shape, const sp_array* a, const sp_array* b) {
  return shape_broadcast(ndim, shape, a->ndim, a->shape, b->ndim, b->shape);
}

// strides that read x as if it had the (broadcast) shape (ndim, shape)
static void broadcast_strides(int64_t* st, const sp_array* x, int ndim) {
  int off = ndim - x->ndim;
  for (int d = 0; d < ndim; d++) {
    int xd = d - off;
    st[d] = (xd < 0 || x->shape[xd] == 1) ? 0 : x->stride[xd];
  }
}

// ---- views -------------------------------------------------------------------------------------

int sp_array_narrow(sp_array* dst, const sp_array* src, int dim, int64_t start, int64_t len) {
  if (dim < 0 || dim >= src->ndim) return SP_EINVAL;
  if (start < 0 || len < 0 || start > src->shape[dim] || len > src->shape[dim] - start)
    return SP_ERANGE;
  sp_array v = *src;
  if (len > 0) v.data += start * src->stride[dim];
  v.shape[dim] = len;
  sp_array_retain(dst, &v);
  return SP_OK;
}

int sp_array_slice(sp_array* dst, const sp_array* src, int dim, int64_t start, int64_t stop,
                   int64_t step) {
  if (dim < 0 || dim >= src->ndim || step == 0) return SP_EINVAL;
  int64_t n = src->shape[dim], count;
  if (step > 0) {
    if (start < 0 || stop > n) return SP_ERANGE;
    count = stop > start ? (stop - start + step - 1) / step : 0;
  } else {
    if (stop < -1 || start >= n) return SP_ERANGE;
    count = start > stop ? (start - stop - step - 1) / -step : 0;
  }
  sp_array v = *src;
  if (count > 0) v.data += start * src->stride[dim];
  v.shape[dim] = count;
  v.stride[dim] = src->stride[dim] * step;
  sp_array_retain(dst, &v);
  return SP_OK;
}

int sp_array_select(sp_array* dst, const sp_array* src, int dim, int64_t i) {
  if (dim < 0 || dim >= src->ndim) return SP_EINVAL;
  if (i < 0 || i >= src->shape[dim]) return SP_ERANGE;
  sp_array v = *src;
  v.data += i * src->stride[dim];
  for (int d = dim; d < src->ndim - 1; d++) {
    v.shape[d] = src->shape[d + 1];
    v.stride[d] = src->stride[d + 1];
  }
  v.ndim--;
  v.shape[v.ndim] = 0;
  v.stride[v.ndim] = 0;
  sp_array_retain(dst, &v);
  return SP_OK;
}

int sp_array_transpose(sp_array* dst, const sp_array* src, int d1, int d2) {
  if (d1 < 0 || d1 >= src->ndim || d2 < 0 || d2 >= src->ndim) return SP_EINVAL;
  sp_array v = *src;
  v.shape[d1] = src->shape[d2];
  v.shape[d2] = src->shape[d1];
  v.stride[d1] = src->stride[d2];
  v.stride[d2] = src->stride[d1];
  sp_array_retain(dst, &v);
  return SP_OK;
}

int sp_array_unsqueeze(sp_array* dst, const sp_array* src, int dim) {
  if (dim < 0 || dim > src->ndim || src->ndim == SP_MAXDIM) return SP_EINVAL;
  sp_array v = *src;
  for (int d = src->ndim; d > dim; d--) {
    v.shape[d] = src->shape[d - 1];
    v.stride[d] = src->stride[d - 1];
  }
  v.shape[dim] = 1;
  v.stride[dim] = 0;
  v.ndim++;
  sp_array_retain(dst, &v);
  return SP_OK;
}

int sp_array_reshape(sp_array* dst, const sp_array* src, int ndim, const int64_t* shape) {
  if (ndim < 0 || ndim > SP_MAXDIM || (ndim > 0 && !shape)) return SP_EINVAL;
  int64_t want[SP_MAXDIM], known = 1, n = sp_array_size(src);
  int infer = -1;
  for (int d = 0; d < ndim; d++) {
    want[d] = shape[d];
    if (shape[d] == -1 && infer < 0) {
      infer = d;
    } else if (shape[d] < 0) {
      return SP_EINVAL;
    } else {
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || n % known) return SP_ESHAPE;
    want[infer] = n / known;
    known = n;
  }
  if (known != n) return SP_ESHAPE;
  if (sp_array_is_contiguous(src)) {
    sp_array v = *src;
    v.ndim = ndim;
    for (int d = 0; d < SP_MAXDIM; d++) v.shape[d] = d < ndim ? want[d] : 0;
    memset(v.stride, 0, sizeof v.stride);
    sp_array_set_contiguous_strides(&v);
    sp_array_retain(dst, &v);
    return SP_OK;
  }
  sp_array c;
  int rc = sp_array_copy(&c, src);
  if (rc) return rc;
  c.ndim = ndim;
  for (int d = 0; d < SP_MAXDIM; d++) c.shape[d] = d < ndim ? want[d] : 0;
  memset(c.stride, 0, sizeof c.stride);
  sp_array_set_contiguous_strides(&c);
  *dst = c;
  return SP_OK;
}

// ---- strided iteration -------------------------------------------------------------------------

// calls run(ctx, n, p, s) for every innermost row of the iteration shape, where p[k] points at
// the row's first element of operand k and s[k] is its innermost stride
typedef void (*run_fn)(void* ctx, int64_t n, double* const* p, const int64_t* s);

static void for_rows(int nop, double* const* base, int64_t st_in[][SP_MAXDIM], int ndim_in,
                     const int64_t* shape_in, run_fn run, void* ctx) {
  for (int d = 0; d < ndim_in; d++)
    if (shape_in[d] == 0) return;
  // drop unit dimensions and merge neighbours that every operand walks as one, so contiguous
  // data becomes a single long row
  int64_t shape[SP_MAXDIM], st[3][SP_MAXDIM];
  int ndim = 0;
  for (int d = 0; d < ndim_in; d++) {
    if (shape_in[d] == 1) continue;
    int merge = ndim > 0;
    for (int k = 0; k < nop && merge; k++) merge = st[k][ndim - 1] == st_in[k][d] * shape_in[d];
    if (merge) {
      shape[ndim - 1] *= shape_in[d];
      for (int k = 0; k < nop; k++) st[k][ndim - 1] = st_in[k][d];
    } else {
      shape[ndim] = shape_in[d];
      for (int k = 0; k < nop; k++) st[k][ndim] = st_in[k][d];
      ndim++;
    }
  }
  double* p[3];
  int64_t s[3] = {0, 0, 0};
  if (ndim == 0) {
    for (int k = 0; k < nop; k++) p[k] = base[k];
    run(ctx, 1, p, s);
    return;
  }
  int last = ndim - 1;
  int64_t idx[SP_MAXDIM] = {0}, off[3] = {0, 0, 0};
  for (int k = 0; k < nop; k++) s[k] = st[k][last];
  for (;;) {
    for (int k = 0; k < nop; k++) p[k] = base[k] + off[k];
    run(ctx, shape[last], p, s);
    int d = last - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      for (int k = 0; k < nop; k++) off[k] += st[k][d];
      if (idx[d] < shape[d]) break;
      for (int k = 0; k < nop; k++) off[k] -= st[k][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// lowest and highest element addresses a may touch; 0 when a is empty
static int extent(const sp_array* a, uintptr_t* lo, uintptr_t* hi) {
  if (!a->data || sp_array_size(a) == 0) return 0;
  int64_t l = 0, h = 0;
  for (int d = 0; d < a->ndim; d++) {
    int64_t e = (a->shape[d] - 1) * a->stride[d];
    if (e < 0)
      l += e;
    else
      h += e;
  }
  *lo = (uintptr_t)a->data + (uintptr_t)(l * (int64_t)sizeof(double));
  *hi = (uintptr_t)a->data + (uintptr_t)(h * (int64_t)sizeof(double));
  return 1;
}

static int overlaps(const sp_array* a, const sp_array* b) {
  uintptr_t alo, ahi, blo, bhi;
  if (!extent(a, &alo, &ahi) || !extent(b, &blo, &bhi)) return 0;
  return !(ahi < blo || bhi < alo);
}

// 1 when reading `in` (broadcast to out's shape) while writing out element by element is safe:
// no shared memory, or exactly the same layout (true in-place)
static int safe_input(const sp_array* out, const sp_array* in) {
  if (!overlaps(out, in)) return 1;
  if (in->data != out->data || in->ndim != out->ndim) return 0;
  int64_t st[SP_MAXDIM];
  broadcast_strides(st, in, out->ndim);
  for (int d = 0; d < out->ndim; d++)
    if (out->shape[d] > 1 && st[d] != out->stride[d]) return 0;
  return 1;
}

// a private contiguous copy of *in when it is not safe to read while writing out
static int detach(sp_array* tmp, const sp_array** in, const sp_array* out) {
  clear(tmp);
  if (safe_input(out, *in)) return SP_OK;
  int rc = sp_array_copy(tmp, *in);
  if (rc) return rc;
  *in = tmp;
  return SP_OK;
}

// ---- copies and assignment ---------------------------------------------------------------------

static void run_copy(void* ctx, int64_t n, double* const* p, const int64_t* s) {
  double* o = p[0];
  const double* a = p[1];
  if (s[0] == 1 && s[1] == 1) {
    memmove(o, a, (size_t)n * sizeof(double));
    return;
  }
  for (int64_t i = 0; i < n; i++) o[i * s[0]] = a[i * s[1]];
}

// copy without overlap checks; in broadcasts to out's shape
static void copy_into(sp_array* out, const sp_array* in) {
  int64_t st[2][SP_MAXDIM];
  memcpy(st[0], out->stride, sizeof st[0]);
  broadcast_strides(st[1], in, out->ndim);
  double* base[2] = {out->data, in->data};
  for_rows(2, base, st, out->ndim, out->shape, run_copy, NULL);
}

int sp_array_copy(sp_array* dst, const sp_array* src) {
  int rc = sp_array_new(dst, src->ndim, src->shape);
  if (rc) return rc;
  copy_into(dst, src);
  return SP_OK;
}

int sp_array_cat(sp_array* dst, const sp_array* const* parts, int n, int dim) {
  if (n < 1 || dim < 0 || dim >= parts[0]->ndim) return SP_EINVAL;
  const sp_array* first = parts[0];
  int64_t shape[SP_MAXDIM];
  for (int d = 0; d < first->ndim; d++) shape[d] = first->shape[d];
  shape[dim] = 0;
  for (int i = 0; i < n; i++) {
    if (parts[i]->ndim != first->ndim) return SP_ESHAPE;
    for (int d = 0; d < first->ndim; d++)
      if (d != dim && parts[i]->shape[d] != first->shape[d]) return SP_ESHAPE;
    shape[dim] += parts[i]->shape[dim];
  }
  int rc = sp_array_new(dst, first->ndim, shape);
  if (rc) return rc;
  // copy each part into its slab of dst
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    sp_array slab = *dst;
    if (parts[i]->shape[dim] > 0) slab.data += at * dst->stride[dim];
    slab.shape[dim] = parts[i]->shape[dim];
    copy_into(&slab, parts[i]);
    at += parts[i]->shape[dim];
  }
  return SP_OK;
}

static int broadcasts_to(const sp_array* in, const sp_array* out) {
  if (in->ndim > out->ndim) return 0;
  int off = out->ndim - in->ndim;
  for (int d = 0; d < in->ndim; d++)
    if (in->shape[d] != 1 && in->shape[d] != out->shape[d + off]) return 0;
  return 1;
}

int sp_array_assign(sp_array* dst, const sp_array* src) {
  if (!broadcasts_to(src, dst)) return SP_ESHAPE;
  sp_array tmp;
  int rc = detach(&tmp, &src, dst);
  if (rc) return rc;
  copy_into(dst, src);
  sp_array_release(&tmp);
  return SP_OK;
}

static void run_fill(void* ctx, int64_t n, double* const* p, const int64_t* s) {
  double v = *(const double*)ctx, *o = p[0];
  for (int64_t i = 0; i < n; i++) o[i * s[0]] = v;
}

void sp_array_fill(sp_array* a, double v) {
  int64_t st[1][SP_MAXDIM];
  memcpy(st[0], a->stride, sizeof st[0]);
  double* base[1] = {a->data};
  for_rows(1, base, st, a->ndim, a->shape, run_fill, &v);
}

// ---- elementwise -------------------------------------------------------------------------------

static double apply_bin(sp_binop op, double x, double y) {
  switch (op) {
    case SP_OP_ADD:
      return x + y;
    case SP_OP_SUB:
      return x - y;
    case SP_OP_MUL:
      return x * y;
    case SP_OP_DIV:
      return x / y;
    case SP_OP_POW:
      return pow(x, y);
    case SP_OP_MIN:
      return isnan(x) || isnan(y) ? NAN : fmin(x, y);
    case SP_OP_MAX:
      return isnan(x) || isnan(y) ? NAN : fmax(x, y);
  }
  return NAN;
}

static void run_bin(void* ctx, int64_t n, double* const* p, const int64_t* s) {
  sp_binop op = *(const sp_binop*)ctx;
  double* o = p[0];
  const double *a = p[1], *b = p[2];
  int64_t so = s[0], sa = s[1], sb = s[2];
  // unit strides (contiguous rows) get loops the compiler can vectorise
  if (so == 1 && sa == 1 && sb == 1 && op <= SP_OP_DIV) {
    switch (op) {
      case SP_OP_ADD:
        for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i];
        return;
      case SP_OP_SUB:
        for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i];
        return;
      case SP_OP_MUL:
        for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i];
        return;
      default:
        for (int64_t i = 0; i < n; i++) o[i] = a[i] / b[i];
        return;
    }
  }
  switch (op) {
    case SP_OP_ADD:
      for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa] + b[i * sb];
      return;
    case SP_OP_SUB:
      for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa] - b[i * sb];
      return;
    case SP_OP_MUL:
      for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa] * b[i * sb];
      return;
    case SP_OP_DIV:
      for (int64_t i = 0; i < n; i++) o[i * so] = a[i * sa] / b[i * sb];
      return;
    default:
      for (int64_t i = 0; i < n; i++) o[i * so] = apply_bin(op, a[i * sa], b[i * sb]);
  }
}

int sp_array_binop(sp_array* out, const sp_array* a, const sp_array* b, sp_binop op) {
  int ndim;
  int64_t shape[SP_MAXDIM];
  if (sp_array_broadcast_shape(&ndim, shape, a, b)) return SP_ESHAPE;
  if (ndim != out->ndim || memcmp(shape, out->shape, (size_t)ndim * sizeof(int64_t)))
    return SP_ESHAPE;
  sp_array ta, tb;
  int rc = detach(&ta, &a, out);
  if (!rc)
    rc = detach(&tb, &b, out);
  else
    clear(&tb);
  if (!rc) {
    int64_t st[3][SP_MAXDIM];
    memcpy(st[0], out->stride, sizeof st[0]);
    broadcast_strides(st[1], a, ndim);
    broadcast_strides(st[2], b, ndim);
    double* base[3] = {out->data, a->data, b->data};
    for_rows(3, base, st, ndim, shape, run_bin, &op);
  }
  sp_array_release(&ta);
  sp_array_release(&tb);
  return rc;
}

int sp_array_binop_scalar(sp_array* out, const sp_array* a, double s, sp_binop op,
                          int scalar_first) {
  sp_array sc;
  sp_array_wrap(&sc, &s, 0, NULL);
  if (!sp_array_same_shape(out, a)) return SP_ESHAPE;
  return scalar_first ? sp_array_binop(out, &sc, a, op) : sp_array_binop(out, a, &sc, op);
}

typedef struct {
  int op;  // sp_unop, or -1 for clamp
  double lo, hi;
} unary_ctx;

static double apply_un(sp_unop op, double x) {
  switch (op) {
    case SP_OP_NEG:
      return -x;
    case SP_OP_ABS:
      return fabs(x);
    case SP_OP_EXP:
      return exp(x);
    case SP_OP_LOG:
      return log(x);
    case SP_OP_SQRT:
      return sqrt(x);
    case SP_OP_TANH:
      return tanh(x);
    case SP_OP_SIN:
      return sin(x);
    case SP_OP_COS:
      return cos(x);
    case SP_OP_SIGMOID:
      return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    case SP_OP_SIGN:
      return x > 0 ? 1 : x < 0 ? -1 : x;
  }
  return NAN;
}

static void run_un(void* ctx, int64_t n, double* const* p, const int64_t* s) {
  const unary_ctx* c = ctx;
  double* o = p[0];
  const double* a = p[1];
  if (c->op < 0) {
    for (int64_t i = 0; i < n; i++) {
      double x = a[i * s[1]];
      o[i * s[0]] = isnan(x) ? x : x < c->lo ? c->lo : x > c->hi ? c->hi : x;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) o[i * s[0]] = apply_un((sp_unop)c->op, a[i * s[1]]);
}

static int unary(sp_array* out, const sp_array* a, const unary_ctx* c) {
  if (!sp_array_same_shape(out, a)) return SP_ESHAPE;
  sp_array ta;
  int rc = detach(&ta, &a, out);
  if (rc) return rc;
  int64_t st[2][SP_MAXDIM];
  memcpy(st[0], out->stride, sizeof st[0]);
  memcpy(st[1], a->stride, sizeof st[1]);
  double* base[2] = {out->data, a->data};
  for_rows(2, base, st, out->ndim, out->shape, run_un, (void*)c);
  sp_array_release(&ta);
  return SP_OK;
}

int sp_array_unop(sp_array* out, const sp_array* a, sp_unop op) {
  unary_ctx c = {(int)op, 0, 0};
  return unary(out, a, &c);
}

int sp_array_clamp(sp_array* out, const sp_array* a, double lo, double hi) {
  if (isnan(lo) || isnan(hi) || lo > hi) return SP_EINVAL;
  unary_ctx c = {-1, lo, hi};
  return unary(out, a, &c);
}

// ---- reductions --------------------------------------------------------------------------------

typedef struct {
  sp_reduce op;
  double acc;
} reduce_ctx;

static void run_reduce(void* ctx, int64_t n, double* const* p, const int64_t* s) {
  reduce_ctx* c = ctx;
  const double* a = p[0];
  double acc = c->acc;
  switch (c->op) {
    case SP_REDUCE_SUM:
    case SP_REDUCE_MEAN:
      for (int64_t i = 0; i < n; i++) acc += a[i * s[0]];
      break;
    case SP_REDUCE_PROD:
      for (int64_t i = 0; i < n; i++) acc *= a[i * s[0]];
      break;
    case SP_REDUCE_MIN:
      for (int64_t i = 0; i < n; i++) acc = apply_bin(SP_OP_MIN, acc, a[i * s[0]]);
      break;
    case SP_REDUCE_MAX:
      for (int64_t i = 0; i < n; i++) acc = apply_bin(SP_OP_MAX, acc, a[i * s[0]]);
      break;
  }
  c->acc = acc;
}

static double reduce_start(sp_reduce op) {
  switch (op) {
    case SP_REDUCE_PROD:
      return 1;
    case SP_REDUCE_MIN:
      return INFINITY;
    case SP_REDUCE_MAX:
      return -INFINITY;
    default:
      return 0;
  }
}

int sp_array_reduce_all(double* out, const sp_array* a, sp_reduce op) {
  int64_t n = sp_array_size(a);
  if (n == 0 && (op == SP_REDUCE_MIN || op == SP_REDUCE_MAX || op == SP_REDUCE_MEAN))
    return SP_EINVAL;
  reduce_ctx c = {op, reduce_start(op)};
  int64_t st[1][SP_MAXDIM];
  memcpy(st[0], a->stride, sizeof st[0]);
  double* base[1] = {a->data};
  for_rows(1, base, st, a->ndim, a->shape, run_reduce, &c);
  *out = op == SP_REDUCE_MEAN ? c.acc / (double)n : c.acc;
  return SP_OK;
}

int sp_array_reduce(sp_array* out, const sp_array* a, int dim, sp_reduce op) {
  if (dim < 0 || dim >= a->ndim) return SP_EINVAL;
  if (out->ndim != a->ndim - 1) return SP_ESHAPE;
  for (int d = 0, k = 0; d < a->ndim; d++)
    if (d != dim && out->shape[k++] != a->shape[d]) return SP_ESHAPE;
  if (a->shape[dim] == 0 && op != SP_REDUCE_SUM && op != SP_REDUCE_PROD && sp_array_size(out) > 0)
    return SP_EINVAL;
  if (overlaps(out, a)) return SP_EINVAL;
  // walk the output; each element reduces the line of a along dim
  int64_t n = sp_array_size(out), idx[SP_MAXDIM] = {0};
  for (int64_t i = 0; i < n; i++) {
    const double* line = a->data;
    double* o = out->data;
    for (int d = 0, k = 0; d < a->ndim; d++) {
      if (d == dim) continue;
      line += idx[k] * a->stride[d];
      o += idx[k] * out->stride[k];
      k++;
    }
    reduce_ctx c = {op, reduce_start(op)};
    double* p[1] = {(double*)line};
    int64_t s[1] = {a->stride[dim]};
    run_reduce(&c, a->shape[dim], p, s);
    *o = op == SP_REDUCE_MEAN ? c.acc / (double)a->shape[dim] : c.acc;
    for (int k = out->ndim - 1; k >= 0; k--) {
      if (++idx[k] < out->shape[k]) break;
      idx[k] = 0;
    }
  }
  return SP_OK;
}

int sp_array_argext(int64_t* out, const sp_array* a, int want_max) {
  if (a->ndim != 1) return SP_EINVAL;
  if (a->shape[0] == 0) return SP_EINVAL;
  int64_t best = 0;
  double v = a->data[0];
  for (int64_t i = 1; i < a->shape[0]; i++) {
    double x = a->data[i * a->stride[0]];
    if (isnan(v)) break;
    if (isnan(x) || (want_max ? x > v : x < v)) {
      best = i;
      v = x;
    }
  }
  *out = best;
  return SP_OK;
}

typedef struct {
  double p, acc, scale;
} norm_ctx;

static void run_norm(void* ctx, int64_t n, double* const* ptr, const int64_t* s) {
  norm_ctx* c = ctx;
  const double* a = ptr[0];
  for (int64_t i = 0; i < n; i++) {
    double x = fabs(a[i * s[0]]);
    if (c->p == 1) {
      c->acc += x;
    } else if (isinf(c->p)) {
      c->acc = isnan(x) || isnan(c->acc) ? NAN : fmax(c->acc, x);
    } else if (x > 0 || isnan(x)) {
      // scaled sum of squares (as LAPACK's dnrm2) to avoid overflow and underflow
      if (x > c->scale) {
        c->acc = 1 + c->acc * (c->scale / x) * (c->scale / x);
        c->scale = x;
      } else {
        c->acc += (x / c->scale) * (x / c->scale);
      }
    }
  }
}

int sp_array_norm(double* out, const sp_array* a, double p) {
  if (p != 1 && p != 2 && !(isinf(p) && p > 0)) return SP_EINVAL;
  norm_ctx c = {p, 0, 0};
  int64_t st[1][SP_MAXDIM];
  memcpy(st[0], a->stride, sizeof st[0]);
  double* base[1] = {a->data};
  for_rows(1, base, st, a->ndim, a->shape, run_norm, &c);
  *out = p == 2 ? c.scale * sqrt(c.acc) : c.acc;
  return SP_OK;
}

int sp_array_dot(double* out, const sp_array* a, const sp_array* b) {
  if (a->ndim != 1 || b->ndim != 1) return SP_EINVAL;
  if (a->shape[0] != b->shape[0]) return SP_ESHAPE;
  int64_t n = a->shape[0], sa = a->stride[0], sb = b->stride[0];
  if (n > 0 && n <= INT_MAX && sa > 0 && sb > 0 && sa <= INT_MAX && sb <= INT_MAX) {
    *out = cblas_ddot((int)n, a->data, (int)sa, b->data, (int)sb);
    return SP_OK;
  }
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a->data[i * sa] * b->data[i * sb];
  *out = s;
  return SP_OK;
}

// ---- products ----------------------------------------------------------------------------------

int sp_array_matmul_shape(int* ndim, int64_t* shape, const sp_array* a, const sp_array* b) {
  if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2) return SP_EINVAL;
  int64_t ka = a->shape[a->ndim - 1], kb = b->shape[0];
  if (ka != kb) return SP_ESHAPE;
  int n = 0;
  if (a->ndim == 2) shape[n++] = a->shape[0];
  if (b->ndim == 2) shape[n++] = b->shape[1];
  *ndim = n;
  return SP_OK;
}

// how a 2-D array can be handed to row-major CBLAS without copying: as stored (*trans = 0) or
// as the transpose of a row-major matrix (*trans = 1), with leading dimension *ld
static int blas_layout(const sp_array* a, int* trans, int* ld) {
  int64_t r = a->shape[0], c = a->shape[1], s0 = a->stride[0], s1 = a->stride[1];
  int64_t rmin = r > 1 ? r : 1, cmin = c > 1 ? c : 1, l;
  if (r > INT_MAX || c > INT_MAX) return 0;
  if (c <= 1 || s1 == 1) {
    l = r <= 1 ? cmin : s0;
    if (l >= cmin && l <= INT_MAX) {
      *trans = 0;
      *ld = (int)l;
      return 1;
    }
  }
  if (r <= 1 || s0 == 1) {
    l = c <= 1 ? rmin : s1;
    if (l >= rmin && l <= INT_MAX) {
      *trans = 1;
      *ld = (int)l;
      return 1;
    }
  }
  return 0;
}

// a BLAS-ready view of *x: x itself, or a contiguous copy in tmp
static int blas_ready(sp_array* tmp, const sp_array** x, int* trans, int* ld) {
  clear(tmp);
  if ((*x)->ndim == 2) {
    if (blas_layout(*x, trans, ld)) return SP_OK;
  } else if (((*x)->shape[0] <= 1 || ((*x)->stride[0] >= 1 && (*x)->stride[0] <= INT_MAX)) &&
             (*x)->shape[0] <= INT_MAX) {
    *ld = (*x)->shape[0] <= 1 ? 1 : (int)(*x)->stride[0];
    return SP_OK;
  }
  int rc = sp_array_copy(tmp, *x);
  if (rc) return rc;
  *x = tmp;
  *trans = 0;
  *ld = tmp->ndim == 2 ? (int)(tmp->shape[1] > 1 ? tmp->shape[1] : 1) : 1;
  return SP_OK;
}

int sp_array_matmul(sp_array* out, const sp_array* a, const sp_array* b) {
  int ndim;
  int64_t shape[SP_MAXDIM];
  int rc = sp_array_matmul_shape(&ndim, shape, a, b);
  if (rc) return rc;
  if (ndim != out->ndim || memcmp(shape, out->shape, (size_t)ndim * sizeof(int64_t)))
    return SP_ESHAPE;
  if (a->ndim == 1 && b->ndim == 1) return sp_array_dot(out->data, a, b);

  // write into out directly when it is row-major and shares no memory with the inputs
  sp_array o = *out, to, ta, tb;
  clear(&to);
  int direct = !overlaps(out, a) && !overlaps(out, b);
  int ot = 0, old = 1;
  if (direct) {
    if (ndim == 2)
      direct = blas_layout(out, &ot, &old) && !ot;
    else
      direct = (out->shape[0] <= 1 || out->stride[0] >= 1) && out->stride[0] <= INT_MAX;
  }
  if (!direct) {
    rc = sp_array_new(&to, ndim, shape);
    if (rc) return rc;
    o = to;
    old = ndim == 2 ? (int)(shape[1] > 1 ? shape[1] : 1) : 1;
  } else if (ndim == 1) {
    old = out->shape[0] <= 1 ? 1 : (int)out->stride[0];
  }
  int at = 0, ald = 1, bt = 0, bld = 1;
  rc = blas_ready(&ta, &a, &at, &ald);
  if (!rc)
    rc = blas_ready(&tb, &b, &bt, &bld);
  else
    clear(&tb);
  if (!rc) {
    int64_t k = b->shape[0];
    if (k == 0 || sp_array_size(&o) == 0) {
      sp_array_fill(&o, 0);
    } else if (a->ndim == 2 && b->ndim == 2) {
      cblas_dgemm(CblasRowMajor, at ? CblasTrans : CblasNoTrans, bt ? CblasTrans : CblasNoTrans,
                  (int)a->shape[0], (int)b->shape[1], (int)k, 1.0, a->data, ald, b->data, bld, 0.0,
                  o.data, old);
    } else if (a->ndim == 2) {
      // y (m) = A (m x k) x (k); a transposed view is A^T stored row-major with k rows
      int rows = at ? (int)k : (int)a->shape[0], cols = at ? (int)a->shape[0] : (int)k;
      cblas_dgemv(CblasRowMajor, at ? CblasTrans : CblasNoTrans, rows, cols, 1.0, a->data, ald,
                  b->data, bld, 0.0, o.data, old);
    } else {
      // y (n) = B^T x: the same product with the other transpose flag
      int rows = bt ? (int)b->shape[1] : (int)k, cols = bt ? (int)k : (int)b->shape[1];
      cblas_dgemv(CblasRowMajor, bt ? CblasNoTrans : CblasTrans, rows, cols, 1.0, b->data, bld,
                  a->data, ald, 0.0, o.data, old);
    }
    if (!direct) copy_into(out, &to);
  }
  sp_array_release(&ta);
  sp_array_release(&tb);
  sp_array_release(&to);
  return rc;
}

typedef struct {
  double rtol, atol;
  int close;
} close_ctx;

static void run_close(void* ctx, int64_t n, double* const* p, const int64_t* s) {
  close_ctx* c = ctx;
  for (int64_t i = 0; i < n && c->close; i++) {
    double x = p[0][i * s[0]], y = p[1][i * s[1]];
    if (x == y) continue;  // equal infinities
    if (!(fabs(x - y) <= c->atol + c->rtol * fabs(y))) c->close = 0;
  }
}

int sp_array_allclose(const sp_array* a, const sp_array* b, double rtol, double atol) {
  int ndim;
  int64_t shape[SP_MAXDIM], st[2][SP_MAXDIM];
  if (sp_array_broadcast_shape(&ndim, shape, a, b)) return SP_ESHAPE;
  broadcast_strides(st[0], a, ndim);
  broadcast_strides(st[1], b, ndim);
  close_ctx c = {rtol, atol, 1};
  double* base[2] = {a->data, b->data};
  for_rows(2, base, st, ndim, shape, run_close, &c);
  return c.close;
}

// ---- printing ----------------------------------------------------------------------------------

enum { LINE_WIDTH = 75, EDGE_ITEMS = 3, THRESHOLD = 1000, PRECISION = 8 };

typedef struct {
  char* buf;
  size_t n, len, col;
} sink;

static void emit(sink* o, const char* s, size_t k) {
  for (size_t i = 0; i < k; i++) {
    if (o->len + 1 < o->n) o->buf[o->len] = s[i];
    o->len++;
    o->col = s[i] == '\n' ? 0 : o->col + 1;
  }
}

static void emits(sink* o, const char* s) {
  emit(o, s, strlen(s));
}

static void spaces(sink* o, size_t k) {
  for (size_t i = 0; i < k; i++) emit(o, " ", 1);
}

typedef struct {
  int sci;          // scientific notation
  int frac;         // digits after the point (mantissa digits in sci)
  int intw, fracw;  // widths left and right of the point (fixed)
  int width;        // every element is padded to this width
  int summary;      // print "..." in long dimensions
} number_fmt;

// the shortest text of x with at most PRECISION digits after the point (mantissa in sci)
static int trimmed(char* t, size_t n, double x, int sci) {
  int len = snprintf(t, n, sci ? "%.*e" : "%.*f", PRECISION, x);
  char* e = sci ? strchr(t, 'e') : t + len;
  char* q = e;
  while (q > t && q[-1] == '0') q--;
  memmove(q, e, strlen(e) + 1);
  return (int)strlen(t);
}

// digits after the point in a trimmed text
static int frac_digits(const char* t) {
  const char* dot = strchr(t, '.');
  if (!dot) return 0;
  int k = 0;
  for (const char* q = dot + 1; *q >= '0' && *q <= '9'; q++) k++;
  return k;
}

static int format_number(char* t, size_t n, double x, const number_fmt* f) {
  char raw[64];
  int len;
  if (isnan(x)) {
    len = snprintf(raw, sizeof raw, "nan");
  } else if (isinf(x)) {
    len = snprintf(raw, sizeof raw, x > 0 ? "inf" : "-inf");
  } else if (f->sci) {
    len = snprintf(raw, sizeof raw, "%.*e", f->frac, x);
    if (f->frac == 0) {  // numpy writes "1.e+10"
      char* e = strchr(raw, 'e');
      memmove(e + 1, e, strlen(e) + 1);
      *e = '.';
      len++;
    }
  } else {
    trimmed(raw, sizeof raw, x, 0);
    char* dot = strchr(raw, '.');
    int il = (int)(dot - raw), fl = (int)strlen(dot + 1);
    int lpad = f->intw > il ? f->intw - il : 0, rpad = f->fracw > fl ? f->fracw - fl : 0;
    len = snprintf(t, n, "%*s%s%*s", lpad, "", raw, rpad, "");
    return len;
  }
  return snprintf(t, n, "%*s", f->width, raw);
}

// advance idx to the next printed element (summarised dimensions skip their middle); 0 at the end
static int next_shown(int64_t* idx, const sp_array* a, int summary) {
  for (int d = a->ndim - 1; d >= 0; d--) {
    idx[d]++;
    if (summary && a->shape[d] > 2 * EDGE_ITEMS && idx[d] == EDGE_ITEMS)
      idx[d] = a->shape[d] - EDGE_ITEMS;
    if (idx[d] < a->shape[d]) return 1;
    idx[d] = 0;
  }
  return 0;
}

// numpy's FloatingFormat over the printed elements: fixed or scientific, digits and widths
static void choose_format(number_fmt* f, const sp_array* a) {
  memset(f, 0, sizeof *f);
  f->summary = sp_array_size(a) > THRESHOLD;
  double maxv = 0, minv = INFINITY;
  int nonfinite = 0, neginf = 0;
  int64_t idx[SP_MAXDIM] = {0};
  // pass 1: magnitudes decide the notation
  do {
    double x = *sp_array_at(a, idx);
    if (isfinite(x)) {
      maxv = fmax(maxv, fabs(x));
      if (x != 0) minv = fmin(minv, fabs(x));
    } else {
      nonfinite = 1;
      neginf |= isinf(x) && x < 0;
    }
  } while (next_shown(idx, a, f->summary));
  f->sci = maxv >= 1e8 || (isfinite(minv) && (minv < 1e-4 || maxv / minv > 1e3));
  // pass 2: digits after the point and, in fixed notation, the widths around it
  char t[64];
  memset(idx, 0, sizeof idx);
  do {
    double x = *sp_array_at(a, idx);
    if (isfinite(x)) {
      trimmed(t, sizeof t, x, f->sci);
      int fd = frac_digits(t);
      if (fd > f->frac) f->frac = fd;
      if (!f->sci) {
        int il = (int)(strchr(t, '.') - t);
        if (il > f->intw) f->intw = il;
        if (fd > f->fracw) f->fracw = fd;
      }
    }
  } while (next_shown(idx, a, f->summary));
  // pass 3: the common width
  int w = 0;
  if (f->sci) {
    memset(idx, 0, sizeof idx);
    do {
      double x = *sp_array_at(a, idx);
      if (isfinite(x)) {
        number_fmt g = *f;
        g.width = 0;
        int l = format_number(t, sizeof t, x, &g);
        if (l > w) w = l;
      }
    } while (next_shown(idx, a, f->summary));
  } else if (f->intw > 0) {
    w = f->intw + 1 + f->fracw;
  }
  if (nonfinite && w < (neginf ? 4 : 3)) w = neginf ? 4 : 3;
  if (!f->sci && f->intw + 1 + f->fracw < w) f->intw = w - 1 - f->fracw;
  f->width = w;
}

// numpy's _formatArray: one level of brackets; hang is the indent of continuation lines
static void format_level(sink* o, const sp_array* a, const number_fmt* f, int dim, double* p,
                         size_t hang, size_t width) {
  if (dim == a->ndim) {
    char t[80];
    int l = format_number(t, sizeof t, *p, f);
    emit(o, t, (size_t)l);
    return;
  }
  int64_t n = a->shape[dim];
  int summary = f->summary && n > 2 * EDGE_ITEMS;
  int left = a->ndim - dim;
  emits(o, "[");
  for (int64_t i = 0; i < n; i++) {
    int dots = summary && i == EDGE_ITEMS;
    if (summary && i > EDGE_ITEMS && i < n - EDGE_ITEMS) continue;
    int last = i == n - 1;
    if (left == 1) {
      // words separated by ", ", wrapped before the line would pass the width
      char t[80];
      size_t wl = dots ? 3 : (size_t)format_number(t, sizeof t, p[i * a->stride[dim]], f);
      size_t line = i == 0 ? o->col : o->col + 2;
      size_t limit = last && !dots ? width : width - 1;
      if (i > 0) {
        emits(o, ",");
        if (line + wl > limit && line > hang) {
          emits(o, "\n");
          spaces(o, hang);
        } else {
          emits(o, " ");
        }
      }
      if (dots)
        emits(o, "...");
      else
        emit(o, t, wl);
    } else {
      if (i > 0) {
        emits(o, ",");
        for (int k = 0; k < left - 1; k++) emits(o, "\n");
        spaces(o, hang);
      }
      if (dots)
        emits(o, "...");
      else
        format_level(o, a, f, dim + 1, p + i * a->stride[dim], hang + 1, width - 1);
    }
    if (dots) i = n - EDGE_ITEMS - 1;
  }
  emits(o, "]");
}

size_t sp_array_format(char* buf, size_t n, const sp_array* a) {
  sink o = {buf, n, 0, 0};
  if (buf && n > 0) buf[0] = '\0';
  if (!a->data) {
    emits(&o, "array(<released>)");
  } else if (sp_array_size(a) == 0) {
    if (a->ndim == 1) {
      emits(&o, "array([], dtype=float64)");
    } else {
      emits(&o, "array([], shape=(");
      char t[32];
      for (int d = 0; d < a->ndim; d++) {
        int l = snprintf(t, sizeof t, d ? ", %lld" : "%lld", (long long)a->shape[d]);
        emit(&o, t, (size_t)l);
      }
      emits(&o, a->ndim == 1 ? ",), dtype=float64)" : "), dtype=float64)");
    }
  } else {
    number_fmt f;
    choose_format(&f, a);
    emits(&o, "array(");
    if (a->ndim == 0) {
      // a scalar is printed without padding
      f.width = 0;
      f.intw = 0;
      f.fracw = 0;
    }
    format_level(&o, a, &f, 0, a->data, 7, LINE_WIDTH - 1);
    emits(&o, ")");
  }
  if (buf && n > 0) buf[o.len < n ? o.len : n - 1] = '\0';
  return o.len;
}
