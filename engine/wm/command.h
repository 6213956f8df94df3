// command.h: method 2's high-level network h(z | s, command): latents for a FROZEN VAE motor
// decoder (engine/wm/vae.h) so the robot follows body-velocity commands and paths, trained by
// backpropagation through the world model (engine/wm/wm.h), without reinforcement learning
// (Shi et al., arXiv 2403.01962; the task-level controllers of ControlVAE, Yao et al. 2022).
//
// A command is one row of SP_COMMAND_NK numbers per step:
//   k = [ vx, vy, wz | gx, gy, gyaw | wp ]
// vx, vy: the commanded horizontal velocity in the body frame (m/s), wz: the yaw rate (rad/s);
// gx, gy, gyaw: a target pose in the world (a path's moving target or look-ahead point), weighted
// by wp >= 0 (0: a pure velocity command, the target ignored).
//
// With a gait clock (config clock > 0) a row has one more entry, k[7] = phi: the clock's phase
// (rad), which the caller advances by `clock` per step (the row is data, like the command).
//
// The network is an MLP over the state features f(s) = [p_z, R(q)^T e_z, v, w, qj, qd] (nf = 10 +
// 2 nj, the VAE's) and the command's features in the body's heading frame,
//   u(s, k) = [ vx, vy, wz, wp, wp bx, wp by, wp sin(e), wp (cos(e) - 1) ],
//   (bx, by) = Rz(-yaw(q)) (g_xy - p_xy),   e = gyaw - yaw(q)
// (yaw(q) = atan2(2 (w z + x y), 1 - 2 (y^2 + z^2))), with a clock followed by [sin(phi),
// cos(phi)] (nin = nf + 8, or nf + 10), and with config prev_action = nu the action the robot held
// before this step, a_-1 (nu entries, as written to the robot: PD targets in rad), last (+ nu).
// The clock is the decoder's missing pacemaker: the VAE's
// encoder keeps a gait going from the reference's future frames; from the state alone, gaits that
// do not sustain themselves (stepping on the spot, backwards) die out. Its output is a residual on
// the prior's mean, so a new network (last layer zero) plays the prior:
//   z = mu_p(s) + h(f(s), u(s, k)) + sigma eps,   a = a_nom + D(f(s), z)
// with mu_p, D, sigma the VAE's (its parameters are not changed by h's training).
//
// Training through the world model W (sp_command_loss): from start states s_0, for k < H
//   a_k from s_k and k_k as above,   s_k+1 = W(s_k, a_k)
//   loss = (1/B) sum_rows sum_k gamma^k [ w_v (|v_x - vx| + |v_y - vy|) + w_w |w_z - wz|
//          + wp (w_p |p_xy - g_xy| + w_h |wrap(yaw - gyaw)|) + w_up |R(q)^T e_z - e_z|_1 / 3
//          + beta |h|^2 / (2 sigma^2) ]
// evaluated at s_k+1 against row k of the command (v, w in the body frame, as the world model's
// state holds them). The last term is the negative log-likelihood of z under the prior p(z | s)
// (up to a constant): it keeps the latents where the decoder learned to walk. The backward pass
// runs through the H applications of the world model, the decoder and the prior (their parameters
// untouched unless asked) into h's parameters, and ACCUMULATES.
//
// Only sp_command_new, sp_command_data_new and the file functions allocate.
#ifndef SP_WM_COMMAND_H
#define SP_WM_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "engine/wm/vae.h"
#include "engine/wm/wm.h"

SP_API_BEGIN

#define SP_COMMAND_NK 7  // entries of a command row (without a clock)
#define SP_COMMAND_NU 8  // command features the network sees besides f(s) (without a clock)

// the parts of the loss, in this order
enum {
  SP_COMMAND_VELOCITY = 0,
  SP_COMMAND_POSE,
  SP_COMMAND_UPRIGHT,
  SP_COMMAND_PRIOR,
  SP_COMMAND_NPARTS
};

// what the backward pass of sp_command_loss accumulates into (flags)
enum {
  SP_COMMAND_GRAD_NET = 1,      // h's parameters (h->net->grads)
  SP_COMMAND_GRAD_DECODER = 2,  // the VAE decoder's parameters (in vae->grads), for fine-tuning
};

