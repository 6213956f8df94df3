// linear.c: y = x W^T + b and its backward pass through BLAS (see linear.h); one template
// (linear_impl.h) compiled for float64 and float32.
#include "linear.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

#define REAL double
#define SFX(name) name##_f64
#define GEMM cblas_dgemm
#include "linear_impl.h"
#undef REAL
#undef SFX
#undef GEMM

#define REAL float
#define SFX(name) name##_f32
#define GEMM cblas_sgemm
#include "linear_impl.h"
#undef REAL
#undef SFX
#undef GEMM
