// test_gait_mujoco.c: the walking controller (engine/ctrl/gait.h) in the loop of MuJoCo on
// robots/quadruped.xml at its 1 kHz physics rate, the controller's tree imported from the same
// MJCF: it stands, walks forward at 0.5 and 1 m/s, sideways at 0.3 m/s, turns at 1 rad/s and turns
// while walking, reaching the commanded velocity without falling and touching the floor with its
// feet only; it stops from a run and holds still; the sit-down lies it down without an impact;
// the named parameters, argument errors and a tick that never allocates. Velocities are measured
// over the last seconds of each stretch (gait_sim.h); the long runs are bench/bench_gait.c's.
#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "gait_sim.h"
#include "test.h"

#define WEIGHT (12.72 * 9.81)

static void walks(int* sp_failed_, double vx, double vy, double wz, double tol_v, double tol_w) {
  gait_sim s;
  if (gait_sim_open(&s)) SP_FAIL_("cannot open the quadruped");
  double cmd[3] = {vx, vy, wz};
  gait_stats st;
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 0.5, 0, &st);
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 5, 2.5, &st);  // 2.5 s to settle, 2.5 s measured
  char what[64];
  snprintf(what, sizeof what, "walk (%.1f, %.1f, %.1f):", vx, vy, wz);
  gait_stats_print(what, &st);
  gait_sim_close(&s);
  CHECK(!st.fell && st.errors == 0);
  CHECK_INT(st.other_contacts, 0);  // feet only
  CHECK(st.zmin > 0.24 && st.tilt_max < 0.4);
  CHECK(fabs(st.vx - vx) < tol_v && fabs(st.vy - vy) < tol_v);
  CHECK(fabs(st.wz - wz) < tol_w);
}

TEST(stands_still_on_four_feet) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  gait_stats st;
  double x0 = s.d->qpos[0], y0 = s.d->qpos[1];
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 3, 2, &st);
  gait_stats_print("stand:", &st);
  CHECK(!st.fell && st.errors == 0 && st.other_contacts == 0);
  CHECK(hypot(s.d->qpos[0] - x0, s.d->qpos[1] - y0) < 0.01);
  CHECK(fabs(st.vx) < 0.005 && fabs(st.vy) < 0.005 && fabs(st.wz) < 0.005);
  CHECK(st.zmin > 0.27 && st.zmax < 0.31 && st.tilt_max < 0.02);
  for (int l = 0; l < 4; l++) CHECK(sp_gait_leg_stance(s.gd, l));
  gait_sim_close(&s);
}

// the controller's kinematics (engine/rbd tree) against MuJoCo's: a stance foot's position is its
// target, and it is MuJoCo's foot site, at a walking state
TEST(its_foot_kinematics_are_mujocos) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  double cmd[3] = {0.6, 0.1, 0.4};
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 1.3, 0, NULL);
  double tau[12], worst = 0;
  int nst = 0;
  CHECK_INT(sp_gait_set(s.g, "lookahead", 0, NULL, 0), SP_OK);  // kinematics at the state itself
  CHECK_INT(sp_gait_tick(s.g, s.gd, SP_GAIT_WALK, s.d->time, s.d->qpos, s.d->qvel, cmd, tau), 0);
  mj_forward(s.m, s.d);
  const char* site[4] = {"FR_foot", "FL_foot", "RR_foot", "RL_foot"};
  for (int l = 0; l < 4; l++) {
    if (!sp_gait_leg_stance(s.gd, l)) continue;
    nst++;
    double p[3];
    sp_gait_foot_target(s.gd, l, p);
    const double* x = s.d->site_xpos + 3 * mj_name2id(s.m, mjOBJ_SITE, site[l]);
    for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(p[k] - x[k]));
  }
  printf("  stance feet %d, largest difference to MuJoCo's sites %.1e m\n", nst, worst);
  CHECK(nst >= 2 && worst < 1e-12);
  gait_sim_close(&s);
}

TEST(trots_in_place_at_zero_command) {
  walks(sp_failed_, 0, 0, 0, 0.03, 0.05);
}
TEST(walks_forward_at_half_a_metre_per_second) {
  walks(sp_failed_, 0.5, 0, 0, 0.05, 0.05);
}
TEST(walks_forward_at_one_metre_per_second) {
  walks(sp_failed_, 1.0, 0, 0, 0.08, 0.05);
}
TEST(walks_backwards) {
  walks(sp_failed_, -0.5, 0, 0, 0.05, 0.05);
}
TEST(walks_sideways_at_0_3_metres_per_second) {
  walks(sp_failed_, 0, 0.3, 0, 0.05, 0.05);
}
TEST(turns_on_the_spot_at_one_radian_per_second) {
  walks(sp_failed_, 0, 0, 1.0, 0.05, 0.08);
}
TEST(turns_while_walking) {
  walks(sp_failed_, 0.5, 0, 0.5, 0.05, 0.08);
  walks(sp_failed_, 1.0, 0, -1.0, 0.12, 0.1);
}

