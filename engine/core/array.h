// array.h: dense row-major float64 arrays with shape and strides, and views that share storage.
//
// An sp_array is a small descriptor (data pointer, shape, strides in elements) over a
// reference-counted buffer. Views (slices, transposes, reshapes of contiguous arrays) share the
// buffer and never copy; the buffer is freed when its last array is released. Descriptors are
// plain structs: they may live on the stack, inside other objects, or in Lua userdata.
//
// Ownership: the buffer's reference count is a plain int, so an array and all its views belong
// to one thread at a time (hand them over, do not share them between threads that run together).
//
// Conventions: dimensions and indices are 0-based here (the Lua binding adds 1). Functions that
// produce an array take `dst` first; dst is overwritten without being released (release it first
// if it held a reference) and must not be the same descriptor as an input. Elementwise results
// follow numpy broadcasting: shapes are aligned on the right, and a dimension of size 1 (or a
// missing one) stretches to the other operand's size.
#ifndef SP_CORE_ARRAY_H
#define SP_CORE_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"

SP_API_BEGIN

#define SP_MAXDIM 8

typedef struct sp_buffer sp_buffer;  // opaque, reference-counted storage

typedef struct sp_array {
  double* data;               // first element (NULL for an empty/released array)
  int ndim;                   // 0 (scalar) .. SP_MAXDIM
  int64_t shape[SP_MAXDIM];   // (ndim)
  int64_t stride[SP_MAXDIM];  // (ndim) in elements, may be 0 or negative for views
  sp_buffer* buf;             // owner; NULL when data is borrowed (sp_array_wrap)
} sp_array;

// ---- lifetime --------------------------------------------------------------------------------

// Allocate a zero-filled contiguous array. a is overwritten (any previous content is not freed).
// SP_EINVAL for ndim outside 0..SP_MAXDIM or a negative extent, SP_ENOMEM when allocation fails.
int sp_array_new(sp_array* a, int ndim, const int64_t* shape);

// Describe caller-owned contiguous memory without taking ownership.
int sp_array_wrap(sp_array* a, double* data, int ndim, const int64_t* shape);

// Release a's reference to its buffer and reset a to the empty state. Safe on empty arrays.
void sp_array_release(sp_array* a);

// Make dst another reference to src's buffer (a view of the whole of src).
void sp_array_retain(sp_array* dst, const sp_array* src);

// Number of arrays holding a's buffer (0 for borrowed or empty arrays); for tests and debugging.
int sp_array_refcount(const sp_array* a);

// ---- shape -------------------------------------------------------------------------------------

// Number of elements (product of shape; 1 for a scalar).
int64_t sp_array_size(const sp_array* a);

// 1 when the elements are laid out row-major without gaps.
int sp_array_is_contiguous(const sp_array* a);

// Set row-major strides for a's shape.
void sp_array_set_contiguous_strides(sp_array* a);

// Pointer to element at the given multi-index (ndim entries, no bounds check).
double* sp_array_at(const sp_array* a, const int64_t* index);

// 1 when a and b have the same ndim and extents.
int sp_array_same_shape(const sp_array* a, const sp_array* b);

// Write the shape as "2x3" ("scalar" for 0-d) into buf (size n); returns buf.
char* sp_array_shape_str(char* buf, size_t n, const sp_array* a);

// Broadcast shape of a and b into (*ndim, shape). SP_ESHAPE when they do not broadcast.
int sp_array_broadcast_shape(int* ndim, int64_t* shape, const sp_array* a, const sp_array* b);

// ---- views (no copy; dst gets a new reference to src's buffer) --------------------------------

// Elements start .. start+len-1 of dimension dim. SP_EINVAL/SP_ERANGE on bad dim or range.
int sp_array_narrow(sp_array* dst, const sp_array* src, int dim, int64_t start, int64_t len);

// Every step-th element of dimension dim from start while the index stays inside [0, stop) for
// step > 0, or (stop, start] for step < 0 (stop may be -1 there). step != 0.
int sp_array_slice(sp_array* dst, const sp_array* src, int dim, int64_t start, int64_t stop,
                   int64_t step);

// The sub-array at index i of dimension dim (one dimension fewer).
int sp_array_select(sp_array* dst, const sp_array* src, int dim, int64_t i);

// Swap dimensions d1 and d2.
int sp_array_transpose(sp_array* dst, const sp_array* src, int d1, int d2);

// A new dimension of size 1 at position dim (0..ndim), as numpy's expand_dims.
int sp_array_unsqueeze(sp_array* dst, const sp_array* src, int dim);

// Same elements in a new shape (row-major order). One extent may be -1 (inferred). A view when
// src is contiguous, otherwise a new contiguous copy. SP_ESHAPE when the sizes differ.
int sp_array_reshape(sp_array* dst, const sp_array* src, int ndim, const int64_t* shape);

