// dtype.h: the two compute precisions of spinal's networks.
//
// float64 for small policy networks and exact gradient checks, float32 (the BLAS sgemm path) for
// large networks such as world models. Arrays crossing into Lua are always float64; networks
// convert at their float64 entry points (sp_mlp_forward, sp_mlp_backward).
#ifndef SP_NN_DTYPE_H
#define SP_NN_DTYPE_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef enum sp_dtype {
  SP_F64 = 0,
  SP_F32 = 1,
} sp_dtype;

// Bytes per element (8 or 4); 0 for an unknown dtype.
size_t sp_dtype_size(sp_dtype t);
// "f64" or "f32" ("?" for an unknown dtype).
const char* sp_dtype_name(sp_dtype t);
// Parse "f64"/"float64"/"double" or "f32"/"float32"/"float"; SP_EINVAL otherwise.
int sp_dtype_parse(sp_dtype* out, const char* name);

SP_API_END

#endif  // SP_NN_DTYPE_H
