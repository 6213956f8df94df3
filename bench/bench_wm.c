// bench_wm.c: time one world-model training batch and one VAE-policy training batch (method 2,
// docs/method2.md) at the default sizes of engine/wm; the PyTorch twin of the first is
// bench/torch_wm.py, which prints the same name.
//   wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32
//       zero_grad, the 8-step autoregressive loss of a 12-joint floating-base model (3 x 256 elu,
//       float32) on 256 windows, backward through the 8 applications, Adam
//   vae_train_batch_nx37_nu12_hid256_layers2_lat32_b256_h24_f32
//       zero_grad, the VAE policy (prior, encoder with 4 frames of conditioning, decoder) rolled
//       24 steps inside that world model, backward into the policy, Adam
// The sizes are in the names. Prints "name median_ms"; bench/run adds the reference.
// Usage: bench_wm [repetitions]. Threads: OPENBLAS_NUM_THREADS (bench/run sets it).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/core/rng.h"
#include "engine/la/quat.h"
#include "engine/nn/optim.h"
#include "engine/wm/vae.h"
#include "engine/wm/wm.h"

enum { NJ = 12, NU = 12, NX = 13 + 2 * NJ, B = 256, N = 8, H = 24, NC = 4 * NX };

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

// random states: unit quaternions, everything else standard normal
static void states(sp_rng* r, double* s, int n) {
  for (int i = 0; i < n; i++) {
    sp_rng_fill_normal(r, s + (size_t)i * NX, NX, 0, 1);
    sp_quat_normalize(s + (size_t)i * NX + 3);
  }
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 20;
  if (reps < 1) reps = 1;
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  sp_wm_config wc = sp_wm_default_config(NJ, NU, 0.02);
  sp_wm* wm;
  sp_wm_data* wd;
  sp_optim* o;
  sp_optim_config oc = sp_optim_adam_config(1e-3);
  double* S = malloc(sizeof(double) * B * (N + 1) * NX);
  double* A = malloc(sizeof(double) * B * N * NU);
  double* times = malloc(sizeof(double) * (size_t)reps);
  if (!S || !A || !times || sp_wm_new(&wm, &wc, 1) || sp_wm_data_new(&wd, wm, B, H) ||
      sp_optim_new(&o, &oc, SP_F32, wm->net->nparams)) {
    fprintf(stderr, "bench_wm: cannot create the world model\n");
    return 1;
  }
  states(&r, S, B * (N + 1));
  sp_rng_fill_normal(&r, A, B * N * NU, 0, 1);
  sp_wm_observe(wm, S, A, S + NX, B);
  double L;
  for (int k = -3; k < reps; k++) {
    double t0 = now_ms();
    sp_mlp_zero_grad(wm->net);
    sp_wm_rollout_loss(wm, wd, &L, NULL, NULL, S, A, B, N, 1);
    sp_optim_step(o, wm->net->params, wm->net->grads);
    if (k >= 0) times[k] = now_ms() - t0;
  }
  qsort(times, (size_t)reps, sizeof *times, cmp);
  printf("wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32 %.4f\n", times[reps / 2]);
  fflush(stdout);

  // the policy through the world model
  sp_vae_config vc = sp_vae_default_config(NJ, NU, NC);
  sp_vae* v;
  sp_vae_data* vd;
  sp_optim* po;
  double* S0 = malloc(sizeof(double) * B * NX);
  double* C = malloc(sizeof(double) * B * H * NC);
  double* R = malloc(sizeof(double) * B * H * NX);
  double* E = malloc(sizeof(double) * B * H * 32);
  if (!S0 || !C || !R || !E || sp_vae_new(&v, &vc, 2) || sp_vae_data_new(&vd, v, B, H) ||
      sp_optim_new(&po, &oc, SP_F32, v->nparams)) {
    fprintf(stderr, "bench_wm: cannot create the policy\n");
    return 1;
  }
  states(&r, S0, B);
  states(&r, R, B * H);
  sp_rng_fill_normal(&r, C, (size_t)B * H * NC, 0, 1);
  sp_rng_fill_normal(&r, E, (size_t)B * H * 32, 0, 1);
  for (int k = -2; k < reps; k++) {
    double t0 = now_ms();
    sp_vae_zero_grad(v);
    sp_vae_loss(v, vd, wm, wd, &L, NULL, S0, C, R, E, B, H, 1);
    sp_optim_step(po, v->params, v->grads);
    if (k >= 0) times[k] = now_ms() - t0;
  }
  qsort(times, (size_t)reps, sizeof *times, cmp);
  printf("vae_train_batch_nx37_nu12_hid256_layers2_lat32_b256_h24_f32 %.4f\n", times[reps / 2]);
  sp_optim_free(po);
  sp_vae_data_free(vd);
  sp_vae_free(v);
  sp_optim_free(o);
  sp_wm_data_free(wd);
  sp_wm_free(wm);
  free(S0), free(C), free(R), free(E), free(S), free(A), free(times);
  return 0;
}
