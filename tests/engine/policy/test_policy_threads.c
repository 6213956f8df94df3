// test_policy_threads.c: one policy and one model, shared read-only by several threads at once.
// Each thread rolls the car policy out on the car model (deterministic and with exploration noise)
// and takes method 1's gradient along its rollout, with its own workspaces; every trajectory and
// gradient is bitwise identical to the same work done serially, and neither the policy nor the
// model changes.
#include <pthread.h>

#include "../grad/grad_checks.h"
#include "engine/core/error.h"
#include "test.h"

#define NTHREADS 4
#define T 400

typedef struct job {
  const sp_policy* pol;
  const sp_model* model;
  const sp_objective* obj;
  pthread_barrier_t* start;  // NULL: run serially
  int id;
  int rc;
  sp_trajview det, noisy;  // the deterministic and the exploring rollout
  double* g;               // (nparams) the gradient along the deterministic rollout
} job;

static void* run(void* arg) {
  job* j = arg;
  sp_policy_data* pd = NULL;
  sp_model_data* md = NULL;
  j->rc = sp_policy_data_new(&pd, j->pol);
  if (!j->rc) j->rc = sp_model_data_new(&md, j->model);
  if (j->start) pthread_barrier_wait(j->start);
  // each thread its own start and its own noise stream
  double x0[4] = {0.1 * j->id, -0.1, 1.5 + 0.2 * j->id, 1.5};
  sp_policy_data_seed(pd, 100 + (uint64_t)j->id, 0);
  if (!j->rc) j->rc = sp_policy_rollout(&j->det, j->pol, pd, j->model, md, x0, 0, 0);
  if (!j->rc) j->rc = sp_policy_rollout(&j->noisy, j->pol, pd, j->model, md, x0, 0, 1);
  if (!j->rc) j->rc = sp_grad_feedback(j->g, NULL, j->pol, j->model, j->obj, &j->det, 0);
  sp_model_data_free(md);
  sp_policy_data_free(pd);
  return NULL;
}

static int jobs_new(job* js, const sp_policy* pol, const sp_model* m, const sp_objective* obj) {
  for (int i = 0; i < NTHREADS; i++) {
    js[i] = (job){.pol = pol, .model = m, .obj = obj, .id = i};
    if (sp_trajview_new(&js[i].det, T, 4, 2) || sp_trajview_new(&js[i].noisy, T, 4, 2)) return 1;
    if (!(js[i].g = sp_calloc(pol->nparams, sizeof(double)))) return 1;
  }
  return 0;
}

static void jobs_free(job* js) {
  for (int i = 0; i < NTHREADS; i++) {
    sp_trajview_free(&js[i].det);
    sp_trajview_free(&js[i].noisy);
    sp_free(js[i].g);
  }
}

static int same_traj(const sp_trajview* a, const sp_trajview* b) {
  return !memcmp(a->X, b->X, sizeof(double) * (T + 1) * 4) &&
         !memcmp(a->U, b->U, sizeof(double) * T * 2) &&
         !memcmp(a->t, b->t, sizeof(double) * (T + 1));
}

TEST(threads_rolling_out_one_policy_on_one_model_match_the_serial_run_bitwise) {
  sp_model* m;
  CHECK_INT(sp_model_new(&m, "car_drag", NULL, 0.02), 0);
  fixture f;
  CHECK_INT(car_fixture(&f, 16, 7, 1), 0);
  double sigma[2] = {0.05, 0.05};
  CHECK_INT(sp_policy_set_noise(f.pol, sigma), 0);
  sp_objective obj;
  sp_cost *c, *ct;
  CHECK_INT(car_objective(&obj, &c, &ct, f.task), 0);
  size_t np = f.pol->nparams;
  double* theta0 = sp_calloc(np, sizeof(double));
  memcpy(theta0, sp_policy_params(f.pol), sizeof(double) * np);
  double p0[8];
  memcpy(p0, m->p, sizeof(double) * (size_t)m->np);

  // serially, one job after the other
  job serial[NTHREADS], par[NTHREADS];
  CHECK_INT(jobs_new(serial, f.pol, m, &obj), 0);
  CHECK_INT(jobs_new(par, f.pol, m, &obj), 0);
  for (int i = 0; i < NTHREADS; i++) run(&serial[i]);

  // then all at once, released together
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, NTHREADS);
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    par[i].start = &start;
    CHECK_INT(pthread_create(&th[i], NULL, run, &par[i]), 0);
  }
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&start);

  for (int i = 0; i < NTHREADS; i++) {
    CHECK_INT(serial[i].rc, 0);
    CHECK_INT(par[i].rc, 0);
    CHECK(same_traj(&serial[i].det, &par[i].det));
    CHECK(same_traj(&serial[i].noisy, &par[i].noisy));
    CHECK(!memcmp(serial[i].g, par[i].g, sizeof(double) * np));
    CHECK(norm2(par[i].g, np) > 0);
    // the noise came from each workspace: exploring differs from the mean, threads differ
    CHECK(memcmp(par[i].det.U, par[i].noisy.U, sizeof(double) * T * 2) != 0);
    if (i > 0) CHECK(memcmp(par[i].det.X, par[0].det.X, sizeof(double) * (T + 1) * 4) != 0);
  }
  // the shared descriptions were only read
  CHECK(!memcmp(theta0, sp_policy_params(f.pol), sizeof(double) * np));
  CHECK(!memcmp(p0, m->p, sizeof(double) * (size_t)m->np));

  jobs_free(serial);
  jobs_free(par);
  sp_free(theta0);
  sp_cost_free(c);
  sp_cost_free(ct);
  fixture_free(&f);
  sp_model_free(m);
}

TEST(a_workspace_made_for_another_policy_is_refused) {
  fixture a, b;
  CHECK_INT(car_fixture(&a, 8, 1, 0), 0);
  CHECK_INT(car_fixture(&b, 8, 2, 0), 0);
  sp_policy_data* d;
  CHECK_INT(sp_policy_data_new(&d, a.pol), 0);
  double x[4] = {0, 0, 1, 0}, u[2];
  CHECK_INT(sp_policy_act(a.pol, d, u, x, 0), 0);
  CHECK_INT(sp_policy_act(b.pol, d, u, x, 0), SP_EINVAL);
  CHECK_INT(sp_policy_act(a.pol, NULL, u, x, 0), SP_EINVAL);
  sp_policy_data* none;
  CHECK_INT(sp_policy_data_new(&none, NULL), SP_EINVAL);
  CHECK(none == NULL);
  sp_policy_data_free(NULL);
  sp_policy_data_free(d);
  fixture_free(&a);
  fixture_free(&b);
}

TEST_MAIN()
