// act.h: element-wise activations and their derivatives, in float64 and float32.
//
//   identity  y = z                          dy/dz = 1
//   tanh      y = tanh(z)                    dy/dz = 1 - y^2
//   relu      y = max(z, 0)                  dy/dz = [z > 0]   (0 at z = 0)
//   elu       y = z (z > 0), exp(z) - 1      dy/dz = 1 (z > 0), y + 1 (Clevert et al. 2016, a = 1)
// Every derivative is written in terms of the output y, so a network only keeps its outputs.
#ifndef SP_NN_ACT_H
#define SP_NN_ACT_H

#include <stddef.h>

#include "engine/core/export.h"

SP_API_BEGIN

typedef enum sp_act {
  SP_ACT_IDENTITY = 0,
  SP_ACT_TANH = 1,
  SP_ACT_RELU = 2,
  SP_ACT_ELU = 3,
  SP_ACT_COUNT
} sp_act;

// "identity", "tanh", "relu", "elu" ("?" for an unknown value).
const char* sp_act_name(sp_act a);
// Parse a name ("linear" and "none" are accepted for identity); SP_EINVAL for an unknown name.
int sp_act_parse(sp_act* out, const char* name);
// The valid names for error messages: "identity, tanh, relu, elu".
const char* sp_act_names(void);

// y (n) = act(z); y may alias z.
void sp_act_forward_f64(sp_act a, double* y, const double* z, size_t n);
void sp_act_forward_f32(sp_act a, float* y, const float* z, size_t n);

// gz (n) = gy * act'(z), with act' computed from the output y (n); gz may alias gy.
void sp_act_backward_f64(sp_act a, double* gz, const double* gy, const double* y, size_t n);
void sp_act_backward_f32(sp_act a, float* gz, const float* gy, const float* y, size_t n);

// The same over batch rows of n, in place (g (batch x n) = g * act'(z)), and when gb is not NULL
// ADD the column sums of the result into gb (n): the bias gradient of the affine map before the
// activation, in the same pass over g (rows summed in order, as a separate pass would).
void sp_act_backward_rows_f64(sp_act a, double* g, double* gb, const double* y, int batch, int n);
void sp_act_backward_rows_f32(sp_act a, float* g, float* gb, const float* y, int batch, int n);

SP_API_END

#endif  // SP_NN_ACT_H
