// test_lowlevel.c: hal/lowlevel.c and the mujoco plant's physics-rate inner loop: joint PD
// bitwise against a hand-written twin stepping raw MuJoCo, the safe mode, latency in physics
// steps, payload and push against their physics, no allocation per tick, and the error messages.
#include <mujoco/mujoco.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/model/model.h"
#include "hal/backend_model.h"
#include "hal/backend_mujoco.h"
#include "hal/loop.h"
#include "hal/lowlevel.h"
#include "hal/safety.h"
#include "test.h"

// a two-link arm on motors of gear 1 (ctrl is the torque) and a free box out of reach of it
static const char* XML =
    "<mujoco model=\"ll_test\">\n"
    "  <option timestep=\"0.001\"/>\n"
    "  <worldbody>\n"
    "    <body name=\"link1\" pos=\"0 0 1\">\n"
    "      <joint name=\"j1\" type=\"hinge\" axis=\"0 1 0\" damping=\"0.1\"/>\n"
    "      <geom type=\"capsule\" fromto=\"0 0 0 0.3 0 0\" size=\"0.03\" mass=\"1\"/>\n"
    "      <body name=\"link2\" pos=\"0.3 0 0\">\n"
    "        <joint name=\"j2\" type=\"hinge\" axis=\"0 1 0\" damping=\"0.1\"/>\n"
    "        <geom type=\"capsule\" fromto=\"0 0 0 0.3 0 0\" size=\"0.03\" mass=\"0.5\"/>\n"
    "      </body>\n"
    "    </body>\n"
    "    <body name=\"box\" pos=\"3 0 1\">\n"
    "      <freejoint name=\"root\"/>\n"
    "      <geom type=\"box\" size=\"0.2 0.1 0.05\" mass=\"5\"/>\n"
    "    </body>\n"
    "  </worldbody>\n"
    "  <actuator>\n"
    "    <motor name=\"m1\" joint=\"j1\" gear=\"1\"/>\n"
    "    <motor name=\"m2\" joint=\"j2\" gear=\"1\"/>\n"
    "  </actuator>\n"
    "</mujoco>\n";

static void write_xml(char* path, size_t n) {
  snprintf(path, n, "/tmp/spinal_ll_%d.xml", (int)getpid());
  FILE* f = fopen(path, "w");
  fputs(XML, f);
  fclose(f);
}

static const double KP[2] = {40, 30}, KD[2] = {2, 1.5};
static const sp_lowlevel_param PD_PARAMS[2] = {{"kp", KP, 2}, {"kd", KD, 2}};

// the arm at 100 Hz, 10 physics steps a tick, joint PD on both joints; state (q1, q2, qd1, qd2)
static const sp_plant_mujoco_state ARM_STATE[4] = {
    {SP_MJ_QPOS, "j1", 0, 1, 0},
    {SP_MJ_QPOS, "j2", 0, 1, 0},
    {SP_MJ_QVEL, "j1", 0, 1, 0},
    {SP_MJ_QVEL, "j2", 0, 1, 0},
};
static const sp_plant_mujoco_actuator ARM_ACT[2] = {{0, "m1", 1, 0}, {1, "m2", 1, 0}};

static sp_plant_mujoco_config arm(const char* path, const sp_lowlevel_config* ll) {
  return (sp_plant_mujoco_config){.mjcf = path,
                                  .rate_hz = 100,
                                  .nx = 4,
                                  .state = ARM_STATE,
                                  .nu = 2,
                                  .actuators = ARM_ACT,
                                  .nactuators = 2,
                                  .lowlevel = ll};
}

static sp_plant* open_cfg(const sp_plant_mujoco_config* c, char* msg, size_t n) {
  sp_plant* p = NULL;
  if (sp_plant_open(&p, "mujoco", c, msg, n) || sp_plant_configure(p, msg, n) ||
      sp_plant_activate(p)) {
    sp_plant_close(p);
    return NULL;
  }
  return p;
}

