// array.h: dense row-major float64 arrays with shape and strides, and views that share storage.
//
// An sp_array is a small descriptor (data pointer, shape, strides in elements) over a
// reference-counted buffer. Views (slices, transposes, reshapes of contiguous arrays) share the
// buffer and never copy; the buffer is freed when its last array is released. Descriptors are
// plain structs: they may live on the stack, inside other objects, or in Lua userdata.
#ifndef SP_CORE_ARRAY_H
#define SP_CORE_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#define SP_MAXDIM 8

typedef struct sp_buffer sp_buffer;  // opaque, reference-counted storage

typedef struct sp_array {
  double* data;                 // first element (NULL for an empty/released array)
  int ndim;                     // 0 (scalar) .. SP_MAXDIM
  int64_t shape[SP_MAXDIM];     // (ndim)
  int64_t stride[SP_MAXDIM];    // (ndim) in elements, may be 0 or negative for views
  sp_buffer* buf;               // owner; NULL when data is borrowed (sp_array_wrap)
} sp_array;

// Allocate a zero-filled contiguous array. a is overwritten (any previous content is not freed).
int sp_array_new(sp_array* a, int ndim, const int64_t* shape);

// Describe caller-owned contiguous memory without taking ownership.
int sp_array_wrap(sp_array* a, double* data, int ndim, const int64_t* shape);

// Release a's reference to its buffer and reset a to the empty state. Safe on empty arrays.
void sp_array_release(sp_array* a);

// Make dst another reference to src's buffer (a view of the whole of src).
void sp_array_retain(sp_array* dst, const sp_array* src);

// Number of elements (product of shape; 1 for a scalar).
int64_t sp_array_size(const sp_array* a);

// 1 when the elements are laid out row-major without gaps.
int sp_array_is_contiguous(const sp_array* a);

// Set row-major strides for a's shape.
void sp_array_set_contiguous_strides(sp_array* a);

// Pointer to element at the given multi-index (ndim entries, no bounds check).
double* sp_array_at(const sp_array* a, const int64_t* index);

#endif  // SP_CORE_ARRAY_H
