// mlp.h: multilayer perceptrons with flat parameter and gradient vectors (llm.c style).
//
// An MLP of L layers maps sizes[0] inputs to sizes[L] outputs; layer l (0-based) computes
//   a[l+1] = act_l(a[l] W_l^T + b_l),   W_l (sizes[l+1] x sizes[l]), b_l (sizes[l+1]).
// All parameters live in ONE allocation, `params` (nparams), laid out layer by layer as W_0, b_0,
// W_1, b_1, ...; gradients in one more, `grads`, with the same layout. Layers are views: offsets
// into those vectors. Optimisers, checkpoints and Lua see the flat vectors.
//
// The element type is float64 or float32 (dtype). The float64 entry points (sp_mlp_forward,
// sp_mlp_backward) accept either kind of network and convert at the boundary; the _f32 entry
// points are the zero-conversion path for float32 networks.
//
// Activations for up to max_batch rows are preallocated (at creation, or by sp_mlp_reserve, which
// is the only call besides new/free that allocates). forward keeps a copy of its input and every
// layer's output; backward uses them, so the caller may reuse its buffers in between. backward
// ACCUMULATES parameter gradients (sp_mlp_zero_grad clears them) and returns input gradients.
#ifndef SP_NN_MLP_H
#define SP_NN_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/nn/act.h"
#include "engine/nn/dtype.h"

#define SP_MLP_MAXLAYERS 64

typedef struct sp_layer {
  int nin, nout;  // input and output width
  sp_act act;     // activation applied to the affine output
  size_t w;       // offset of W (nout x nin, row-major) in params / grads
  size_t b;       // offset of b (nout) in params / grads
} sp_layer;

typedef struct sp_mlp {
  sp_dtype dtype;
  int nlayers;       // L >= 1
  int nin, nout;     // sizes[0], sizes[L]
  int max_width;     // largest of sizes[]
  sp_layer* layers;  // (L)
  size_t nparams;
  void* params;     // (nparams) double or float, per dtype
  void* grads;      // (nparams) same layout
  int max_batch;    // rows the workspace holds
  int batch;        // rows of the last forward; 0 before the first
  size_t* act_off;  // (L + 2) offsets in work (elements) of a[0..L] (max_batch x sizes[l]), scratch
  void* work;       // activations, then two scratch blocks (max_batch x max_width) each
  int borrowed;     // 1 after sp_mlp_use_storage: params and grads belong to the caller
} sp_mlp;

// Create an MLP with sizes (nlayers + 1) and one activation per layer (acts, nlayers), parameters
// and gradients zero, workspace for max_batch rows (>= 1). SP_EINVAL for bad sizes, activations
// or dtype; SP_ENOMEM.
int sp_mlp_new(sp_mlp** out, int nlayers, const int* sizes, const sp_act* acts, sp_dtype dtype,
               int max_batch);
void sp_mlp_free(sp_mlp* m);

// Move the parameters and gradients into caller-owned storage (nparams elements of the net's
// dtype each, not overlapping), copying their current values; the net's own vectors are freed.
// The caller keeps the storage alive until sp_mlp_free. Used by the Lua binding so parameter
// arrays handed to Lua are views that outlive the network. Does not allocate.
void sp_mlp_use_storage(sp_mlp* m, void* params, void* grads);

// Grow the workspace to hold batch rows (no-op when it already does). Invalidates the stored
// forward pass (a backward must follow a new forward). SP_ENOMEM leaves the net unchanged.
int sp_mlp_reserve(sp_mlp* m, int batch);

// y (batch x nout) = net(x (batch x nin)), float64 at the boundary for either dtype. y may be
// NULL (read the output with sp_mlp_output). SP_ERANGE when batch is not in [1, max_batch].
int sp_mlp_forward(sp_mlp* m, double* y, const double* x, int batch);
// Backward through the last forward: given gy = dL/dy (batch x nout), ACCUMULATE parameter
// gradients into grads and write gx = dL/dx (batch x nin) unless gx is NULL. gy is not modified.
// SP_ESTATE when there was no forward since creation or the last reserve.
int sp_mlp_backward(sp_mlp* m, double* gx, const double* gy);

// The same in float32, for float32 networks only (SP_EINVAL otherwise).
int sp_mlp_forward_f32(sp_mlp* m, float* y, const float* x, int batch);
int sp_mlp_backward_f32(sp_mlp* m, float* gx, const float* gy);

// The output of the last forward (batch x nout), in the net's dtype; NULL before a forward.
const void* sp_mlp_output(const sp_mlp* m);

// grads = 0.
void sp_mlp_zero_grad(sp_mlp* m);

// Parameter access by layer, in the net's dtype: W (nout x nin) and b (nout) of layer l.
void* sp_mlp_weight(sp_mlp* m, int l);
void* sp_mlp_bias(sp_mlp* m, int l);

// Copy the flat parameters / gradients out as float64 (nparams), or set the parameters from
// float64 (rounded for float32 nets). The boundary Lua and float64 optimisers use.
void sp_mlp_get_params(const sp_mlp* m, double* out);
void sp_mlp_get_grads(const sp_mlp* m, double* out);
void sp_mlp_set_params(sp_mlp* m, const double* in);

// Number of parameters an MLP with these sizes has: sum_l sizes[l+1] * (sizes[l] + 1).
size_t sp_mlp_count_params(int nlayers, const int* sizes);

// A one-line summary of layers and size, e.g.
// "mlp f64: 6 -> 64 tanh -> 64 tanh -> 10 identity (5258 parameters)".
// Returns the length snprintf would have written.
int sp_mlp_describe(const sp_mlp* m, char* buf, size_t n);

#endif  // SP_NN_MLP_H
