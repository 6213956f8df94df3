// test_quadruped_mjcf.c: robots/quadruped.xml in MuJoCo itself: its sizes, mass, actuator order
// and torque limits, keyframes, and that it stands on its feet under a joint PD to the standing
// pose, with only the feet touching the floor, and that a limp robot falls on its trunk and feet
// (no leg geom collides with anything: no self-collision, no leg-floor contact).
#include <mujoco/mujoco.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static mjModel* load(void) {
  char path[1024], err[512] = "";
  const char* src = getenv("SPINAL_SOURCE_DIR");
  snprintf(path, sizeof path, "%s/robots/quadruped.xml", src ? src : "..");
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) fprintf(stderr, "  %s: %s\n", path, err);
  return m;
}

static const char* const names[12] = {"FR_abd", "FR_hip", "FR_knee", "FL_abd", "FL_hip", "FL_knee",
                                      "RR_abd", "RR_hip", "RR_knee", "RL_abd", "RL_hip", "RL_knee"};

TEST(quadruped_has_twelve_motors_in_leg_order_with_go1_class_mass_and_limits) {
  mjModel* m = load();
  CHECK(m != NULL);
  CHECK_INT(m->nq, 19);
  CHECK_INT(m->nv, 18);
  CHECK_INT(m->nu, 12);
  double mass = 0;
  for (int b = 1; b < m->nbody; b++) mass += m->body_mass[b];
  CHECK(fabs(mass - 12.72) < 1e-9);
  CHECK(fabs(m->body_mass[mj_name2id(m, mjOBJ_BODY, "trunk")] - 5.2) < 1e-12);
  for (int a = 0; a < 12; a++) {
    CHECK(strcmp(mj_id2name(m, mjOBJ_ACTUATOR, a), names[a]) == 0);
    int j = m->actuator_trnid[2 * a];
    CHECK(strcmp(mj_id2name(m, mjOBJ_JOINT, j), names[a]) == 0);
    CHECK_INT(m->jnt_qposadr[j], 7 + a);  // qpos in actuator order after the free joint
    double lim = a % 3 == 2 ? 35.5 : 23.7;
    CHECK(m->actuator_ctrllimited[a] && m->actuator_ctrlrange[2 * a + 1] == lim);
    CHECK(m->jnt_limited[j] && m->dof_damping[m->jnt_dofadr[j]] > 0);
    CHECK(m->dof_frictionloss[m->jnt_dofadr[j]] > 0 && m->dof_armature[m->jnt_dofadr[j]] > 0);
  }
  CHECK(mj_name2id(m, mjOBJ_KEY, "stand") >= 0);
  CHECK(mj_name2id(m, mjOBJ_KEY, "lying") >= 0);
  mj_deleteModel(m);
}

// geoms touching anything: bit 1 feet, bit 2 trunk, bit 4 anything else (legs, self-contact)
static int contacts(const mjModel* m, const mjData* d) {
  int trunk = mj_name2id(m, mjOBJ_GEOM, "trunk"), floor = mj_name2id(m, mjOBJ_GEOM, "floor");
  int mask = 0;
  for (int i = 0; i < d->ncon; i++) {
    int g[2] = {d->contact[i].geom1, d->contact[i].geom2};
    if (g[0] != floor && g[1] != floor) mask |= 4;
    for (int k = 0; k < 2; k++) {
      if (g[k] == floor) continue;
      const char* n = mj_id2name(m, mjOBJ_GEOM, g[k]);
      if (g[k] == trunk)
        mask |= 2;
      else if (n && strstr(n, "_foot"))
        mask |= 1;
      else
        mask |= 4;
    }
  }
  return mask;
}

TEST(quadruped_stands_on_its_feet_under_joint_pd_from_the_stand_keyframe) {
  mjModel* m = load();
  CHECK(m != NULL);
  mjData* d = mj_makeData(m);
  int k = mj_name2id(m, mjOBJ_KEY, "stand");
  mju_copy(d->qpos, m->key_qpos + k * m->nq, m->nq);
  mj_forward(m, d);
  int mask = 0;
  for (int s = 0; s < 2000; s++) {  // 2 s
    for (int a = 0; a < 12; a++)
      d->ctrl[a] = 60 * (m->key_qpos[k * m->nq + 7 + a] - d->qpos[7 + a]) - 2 * d->qvel[6 + a];
    mj_step(m, d);
    mask |= contacts(m, d);
  }
  printf("  stand: trunk z %.3f m, contacts mask %d\n", d->qpos[2], mask);
  CHECK(d->qpos[2] > 0.26 && d->qpos[2] < 0.3);
  CHECK(d->qpos[3] > 0.999);  // level
  CHECK_INT(mask, 1);         // feet only
  mj_deleteData(d);
  mj_deleteModel(m);
}

TEST(limp_quadruped_falls_on_trunk_and_feet_only) {
  mjModel* m = load();
  CHECK(m != NULL);
  mjData* d = mj_makeData(m);
  int k = mj_name2id(m, mjOBJ_KEY, "stand");
  mju_copy(d->qpos, m->key_qpos + k * m->nq, m->nq);
  d->qvel[3] = 3;  // a roll kick
  int mask = 0;
  for (int s = 0; s < 2000; s++) {
    mj_step(m, d);
    mask |= contacts(m, d);
  }
  printf("  limp: trunk z %.3f m, contacts mask %d\n", d->qpos[2], mask);
  CHECK(d->qpos[2] < 0.2);  // it fell
  CHECK_INT(mask & 4, 0);   // legs touch nothing
  CHECK(mask & 2);          // the trunk reached the floor
  mj_deleteData(d);
  mj_deleteModel(m);
}

TEST_MAIN()