TEST(stops_from_a_run_and_holds_still_then_walks_again) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  double cmd[3] = {1.0, 0, 0.5};
  gait_stats st;
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 3, 0, &st);
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 3, 1, &st);
  gait_stats_print("stop:", &st);
  CHECK(!st.fell && st.other_contacts == 0);
  CHECK(fabs(st.vx) < 0.01 && fabs(st.vy) < 0.01 && fabs(st.wz) < 0.01);
  for (int l = 0; l < 4; l++) CHECK(sp_gait_leg_stance(s.gd, l));
  double back[3] = {-0.3, 0.2, 0};
  gait_sim_run(&s, SP_GAIT_WALK, back, 3, 1.5, &st);
  gait_stats_print("again:", &st);
  CHECK(!st.fell && fabs(st.vx + 0.3) < 0.05 && fabs(st.vy - 0.2) < 0.05);
  gait_sim_close(&s);
}

TEST(a_standing_robot_pushed_sideways_steps_to_recover_and_stands_again) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  gait_stats st;
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 1, 0, &st);
  int trunk = mj_name2id(s.m, mjOBJ_BODY, "trunk");
  s.d->xfrc_applied[6 * trunk + 1] = 60;  // 6 N s over 0.1 s
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 0.1, 0, &st);
  int fell = st.fell;
  s.d->xfrc_applied[6 * trunk + 1] = 0;
  int stepped = 0;
  for (int i = 0; i < 400; i++) {
    gait_sim_run(&s, SP_GAIT_STAND, NULL, 0.005, 0, &st);
    fell |= st.fell;
    for (int l = 0; l < 4; l++) stepped |= !sp_gait_leg_stance(s.gd, l);
  }
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 1, 0.5, &st);
  gait_stats_print("after a 6 N s push:", &st);
  CHECK(!fell && !st.fell && stepped);
  CHECK(fabs(st.vx) < 0.01 && fabs(st.vy) < 0.01);
  for (int l = 0; l < 4; l++) CHECK(sp_gait_leg_stance(s.gd, l));
  gait_sim_close(&s);
}

// a push of J N s over 0.1 s on the trunk in the world direction (dx, dy), 3 s into mode with
// cmd (kd_rot_push set when >= 0): 1 when the robot is still up 3 s later, 0 when it fell, -1
// when the simulation could not be set up
static int survives_push(double J, double dx, double dy, int mode, const double* cmd,
                         double kd_rot_push) {
  gait_sim s;
  if (gait_sim_open(&s)) return -1;
  char msg[200];
  if (kd_rot_push >= 0 && sp_gait_set(s.g, "kd_rot_push", kd_rot_push, msg, sizeof msg)) {
    gait_sim_close(&s);
    return -1;
  }
  gait_stats st;
  gait_sim_run(&s, mode, cmd, 3, 0, &st);
  int trunk = mj_name2id(s.m, mjOBJ_BODY, "trunk");
  s.d->xfrc_applied[6 * trunk] = dx * J / 0.1;
  s.d->xfrc_applied[6 * trunk + 1] = dy * J / 0.1;
  gait_sim_run(&s, mode, cmd, 0.1, 0, &st);
  int fell = st.fell;
  s.d->xfrc_applied[6 * trunk] = s.d->xfrc_applied[6 * trunk + 1] = 0;
  gait_sim_run(&s, mode, cmd, 3, 0, &st);
  fell |= st.fell;
  gait_sim_close(&s);
  return !fell;
}

TEST(survives_hard_pushes_from_every_side_standing_and_walking) {
  // 15 N s is 1.2 m/s of trunk velocity; docs/quadruped.md has the largest pushes survived
  double walk[3] = {0.5, 0, 0};
  for (int m = 0; m < 2; m++) {
    int mode = m ? SP_GAIT_WALK : SP_GAIT_STAND;
    const double* cmd = m ? walk : NULL;
    CHECK_INT(survives_push(15, 0, 1, mode, cmd, -1), 1);
    CHECK_INT(survives_push(15, 0, -1, mode, cmd, -1), 1);
    CHECK_INT(survives_push(12, 1, 0, mode, cmd, -1), 1);
    CHECK_INT(survives_push(12, -1, 0, mode, cmd, -1), 1);
  }
  // without the pushed trunk's higher roll damping (kd_rot_push = kd_rot) it rolls over
  CHECK_INT(survives_push(15, 0, 1, SP_GAIT_STAND, NULL, 20), 0);
}

