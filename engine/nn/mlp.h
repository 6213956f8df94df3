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
// forward keeps a copy of its input and every layer's output in a workspace (sp_mlp_work);
// backward uses them, so the caller may reuse its buffers in between. backward ACCUMULATES
// parameter gradients (sp_mlp_zero_grad clears them) and returns input gradients. Every net has
// its own workspace (pass ws = NULL); backpropagation through several applications of the same
// net (a world model rolled out over H steps) keeps one workspace per application
// (sp_mlp_work_new), then calls backward on each in reverse order. Workspaces are preallocated
// for max_batch rows (sp_mlp_new, sp_mlp_work_new, or later sp_mlp_reserve, the only calls that
// allocate); forward, backward and zero_grad never allocate.
#ifndef SP_NN_MLP_H
#define SP_NN_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/nn/act.h"
#include "engine/nn/dtype.h"

SP_API_BEGIN

#define SP_MLP_MAXLAYERS 64

typedef struct sp_layer {
  int nin, nout;  // input and output width
  sp_act act;     // activation applied to the affine output
  size_t w;       // offset of W (nout x nin, row-major) in params / grads
  size_t b;       // offset of b (nout) in params / grads
} sp_layer;

// Activations of one forward pass, kept for its backward pass. Belongs to one network.
typedef struct sp_mlp_work {
  const struct sp_mlp* net;  // the network it was made for
  int max_batch;             // rows it holds
  int batch;                 // rows of the last forward into it; 0 before the first
  size_t* off;               // (L + 2) offsets in data (elements) of a[0..L] and the scratch
  void* data;                // a[l] (max_batch x sizes[l]) for l = 0..L, two scratch blocks
} sp_mlp_work;

typedef struct sp_mlp {
  sp_dtype dtype;
  int nlayers;       // L >= 1
  int nin, nout;     // sizes[0], sizes[L]
  int max_width;     // largest of sizes[]
  sp_layer* layers;  // (L)
  size_t nparams;
  void* params;    // (nparams) double or float, per dtype
  void* grads;     // (nparams) same layout
  int borrowed;    // 1 after sp_mlp_use_storage: params and grads belong to the caller
  sp_mlp_work ws;  // the net's own workspace (ws = NULL in the calls below)
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

// A workspace for this net holding max_batch rows (>= 1); free it with sp_mlp_work_free (before
// or after the net).
int sp_mlp_work_new(sp_mlp_work** out, const sp_mlp* m, int max_batch);
void sp_mlp_work_free(sp_mlp_work* ws);

// Grow workspace ws (NULL: the net's own) to hold batch rows; a no-op when it already does.
// Growing forgets the stored forward pass. SP_ENOMEM leaves it unchanged.
int sp_mlp_reserve(sp_mlp* m, sp_mlp_work* ws, int batch);

// y (batch x nout) = net(x (batch x nin)), float64 at the boundary for either dtype, keeping the
// pass in ws (NULL: the net's own workspace). y may be NULL (read it with sp_mlp_output).
// SP_ERANGE when batch is not in [1, ws->max_batch]; SP_EINVAL for another net's workspace.
int sp_mlp_forward(sp_mlp* m, sp_mlp_work* ws, double* y, const double* x, int batch);
// Backward through the pass stored in ws: given gy = dL/dy (batch x nout), ACCUMULATE parameter
// gradients into grads and write gx = dL/dx (batch x nin) unless gx is NULL. gy is not modified;
// ws keeps its pass (backward may run again). SP_ESTATE when ws holds no forward pass.
int sp_mlp_backward(sp_mlp* m, sp_mlp_work* ws, double* gx, const double* gy);

// Input gradients only: as sp_mlp_backward with the parameter gradients left untouched (and not
// computed), for backpropagating through a frozen net, e.g. a policy trained through a world
// model whose own gradients are not wanted.
int sp_mlp_backward_input(sp_mlp* m, sp_mlp_work* ws, double* gx, const double* gy);

// The same in float32, for float32 networks only (SP_EINVAL otherwise).
int sp_mlp_forward_f32(sp_mlp* m, sp_mlp_work* ws, float* y, const float* x, int batch);
int sp_mlp_backward_f32(sp_mlp* m, sp_mlp_work* ws, float* gx, const float* gy);
int sp_mlp_backward_input_f32(sp_mlp* m, sp_mlp_work* ws, float* gx, const float* gy);

// The output of the last forward into ws (NULL: the net's own), (batch x nout) in the net's
// dtype; NULL before a forward.
const void* sp_mlp_output(const sp_mlp* m, const sp_mlp_work* ws);

// grads = 0.
void sp_mlp_zero_grad(sp_mlp* m);

// Layer l as an index into the net's layers: negative l counts from the end (-1 is the output
// layer); -1 when out of range. Every function below taking a layer resolves it this way.
int sp_mlp_layer(const sp_mlp* m, int l);

// Parameter access by layer, in the net's dtype: W (nout x nin) and b (nout) of layer l; NULL
// when l is out of range.
void* sp_mlp_weight(sp_mlp* m, int l);
void* sp_mlp_bias(sp_mlp* m, int l);

// Copy the flat parameters / gradients out as float64 (nparams), or set the parameters from
// float64 (rounded for float32 nets). The boundary Lua and float64 optimisers use.
void sp_mlp_get_params(const sp_mlp* m, double* out);
void sp_mlp_get_grads(const sp_mlp* m, double* out);
void sp_mlp_set_params(sp_mlp* m, const double* in);

// dst's parameters from src's, dst having the same layers but more inputs (dst->nin >= src->nin):
// the first layer's extra input columns are zero, so dst computes what src does whatever those
// inputs hold (a network widened to a new input, e.g. the previous action). Allocates a float64
// copy. 0, SP_EINVAL (other layers) or SP_ENOMEM.
int sp_mlp_copy_widened(sp_mlp* dst, const sp_mlp* src);

// Number of parameters an MLP with these sizes has: sum_l sizes[l+1] * (sizes[l] + 1).
size_t sp_mlp_count_params(int nlayers, const int* sizes);

// A one-line summary of layers and size, e.g.
// "mlp f64: 6 -> 64 tanh -> 64 tanh -> 10 identity (5258 parameters)".
// Returns the length snprintf would have written.
int sp_mlp_describe(const sp_mlp* m, char* buf, size_t n);

SP_API_END

#endif  // SP_NN_MLP_H
