// test_checkpoint.c: a policy saved whole (engine/policy/checkpoint.c): an exact round trip of
// parameters, optimiser state, exploration noise and rng (so a resumed run continues exactly),
// the description rebuilt from the file alone, and refusal of another policy's file naming the
// field, with nothing changed.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/nn/checkpoint.h"
#include "engine/nn/optim.h"
#include "engine/policy/checkpoint.h"
#include "policy_fixtures.h"
#include "test.h"

static char dir[64];
static char path[128];

static void fresh_dir(void) {
  strcpy(dir, "/tmp/spinal_pol_XXXXXX");
  if (!mkdtemp(dir)) dir[0] = 0;
  snprintf(path, sizeof path, "%s/policy.ckpt", dir);
}

static void remove_dir(void) {
  unlink(path);
  rmdir(dir);
}

// one Adam step on the policy's parameters with a fixed gradient
static void step(sp_optim* o, sp_policy* p) {
  double* g = calloc(p->nparams, sizeof(double));
  for (size_t i = 0; i < p->nparams; i++) g[i] = 0.01 * (double)((i % 7) - 3);
  sp_optim_step(o, sp_policy_params(p), g);
  free(g);
}

TEST(a_saved_policy_continues_exactly_after_a_load) {
  fresh_dir();
  fixture a, b;
  CHECK_INT(car_fixture(&a, 8, 3, 0), 0);
  CHECK_INT(car_fixture(&b, 8, 99, 0), 0);  // another initialisation, same architecture
  sp_optim_config c = sp_optim_adam_config(1e-2);
  sp_optim *oa, *ob;
  CHECK_INT(sp_optim_new(&oa, &c, SP_F64, a.pol->nparams), 0);
  CHECK_INT(sp_optim_new(&ob, &c, SP_F64, b.pol->nparams), 0);
  sp_policy_data *da, *db;
  CHECK_INT(sp_policy_data_new(&da, a.pol), 0);
  CHECK_INT(sp_policy_data_new(&db, b.pol), 0);
  const double sigma[2] = {0.1, 0.2};
  sp_policy_set_noise(a.pol, sigma);
  sp_policy_data_seed(da, 5, 0);
  step(oa, a.pol);
  double u[2];
  const double x[4] = {0.3, -0.2, 1.0, 0.4};
  sp_policy_sample(a.pol, da, u, x, 0.7);  // the rng moves (and may hold a spare normal)
  char msg[256];
  CHECK_INT(sp_policy_save(path, a.pol, da, oa, "tracking", "note", 4, msg, sizeof msg), 0);
  void* note = NULL;
  size_t nlen = 0;
  CHECK_INT(sp_policy_load(path, b.pol, db, ob, &note, &nlen, msg, sizeof msg), 0);
  CHECK(nlen == 4 && note && !memcmp(note, "note", 4));
  sp_free(note);
  // the same steps and samples from here on, bitwise
  for (int k = 0; k < 3; k++) {
    step(oa, a.pol);
    step(ob, b.pol);
    double ua[2], ub[2];
    sp_policy_sample(a.pol, da, ua, x, 0.1 * k);
    sp_policy_sample(b.pol, db, ub, x, 0.1 * k);
    CHECK(!memcmp(ua, ub, sizeof ua));
  }
  CHECK(!memcmp(sp_policy_params(a.pol), sp_policy_params(b.pol), sizeof(double) * a.pol->nparams));
  CHECK_INT(ob->t, oa->t);
  sp_policy_data_free(da);
  sp_policy_data_free(db);
  sp_optim_free(oa);
  sp_optim_free(ob);
  fixture_free(&a);
  fixture_free(&b);
  remove_dir();
}

