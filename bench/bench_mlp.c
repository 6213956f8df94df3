// bench_mlp.c: time one training step (forward + backward + Adam) of an MLP with three hidden
// layers of 256 tanh units, batch 256, float32; the PyTorch twin is bench/torch_mlp.py.
//
// Prints "name median_ms" per benchmark; bench/run turns that into JSON next to the reference.
// Usage: bench_mlp [repetitions]. Threads: whatever OPENBLAS_NUM_THREADS says (bench/run sets it).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/core/rng.h"
#include "engine/nn/init.h"
#include "engine/nn/mlp.h"
#include "engine/nn/optim.h"

enum { NIN = 64, HID = 256, NOUT = 64, BATCH = 256 };

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 200;
  if (reps < 1) reps = 1;
  int sizes[] = {NIN, HID, HID, HID, NOUT};
  sp_act acts[] = {SP_ACT_TANH, SP_ACT_TANH, SP_ACT_TANH, SP_ACT_IDENTITY};
  sp_mlp* m;
  sp_optim* o;
  sp_optim_config c = sp_optim_adam_config(1e-3);
  if (sp_mlp_new(&m, 4, sizes, acts, SP_F32, BATCH) || sp_mlp_init(m, SP_INIT_XAVIER, 1) ||
      sp_optim_new(&o, &c, SP_F32, m->nparams)) {
    fprintf(stderr, "bench_mlp: cannot create the network\n");
    return 1;
  }
  float* x = malloc(sizeof(float) * BATCH * NIN);
  float* t = malloc(sizeof(float) * BATCH * NOUT);
  float* gy = malloc(sizeof(float) * BATCH * NOUT);
  double* times = malloc(sizeof(double) * (size_t)reps);
  if (!x || !t || !gy || !times) return 1;
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  for (int i = 0; i < BATCH * NIN; i++) x[i] = (float)sp_rng_normal(&r);
  for (int i = 0; i < BATCH * NOUT; i++) t[i] = (float)sp_rng_normal(&r);

  // one step: mean squared error against fixed targets, as the PyTorch twin computes it
  for (int k = -20; k < reps; k++) {
    double t0 = now_ms();
    sp_mlp_zero_grad(m);
    sp_mlp_forward_f32(m, NULL, NULL, x, BATCH);
    const float* y = sp_mlp_output(m, NULL);
    const float s = 2.0f / (BATCH * NOUT);
    for (int i = 0; i < BATCH * NOUT; i++) gy[i] = s * (y[i] - t[i]);
    sp_mlp_backward_f32(m, NULL, NULL, gy);
    sp_optim_step(o, m->params, m->grads);
    if (k >= 0) times[k] = now_ms() - t0;
  }
  qsort(times, (size_t)reps, sizeof *times, cmp);
  printf("mlp_train_step_3x256_b256_f32 %.4f\n", times[reps / 2]);
  free(times);
  free(gy);
  free(t);
  free(x);
  sp_optim_free(o);
  sp_mlp_free(m);
  return 0;
}