TEST(joint_pd_runs_every_physics_step_bitwise_as_a_hand_written_twin) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = PD_PARAMS, .nparams = 2};
  sp_plant_mujoco_config c = arm(path, &ll);
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  if (!p) fprintf(stderr, "  %s\n", msg);
  CHECK(p != NULL);
  CHECK_INT(sp_plant_mujoco_substeps(p), 10);

  // the twin: raw MuJoCo, the PD written out, ctrl recomputed before every mj_step
  mjModel* m = mj_loadXML(path, NULL, msg, sizeof msg);
  mjData* d = mj_makeData(m);
  mj_forward(m, d);
  double target[2] = {0.5, -0.3}, x[4];
  for (int k = 0; k < 50; k++) {
    CHECK_INT(sp_plant_write(p, target), 0);
    for (int s = 0; s < 10; s++) {
      for (int j = 0; j < 2; j++)
        d->ctrl[j] = KP[j] * (target[j] - d->qpos[j]) - KD[j] * d->qvel[j];
      mj_step(m, d);
    }
  }
  mj_forward(m, d);
  CHECK_INT(sp_plant_read(p, x, NULL, NULL), 0);
  for (int j = 0; j < 2; j++) {
    CHECK(x[j] == d->qpos[j]);
    CHECK(x[2 + j] == d->qvel[j]);
  }
  // and it tracks: after 0.5 s the joints are near their targets (gravity pulls them a little)
  CHECK(fabs(x[0] - 0.5) < 0.15 && fabs(x[1] + 0.3) < 0.15);
  mj_deleteData(d);
  mj_deleteModel(m);
  sp_plant_close(p);
  unlink(path);
}

TEST(the_safe_mode_replaces_the_command_while_it_is_on) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  // safe mode: damping only with kd_sit = 0 here, so its torque is exactly zero
  double zero = 0;
  sp_lowlevel_param prm[3] = {PD_PARAMS[0], PD_PARAMS[1], {"kd_sit", &zero, 1}};
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = prm, .nparams = 3};
  sp_plant_mujoco_config c = arm(path, &ll);
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjData* d = sp_plant_mujoco_data(p);
  double target[2] = {0.5, -0.3};
  CHECK_INT(sp_plant_write(p, target), 0);
  CHECK(d->ctrl[0] != 0 && d->ctrl[1] != 0);
  CHECK_INT(sp_plant_safe(p, 1), 0);
  CHECK_INT(sp_plant_write(p, target), 0);
  CHECK(d->ctrl[0] == 0 && d->ctrl[1] == 0);
  CHECK_INT(sp_plant_safe(p, 0), 0);
  CHECK_INT(sp_plant_write(p, target), 0);
  CHECK(d->ctrl[0] != 0);

  sp_plant_close(p);
  unlink(path);
}

static int act_hold_target(void* user, double* u, const double* x, double t, long k) {
  (void)user, (void)x, (void)t, (void)k;
  u[0] = 0.5;
  u[1] = -0.3;
  return 0;
}

TEST(the_loop_sits_the_plant_down_on_e_stop_but_not_when_held) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  double zero = 0;
  sp_lowlevel_param prm[3] = {PD_PARAMS[0], PD_PARAMS[1], {"kd_sit", &zero, 1}};
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = prm, .nparams = 3};
  sp_plant_mujoco_config c = arm(path, &ll);
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjData* d = sp_plant_mujoco_data(p);
  double u_safe[2] = {0.2, 0.2};
  sp_safety_config sc = {.nx = 4, .nu = 2, .u_safe = u_safe, .period_s = 0.01, .latch_faults = 1};
  sp_safety* s = NULL;
  CHECK_INT(sp_safety_new(&s, &sc, msg, sizeof msg), 0);
  sp_loop* l = NULL;
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act_hold_target};
  CHECK_INT(sp_loop_new(&l, p, s, &lc, msg, sizeof msg), 0);
  CHECK_INT(sp_loop_run(l, 5), 0);
  CHECK(d->ctrl[0] != 0);
  // held: the safe command (0.2, 0.2) is tracked, the controller still acts
  CHECK_INT(sp_loop_hold(l), 0);
  CHECK_INT(sp_loop_run(l, 3), 0);
  CHECK(d->ctrl[0] != 0 && d->ctrl[1] != 0);
  CHECK_INT(sp_loop_resume(l), 0);
  CHECK_INT(sp_loop_run(l, 2), 0);
  // e-stop: the plant's safe mode (damping only, zero here)
  CHECK_INT(sp_loop_estop(l), 0);
  CHECK_INT(sp_loop_run(l, 2), 0);
  CHECK(d->ctrl[0] == 0 && d->ctrl[1] == 0);
  // cleared: the controller tracks again
  sp_safety_clear(s);
  CHECK_INT(sp_loop_run(l, 2), 0);
  CHECK(d->ctrl[0] != 0);
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
  unlink(path);
}

