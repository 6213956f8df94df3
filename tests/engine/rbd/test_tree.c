// test_tree.c: building trees (errors naming the link, free-joint expansion, q/v/u layout),
// named parameters, and the configuration manifold (integrate and difference are inverse).
#include <string.h>

#include "engine/core/alloc.h"
#include "random_tree.h"
#include "test.h"

TEST(bad_links_are_refused_with_a_message_naming_the_link) {
  sp_rbd* t;
  CHECK_INT(sp_rbd_new(&t), SP_OK);
  sp_rbd_link l;
  char msg[256];
  sp_rbd_link_init(&l, "thigh", -1, SP_RBD_REVOLUTE);
  l.mass = 1;
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_OK);
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "link 'thigh': name is used twice");
  sp_rbd_link_init(&l, "shin", 5, SP_RBD_REVOLUTE);
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "link 'shin': parent 5 is not an earlier link");
  sp_rbd_link_init(&l, "shin", 0, SP_RBD_REVOLUTE);
  l.inertia[0] = l.inertia[1] = l.inertia[2] = 1, l.inertia[3] = 2;
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "link 'shin': inertia must be symmetric positive semi-definite");
  sp_rbd_link_init(&l, "shin", 0, SP_RBD_PRISMATIC);
  l.axis[2] = 0;
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "link 'shin': joint axis must be non-zero");
  sp_rbd_link_init(&l, "shin", 0, SP_RBD_REVOLUTE);
  l.mass = -1;
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "link 'shin': mass must be >= 0, got -1");
  sp_rbd_link_init(&l, "shin", 0, SP_RBD_BALL);
  l.stiffness = 1;
  CHECK_INT(sp_rbd_add(t, &l, NULL, msg, sizeof msg), SP_EINVAL);
  CHECK_INT(t->nlinks, 1);
  sp_rbd_free(t);
  // an empty tree cannot be finalized
  CHECK_INT(sp_rbd_new(&t), SP_OK);
  CHECK_INT(sp_rbd_finalize(t, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "tree has no links");
  sp_rbd_free(t);
}

TEST(a_free_joint_lays_out_like_mujoco_and_is_not_actuated) {
  sp_rbd* t;
  sp_rbd_new(&t);
  sp_rbd_link l;
  int base, leg;
  sp_rbd_link_init(&l, "base", -1, SP_RBD_FREE);
  l.mass = 5, l.inertia[0] = l.inertia[1] = l.inertia[2] = 0.1;
  CHECK_INT(sp_rbd_add(t, &l, &base, NULL, 0), SP_OK);
  sp_rbd_link_init(&l, "leg", base, SP_RBD_REVOLUTE);
  l.actuated = 1, l.gear = 3;
  CHECK_INT(sp_rbd_add(t, &l, &leg, NULL, 0), SP_OK);
  CHECK_INT(sp_rbd_finalize(t, NULL, 0), SP_OK);
  CHECK_INT(t->nq, 8);
  CHECK_INT(t->nv, 7);
  CHECK_INT(t->nu, 1);
  CHECK_INT(t->links[base].iq, 3);  // after x, y, z
  CHECK_INT(t->links[base].iv, 3);
  CHECK_INT(t->act_dof[0], 6);
  CHECK(t->act_gear[0] == 3);
  double q[8];
  sp_rbd_neutral(t, q);
  CHECK(q[3] == 1 && q[4] == 0 && q[7] == 0);
  sp_rbd_free(t);
}

TEST(parameters_are_named_and_change_the_dynamics) {
  sp_rbd* t = rt_tree(1000, 4, 0, 0);
  sp_rbd_data* d;
  CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
  double m0, q[64], M0[4096], M1[4096];
  CHECK_INT(sp_rbd_param_get(t, "l0.mass", &m0), SP_OK);
  CHECK(m0 == t->links[0].mass);
  CHECK(sp_rbd_param_index(t, "l0.ixy") >= 0);
  CHECK(sp_rbd_param_index(t, "l0.pos_z") >= 0);
  CHECK(sp_rbd_param_index(t, "l0.damping") >= 0);
  CHECK_INT(sp_rbd_param_set(t, "l0.nothing", 1), SP_ENOTFOUND);
  sp_rbd_neutral(t, q);
  sp_rbd_crba(M0, d, q);
  CHECK_INT(sp_rbd_param_set(t, "l0.mass", 2 * m0), SP_OK);
  sp_rbd_crba(M1, d, q);
  CHECK(M1[0] > M0[0]);
  sp_rbd_data_free(d);
  sp_rbd_free(t);
}

TEST(difference_inverts_integrate_on_the_manifold) {
  for (int s = 0; s < 5; s++) {
    sp_rbd* t = rt_tree(1100 + s, 8, 1, 0);
    sp_rng r;
    sp_rng_seed(&r, s, 11);
    double q[64], q1[64], v[64], dv[64];
    rt_state(t, &r, q, v, NULL);
    sp_rbd_integrate(t, q1, q, v, 0.7);
    sp_rbd_difference(t, dv, q, q1);
    for (int k = 0; k < t->nv; k++) CHECK(fabs(dv[k] - 0.7 * v[k]) < 1e-10);
    sp_rbd_free(t);
  }
}

static int oom_left;
static int oom_hook(size_t n, void* user) {
  return oom_left-- <= 0;
}

TEST(building_fails_cleanly_when_memory_runs_out) {
  // fail the k-th allocation for every k until building a tree and its workspace succeeds
  // (ASan's leak checker then shows nothing is lost on any failure path)
  int done = 0;
  for (int k = 0; k < 64 && !done; k++) {
    oom_left = k;
    sp_alloc_set_hook(oom_hook, NULL);
    sp_rbd* t = NULL;
    sp_rbd_data* d = NULL;
    int rc = sp_rbd_new(&t);
    sp_rbd_link l;
    for (int i = 0; i < 20 && !rc; i++) {
      char nm[8];
      snprintf(nm, sizeof nm, "l%d", i);
      sp_rbd_link_init(&l, nm, i - 1, i == 0 ? SP_RBD_FREE : SP_RBD_REVOLUTE);
      rc = sp_rbd_add(t, &l, NULL, NULL, 0);
    }
    if (!rc) rc = sp_rbd_finalize(t, NULL, 0);
    if (!rc) rc = sp_rbd_data_new(&d, t);
    sp_alloc_set_hook(NULL, NULL);
    if (rc) CHECK_INT(rc, SP_ENOMEM);
    done = rc == SP_OK;
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
  CHECK(done);
}

TEST_MAIN()