typedef struct sp_command_config {
  int nj;                                            // joints, as the VAE's
  int lat;                                           // latent size, the VAE's
  int hidden;                                        // hidden width
  int layers;                                        // hidden layers, >= 1
  sp_act act;                                        // hidden activation
  sp_dtype dtype;                                    // SP_F32 or SP_F64
  double velocity, yaw_rate, position, heading, up;  // loss weights w_v, w_w, w_p, w_h, w_up
  double beta;      // weight of the prior's negative log-likelihood
  double gamma;     // per-step discount in (0, 1]
  double clock;     // the gait clock's phase advance per step (rad) in [0, pi]; 0: no clock
  int prev_action;  // the previous action's inputs (last): 0 (none) or the VAE's nu
} sp_command_config;

typedef struct sp_command {
  sp_command_config cfg;
  int nk;       // entries of a command row: SP_COMMAND_NK, + 1 (the phase) with a clock
  int nf, nin;  // state features, network inputs (nf + SP_COMMAND_NU, + 2 with a clock, +
                // prev_action)
  sp_mlp* net;  // nin -> hidden x layers -> lat, last layer zero at creation
} sp_command;

typedef struct sp_command_data {
  const sp_command* h;
  const sp_vae* vae;
  int max_batch, horizon;
  sp_mlp_work **wp, **wh, **wd;  // (horizon) each: prior, h, decoder passes
  double* S;                     // ((horizon + 1) x max_batch x nx) states
  double* A;                     // (horizon x max_batch x nu) actions
  double* Ho;                    // (horizon x max_batch x lat) h's outputs
  double* x;                     // (max_batch x (nf + max(SP_COMMAND_NU + 2, lat))) inputs / grads
  double* y;                     // (max_batch x max(lat, nu)) outputs / output gradients
  double* mp;                    // (max_batch x lat) prior means
  double* gz;                    // (max_batch x lat)
  double* gf;                    // (max_batch x nf)
  double* ga;                    // (max_batch x nu)
  double* aw;                    // (max_batch x 2 nu) a model with history: its action inputs
  double* ac;                    // (max_batch x nu) and the previous action's gradient carried
  double* G;                     // (2 x max_batch x nx)
  double* Sv;                    // (max_batch x nx) one step's states as the policy sees them
} sp_command_data;

// Defaults: 2 hidden layers of 128 elu, float32; weights velocity 1, yaw rate 0.5, position 1,
// heading 0.5, up 1; beta 0.01, gamma 0.95; no clock, no previous action.
sp_command_config sp_command_default_config(int nj, int lat);
// 0 or SP_EINVAL naming the bad field in msg (may be NULL).
int sp_command_check(const sp_command_config* cfg, char* msg, size_t msg_size);

// A network from seed (Xavier, last layer zero: a new h plays the prior's mean).
int sp_command_new(sp_command** out, const sp_command_config* cfg, uint64_t seed);
// A copy of h that also sees the previous action of nu entries (prev_action nu), its weights on the
// new inputs zero: it acts exactly as h until trained (fine-tuning on a robot with actuation
// latency, where the action still being applied is part of the state). SP_EINVAL when h already
// sees it or nu < 1.
int sp_command_with_prev_action(sp_command** out, const sp_command* h, int nu);
void sp_command_free(sp_command* h);

// Workspace for h driving the decoder of vae over rollouts of up to horizon steps of max_batch
// rows. SP_EINVAL when vae's joints or latent size are not h's.
int sp_command_data_new(sp_command_data** out, const sp_command* h, const sp_vae* vae,
                        int max_batch, int horizon);
void sp_command_data_free(sp_command_data* d);

// The command's features u(s, k) above (SP_COMMAND_NU) for one row s (nx), k (SP_COMMAND_NK).
void sp_command_features(double* u, const double* s, const double* k);

// The network's whole input row x (nin) = [f(s), u(s, k) (, sin(k[7]), cos(k[7]) with a clock)
// (, ap with the previous action)] for one state s (nx), command row k (h->nk) and previous action
// ap (prev_action entries, required then; ignored without).
void sp_command_input(const sp_command* h, double* x, const double* s, const double* k,
                      const double* ap);