TEST(joint_pd_safe_mode_is_joint_damping_by_default) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = PD_PARAMS, .nparams = 2};
  sp_plant_mujoco_config c = arm(path, &ll);
  c.rate_hz = 1000;  // one physics step per tick: ctrl is computed on the state read before it
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjData* d = sp_plant_mujoco_data(p);
  double target[2] = {0.5, -0.3}, x[4];
  for (int k = 0; k < 20; k++) sp_plant_write(p, target);
  CHECK_INT(sp_plant_safe(p, 1), 0);
  sp_plant_read(p, x, NULL, NULL);
  sp_plant_write(p, target);
  for (int j = 0; j < 2; j++) CHECK_CLOSE(d->ctrl[j], -2 * KD[j] * x[2 + j], 1e-12, 1e-12);
  sp_plant_close(p);
  unlink(path);
}

TEST(latency_delays_the_actuation_by_whole_physics_steps) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = PD_PARAMS, .nparams = 2};
  sp_plant_mujoco_config c = arm(path, &ll);
  c.rate_hz = 1000;
  // gravity off, so the arm rests until a torque arrives
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjModel* m = sp_plant_mujoco_model(p);
  m->opt.gravity[2] = 0;
  for (int lat = 0; lat <= 7; lat += 7) {
    sp_plant_mujoco_perturbation q = {.latency = lat * 0.001};
    CHECK_INT(sp_plant_mujoco_perturb(p, &q, msg, sizeof msg), 0);
    sp_plant_reset(p, NULL);
    double target[2] = {0.5, -0.3}, x[4];
    int first = -1;
    for (int k = 0; k < 20 && first < 0; k++) {
      sp_plant_write(p, target);
      sp_plant_read(p, x, NULL, NULL);
      if (x[2] != 0) first = k;
    }
    // the torque computed at step 0 acts in step lat: the joint first moves after step lat
    CHECK_INT(first, lat);
  }
  // a latency longer than the delay limit is refused, naming it
  sp_plant_mujoco_perturbation big = {.latency = 5};
  CHECK_INT(sp_plant_mujoco_perturb(p, &big, msg, sizeof msg), 0);
  sp_plant_mujoco_perturbation bad = {.latency = 11};
  CHECK_INT(sp_plant_mujoco_perturb(p, &bad, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "mujoco plant: perturb: latency must be in [0, 10], got 11");
  sp_plant_close(p);
  unlink(path);
}

