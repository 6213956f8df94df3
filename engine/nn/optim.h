// optim.h: first-order optimisers over any flat parameter vector (MLPs, policies, models).
//
// Each step, with g the gradient (never modified):
//   clipping      if clip > 0 and |g| > clip: g <- g clip / |g|   (global L2 norm; Pascanu,
//                 Mikolov and Bengio 2013)
//   weight decay  g <- g + weight_decay p                         (L2, as torch.optim.SGD/Adam)
//   sgd           b <- momentum b + g; p <- p - lr b              (b = g when momentum = 0)
//   adam          m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2; t <- t + 1
//                 p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//                 (Kingma and Ba 2015, Algorithm 1, with bias correction)
// The state (moments and step count t) belongs to the optimiser and is saved with checkpoints.
// It is stored in the dtype of the parameters. sp_optim_step never allocates.
#ifndef SP_NN_OPTIM_H
#define SP_NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/nn/dtype.h"

SP_API_BEGIN

typedef enum sp_optim_kind {
  SP_OPTIM_SGD = 1,
  SP_OPTIM_ADAM = 2,
} sp_optim_kind;

typedef struct sp_optim_config {
  sp_optim_kind kind;
  double lr;            // learning rate >= 0
  double momentum;      // sgd, in [0, 1); 0 = plain gradient descent
  double beta1, beta2;  // adam, in [0, 1)
  double eps;           // adam, > 0
  double clip;          // > 0: cap on the global gradient norm; 0 = no clipping
  double weight_decay;  // >= 0
} sp_optim_config;

typedef struct sp_optim {
  sp_optim_config cfg;
  sp_dtype dtype;    // of the parameters, gradients and state
  size_t n;          // parameter count
  int64_t t;         // steps taken
  void* m;           // (n) sgd momentum buffer or adam first moment; NULL when unused
  void* v;           // (n) adam second moment; NULL for sgd
  double last_norm;  // global gradient norm before clipping, at the last step
  long bad;          // after a refused step: the first parameter it would make non-finite; else -1
} sp_optim;

// Defaults: sgd (momentum 0), adam (betas 0.9, 0.999, eps 1e-8); no clipping or decay.
sp_optim_config sp_optim_sgd_config(double lr);
sp_optim_config sp_optim_adam_config(double lr);

// "sgd" or "adam" ("?" otherwise).
const char* sp_optim_kind_name(sp_optim_kind k);

// Check a configuration: 0 or SP_EINVAL, with the offending field named in msg (may be NULL).
int sp_optim_check(const sp_optim_config* cfg, char* msg, size_t msg_size);

// Create an optimiser for n parameters of the given dtype (state zero, t = 0).
int sp_optim_new(sp_optim** out, const sp_optim_config* cfg, sp_dtype dtype, size_t n);
void sp_optim_free(sp_optim* o);

// Forget the state (moments zero, t = 0); the configuration stays.
void sp_optim_reset(sp_optim* o);

// Update params (n) in place from grads (n), both in o->dtype. SP_ENUMERIC, and nothing changes
// (parameters, moments, t), when the gradient norm is not finite (o->bad = -1) or when the step
// would make a parameter or a moment non-finite (o->bad = the first such index, e.g. with a huge
// lr): an optimiser never writes a NaN or an infinity into the parameters.
int sp_optim_step(sp_optim* o, void* params, const void* grads);

// Global L2 norm of x (n) in the given dtype, accumulated in float64.
double sp_norm2(const void* x, sp_dtype dtype, size_t n);

SP_API_END

#endif  // SP_NN_OPTIM_H