// ---- copies and assignment ---------------------------------------------------------------------

// A new contiguous array with src's shape and values.
int sp_array_copy(sp_array* dst, const sp_array* src);

// Copy src's values into dst, broadcasting src to dst's shape (SP_ESHAPE if it does not).
// Overlapping storage is handled (src is read before dst is written).
int sp_array_assign(sp_array* dst, const sp_array* src);

// A new contiguous array joining parts[0..n-1] along dim; they must agree in every other
// dimension (SP_ESHAPE otherwise).
int sp_array_cat(sp_array* dst, const sp_array* const* parts, int n, int dim);

// Set every element of a to v.
void sp_array_fill(sp_array* a, double v);

// ---- elementwise -------------------------------------------------------------------------------

typedef enum sp_binop {
  SP_OP_ADD,
  SP_OP_SUB,
  SP_OP_MUL,
  SP_OP_DIV,
  SP_OP_POW,
  SP_OP_MIN,
  SP_OP_MAX
} sp_binop;

typedef enum sp_unop {
  SP_OP_NEG,
  SP_OP_ABS,
  SP_OP_EXP,
  SP_OP_LOG,
  SP_OP_SQRT,
  SP_OP_TANH,
  SP_OP_SIN,
  SP_OP_COS,
  SP_OP_SIGMOID,
  SP_OP_SIGN
} sp_unop;

// out = a op b with broadcasting; out must already have the broadcast shape (SP_ESHAPE if not).
// out may be a or b (in place); other overlaps are handled by copying the input first.
int sp_array_binop(sp_array* out, const sp_array* a, const sp_array* b, sp_binop op);

// out = a op s, or s op a when scalar_first is 1; out has a's shape and may be a.
int sp_array_binop_scalar(sp_array* out, const sp_array* a, double s, sp_binop op,
                          int scalar_first);

// out = f(a) elementwise; out has a's shape and may be a.
int sp_array_unop(sp_array* out, const sp_array* a, sp_unop op);

// out = min(max(a, lo), hi) elementwise; out has a's shape and may be a.
int sp_array_clamp(sp_array* out, const sp_array* a, double lo, double hi);

// ---- reductions --------------------------------------------------------------------------------

typedef enum sp_reduce {
  SP_REDUCE_SUM,
  SP_REDUCE_MEAN,
  SP_REDUCE_MIN,
  SP_REDUCE_MAX,
  SP_REDUCE_PROD
} sp_reduce;

// Reduce all elements to *out. SP_EINVAL for min/max/mean of an empty array.
int sp_array_reduce_all(double* out, const sp_array* a, sp_reduce op);

// Reduce along dim: out has a's shape without dim (a 0-d array for 1-D a), caller-allocated,
// and must not overlap a (SP_EINVAL).
int sp_array_reduce(sp_array* out, const sp_array* a, int dim, sp_reduce op);

// Index (0-based, first occurrence) of the largest (want_max=1) or smallest element of 1-D a.
int sp_array_argext(int64_t* out, const sp_array* a, int want_max);

// Norm of the elements taken as one vector: p = 1, 2 or INFINITY ('fro' is p = 2).
int sp_array_norm(double* out, const sp_array* a, double p);

// Inner product of two 1-D arrays of the same length.
int sp_array_dot(double* out, const sp_array* a, const sp_array* b);

// Shape of a @ b: (m,k)x(k,n)->(m,n), (m,k)x(k)->(m), (k)x(k,n)->(n), (k)x(k)->scalar.
// SP_ESHAPE when the inner dimensions differ, SP_EINVAL when an operand is not 1-D or 2-D.
int sp_array_matmul_shape(int* ndim, int64_t* shape, const sp_array* a, const sp_array* b);

// out = a @ b through cblas_dgemm/dgemv. Row-major and transposed (column-major) views go to
// BLAS without copying; other layouts (and an out that overlaps a or b or is not row-major) go
// through contiguous scratch copies. out must have the shape from sp_array_matmul_shape.
// Allocates only when such a copy is needed.
int sp_array_matmul(sp_array* out, const sp_array* a, const sp_array* b);

// 1 when |a - b| <= atol + rtol |b| for every element (broadcasting; NaNs are never close).
// SP_ESHAPE (negative) when the shapes do not broadcast.
int sp_array_allclose(const sp_array* a, const sp_array* b, double rtol, double atol);

// ---- printing ----------------------------------------------------------------------------------

// Format a like numpy's repr ("array([[1., 2.],\n       [3., 4.]])"), summarising arrays of
// more than 1000 elements with "..." (3 items at each edge). Writes at most n bytes including
// the terminating NUL and returns the length of the full text, like snprintf.
size_t sp_array_format(char* buf, size_t n, const sp_array* a);

SP_API_END

#endif  // SP_CORE_ARRAY_H