TEST(payload_adds_its_mass_and_moves_the_centre_and_restores_exactly) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_plant_mujoco_config c = arm(path, NULL);
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjModel* m = sp_plant_mujoco_model(p);
  int box = mj_name2id(m, mjOBJ_BODY, "box");
  double total = mj_getTotalmass(m), I0[3];
  memcpy(I0, m->body_inertia + 3 * box, sizeof I0);
  sp_plant_mujoco_perturbation q = {.payload = 2, .payload_x = 0.1, .payload_y = -0.05};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, msg, sizeof msg), 0);
  CHECK_CLOSE(mj_getTotalmass(m), total + 2, 1e-12, 1e-12);
  CHECK_CLOSE(m->body_mass[box], 7, 1e-12, 0);
  // the centre moves by payload / total towards the payload: (0.1, -0.05) * 2 / 7
  CHECK_CLOSE(m->body_ipos[3 * box], 0.2 / 7, 1e-12, 1e-12);
  CHECK_CLOSE(m->body_ipos[3 * box + 1], -0.1 / 7, 1e-12, 1e-12);
  // the inertia trace grows by the point masses' moments about the new centre
  double r2 = 0.1 * 0.1 + 0.05 * 0.05;
  double extra = 2 * (5.0 * 2.0 / 7.0) * r2;  // trace of m_r (d^2 E - d d'), reduced mass 10/7
  double tr0 = I0[0] + I0[1] + I0[2];
  double tr =
      m->body_inertia[3 * box] + m->body_inertia[3 * box + 1] + m->body_inertia[3 * box + 2];
  CHECK_CLOSE(tr, tr0 + extra, 1e-9, 1e-12);
  CHECK_INT(sp_plant_mujoco_perturb(p, NULL, msg, sizeof msg), 0);
  CHECK(mj_getTotalmass(m) == total);
  CHECK(m->body_inertia[3 * box] == I0[0] && m->body_ipos[3 * box] == 0);
  sp_plant_close(p);
  unlink(path);
}

TEST(a_push_changes_the_root_velocity_by_impulse_over_mass_at_its_time) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  static const sp_plant_mujoco_state vel[2] = {{SP_MJ_QVEL, "root", 0, 1, 0},
                                               {SP_MJ_QVEL, "root", 1, 1, 0}};
  sp_plant_mujoco_config c = {.mjcf = path, .rate_hz = 100, .nx = 2, .state = vel};
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjModel* m = sp_plant_mujoco_model(p);
  double M = mj_getTotalmass(m);  // the arm is welded to the world: only the box moves freely
  sp_plant_mujoco_perturbation q = {.push = 3, .push_time = 0.05};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, msg, sizeof msg), 0);
  sp_plant_reset(p, NULL);
  double u[2] = {0, 0}, x[2];
  for (int k = 0; k < 5; k++) sp_plant_write(p, u);
  sp_plant_read(p, x, NULL, NULL);
  CHECK(x[1] == 0);
  sp_plant_write(p, u);
  sp_plant_read(p, x, NULL, NULL);
  // the robot's whole momentum changes by the impulse: the root moves at push / total mass
  CHECK_CLOSE(x[1], 3 / M, 1e-9, 1e-12);
  CHECK_CLOSE(x[0], 0, 0, 1e-12);
  for (int k = 0; k < 5; k++) sp_plant_write(p, u);
  sp_plant_read(p, x, NULL, NULL);
  CHECK_CLOSE(x[1], 3 / M, 1e-9, 1e-12);  // once
  // a reset pushes again at the same time
  sp_plant_reset(p, NULL);
  for (int k = 0; k < 6; k++) sp_plant_write(p, u);
  sp_plant_read(p, x, NULL, NULL);
  CHECK_CLOSE(x[1], 3 / M, 1e-9, 1e-12);
  sp_plant_close(p);
  unlink(path);
}

TEST(ticks_with_controller_latency_noise_and_push_allocate_nothing) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = PD_PARAMS, .nparams = 2, .every = 2};
  sp_plant_mujoco_config c = arm(path, &ll);
  sp_plant_mujoco_perturbation q = {.latency = 0.004,
                                    .noise = 0.01,
                                    .push = 1,
                                    .push_time = 0.1,
                                    .pd = 0.8,
                                    .payload = 1,
                                    .motor = 0.9};
  c.perturb = &q;
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  if (!p) fprintf(stderr, "  %s\n", msg);
  CHECK(p != NULL);
  double u[2] = {0.3, 0.1}, x[4];
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 100; k++) {
    sp_plant_write(p, u);
    sp_plant_read(p, x, NULL, NULL);
    if (k == 50) sp_plant_reset(p, NULL);
  }
  CHECK(sp_alloc_count() == before);
  sp_plant_close(p);
  unlink(path);
}

