// bench_mlp.c: time one training step (zero_grad, forward, mean-squared-error gradient, backward,
// Adam) of two MLPs; the PyTorch twin is bench/torch_mlp.py, which prints the same names.
//   mlp_train_step_3x256_b256_f32       64-256-256-256-64 tanh, batch 256, float32
//   mlp_train_step_6x64x64x10_b{1,16}_{f32,f64}  6-64-64-10 tanh, a policy-sized net at the small
//                                       batches of online learning, in both precisions (float32
//                                       must never be slower than float64)
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

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

// median milliseconds of one training step of a tanh MLP (identity output) with these sizes
static int bench(const char* name, int nlayers, const int* sizes, sp_dtype dtype, int batch,
                 int reps) {
  sp_act acts[8];
  for (int l = 0; l < nlayers; l++) acts[l] = l + 1 < nlayers ? SP_ACT_TANH : SP_ACT_IDENTITY;
  int nin = sizes[0], nout = sizes[nlayers];
  sp_mlp* m;
  sp_optim* o;
  sp_optim_config c = sp_optim_adam_config(1e-3);
  if (sp_mlp_new(&m, nlayers, sizes, acts, dtype, batch) || sp_mlp_init(m, SP_INIT_XAVIER, 1) ||
      sp_optim_new(&o, &c, dtype, m->nparams)) {
    fprintf(stderr, "bench_mlp: cannot create the network\n");
    return 1;
  }
  size_t nx = (size_t)batch * nin, ny = (size_t)batch * nout;
  double *x = malloc(sizeof(double) * nx), *t = malloc(sizeof(double) * ny);
  double* gy = malloc(sizeof(double) * ny);
  float *xf = malloc(sizeof(float) * nx), *tf = malloc(sizeof(float) * ny);
  float* gyf = malloc(sizeof(float) * ny);
  double* times = malloc(sizeof(double) * (size_t)reps);
  if (!x || !t || !gy || !xf || !tf || !gyf || !times) return 1;
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  for (size_t i = 0; i < nx; i++) xf[i] = (float)(x[i] = sp_rng_normal(&r));
  for (size_t i = 0; i < ny; i++) tf[i] = (float)(t[i] = sp_rng_normal(&r));

  // one step: mean squared error against fixed targets, as the PyTorch twin computes it
  for (int k = -20; k < reps; k++) {
    double t0 = now_ms();
    sp_mlp_zero_grad(m);
    if (dtype == SP_F32) {
      sp_mlp_forward_f32(m, NULL, NULL, xf, batch);
      const float* y = sp_mlp_output(m, NULL);
      const float s = 2.0f / (float)ny;
      for (size_t i = 0; i < ny; i++) gyf[i] = s * (y[i] - tf[i]);
      sp_mlp_backward_f32(m, NULL, NULL, gyf);
    } else {
      sp_mlp_forward(m, NULL, NULL, x, batch);
      const double* y = sp_mlp_output(m, NULL);
      const double s = 2.0 / (double)ny;
      for (size_t i = 0; i < ny; i++) gy[i] = s * (y[i] - t[i]);
      sp_mlp_backward(m, NULL, NULL, gy);
    }
    sp_optim_step(o, m->params, m->grads);
    if (k >= 0) times[k] = now_ms() - t0;
  }
  qsort(times, (size_t)reps, sizeof *times, cmp);
  printf("%s %.4f\n", name, times[reps / 2]);
  free(times);
  free(gyf), free(tf), free(xf);
  free(gy), free(t), free(x);
  sp_optim_free(o);
  sp_mlp_free(m);
  return 0;
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 200;
  if (reps < 1) reps = 1;
  const int big[] = {64, 256, 256, 256, 64}, small[] = {6, 64, 64, 10};
  int rc = bench("mlp_train_step_3x256_b256_f32", 4, big, SP_F32, 256, reps);
  // small steps take microseconds: more repetitions for a stable median
  int sreps = 20 * reps;
  rc |= bench("mlp_train_step_6x64x64x10_b1_f32", 3, small, SP_F32, 1, sreps);
  rc |= bench("mlp_train_step_6x64x64x10_b1_f64", 3, small, SP_F64, 1, sreps);
  rc |= bench("mlp_train_step_6x64x64x10_b16_f32", 3, small, SP_F32, 16, sreps);
  rc |= bench("mlp_train_step_6x64x64x10_b16_f64", 3, small, SP_F64, 16, sreps);
  return rc;
}
