// bench_ppo.c: PPO's speed (engine/rl, hal/vecenv; docs/ppo.md).
//   ppo_update_obs49_act12_hid512-256-128_n6144_mb1536_e5_f32
//       one sp_ppo_update: bootstrap values, GAE, advantage normalisation, 5 epochs of 4 shuffled
//       minibatches of 1536 (actor and critic 512-256-128 elu in float32, clipped surrogate and
//       value loss, entropy, KL-adaptive lr, Adam with the gradient norm clipped) on a rollout of
//       256 environments x 24 steps; bench/torch_ppo.py is its PyTorch twin (same name). JSON:
//       spinal_ms (median wall time) and spinal_cpu_ms (median CPU time of the thread: with one
//       thread, the figure a shared machine disturbs least); bench/run adds the reference's
//       reference_ms and reference_cpu_ms and the ratios (ratio, cpu_ratio; target <= 0.8).
//       Spinal's products run through its AVX-512 kernel on a CPU that has it and one BLAS
//       thread (engine/nn/gemm.h), PyTorch's through OpenBLAS, which picks its kernel by CPU
//       (OPENBLAS_CORETYPE overrides that, for both; docs/ppo.md compares the two)
//   ppo_rollout_quadruped_envs64: JSON line: control steps per second of 64 quadrupeds
//       (hal/vecenv: joint PD at 1 kHz, 20 physics steps per 50 Hz step, observation, reward,
//       resets) with the PPO policy's batched inference and sampling (sp_ppo_collect/record), next
//       to raw mj_step of the same model and the same 64 data on the same threads (20 mj_step per
//       control step, ctrl held); ratio = rollout / raw (target >= 0.7)
// Usage: bench_ppo [repetitions]. Threads: BENCH_THREADS (the worker pool), OPENBLAS_NUM_THREADS.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/rng.h"
#include "engine/rl/ppo.h"
#include "hal/vecenv.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static const char* find_robot(const char* exe, char* buf, size_t n) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  char exedir[900];
  snprintf(exedir, sizeof exedir, "%s", exe);
  char* slash = strrchr(exedir, '/');
  if (slash)
    snprintf(slash, sizeof exedir - (size_t)(slash - exedir), "/../..");
  else
    snprintf(exedir, sizeof exedir, "..");
  const char* dirs[] = {src ? src : ".", ".", "..", exedir};
  for (int i = 0; i < 4; i++) {
    snprintf(buf, n, "%s/robots/quadruped.xml", dirs[i]);
    if (access(buf, R_OK) == 0) return buf;
  }
  return NULL;
}

enum { NO = 49, NA = 12 };

// fill a rollout of random observations and rewards
static void collect(sp_ppo* p, sp_rng* r, double* obs, double* a, double* rew, double* done) {
  int n = p->cfg.nenvs;
  for (int t = 0; t < p->cfg.nsteps; t++) {
    sp_rng_fill_normal(r, obs, (size_t)n * NO, 0, 1);
    sp_ppo_collect(p, a, obs);
    for (int i = 0; i < n; i++) rew[i] = 0.1 * a[(size_t)i * NA] + 0.01 * sp_rng_normal(r);
    for (int i = 0; i < n; i++) done[i] = sp_rng_uniform(r) < 0.01;
    sp_ppo_record(p, rew, done, NULL);
  }
  sp_rng_fill_normal(r, obs, (size_t)n * NO, 0, 1);
}

