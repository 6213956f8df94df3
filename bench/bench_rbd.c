// bench_rbd.c: cost of the rigid-body algorithms (engine/rbd) on MuJoCo's humanoid sample and the
// 12-joint free-floating quadruped tree (robots/quadruped_tree.xml): RNEA, CRBA, ABA, the ABA
// derivatives (dqdd/dq, dqdd/dv, dqdd/dtau) and the exact step Jacobians A, B of the manifold
// semi-implicit Euler step, against MuJoCo's mjd_transitionFD (centred finite differences) on the
// same model in the same process. One JSON line per figure; timings are informative only.
// Both sides are timed the same way: the best of 5 batches in the calling thread's CPU time, so
// that other processes on a shared machine (preemption) do not enter the figures or the ratios.
// Robots are found under $SPINAL_SOURCE_DIR, else the current directory or its parent.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/rng.h"
#include "engine/rbd/rbd.h"
#include "hal/mjcf_rbd.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char* find_robot(const char* file, char* buf, size_t n) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  const char* dirs[] = {src ? src : ".", ".", ".."};
  for (int i = 0; i < 3; i++) {
    snprintf(buf, n, "%s/robots/%s", dirs[i], file);
    if (access(buf, R_OK) == 0) return buf;
  }
  return NULL;
}

static void line(const char* model, const char* figure, double us, const char* extra) {
  printf("{\"name\":\"rbd_%s\",\"model\":\"%s\",\"us\":%.3f%s}\n", figure, model, us,
         extra ? extra : "");
}

// CPU microseconds per call of a block: the best of 5 batches of reps / 5 calls (the machine is
// shared, so the minimum is the figure least disturbed by other processes)
#define TIME_US(reps, block)                  \
  ({                                          \
    double best_ = 1e300;                     \
    int n_ = (reps) / 5 > 0 ? (reps) / 5 : 1; \
    for (int b_ = 0; b_ < 5; b_++) {          \
      double t0_ = now();                     \
      for (int k_ = 0; k_ < n_; k_++) block;  \
      double dt_ = 1e6 * (now() - t0_) / n_;  \
      if (dt_ < best_) best_ = dt_;           \
    }                                         \
    best_;                                    \
  })

static int run(const char* name, const char* path) {
  sp_rbd* t;
  char msg[600];
  if (!path || sp_mjcf_rbd_load(&t, path, msg, sizeof msg)) {
    printf("{\"name\":\"rbd\",\"model\":\"%s\",\"error\":\"cannot load %s\"}\n", name,
           path ? path : "(not found)");
    return 1;
  }
  sp_rbd_data* d;
  if (sp_rbd_data_new(&d, t)) return 1;
  int nq = t->nq, nv = t->nv, nu = t->nu;
  double* w = calloc((size_t)(nq + 6 * nv + 4 * nv * nv + 4 * nv * (nv + nu) + nu), sizeof *w);
  double *q = w, *v = q + nq, *a = v + nv, *out = a + nv, *qn = out + nv, *vn = qn + nv;
  double *M = vn + nv, *G1 = M + nv * nv, *G2 = G1 + nv * nv, *G3 = G2 + nv * nv;
  double *A = G3 + nv * nv, *B = A + 4 * nv * nv, *u = B + 2 * nv * nu;
  sp_rng r;
  sp_rng_seed(&r, 3, 0);
  sp_rbd_neutral(t, q);
  sp_rng_fill_normal(&r, v, (size_t)nv, 0, 1);
  sp_rbd_integrate(t, q, q, v, 0.3);
  sp_rng_fill_normal(&r, v, (size_t)nv, 0, 1);
  sp_rng_fill_normal(&r, a, (size_t)nv, 0, 1);
  sp_rng_fill_uniform(&r, u, (size_t)nu, -1, 1);
  int reps = 20000;
  char extra[256];
  snprintf(extra, sizeof extra, ",\"nq\":%d,\"nv\":%d,\"nu\":%d", nq, nv, nu);
  double t_rnea = TIME_US(reps, sp_rbd_rnea(out, d, q, v, a));
  double t_crba = TIME_US(reps, sp_rbd_crba(M, d, q));
  double t_aba = TIME_US(reps, sp_rbd_aba(out, d, q, v, a));
  double t_drnea = TIME_US(reps / 4, sp_rbd_rnea_derivatives(G1, G2, d, q, v, a));
  double t_daba = TIME_US(reps / 4, sp_rbd_aba_derivatives(out, G1, G2, G3, NULL, d, q, v, a));
  double t_step = TIME_US(reps / 4, sp_rbd_step(qn, vn, A, B, NULL, d, q, v, u, 0.005));
  line(name, "rnea", t_rnea, extra);
  line(name, "crba", t_crba, extra);
  line(name, "aba", t_aba, extra);
  line(name, "rnea_derivatives", t_drnea, extra);
  line(name, "aba_derivatives", t_daba, extra);
  snprintf(extra, sizeof extra, ",\"ratio_to_aba\":%.2f,\"pinocchio_ratio\":3.9", t_daba / t_aba);
  line(name, "aba_derivatives_over_aba", t_daba, extra);
  line(name, "step_jacobians_analytic", t_step, NULL);
  int mnx = 0, mnu = 0;
  double s_fd = sp_mjcf_time_transition_fd(path, 200, 3, &mnx, &mnu);
  if (s_fd > 0) {
    snprintf(extra, sizeof extra, ",\"nx\":%d,\"nu\":%d", mnx, mnu);
    line(name, "mujoco_transition_fd", 1e6 * s_fd, extra);
    snprintf(extra, sizeof extra, ",\"speedup\":%.2f", 1e6 * s_fd / t_step);
    line(name, "step_jacobians_analytic_vs_mujoco_fd", t_step, extra);
  }
  free(w);
  sp_rbd_data_free(d);
  sp_rbd_free(t);
  return 0;
}

int main(void) {
  char buf[1024];
  int rc = 0;
  rc |= run("humanoid", "/usr/share/mujoco/model/humanoid/humanoid.xml");
  rc |= run("quadruped_tree", find_robot("quadruped_tree.xml", buf, sizeof buf));
  return rc;
}