TEST(noise_perturbs_the_reported_state_and_the_controllers_readings_with_its_std) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  double zero = 0, kp = 10;
  sp_lowlevel_param prm[2] = {{"kp", &kp, 1}, {"kd", &zero, 1}};
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = prm, .nparams = 2};
  sp_plant_mujoco_config c = arm(path, &ll);
  c.rate_hz = 1000;
  sp_plant_mujoco_perturbation q = {.noise = 0.01};
  c.perturb = &q;
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjModel* m = sp_plant_mujoco_model(p);
  mjData* d = sp_plant_mujoco_data(p);
  m->opt.gravity[2] = 0;
  // at rest on target 0: the reported angle is pure noise, and so is the PD's torque / kp
  double u[2] = {0, 0}, x[4], sx = 0, sxx = 0, st = 0, stt = 0;
  int n = 4000;
  for (int k = 0; k < n; k++) {
    sp_plant_reset(p, NULL);
    sp_plant_write(p, u);
    sp_plant_read(p, x, NULL, NULL);
    double tq = d->ctrl[0] / -kp;
    sx += x[0], sxx += x[0] * x[0], st += tq, stt += tq * tq;
  }
  double sd_x = sqrt(sxx / n - (sx / n) * (sx / n)), sd_t = sqrt(stt / n - (st / n) * (st / n));
  // std of a sample std of 4000 normals: 1.1 %; 5 of them
  CHECK_CLOSE(sd_x, 0.01, 0.06, 0);
  CHECK_CLOSE(sd_t, 0.01, 0.06, 0);
  sp_plant_close(p);
  unlink(path);
}

TEST(the_pd_variant_scales_the_controller_gains) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = PD_PARAMS, .nparams = 2};
  sp_plant_mujoco_config c = arm(path, &ll);
  c.rate_hz = 1000;
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  mjData* d = sp_plant_mujoco_data(p);
  double target[2] = {0.5, -0.3};
  sp_plant_write(p, target);
  double c1 = d->ctrl[0];
  sp_plant_mujoco_perturbation q = {.pd = 0.5};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, msg, sizeof msg), 0);
  sp_plant_reset(p, NULL);
  sp_plant_write(p, target);
  CHECK_CLOSE(d->ctrl[0], 0.5 * c1, 1e-12, 0);
  CHECK_CLOSE(c1, KP[0] * 0.5, 1e-12, 0);  // from rest at 0: kp * target
  sp_plant_close(p);
  unlink(path);
}

TEST(errors_name_the_kind_the_setting_and_the_command) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_plant* p = NULL;
  sp_lowlevel_config ll = {.kind = "trot"};
  sp_plant_mujoco_config c = arm(path, &ll);
  CHECK(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg) == SP_ENOTFOUND);
  CHECK(strstr(msg, "mujoco plant: low-level controller: unknown kind 'trot' (known: joint_pd") ==
        msg);
  double v = 1;
  sp_lowlevel_param bad = {"kq", &v, 1};
  ll = (sp_lowlevel_config){.kind = "joint_pd", .params = &bad, .nparams = 1};
  CHECK(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg) == SP_ENOTFOUND);
  CHECK_STR(msg,
            "mujoco plant: low-level controller joint_pd: no setting named 'kq' (known: kp, kd, "
            "ff, kp_sit, kd_sit, q_sit)");
  double three[3] = {1, 2, 3};
  sp_lowlevel_param shape = {"kp", three, 3};
  ll.params = &shape;
  CHECK(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg) == SP_ESHAPE);
  CHECK_STR(msg,
            "mujoco plant: low-level controller joint_pd: setting 'kp': expected a number or 2 "
            "numbers (one per actuator), got 3");
  ll.nparams = 0;
  sp_plant_mujoco_actuator wrong[2] = {{0, "m1", 1, 0}, {1, "vx", 1, 0}};
  c.actuators = wrong;
  CHECK(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg) == SP_ENOTFOUND);
  CHECK_STR(msg,
            "mujoco plant: action 2: the low-level controller joint_pd has no command named 'vx' "
            "(its commands: m1, m2)");
  CHECK(p == NULL);
  // pd without a controller; a plant without one has no safe mode
  c = arm(path, NULL);
  sp_plant_mujoco_perturbation q = {.pd = 0.5};
  c.perturb = &q;
  CHECK(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg) == SP_EINVAL);
  CHECK_STR(msg,
            "mujoco plant: perturb: pd scales the low-level controller's gains, and this plant has "
            "none");
  c.perturb = NULL;
  p = open_cfg(&c, msg, sizeof msg);
  CHECK(p != NULL);
  CHECK_INT(sp_plant_safe(p, 1), SP_EUNSUPPORTED);
  sp_plant_close(p);
  unlink(path);
}