TEST(the_description_is_rebuilt_from_the_file) {
  fresh_dir();
  fixture a;
  CHECK_INT(car_fixture(&a, 8, 3, 1), 0);
  char msg[256];
  CHECK_INT(sp_policy_save(path, a.pol, NULL, NULL, "tracking", NULL, 0, msg, sizeof msg), 0);
  sp_policy_info info;
  CHECK_INT(sp_policy_info_read(path, &info, msg, sizeof msg), 0);
  CHECK_STR(info.label, "tracking");
  CHECK_INT(info.open_loop, 0);
  CHECK_INT(info.nr, 6);
  CHECK_INT(info.nk, a.pol->nk);
  info.cfg.ctrl = a.ctrl;
  info.cfg.task = a.task;
  sp_policy* b = NULL;
  CHECK_INT(sp_policy_new(&b, &info.cfg), 0);
  sp_policy_info_free(&info);
  CHECK_INT(sp_policy_load(path, b, NULL, NULL, NULL, NULL, msg, sizeof msg), 0);
  double ua[2], ub[2];
  const double x[4] = {0.3, -0.2, 1.0, 0.4};
  sp_policy_data *da, *db;
  CHECK_INT(sp_policy_data_new(&da, a.pol), 0);
  CHECK_INT(sp_policy_data_new(&db, b), 0);
  sp_policy_act(a.pol, da, ua, x, 1.3);
  sp_policy_act(b, db, ub, x, 1.3);
  CHECK(!memcmp(ua, ub, sizeof ua));
  sp_policy_data_free(da);
  sp_policy_data_free(db);
  sp_policy_free(b);
  fixture_free(&a);
  remove_dir();
}

TEST(another_policys_file_is_refused_naming_the_field_and_nothing_changes) {
  fresh_dir();
  fixture a, b, n;
  CHECK_INT(car_fixture(&a, 8, 3, 1), 0);
  CHECK_INT(car_fixture(&b, 8, 4, 1), 0);
  CHECK_INT(car_fixture(&n, 16, 4, 1), 0);
  char msg[256];
  CHECK_INT(sp_policy_save(path, a.pol, NULL, NULL, "tracking", NULL, 0, msg, sizeof msg), 0);
  b.pol->period = 3;  // as a policy built for another lap time
  double before = sp_policy_params(b.pol)[0];
  CHECK_INT(sp_policy_load(path, b.pol, NULL, NULL, NULL, NULL, msg, sizeof msg), SP_EMISMATCH);
  char want[256];
  snprintf(want, sizeof want, "%s: period is 5.5 in the file, 3 in the policy", path);
  CHECK_STR(msg, want);
  CHECK(sp_policy_params(b.pol)[0] == before);
  // another controller class
  b.pol->period = 5.5;
  sp_ctrl_class other = *b.ctrl->cls;
  const sp_ctrl_class* real = b.ctrl->cls;
  other.name = "lqr";
  b.ctrl->cls = &other;
  CHECK_INT(sp_policy_load(path, b.pol, NULL, NULL, NULL, NULL, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: the controller is tracker_car in the file, lqr given", path);
  CHECK_STR(msg, want);
  b.ctrl->cls = real;
  // another network: the nn checkpoint names the layer
  CHECK_INT(sp_policy_load(path, n.pol, NULL, NULL, NULL, NULL, msg, sizeof msg), SP_EMISMATCH);
  snprintf(want, sizeof want, "%s: layer 1 has 8 outputs in the file, 16 in the network", path);
  CHECK_STR(msg, want);
  // a plain network checkpoint is not a policy
  CHECK_INT(sp_checkpoint_save(path, a.pol->net, NULL, msg, sizeof msg), 0);
  CHECK_INT(sp_policy_load(path, b.pol, NULL, NULL, NULL, NULL, msg, sizeof msg), SP_EFORMAT);
  snprintf(want, sizeof want, "%s: not a policy checkpoint (no policy description)", path);
  CHECK_STR(msg, want);
  fixture_free(&a);
  fixture_free(&b);
  fixture_free(&n);
  remove_dir();
}

TEST_MAIN()
