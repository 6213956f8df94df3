// dtype.c: names and sizes of the network precisions (see dtype.h).
#include "dtype.h"

#include <string.h>

#include "engine/core/error.h"

size_t sp_dtype_size(sp_dtype t) {
  return t == SP_F64 ? sizeof(double) : t == SP_F32 ? sizeof(float) : 0;
}

const char* sp_dtype_name(sp_dtype t) {
  return t == SP_F64 ? "f64" : t == SP_F32 ? "f32" : "?";
}

int sp_dtype_parse(sp_dtype* out, const char* name) {
  if (!name) return SP_EINVAL;
  if (!strcmp(name, "f64") || !strcmp(name, "float64") || !strcmp(name, "double")) {
    *out = SP_F64;
    return 0;
  }
  if (!strcmp(name, "f32") || !strcmp(name, "float32") || !strcmp(name, "float")) {
    *out = SP_F32;
    return 0;
  }
  return SP_EINVAL;
}
