// bench_wm.c: time one world-model training batch and one VAE-policy training batch (method 2,
// docs/method2.md) at the default sizes of engine/wm; the PyTorch twins are in bench/torch_wm.py,
// which prints the same names.
//   wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32
//       zero_grad, the 8-step autoregressive loss of a 12-joint floating-base model (3 x 256 elu,
//       float32) on 256 windows, backward through the 8 applications, Adam
//   vae_train_batch_nx37_nu12_hid256_layers2_lat32_b256_h24_f32
//       zero_grad, the VAE policy (prior, encoder with 4 frames of conditioning, decoder) rolled
//       24 steps inside that world model, backward into the policy, Adam
// Each prints one JSON line with its sizes (nx, nu, hid, layers, lat, batch, horizon), spinal_ms
// (the median wall time), spinal_cpu_ms (the median CPU time of the thread: on a shared machine,
// the cost without the scheduler's share), the matrix products' work per batch (gflop: 2 m n k
// per product, forward and backward) and the rate it achieves in wall and CPU time (gflops,
// cpu_gflops), against this CPU's single-thread sgemm peak measured here first
// (sgemm_peak_gflops: the best of square 512 products through sp_gemm_f32; peak_fraction and
// cpu_peak_fraction: the rates over the peak). bench/run adds the PyTorch reference (reference_ms,
// reference_cpu_ms) and the ratios (ratio of the wall times, cpu_ratio of the CPU times). Never
// fails on timing. Usage: bench_wm [repetitions [wm|vae|peak]]. Threads: OPENBLAS_NUM_THREADS
// (bench/run sets it).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/core/rng.h"
#include "engine/la/quat.h"
#include "engine/nn/gemm.h"
#include "engine/nn/optim.h"
#include "engine/wm/vae.h"
#include "engine/wm/wm.h"

enum { NJ = 12, NU = 12, NX = 13 + 2 * NJ, B = 256, N = 8, H = 24, NC = 4 * NX, LAT = 32 };

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

// CPU time of this thread: what the batch cost when the machine is shared (the scheduler's share
// of the core does not enter it)
static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp);
  return t[n / 2];
}

// random states: unit quaternions, everything else standard normal
static void states(sp_rng* r, double* s, int n) {
  for (int i = 0; i < n; i++) {
    sp_rng_fill_normal(r, s + (size_t)i * NX, NX, 0, 1);
    sp_quat_normalize(s + (size_t)i * NX + 3);
  }
}

// floating-point operations of one forward pass of net over batch rows: 2 m n k per layer
static double fwd_flop(const sp_mlp* net, int batch) {
  double f = 0;
  for (int l = 0; l < net->nlayers; l++)
    f += 2.0 * batch * net->layers[l].nin * net->layers[l].nout;
  return f;
}

