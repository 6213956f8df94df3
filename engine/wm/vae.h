// vae.h: method 2's VAE-structured motion policy, trained by backpropagation through the world
// model (Shi et al., arXiv 2403.01962; the structure of ControlVAE, Yao et al. 2022).
//
// Three MLPs over the state features f(s) = [p_z, R(q)^T e_z, v, w, qj, qd] (nf = 10 + 2 nj, as the
// world model's, not normalised) with the world model's state layout (engine/wm/wm.h):
//   prior     mu_p = P(f(s))                                        p(z | s) = N(mu_p, sigma^2 I)
//   encoder   mu_q = mu_p + E(f(s), c)                              q(z | s, c) = N(mu_q, sigma^2
//   I) decoder   a = a_nom + D(f(s), z)                                the motor policy (PD targets
//   as
//                                                                   a residual on a nominal pose)
// c (nc per step) conditions the encoder on the motion to track: future reference frames as the
// caller encodes them (e.g. clip windows at 1/30, 1/15, 1/3 and 1 s ahead expressed relative to the
// start; it is data, no gradient flows into it). z = mu_q + sigma eps (reparameterised; eps given).
// With a fixed sigma shared by prior and posterior, KL(q || p) = |E|^2 / (2 sigma^2).
//
// Training through the world model W (sp_vae_loss): from recorded start states s_0, for k < H
//   z_k = mu_q(s_k, c_k) + sigma eps_k,  a_k = a_nom + D(f(s_k), z_k),  s_k+1 = W(s_k, a_k)
//   loss = (1/B) sum_rows sum_k gamma^k [ sum_c w_c e_c(s_k+1, r_k+1) + w_h |p_z - r_z|
//          + w_up |R(q)^T e_z - R(q_r)^T e_z|_1 / 3 + w_a1 |a_k - a_nom|_1 / nu
//          + w_a2 |a_k - a_nom|^2 / nu + beta |E_k|^2 / (2 sigma^2) ]
// with e_c the world model's per-coordinate mean errors (position, orientation angle, velocities,
// joints, joint velocities) against the reference states r. The backward pass runs through the H
// applications of the world model into the three networks (the world model's own parameters are
// not touched) and ACCUMULATES into the policy's gradients.
//
// Parameters of the three networks live in one flat vector (prior, encoder, decoder), so one
// optimiser steps them all. Only sp_vae_new and sp_vae_data_new allocate.
#ifndef SP_WM_VAE_H
#define SP_WM_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/export.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"
#include "engine/wm/wm.h"

SP_API_BEGIN

#define SP_VAE_MAXACT 64

enum { SP_VAE_TRACKING = 0, SP_VAE_ACTION, SP_VAE_KL, SP_VAE_NPARTS };

typedef struct sp_vae_config {
  int nj, nu;                   // joints and actions, as the world model's
  int nc;                       // conditioning entries per step, >= 1
  int lat;                      // latent size, >= 1
  int hidden;                   // hidden width of every network
  int layers;                   // hidden layers of every network, >= 1
  sp_act act;                   // hidden activation
  sp_dtype dtype;               // SP_F32 or SP_F64
  double sigma;                 // fixed posterior and prior standard deviation, > 0
  double a_nom[SP_VAE_MAXACT];  // (nu) nominal action (pose) the decoder is a residual on
  double track[SP_WM_NCOMP];    // tracking weights per world-model component, >= 0
  double height, up;            // weights of the height and up-direction errors
  double act_l1, act_l2;        // action penalties
  double beta;                  // KL weight
  double gamma;                 // per-step discount in (0, 1]
} sp_vae_config;

typedef struct sp_vae {
  sp_vae_config cfg;
  int nf;
  sp_mlp* prior;   // nf -> lat
  sp_mlp* enc;     // nf + nc -> lat
  sp_mlp* dec;     // nf + lat -> nu
  size_t nparams;  // of all three
  void* params;    // (nparams) prior, encoder, decoder; in dtype
  void* grads;     // (nparams)
} sp_vae;