int main(int argc, char** argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1) reps = 1;
  const char* th = getenv("BENCH_THREADS");
  int threads = th ? atoi(th) : 1;
  if (threads < 1) threads = 1;

  // ---- the update ----
  enum { NE = 256, NS = 24 };
  sp_ppo_config c = sp_ppo_default_config(NO, NA, NE, NS);
  sp_ppo* p;
  double* obs = malloc(sizeof(double) * NE * NO);
  double* a = malloc(sizeof(double) * NE * NA);
  double* rew = malloc(sizeof(double) * NE * 2);
  double* times = malloc(sizeof(double) * (size_t)reps);
  double* cpus = malloc(sizeof(double) * (size_t)reps);
  if (!obs || !a || !rew || !times || !cpus || sp_ppo_new(&p, &c, 1)) {
    fprintf(stderr, "bench_ppo: cannot create the agent\n");
    return 1;
  }
  sp_rng r;
  sp_rng_seed(&r, 1, 0);
  for (int k = -1; k < reps; k++) {
    collect(p, &r, obs, a, rew, rew + NE);
    double t0 = now(), c0 = cpu_now();
    sp_ppo_update(p, obs);
    if (k >= 0) times[k] = 1e3 * (now() - t0), cpus[k] = 1e3 * (cpu_now() - c0);
  }
  qsort(times, (size_t)reps, sizeof *times, cmp);
  qsort(cpus, (size_t)reps, sizeof *cpus, cmp);
  printf(
      "{\"name\":\"ppo_update_obs49_act12_hid512-256-128_n6144_mb1536_e5_f32\",\"spinal_ms\":%.4f,"
      "\"spinal_cpu_ms\":%.4f,\"target\":0.8}\n",
      times[reps / 2], cpus[reps / 2]);
  fflush(stdout);
  sp_ppo_free(p);
  free(obs), free(a), free(rew), free(times), free(cpus);

  // ---- the rollout against raw stepping ----
  enum { NV = 64, STEPS = 50 };
  char buf[1024];
  const char* path = find_robot(argv[0], buf, sizeof buf);
  if (!path) {
    fprintf(stderr, "bench_ppo: robots/quadruped.xml not found (set SPINAL_SOURCE_DIR)\n");
    return 0;
  }
  sp_vecenv_config vc = sp_vecenv_default_config(path, NV, threads, 1);
  sp_vecenv* v;
  char msg[256];
  c = sp_ppo_default_config(NO, NA, NV, STEPS);
  if (sp_vecenv_new(&v, &vc, msg, sizeof msg) || sp_ppo_new(&p, &c, 1)) {
    fprintf(stderr, "bench_ppo: %s\n", msg);
    return 1;
  }
  double *o = malloc(sizeof(double) * NV * NO), *act = malloc(sizeof(double) * NV * NA);
  double* rw = malloc(sizeof(double) * NV * 3);
  double best_roll = 0, best_raw = 0;
  for (int k = 0; k < 3; k++) {
    sp_vecenv_reset(v, (uint64_t)k + 1, o);
    double t0 = now();
    for (int t = 0; t < STEPS; t++) {
      sp_ppo_collect(p, act, o);
      sp_vecenv_step(v, o, rw, rw + NV, rw + 2 * NV, act);
      sp_ppo_record(p, rw, rw + NV, rw + 2 * NV);
    }
    double roll = NV * STEPS / (now() - t0);
    p->t = 0;  // drop the rollout: no update here
    t0 = now();
    for (int t = 0; t < STEPS; t++) sp_vecenv_step_raw(v);
    double raw = NV * STEPS / (now() - t0);
    if (roll > best_roll) best_roll = roll;
    if (raw > best_raw) best_raw = raw;
  }
  printf(
      "{\"name\":\"ppo_rollout_quadruped_envs%d\",\"envs\":%d,\"substeps\":%d,\"policy\":"
      "\"512-256-128 f32\",\"rollout_steps_per_s\":%.1f,\"raw_mj_step_steps_per_s\":%.1f,"
      "\"ratio\":%.3f,\"target\":0.7,\"threads\":%d}\n",
      NV, NV, vc.substeps, best_roll, best_raw, best_roll / best_raw, threads);
  sp_ppo_free(p);
  sp_vecenv_free(v);
  free(o), free(act), free(rw);
  return 0;
}