// this CPU's single-thread sgemm peak (GFLOP/s): the best rate of 40 square products of 512 (the
// best, not the median: a product the scheduler did not interrupt; 512 is past the sizes where
// the kernel reaches its top rate on this machine, 1024 measures the same). Through sp_gemm_f32,
// the path the networks take (spinal's AVX-512 kernel where it runs, cblas_sgemm otherwise)
static double sgemm_peak(void) {
  enum { M = 512 };
  float* a = malloc(sizeof(float) * M * M * 3);
  if (!a) return 0;
  for (size_t i = 0; i < (size_t)M * M * 3; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f;
  double best = 0;
  for (int k = 0; k < 40; k++) {
    double t0 = now_ms();
    sp_gemm_f32(0, 1, M, M, M, a, M, a + M * M, M, 0, a + 2 * M * M, M);
    double g = 2.0 * M * M * M / ((now_ms() - t0) * 1e6);
    if (g > best) best = g;
  }
  free(a);
  return best;
}

static double load_avg(void) {
  double l = -1;
  FILE* f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

static void report(const char* name, int hid, int layers, int lat, int horizon, double ms,
                   double cpu, double flop, double peak) {
  double gflops = flop / (ms * 1e6), cpu_gflops = flop / (cpu * 1e6);
  char latent[16] = "null";  // the world model has no latent
  if (lat) snprintf(latent, sizeof latent, "%d", lat);
  printf(
      "{\"name\":\"%s\",\"nx\":%d,\"nu\":%d,\"hid\":%d,\"layers\":%d,\"lat\":%s,\"batch\":%d,"
      "\"horizon\":%d,\"spinal_ms\":%.4f,\"spinal_cpu_ms\":%.4f,\"gflop\":%.4f,\"gflops\":%.2f,"
      "\"cpu_gflops\":%.2f,\"sgemm_peak_gflops\":%.2f,\"peak_fraction\":%.3f,"
      "\"cpu_peak_fraction\":%.3f,\"load_avg\":%.2f}\n",
      name, NX, NU, hid, layers, latent, B, horizon, ms, cpu, flop * 1e-9, gflops, cpu_gflops, peak,
      peak > 0 ? gflops / peak : 0, peak > 0 ? cpu_gflops / peak : 0, load_avg());
  fflush(stdout);
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 20;
  const char* which = argc > 2 ? argv[2] : "all";
  if (reps < 1) reps = 1;
  int all = !strcmp(which, "all");
  double peak = sgemm_peak();
  if (!strcmp(which, "peak")) {
    printf("sgemm_peak_gflops %.2f\n", peak);
    return 0;
  }
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
  double* cpus = malloc(sizeof(double) * (size_t)reps);
  if (!S || !A || !times || !cpus || sp_wm_new(&wm, &wc, 1) || sp_wm_data_new(&wd, wm, B, H) ||
      sp_optim_new(&o, &oc, SP_F32, wm->net->nparams)) {
    fprintf(stderr, "bench_wm: cannot create the world model\n");
    return 1;
  }
  states(&r, S, B * (N + 1));
  sp_rng_fill_normal(&r, A, B * N * NU, 0, 1);
  sp_wm_observe(wm, S, A, S + NX, B);
  double L;
  if (all || !strcmp(which, "wm")) {
    for (int k = -3; k < reps; k++) {
      double t0 = now_ms(), c0 = cpu_ms();
      sp_mlp_zero_grad(wm->net);
      sp_wm_rollout_loss(wm, wd, &L, NULL, NULL, S, A, B, N, 1);
      sp_optim_step(o, wm->net->params, wm->net->grads);
      if (k >= 0) times[k] = now_ms() - t0, cpus[k] = cpu_ms() - c0;
    }
    // per application: forward, parameter gradients and input gradients
    report("wm_train_batch_nx37_nu12_hid256_layers3_b256_n8_f32", wc.hidden, wc.layers, 0, N,
           median(times, reps), median(cpus, reps), N * 3 * fwd_flop(wm->net, B), peak);
  }

  if (all || !strcmp(which, "vae")) {
    // the policy through the world model
    sp_vae_config vc = sp_vae_default_config(NJ, NU, NC);
    sp_vae* v;
    sp_vae_data* vd;
    sp_optim* po;
    double* S0 = malloc(sizeof(double) * B * NX);
    double* C = malloc(sizeof(double) * B * H * NC);
    double* R = malloc(sizeof(double) * B * H * NX);
    double* E = malloc(sizeof(double) * B * H * LAT);
    if (!S0 || !C || !R || !E || sp_vae_new(&v, &vc, 2) || sp_vae_data_new(&vd, v, B, H) ||
        sp_optim_new(&po, &oc, SP_F32, v->nparams)) {
      fprintf(stderr, "bench_wm: cannot create the policy\n");
      return 1;
    }
    states(&r, S0, B);
    states(&r, R, B * H);
    sp_rng_fill_normal(&r, C, (size_t)B * H * NC, 0, 1);
    sp_rng_fill_normal(&r, E, (size_t)B * H * LAT, 0, 1);
    for (int k = -2; k < reps; k++) {
      double t0 = now_ms(), c0 = cpu_ms();
      sp_vae_zero_grad(v);
      sp_vae_loss(v, vd, wm, wd, &L, NULL, S0, C, R, E, B, H, 1);
      sp_optim_step(po, v->params, v->grads);
      if (k >= 0) times[k] = now_ms() - t0, cpus[k] = cpu_ms() - c0;
    }
    // per step: the three policy networks forward, parameter and input gradients; the world model
    // forward and input gradients
    double pol = fwd_flop(v->prior, B) + fwd_flop(v->enc, B) + fwd_flop(v->dec, B);
    report("vae_train_batch_nx37_nu12_hid256_layers2_lat32_b256_h24_f32", vc.hidden, vc.layers,
           vc.lat, H, median(times, reps), median(cpus, reps),
           H * (3 * pol + 2 * fwd_flop(wm->net, B)), peak);
    sp_optim_free(po);
    sp_vae_data_free(vd);
    sp_vae_free(v);
    free(S0), free(C), free(R), free(E);
  }
  sp_optim_free(o);
  sp_wm_data_free(wd);
  sp_wm_free(wm);
  free(S), free(A), free(times), free(cpus);
  return 0;
}