typedef struct sp_vae_data {
  const sp_vae* vae;
  int max_batch, horizon;
  sp_mlp_work **wp, **we, **wd;  // (horizon) each
  double* S;                     // ((horizon + 1) x max_batch x nx) states
  double* A;                     // (horizon x max_batch x nu) actions
  double* Eo;                    // (horizon x max_batch x lat) encoder outputs
  double* x;   // (max_batch x (nf + max(nc, lat))) network inputs / input gradients
  double* y;   // (max_batch x max(lat, nu)) outputs / output gradients
  double* mp;  // (max_batch x lat) prior means
  double* gz;  // (max_batch x lat)
  double* gf;  // (max_batch x nf)
  double* ga;  // (max_batch x nu)
  double* G;   // (2 x max_batch x nx)
  double* c;   // (max_batch x nc) one step's conditioning
} sp_vae_data;

// Defaults: lat 32, 2 hidden layers of 256 elu, float32, sigma 0.3, a_nom 0, tracking weights
// position 0.2, orientation 0.1, velocity 0.5, angular velocity 0.5, joints 1, joint velocities
// 0.1, height 1.2, up 3, act_l1 0.01, act_l2 0.001, beta 0.01, gamma 0.95 (METHODS.md's ControlVAE
// starting points).
sp_vae_config sp_vae_default_config(int nj, int nu, int nc);
int sp_vae_check(const sp_vae_config* cfg, char* msg, size_t msg_size);

// Networks from seed (Xavier; the decoder's and encoder's last layers zero: the first policy plays
// a_nom and the posterior equals the prior).
int sp_vae_new(sp_vae** out, const sp_vae_config* cfg, uint64_t seed);
void sp_vae_free(sp_vae* v);
void sp_vae_zero_grad(sp_vae* v);

int sp_vae_data_new(sp_vae_data** out, const sp_vae* v, int max_batch, int horizon);
void sp_vae_data_free(sp_vae_data* d);

// The policy on the plant: a (batch x nu) from s (batch x nx) and, for the posterior, c (batch x
// nc; NULL: the prior), with noise eps (batch x lat; NULL: the mean). Uses slot 0 of d.
int sp_vae_act(sp_vae* v, sp_vae_data* d, double* a, const double* s, const double* c,
               const double* eps, int batch);

// The latent's means without the decoder: mu_p (batch x lat) the prior's and, unless NULL, mu_q
// (batch x lat) the posterior's for conditioning c (batch x nc; NULL: mu_q = mu_p). Uses slot 0 of
// d. (The targets of a network that learns to produce the posterior's latents from other inputs.)
int sp_vae_latent(sp_vae* v, sp_vae_data* d, double* mu_q, double* mu_p, const double* s,
                  const double* c, int batch);

// The training loss above through world model wm (its workspace wd holds >= H applications of
// batch rows): S0 (batch x nx) start states, C (batch x H x nc) conditioning, R (batch x H x nx)
// reference states after each step, eps (batch x H x lat) noise (NULL: zero). Writes *loss and
// parts (SP_VAE_NPARTS, may be NULL): the discounted tracking, action and beta-weighted KL sums.
// With backward set, ACCUMULATES dloss/dparams into v->grads. SP_EINVAL for a model with history
// (the imitation's rollouts have no previous actions; h's do, engine/wm/command.h).
int sp_vae_loss(sp_vae* v, sp_vae_data* d, sp_wm* wm, sp_wm_data* wd, double* loss, double* parts,
                const double* S0, const double* C, const double* R, const double* eps, int batch,
                int H, int backward);

// Save the policy (configuration and the flat parameters) and, when opt is not NULL (opt->n must be
// v->nparams, its dtype v's), the optimiser's configuration and state, atomically:
//   "SPVAEPOL" u32 version (1), the configuration, u64 nparams, params (f64), u32 has_opt;
//   when present: u32 kind, f64 lr momentum beta1 beta2 eps clip weight_decay, u64 t,
//   u32 has_m u32 has_v, m and v (f64); u32 CRC-32. Little-endian.
int sp_vae_save(const sp_vae* v, const struct sp_optim* opt, const char* path, char* msg,
                size_t msg_size);
// A new policy from a file, and its optimiser when opt is not NULL and the file holds one (*opt is
// NULL otherwise).
int sp_vae_load(sp_vae** out, struct sp_optim** opt, const char* path, char* msg, size_t msg_size);

SP_API_END

#endif  // SP_WM_VAE_H