TEST(without_a_command_map_the_command_is_the_controllers_whole_command) {
  char path[128], msg[512] = "";
  write_xml(path, sizeof path);
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = PD_PARAMS, .nparams = 2};
  sp_plant_mujoco_config c = {.mjcf = path, .rate_hz = 100, .lowlevel = &ll};
  sp_plant* p = open_cfg(&c, msg, sizeof msg);
  if (!p) fprintf(stderr, "  %s\n", msg);
  CHECK(p != NULL);
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  CHECK_INT(caps->nu, 2);
  CHECK_STR(caps->u_names[0], "m1");
  CHECK_STR(caps->u_names[1], "m2");
  CHECK(sp_plant_mujoco_lowlevel(p) != NULL);
  sp_plant_close(p);
  unlink(path);
}

TEST(the_model_plant_runs_joint_pd_every_integration_step_bitwise_as_a_twin) {
  char msg[512] = "";
  double kp = 30, kd = 3;
  sp_lowlevel_param prm[2] = {{"kp", &kp, 1}, {"kd", &kd, 1}};
  sp_lowlevel_config ll = {.kind = "joint_pd", .params = prm, .nparams = 2};
  double x0[2] = {0.3, 0};
  sp_plant_model_config c = {.model = "pendulum",
                             .rate_hz = 50,
                             .substeps = 10,
                             .integrator = SP_INTEGRATOR_RK4,
                             .x0 = x0,
                             .lowlevel = &ll};
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "model", &c, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_activate(p), 0);
  CHECK_INT(sp_plant_capabilities(p)->nu, 1);

  // the twin: the same model at 500 Hz, the PD before every step
  const sp_model_class* cls = sp_model_find("pendulum");
  sp_model* m = NULL;
  sp_model_data* md = NULL;
  CHECK_INT(sp_model_new_class(&m, cls, cls->p_default, 0.002), 0);
  CHECK_INT(sp_model_configure(m, 0.002, SP_INTEGRATOR_RK4, 1), 0);
  CHECK_INT(sp_model_data_new(&md, m), 0);
  double x[2] = {0.3, 0}, xn[2], target = -0.2, y[2];
  uint64_t before = sp_alloc_count();
  for (int k = 0; k < 30; k++) CHECK_INT(sp_plant_write(p, &target), 0);
  CHECK(sp_alloc_count() == before);
  for (int k = 0; k < 300; k++) {
    double u = kp * (target - x[0]) - kd * x[1];
    sp_model_step(m, md, xn, x, &u);
    x[0] = xn[0], x[1] = xn[1];
  }
  CHECK_INT(sp_plant_read(p, y, NULL, NULL), 0);
  CHECK(y[0] == x[0] && y[1] == x[1]);
  // the safe mode: damping only (2 kd)
  CHECK_INT(sp_plant_safe(p, 1), 0);
  CHECK_INT(sp_plant_write(p, &target), 0);
  for (int k = 0; k < 10; k++) {
    double u = -2 * kd * x[1];
    sp_model_step(m, md, xn, x, &u);
    x[0] = xn[0], x[1] = xn[1];
  }
  CHECK_INT(sp_plant_model_true_state(p, y), 0);
  CHECK(y[0] == x[0] && y[1] == x[1]);
  sp_model_data_free(md);
  sp_model_free(m);
  sp_plant_close(p);
}

TEST_MAIN()