TEST(sits_down_to_lying_under_damping_without_an_impact) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  double cmd[3] = {0.5, 0, 0};
  gait_stats st;
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 2, 0, &st);  // e-stop while walking
  gait_sim_run(&s, SP_GAIT_SIT, NULL, 3, 1, &st);
  gait_stats_print("sit:", &st);
  CHECK(st.errors == 0 && st.other_contacts == 0 && st.tilt_max < 0.3);
  CHECK(s.d->qpos[2] < 0.13);                                                // lying
  CHECK(st.fz_max < 3 * WEIGHT);                                             // no violent impact
  CHECK(fabs(st.vx) < 0.01 && fabs(s.d->qvel[2]) < 0.01);                    // at rest
  for (int a = 0; a < 12; a++) CHECK(fabs(s.d->ctrl[a]) > 0 || a % 3 == 0);  // holding, not limp
  // and it stands up again from lying
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 2, 0.5, &st);
  gait_stats_print("stand up:", &st);
  CHECK(!st.fell && s.d->qpos[2] > 0.26);
  gait_sim_close(&s);
}

// pace and bound on the settings docs/quadruped.md gives them (a shorter period and more overlap
// on four feet than trot's defaults: two feet on one line cannot hold the trunk's roll or pitch
// for long); they walk at 0.5 m/s and turn without rocking (tilt under 0.3 rad; 0.5-0.65 on trot's
// timing)
static void two_feet_gait(int* sp_failed_, int gait, const char* label) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  CHECK_INT(sp_gait_set(s.g, "gait", gait, NULL, 0), SP_OK);
  CHECK_INT(sp_gait_set(s.g, "period", 0.2, NULL, 0), SP_OK);
  CHECK_INT(sp_gait_set(s.g, "duty", 0.7, NULL, 0), SP_OK);
  double cmd[3] = {0.5, 0, 0.5};
  gait_stats st;
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 6, 2.5, &st);
  gait_stats_print(label, &st);
  CHECK(!st.fell && st.other_contacts == 0 && fabs(st.vx - 0.5) < 0.05);
  CHECK(fabs(st.wz - 0.5) < 0.05 && st.tilt_max < 0.3);
  gait_sim_close(&s);
}

TEST(bound_walks_as_an_option) {
  two_feet_gait(sp_failed_, SP_GAIT_BOUND, "bound:");
}

TEST(pace_walks_as_an_option) {
  two_feet_gait(sp_failed_, SP_GAIT_PACE, "pace:");
}

// the robot changed behind the controller's back (the tree it was built from stays nominal)
TEST(walks_on_robots_that_differ_from_its_model) {
  static const gait_perturbation ps[] = {
      {"payload 3 kg", 3, 0, 0, 0, 0, 0, 0, 0},
      {"payload 2 kg at x +0.1 m", 2, 0.1, 0, 0, 0, 0, 0, 0},
      {"foot friction 0.5", 0, 0, 0.5, 0, 0, 0, 0, 0},
      {"motor strength x0.8", 0, 0, 0, 0.8, 0, 0, 0, 0},
      {"joint damping x2, friction loss x3", 0, 0, 0, 0, 2, 3, 0, 0},
      {"latency 5 ms", 0, 0, 0, 0, 0, 0, 5, 0},
      {"latency 10 ms", 0, 0, 0, 0, 0, 0, 10, 0},
      {"state noise", 0, 0, 0, 0, 0, 0, 0, 1},
  };
  for (int i = 0; i < (int)(sizeof ps / sizeof ps[0]); i++) {
    gait_sim s;
    CHECK(gait_sim_open(&s) == 0);
    gait_sim_perturb(&s, ps + i);
    double cmd[3] = {0.7, 0, 0.3};
    gait_stats st;
    gait_sim_run(&s, SP_GAIT_WALK, cmd, 5, 2.5, &st);
    gait_stats_print(ps[i].name, &st);
    gait_sim_close(&s);
    CHECK(!st.fell && st.other_contacts == 0);
    CHECK(fabs(st.vx - 0.7) < 0.07 && fabs(st.wz - 0.3) < 0.05);
  }
}

static int count_hook(size_t n, void* user) {
  (void)n;
  ++*(int*)user;
  return 0;
}

TEST(the_tick_never_allocates) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  int calls = 0;
  uint64_t before = sp_alloc_count();
  sp_alloc_set_hook(count_hook, &calls);
  double cmd[3] = {0.5, 0.1, 0.3};
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 1, 0, NULL);
  gait_sim_run(&s, SP_GAIT_STAND, NULL, 0.5, 0, NULL);
  gait_sim_run(&s, SP_GAIT_SIT, NULL, 0.5, 0, NULL);
  sp_alloc_set_hook(NULL, NULL);
  CHECK_INT(calls, 0);
  CHECK(sp_alloc_count() == before);
  gait_sim_close(&s);
}