// On the plant: actions a (batch x nu) and, unless NULL, latents z (batch x lat) from states s
// (batch x nx) and command rows k (batch x h->nk), with noise eps (batch x lat; NULL: the
// mean) and, for a network that sees it, the previous actions ap (batch x nu; NULL: the VAE's
// nominal action a_nom). Uses slot 0 of d. SP_EINVAL for another h's or VAE's workspace,
// SP_ERANGE for batch.
int sp_command_act(sp_command* h, sp_command_data* d, const sp_vae* vae, double* a, double* z,
                   const double* s, const double* k, const double* ap, const double* eps,
                   int batch);

// The training loss above through world model wm (its workspace wd holds >= H applications of
// batch rows): S0 (batch x nx) start states, K (batch x H x h->nk) the command row of each
// step, eps (batch x H x lat) latent noise (NULL: zero). Writes *loss and parts (SP_COMMAND_NPARTS,
// may be NULL): the discounted velocity, pose, upright and prior sums. backward: 0 or flags
// SP_COMMAND_GRAD_*: ACCUMULATES dloss/dparams into h's gradients and/or the VAE decoder's.
int sp_command_loss(sp_command* h, sp_command_data* d, sp_vae* vae, sp_wm* wm, sp_wm_data* wd,
                    double* loss, double* parts, const double* S0, const double* K,
                    const double* eps, int batch, int H, int backward);

// The same loss with the model corrected along recorded trajectories (on-policy model correction,
// Froehlich et al. 2022): R (batch x H x nx; NULL: none, sp_command_loss) holds for every row and
// step a constant added to the model's prediction,
//   s_k+1 = W(s_k, a_k) + R[k],   R[k] = s^rec_k+1 - W(s^rec_k, a^rec_k)
// for windows recorded on the robot (S0 = s^rec_0, K their commands): with the recorded actions
// each step lands on the recorded state (all but the orientation), so the model's bias along the
// recording is gone and the model only supplies how the states change when h acts otherwise. R's
// quaternion entries (3..6) are not used: the orientation integrates the corrected angular
// velocity (so over several steps the replay is close, not exact). The gradient is the model's:
// R does not depend on the parameters.
//
// A world model with history (engine/wm/wm.h) also takes each step's previous action: a_k-1 (h's
// own at the step before, its gradient flows back into that step) and, at k = 0, P0 (batch x nu),
// the action the robot held before s_0 (data, no gradient); P0 NULL: a_0 itself (no change).
// Without history P0 is ignored. A network with prev_action sees the same previous actions, its
// gradient flowing back into the step before, and at k = 0 P0 (NULL: the VAE's a_nom).
//
// N (batch x H x nx; NULL: none) is sensor noise: at step k the policy (the prior, h and the
// decoder) sees s_k + N[k] while the world model steps s_k, as on a robot whose sensors report
// its state with noise. N is data: the gradient flows through the policy's view into s_k.
int sp_command_loss_corrected(sp_command* h, sp_command_data* d, sp_vae* vae, sp_wm* wm,
                              sp_wm_data* wd, double* loss, double* parts, const double* S0,
                              const double* K, const double* R, const double* P0, const double* N,
                              const double* eps, int batch, int H, int backward);

// Save h (configuration, flat parameters) and, when opt is not NULL (opt->n must be h's nparams,
// its dtype h's), the optimiser's configuration and state, atomically:
//   "SPCMDNET" u32 version (3; 1 is read as without a clock, 2 without the previous action), the
//   configuration (version 2: clock last; 3: then prev_action, u32), u64 nparams, params (f64), u32
//   has_opt; when present: u32 kind, f64 lr momentum beta1 beta2 eps clip weight_decay, u64 t, u32
//   has_m u32 has_v, m and v (f64); u32 CRC-32. Little-endian.
int sp_command_save(const sp_command* h, const sp_optim* opt, const char* path, char* msg,
                    size_t msg_size);
// A network from a file, and its optimiser when opt is not NULL and the file holds one.
int sp_command_load(sp_command** out, sp_optim** opt, const char* path, char* msg, size_t msg_size);

SP_API_END

#endif  // SP_WM_COMMAND_H
