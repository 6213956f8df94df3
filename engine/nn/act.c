// act.c: activation names and kernels (see act.h); the kernels come from act_impl.h per precision.
#include "act.h"

#include <math.h>
#include <string.h>

#include "engine/core/error.h"

static const char* const names[SP_ACT_COUNT] = {"identity", "tanh", "relu", "elu"};

const char* sp_act_name(sp_act a) {
  return (unsigned)a < SP_ACT_COUNT ? names[a] : "?";
}

int sp_act_parse(sp_act* out, const char* name) {
  if (!name) return SP_EINVAL;
  for (int i = 0; i < SP_ACT_COUNT; i++) {
    if (!strcmp(name, names[i])) {
      *out = (sp_act)i;
      return 0;
    }
  }
  if (!strcmp(name, "linear") || !strcmp(name, "none")) {
    *out = SP_ACT_IDENTITY;
    return 0;
  }
  return SP_EINVAL;
}

const char* sp_act_names(void) {
  return "identity, tanh, relu, elu";
}

#define REAL double
#define SFX(name) name##_f64
#define EXP exp
#define TANH tanh
#include "act_impl.h"
#undef REAL
#undef SFX
#undef EXP
#undef TANH

#define REAL float
#define SFX(name) name##_f32
#define EXP expf
#define TANH tanhf
#include "act_impl.h"
#undef REAL
#undef SFX
#undef EXP
#undef TANH