TEST(named_parameters_are_range_checked_with_messages) {
  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  char msg[256];
  double v;
  CHECK_INT(sp_gait_get(s.g, "period", &v), SP_OK);
  CHECK(v == 0.3);
  CHECK_INT(sp_gait_set(s.g, "period", 0.4, msg, sizeof msg), SP_OK);
  CHECK_INT(sp_gait_get(s.g, "period", &v), SP_OK);
  CHECK(v == 0.4);
  CHECK_INT(sp_gait_set(s.g, "duty", 0.99, msg, sizeof msg), SP_ERANGE);
  CHECK_STR(msg,
            "gait: duty = 0.99 is outside [0.35, 0.85] (fraction of the period each foot is "
            "on the ground)");
  CHECK_INT(sp_gait_set(s.g, "speed", 1, msg, sizeof msg), SP_ENOTFOUND);
  CHECK_STR(msg, "gait: unknown parameter 'speed'");
  CHECK_INT(sp_gait_get(s.g, "speed", &v), SP_ENOTFOUND);
  CHECK_INT(sp_gait_set(s.g, "gait", 1.5, msg, sizeof msg), SP_ERANGE);
  CHECK_STR(msg, "gait: gait = 1.5 is not 0 (trot), 1 (pace) or 2 (bound)");
  CHECK_INT(sp_gait_set(s.g, "height", NAN, msg, sizeof msg), SP_ERANGE);
  // every parameter: a unique name, a documentation line, its default inside its range
  int n = sp_gait_param_count();
  CHECK(n > 20);
  sp_gait* fresh;
  CHECK_INT(sp_gait_create(&fresh, s.tree, msg, sizeof msg), SP_OK);
  for (int i = 0; i < n; i++) {
    const char* name = sp_gait_param_name(i);
    CHECK(name && sp_gait_param_doc(i) && *sp_gait_param_doc(i));
    for (int j = 0; j < i; j++) CHECK(strcmp(name, sp_gait_param_name(j)) != 0);
    CHECK_INT(sp_gait_get(fresh, name, &v), SP_OK);
    CHECK(v >= sp_gait_param_min(i) && v <= sp_gait_param_max(i));
    CHECK_INT(sp_gait_set(fresh, name, sp_gait_param_max(i) + 1, NULL, 0), SP_ERANGE);
  }
  CHECK(sp_gait_param_name(n) == NULL && sp_gait_param_doc(-1) == NULL);
  sp_gait_free(fresh);
  gait_sim_close(&s);
}

TEST(refuses_a_tree_that_is_not_a_quadruped_and_bad_ticks) {
  char path[1024], msg[256];
  const char* src = getenv("SPINAL_SOURCE_DIR");
  snprintf(path, sizeof path, "%s/robots/arm3.xml", src ? src : "..");
  sp_rbd* arm;
  CHECK_INT(sp_mjcf_rbd_load(&arm, path, msg, sizeof msg), SP_OK);
  sp_gait* g = (sp_gait*)1;
  CHECK_INT(sp_gait_create(&g, arm, msg, sizeof msg), SP_EINVAL);
  CHECK(g == NULL);
  CHECK(strstr(msg, "gait: the tree has nq 3, nv 3, nu 3; a quadruped has 19, 18, 12") == msg);
  sp_rbd_free(arm);
  snprintf(path, sizeof path, "%s/robots/quadruped_tree.xml", src ? src : "..");
  sp_rbd* other;
  CHECK_INT(sp_mjcf_rbd_load(&other, path, msg, sizeof msg), SP_OK);
  CHECK_INT(sp_gait_create(&g, other, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "gait: the tree has no link 'FR_thigh'") == msg);
  sp_rbd_free(other);

  gait_sim s;
  CHECK(gait_sim_open(&s) == 0);
  double tau[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, q[19], v[18] = {0};
  memcpy(q, s.d->qpos, sizeof q);
  CHECK_INT(sp_gait_tick(s.g, s.gd, 7, 0, q, v, NULL, tau), SP_EINVAL);
  for (int a = 0; a < 12; a++) CHECK(tau[a] == 0);
  q[3] = NAN;
  tau[0] = 1;
  CHECK_INT(sp_gait_tick(s.g, s.gd, SP_GAIT_STAND, 0, q, v, NULL, tau), SP_ENUMERIC);
  CHECK(tau[0] == 0);
  q[3] = 1;
  double cmd[3] = {INFINITY, 0, 0};
  CHECK_INT(sp_gait_tick(s.g, s.gd, SP_GAIT_WALK, 0, q, v, cmd, tau), SP_ENUMERIC);
  CHECK_INT(sp_gait_tick(s.g, s.gd, SP_GAIT_STAND, 0, q, v, NULL, NULL), SP_EINVAL);
  CHECK_INT(sp_gait_data_create(NULL, s.g), SP_EINVAL);
  gait_sim_close(&s);
}

TEST_MAIN()
