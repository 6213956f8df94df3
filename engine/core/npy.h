// npy.h: reading and writing arrays in numpy's NPY format (versions 1.0, 2.0 and 3.0).
//
// Format: numpy's "NEP 1 — A simple file format for NumPy arrays" (numpy.lib.format): the magic
// "\x93NUMPY", a version, a little-endian header length, a Python dict literal with 'descr',
// 'fortran_order' and 'shape', padded so the data starts on a 64-byte boundary, then the raw
// elements. Saving writes version 1.0, '<f8', C order. Loading accepts little- or big-endian
// f8, f4, i8, i4, u1, i1 and b1, in C or Fortran order, and converts to a contiguous float64
// array. Errors fill msg (size n, may be NULL) with the file name and the problem.
#ifndef SP_CORE_NPY_H
#define SP_CORE_NPY_H

#include <stddef.h>

#include "array.h"
#include "engine/core/export.h"

SP_API_BEGIN

// Write a to path. SP_EIO when the file cannot be written (msg names the file and the reason).
int sp_npy_save(const char* path, const sp_array* a, char* msg, size_t n);

// Read path into a new array (a is overwritten). SP_EIO when the file cannot be opened or read,
// SP_EFORMAT for a bad magic, header, unsupported dtype or truncated data, SP_ENOMEM.
int sp_npy_load(sp_array* a, const char* path, char* msg, size_t n);

SP_API_END

#endif  // SP_CORE_NPY_H
