// init.h: weight initialisation for MLPs, seeded through engine/core/rng.h.
//
//   xavier      W ~ U(-a, a), a = gain sqrt(6 / (nin + nout))   (Glorot and Bengio 2010, eq. 16)
//   orthogonal  W = gain Q, Q with orthonormal rows or columns from the QR factorisation of a
//               Gaussian matrix, signs fixed by diag(R) (Saxe, McClelland and Ganguli 2014)
// Biases start at zero. Weights are drawn in float64 and rounded for float32 networks, so a
// float64 and a float32 network initialised with the same seed hold the same values up to
// rounding. Same seed, same weights, on every machine.
#ifndef SP_NN_INIT_H
#define SP_NN_INIT_H

#include <stdint.h>

#include "engine/core/export.h"
#include "engine/core/rng.h"
#include "engine/nn/mlp.h"

SP_API_BEGIN

typedef enum sp_init {
  SP_INIT_XAVIER = 0,
  SP_INIT_ORTHOGONAL = 1,
} sp_init;

// "xavier" or "orthogonal"; sp_init_parse also accepts "glorot". SP_EINVAL for other names.
const char* sp_init_name(sp_init k);
int sp_init_parse(sp_init* out, const char* name);

// Initialise every layer with kind and gain 1 from rng stream 0 of seed, biases zero.
// Allocates temporary memory for the orthogonal factorisation (SP_ENOMEM); SP_ENUMERIC if
// LAPACK fails.
int sp_mlp_init(sp_mlp* m, sp_init kind, uint64_t seed);

// Initialise layer l (0-based; negative counts from the end, -1 = last) drawing from r, with
// the given gain; its bias is set to zero.
int sp_mlp_init_layer(sp_mlp* m, int l, sp_init kind, double gain, sp_rng* r);

// Set layer l's weights and bias to zero (negative l counts from the end). With the last layer
// zeroed the network's output is exactly act(0) for every input (0 for tanh, relu, elu, identity).
int sp_mlp_zero_layer(sp_mlp* m, int l);

SP_API_END

#endif  // SP_NN_INIT_H
