// test_backend_mujoco.c: hal/backend_mujoco.c on robots/rc_car.xml: lifecycle, load errors, the
// state mapping, driving, steering, sub-steps, delay, noise, perturbations, no allocation, and the
// car against method 1's simple car models.
#include <mujoco/mujoco.h>
#include <stdlib.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "hal/backend_mujoco.h"
#include "hal/loop.h"
#include "test.h"

static char car_path[512];

static const char* car_xml(void) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  snprintf(car_path, sizeof car_path, "%s/robots/rc_car.xml", src ? src : "..");
  return car_path;
}

// the robot file's mapping: x = (px, py, v, phi), u = (throttle, steer as 0.4 rad per unit)
static const sp_plant_mujoco_state car_state[4] = {
    {SP_MJ_QPOS, "chassis", 0, 1, 0},
    {SP_MJ_QPOS, "chassis", 1, 1, 0},
    {SP_MJ_SENSOR, "chassis_vel", 0, 1, 0},
    {SP_MJ_YAW, "chassis", 0, 1, 0},
};
static const sp_plant_mujoco_actuator car_act[2] = {
    {0, "throttle", 1, 0},
    {1, "steer", 0.4, 0},
};
static const char* const car_x_names[4] = {"px", "py", "v", "phi"};
static const char* const car_u_names[2] = {"throttle", "steer"};

static sp_plant_mujoco_config car(void) {
  return (sp_plant_mujoco_config){.mjcf = car_xml(),
                                  .robot = "rc_car",
                                  .rate_hz = 50,
                                  .nx = 4,
                                  .state = car_state,
                                  .x_names = car_x_names,
                                  .nu = 2,
                                  .actuators = car_act,
                                  .nactuators = 2,
                                  .u_names = car_u_names};
}

static sp_plant* open_cfg(const char* uri, const sp_plant_mujoco_config* c) {
  sp_plant* p = NULL;
  char msg[512];
  if (sp_plant_open(&p, uri, c, msg, sizeof msg) || sp_plant_configure(p, msg, sizeof msg) ||
      sp_plant_activate(p)) {
    fprintf(stderr, "  open: %s\n", msg);
    sp_plant_close(p);
    return NULL;
  }
  return p;
}

// drive n ticks with a constant command; x gets the last state; the first error, or 0
static int drive(sp_plant* p, double throttle, double steer, int n, double* x) {
  double u[2] = {throttle, steer};
  int rc = 0;
  for (int k = 0; k < n; k++)
    if (!rc) rc = sp_plant_write(p, u);
  if (!rc) rc = sp_plant_read(p, x, NULL, NULL);
  return rc;
}

TEST(car_opens_configures_activates_reads_writes_and_closes) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = NULL;
  char msg[512];
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), 0);
  CHECK_INT(sp_plant_configure(p, msg, sizeof msg), 0);
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  CHECK_STR(caps->backend, "mujoco");
  CHECK_STR(caps->robot, "rc_car");
  CHECK_INT(caps->nx, 4);
  CHECK_INT(caps->nu, 2);
  CHECK_STR(caps->x_names[3], "phi");
  CHECK_STR(caps->u_names[1], "steer");
  CHECK(caps->rate_hz == 50);
  CHECK(caps->can_reset);
  double x[4], u[2] = {0.5, 0};
  int64_t t = -1;
  CHECK_INT(sp_plant_read(p, x, &t, NULL), 0);
  CHECK_INT(t, 0);
  CHECK_INT(sp_plant_write(p, u), SP_ESTATE);  // not active yet
  CHECK_INT(sp_plant_activate(p), 0);
  CHECK_INT(sp_plant_write(p, u), 0);
  uint32_t status = 1;
  CHECK_INT(sp_plant_read(p, x, &t, &status), 0);
  CHECK_INT(t, 20000000);
  CHECK_INT(status, 0);
  CHECK_INT(sp_plant_deactivate(p), 0);
  CHECK_INT(sp_plant_write(p, u), SP_ESTATE);
  sp_plant_close(p);
}

TEST(bad_mjcf_path_and_malformed_xml_give_clear_messages) {
  char msg[512];
  sp_plant* p = NULL;
  sp_plant_mujoco_config c = car();
  c.mjcf = "no/such/car.xml";
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_EIO);
  CHECK(p == NULL);
  CHECK(strstr(msg, "no/such/car.xml") != NULL);
  CHECK(strstr(msg, "No such file") != NULL);

  // a broken file: MuJoCo's parser message and the file name
  const char* bad = "test_backend_mujoco_bad.xml";
  FILE* f = fopen(bad, "w");
  CHECK(f != NULL);
  fputs("<mujoco>\n  <worldbody>\n    <body name=\"a\">\n  </worldbody>\n</mujoco>\n", f);
  fclose(f);
  c.mjcf = bad;
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, bad) != NULL);
  CHECK(strstr(msg, "XML") != NULL && strstr(msg, "=3") != NULL);  // parser error, line 3
  CHECK(strchr(msg, '\n') == NULL);
  f = fopen(bad, "w");
  fputs(
      "<mujoco>\n  <worldbody>\n    <geom size=\"0.1\" colour=\"red\"/>\n  </worldbody>\n"
      "</mujoco>\n",
      f);
  fclose(f);
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, "unrecognized attribute: 'colour'") != NULL && strstr(msg, "line 3") != NULL);
  CHECK_INT(sp_plant_open(&p, "mujoco://.", NULL, msg, sizeof msg), SP_EIO);
  CHECK(strstr(msg, "is a directory") != NULL);

  // a valid file the mapping does not fit
  f = fopen(bad, "w");
  fputs(
      "<mujoco><worldbody><body><freejoint name=\"j\"/><geom size=\"0.1\"/></body></worldbody>"
      "</mujoco>\n",
      f);
  fclose(f);
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(strstr(msg, "'chassis'") != NULL);
  remove(bad);

  // names, indices and rates are checked against the model
  c = car();
  sp_plant_mujoco_state st[4];
  memcpy(st, car_state, sizeof st);
  st[2].name = "speedometer";
  c.state = st;
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(strstr(msg, "no sensor named 'speedometer'") != NULL);
  memcpy(st, car_state, sizeof st);
  st[0].index = 7;
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_ERANGE);
  CHECK(strstr(msg, "index 7") != NULL);
  c = car();
  c.rate_hz = 30;  // 0.0333 s is 16.7 steps of 2 ms
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "not an integer") != NULL);
  sp_plant_mujoco_actuator a[2] = {{0, "throttle", 1, 0}, {1, "rudder", 1, 0}};
  c = car();
  c.actuators = a;
  CHECK_INT(sp_plant_open(&p, "mujoco", &c, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(strstr(msg, "'rudder'") != NULL);
  CHECK(p == NULL);
}

TEST(sub_steps_follow_the_rate_and_the_timestep) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  CHECK_INT(sp_plant_mujoco_substeps(p), 10);  // 20 ms over 2 ms
  double x[4];
  drive(p, 0.3, 0, 7, x);
  CHECK_CLOSE(sp_plant_mujoco_data(p)->time, 0.14, 1e-12, 0);
  sp_plant_close(p);

  // explicit sub-steps set the timestep
  c.rate_hz = 100;
  c.substeps = 4;
  p = open_cfg("mujoco", &c);
  CHECK(p);
  CHECK_INT(sp_plant_mujoco_substeps(p), 4);
  CHECK_CLOSE(sp_plant_mujoco_model(p)->opt.timestep, 0.0025, 1e-15, 0);
  drive(p, 0.3, 0, 10, x);
  CHECK_CLOSE(sp_plant_mujoco_data(p)->time, 0.1, 1e-12, 0);
  sp_plant_close(p);
}

TEST(a_uri_alone_opens_the_raw_qpos_qvel_and_ctrl_plant) {
  char uri[600];
  snprintf(uri, sizeof uri, "mujoco://%s", car_xml());
  sp_plant* p = open_cfg(uri, NULL);
  CHECK(p);
  const mjModel* m = sp_plant_mujoco_model(p);
  const sp_plant_caps* caps = sp_plant_capabilities(p);
  CHECK_INT(caps->nx, m->nq + m->nv);
  CHECK_INT(caps->nu, m->nu);
  CHECK_STR(caps->robot, "rc_car");
  CHECK_STR(caps->x_names[m->nq], "qvel0");
  CHECK_STR(caps->u_names[0], "steer");
  CHECK(caps->rate_hz == 500);  // one 2 ms step per tick
  sp_plant_close(p);
}

TEST(reset_puts_the_car_at_the_requested_pose_heading_and_speed) {
  // a second view of the same quantities through the body sources
  sp_plant_mujoco_state st[7] = {
      car_state[0],
      car_state[1],
      car_state[2],
      car_state[3],
      {SP_MJ_BODY_YAW, "chassis", 0, 1, 0},
      {SP_MJ_BODY_VEL, "chassis", 0, 1, 0},
      {SP_MJ_BODY_POS, "chassis", 1, 1, 0},
  };
  sp_plant_mujoco_config c = car();
  c.nx = 7;
  c.state = st;
  c.x_names = NULL;
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  CHECK_STR(sp_plant_capabilities(p)->x_names[5], "chassis.body_vel0");
  const double poses[5][4] = {
      {0, 0, 0, 0},        {1.5, -2, 1.0, 0.7}, {-3, 0.5, 2.5, -2.9},
      {0.2, 0.1, -1, 3.1}, {0, 0, 1.5, 8.0},
  };
  for (int i = 0; i < 5; i++) {
    double x0[7] = {poses[i][0], poses[i][1], poses[i][2], poses[i][3], 0, 0, 0}, x[7];
    x0[4] = poses[i][3];
    x0[5] = poses[i][2];
    x0[6] = poses[i][1];
    CHECK_INT(sp_plant_reset(p, x0), 0);
    CHECK_INT(sp_plant_read(p, x, NULL, NULL), 0);
    for (int k = 0; k < 7; k++) CHECK_CLOSE(x[k], x0[k], 1e-9, 1e-9);

    // the wheels already roll at that speed, so the first tick has no slip transient (coasting
    // loses about 2 % a tick to the motor's drag)
    const mjModel* m = sp_plant_mujoco_model(p);
    const mjData* d = sp_plant_mujoco_data(p);
    for (int w = 0; w < 4; w++) {
      static const char* wheels[4] = {"rear_left", "rear_right", "front_left", "front_right"};
      int j = mj_name2id(m, mjOBJ_JOINT, wheels[w]);
      CHECK_CLOSE(d->qvel[m->jnt_dofadr[j]] * 0.05, poses[i][2], 1e-9, 1e-9);
    }
    CHECK_INT(drive(p, 0, 0, 1, x), 0);
    CHECK_CLOSE(x[2], poses[i][2], 0.035, 0.01);
    CHECK_CLOSE(x[3], poses[i][3], 0, 0.01);
  }
  sp_plant_close(p);
}

TEST(driving_forward_moves_the_car_along_its_heading) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  const double headings[4] = {0, 0.7, -2.0, 3.0};
  for (int i = 0; i < 4; i++) {
    double x0[4] = {1, -1, 0, headings[i]}, x[4];
    CHECK_INT(sp_plant_reset(p, x0), 0);
    CHECK_INT(drive(p, 1, 0, 50, x), 0);
    double dx = x[0] - 1, dy = x[1] + 1, dist = sqrt(dx * dx + dy * dy);
    CHECK(dist > 1.0);
    CHECK(x[2] > 1.5);
    CHECK_CLOSE(atan2(dy, dx), headings[i], 0, 0.01);
    CHECK_CLOSE(x[3], headings[i], 0, 0.01);
  }
  sp_plant_close(p);
}

TEST(full_throttle_reaches_a_plausible_top_speed_and_rest_is_still) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  double x[4];
  CHECK_INT(drive(p, 0, 0, 50, x), 0);  // a second at rest: no creep, no jitter
  CHECK(fabs(x[0]) < 1e-4 && fabs(x[1]) < 1e-4 && fabs(x[2]) < 1e-3 && fabs(x[3]) < 1e-4);
  CHECK_INT(drive(p, 1, 0, 250, x), 0);
  printf("  top speed at full throttle: %.2f m/s\n", x[2]);
  CHECK(x[2] > 4 && x[2] < 7);
  drive(p, -1, 0, 250, x);
  CHECK(x[2] < -3);
  sp_plant_close(p);
}

TEST(positive_steer_turns_left_in_a_circle_and_the_heading_stays_continuous) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  for (int sign = -1; sign <= 1; sign += 2) {
    CHECK_INT(sp_plant_reset(p, NULL), 0);
    double u[2] = {0.3, sign * 1.0}, x[4], prev = 0, xmin = 1e9, xmax = -1e9;
    for (int k = 0; k < 450; k++) {
      sp_plant_write(p, u);
      sp_plant_read(p, x, NULL, NULL);
      CHECK(fabs(x[3] - prev) < 0.2);  // no 2 pi jumps
      prev = x[3];
      if (k > 150) {
        xmin = fmin(xmin, x[0]);
        xmax = fmax(xmax, x[0]);
      }
    }
    CHECK(sign * x[3] > 2 * M_PI);  // more than a full turn, the right way round
    double radius = 0.5 * (xmax - xmin);
    if (sign > 0) printf("  turning radius at full steer (throttle 0.3): %.2f m\n", radius);
    CHECK(radius > 0.5 && radius < 1.2);
  }
  sp_plant_close(p);
}

TEST(delay_shifts_the_response_by_exactly_the_configured_ticks) {
  static const double uinit[2] = {0.1, -0.2};
  for (int d = 1; d <= 4; d += 3) {
    sp_plant_mujoco_config cd = car(), c0 = car();
    cd.delay_ticks = d;
    cd.u_init = uinit;
    sp_plant* pd = open_cfg("mujoco", &cd);
    sp_plant* p0 = open_cfg("mujoco", &c0);
    CHECK(pd && p0);
    double yd[4], y0[4];
    for (long k = 0; k < 60; k++) {
      double u[2] = {sin(0.2 * k), 0.8 * cos(0.13 * k)}, ua[2];
      if (k < d) {
        memcpy(ua, uinit, sizeof ua);
      } else {
        ua[0] = sin(0.2 * (k - d));
        ua[1] = 0.8 * cos(0.13 * (k - d));
      }
      sp_plant_write(pd, u);
      sp_plant_write(p0, ua);
      sp_plant_read(pd, yd, NULL, NULL);
      sp_plant_read(p0, y0, NULL, NULL);
      if (memcmp(yd, y0, sizeof yd)) SP_FAIL_("delay %d: state differs at tick %ld", d, k);
    }
    sp_plant_close(pd);
    sp_plant_close(p0);
  }
}

static int act_steer(void* user, double* u, const double* x, double t, long k) {
  u[0] = 0.5 - 0.3 * x[2];
  u[1] = 0.5 * sin(t);
  return 0;
}

TEST(same_seed_gives_the_same_noisy_trajectory_and_another_seed_does_not) {
  static const double vstd[4] = {0.01, 0.01, 0.05, 0.02}, safe[2] = {0, 0};
  double wstd[12];
  for (int i = 0; i < 12; i++) wstd[i] = 0.01;
  sp_plant_mujoco_config c = car();
  c.sensor_std = vstd;
  c.process_std = wstd;
  c.delay_ticks = 1;
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  sp_safety_config sc = {.nx = 4, .nu = 2, .u_safe = safe, .period_s = 0.02};
  sp_safety* s = NULL;
  sp_loop* l = NULL;
  sp_loop_config lc = {.mode = SP_LOOP_LOCKSTEP, .act = act_steer};
  CHECK_INT(sp_safety_new(&s, &sc, NULL, 0), 0);
  CHECK_INT(sp_loop_new(&l, p, s, &lc, NULL, 0), 0);
  for (uint64_t seed = 1; seed <= 3; seed++) {
    sp_traj a, b, d;
    sp_rollout_opts o = {.steps = 100, .seed = seed};
    CHECK_INT(sp_loop_rollout(l, &a, &o), 0);
    CHECK_INT(sp_loop_rollout(l, &b, &o), 0);
    o.seed = seed + 100;
    CHECK_INT(sp_loop_rollout(l, &d, &o), 0);
    CHECK_STR(a.backend, "mujoco");
    CHECK(memcmp(a.x, b.x, sizeof(double) * 4 * 101) == 0);
    CHECK(memcmp(a.x, d.x, sizeof(double) * 4 * 101) != 0);
    sp_traj_free(&a);
    sp_traj_free(&b);
    sp_traj_free(&d);
  }
  sp_loop_free(l);
  sp_safety_free(s);
  sp_plant_close(p);
}

TEST(sensor_noise_has_the_configured_std) {
  static const double vstd[4] = {0.01, 0.02, 0.05, 0.0};
  for (uint64_t seed = 1; seed <= 2; seed++) {
    sp_plant_mujoco_config c = car(), c0 = car();
    c.sensor_std = vstd;
    c.seed = seed;
    sp_plant* p = open_cfg("mujoco", &c);
    sp_plant* p0 = open_cfg("mujoco", &c0);
    CHECK(p && p0);
    double u[2] = {0.2, 0.3}, y[4], x[4], s2[4] = {0};
    int n = 800;
    for (int k = 0; k < n; k++) {
      sp_plant_write(p, u);
      sp_plant_write(p0, u);
      sp_plant_read(p, y, NULL, NULL);
      sp_plant_read(p0, x, NULL, NULL);
      for (int i = 0; i < 4; i++) s2[i] += (y[i] - x[i]) * (y[i] - x[i]);
    }
    for (int i = 0; i < 4; i++) CHECK_CLOSE(sqrt(s2[i] / n), vstd[i], 0.1, 1e-12);
    sp_plant_close(p);
    sp_plant_close(p0);
  }
}

// speed after one second of full throttle from rest
static double speed_after_1s(sp_plant* p) {
  double x[4];
  sp_plant_reset(p, NULL);
  drive(p, 1, 0, 50, x);
  return x[2];
}

TEST(joint_damping_and_dry_friction_slow_the_car_and_restore_exactly) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  mjModel* m = sp_plant_mujoco_model(p);
  int nv = m->nv;
  double v_nominal = speed_after_1s(p);
  double damping0 = 0, friction0 = 0;
  for (int v = 0; v < nv; v++) damping0 += m->dof_damping[v], friction0 += m->dof_frictionloss[v];

  // damping scales every dof's damping; frictionloss adds to every dof's
  sp_plant_mujoco_perturbation q = {.damping = 3};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, NULL, 0), 0);
  double sum = 0;
  for (int v = 0; v < nv; v++) sum += m->dof_damping[v];
  CHECK_CLOSE(sum, 3 * damping0, 1e-12, 0);
  CHECK(damping0 > 0);
  double v_damped = speed_after_1s(p);
  CHECK(v_damped < v_nominal);
  q = (sp_plant_mujoco_perturbation){.frictionloss = 0.05};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, NULL, 0), 0);
  for (int v = 0; v < nv; v++) CHECK(m->dof_frictionloss[v] >= 0.05);
  double v_sticky = speed_after_1s(p);
  CHECK(v_sticky < v_nominal);
  printf("  speed after 1 s: nominal %.2f, damping x3 %.2f, +0.05 dry friction %.2f m/s\n",
         v_nominal, v_damped, v_sticky);

  // a negative friction or scale changes nothing
  char msg[256];
  q = (sp_plant_mujoco_perturbation){.frictionloss = -1};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "frictionloss") != NULL);
  for (int v = 0; v < nv; v++) CHECK(m->dof_frictionloss[v] >= 0.05);

  // NULL restores the file's values: the same trajectory bit for bit
  CHECK_INT(sp_plant_mujoco_perturb(p, NULL, NULL, 0), 0);
  double dsum = 0, fsum = 0;
  for (int v = 0; v < nv; v++) dsum += m->dof_damping[v], fsum += m->dof_frictionloss[v];
  CHECK(dsum == damping0 && fsum == friction0);
  CHECK(speed_after_1s(p) == v_nominal);
  sp_plant_close(p);
}

TEST(perturbations_change_mass_friction_and_gear_and_restore_exactly) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  mjModel* m = sp_plant_mujoco_model(p);
  int chassis = mj_name2id(m, mjOBJ_BODY, "chassis"), tyre = mj_name2id(m, mjOBJ_GEOM, "rear_left");
  int thr = mj_name2id(m, mjOBJ_ACTUATOR, "throttle"),
      steer = mj_name2id(m, mjOBJ_ACTUATOR, "steer");
  double mass = m->body_mass[chassis], inertia = m->body_inertia[3 * chassis + 2];
  double mu = m->geom_friction[3 * tyre], gear = m->actuator_gear[6 * thr];
  double total = m->body_subtreemass[0];
  double v_nominal = speed_after_1s(p);

  // heavier: slower; stronger motor: faster
  sp_plant_mujoco_perturbation q = {.mass = 1.5};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, NULL, 0), 0);
  CHECK_CLOSE(m->body_mass[chassis], 1.5 * mass, 1e-12, 0);
  CHECK_CLOSE(m->body_inertia[3 * chassis + 2], 1.5 * inertia, 1e-12, 0);
  CHECK_CLOSE(m->body_subtreemass[0], 1.5 * total, 1e-12, 0);
  double v_heavy = speed_after_1s(p);
  CHECK(v_heavy < 0.9 * v_nominal);
  sp_plant_mujoco_scale motor = {"throttle", 1.3};
  q = (sp_plant_mujoco_perturbation){.actuator_gear = &motor, .nactuator_gear = 1};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, NULL, 0), 0);
  CHECK_CLOSE(m->body_mass[chassis], mass, 1e-15, 0);  // relative to the file, not cumulative
  CHECK_CLOSE(m->actuator_gear[6 * thr], 1.3 * gear, 1e-12, 0);
  CHECK_CLOSE(m->actuator_gear[6 * steer], 1.0, 1e-15, 0);
  double v_strong = speed_after_1s(p);
  CHECK(v_strong > 1.05 * v_nominal);

  // slippery: the tyres spin and the car accelerates less
  q = (sp_plant_mujoco_perturbation){.friction = 0.2};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, NULL, 0), 0);
  CHECK_CLOSE(m->geom_friction[3 * tyre], 0.2 * mu, 1e-12, 0);
  CHECK_CLOSE(m->actuator_gear[6 * thr], gear, 1e-15, 0);
  double v_slip = speed_after_1s(p);
  CHECK(v_slip < 0.9 * v_nominal);
  printf(
      "  speed after 1 s of full throttle: nominal %.2f, mass x1.5 %.2f, motor x1.3 %.2f, "
      "friction x0.2 %.2f m/s\n",
      v_nominal, v_heavy, v_strong, v_slip);
  q = (sp_plant_mujoco_perturbation){.actuator_gear = &motor, .nactuator_gear = 1};
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, NULL, 0), 0);

  // a bad name changes nothing
  sp_plant_mujoco_scale bad[2] = {{"chassis", 2}, {"trailer", 2}};
  q = (sp_plant_mujoco_perturbation){.body_mass = bad, .nbody_mass = 2};
  char msg[256];
  CHECK_INT(sp_plant_mujoco_perturb(p, &q, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(strstr(msg, "no body named 'trailer'") != NULL);
  CHECK_CLOSE(m->actuator_gear[6 * thr], 1.3 * gear, 1e-12, 0);

  // NULL restores the file's model exactly: the same trajectory bit for bit
  CHECK_INT(sp_plant_mujoco_perturb(p, NULL, NULL, 0), 0);
  CHECK(m->body_mass[chassis] == mass && m->geom_friction[3 * tyre] == mu &&
        m->actuator_gear[6 * thr] == gear);
  CHECK(speed_after_1s(p) == v_nominal);
  sp_plant_close(p);

  // the config's perturbation applies from the start
  q = (sp_plant_mujoco_perturbation){.mass = 1.5};
  c.perturb = &q;
  p = open_cfg("mujoco", &c);
  CHECK(p);
  CHECK(speed_after_1s(p) == v_heavy);
  sp_plant_close(p);
}

static uint64_t mj_allocs;
static void* counting_malloc(size_t n) {
  mj_allocs++;
  return malloc(n);
}
static void counting_free(void* q) {
  free(q);
}

TEST(ticks_and_resets_allocate_nothing_in_spinal_or_in_mujoco) {
  static const double vstd[4] = {0.01, 0.01, 0.01, 0.01};
  double wstd[12] = {0.001};
  sp_plant_mujoco_config c = car();
  c.sensor_std = vstd;
  c.process_std = wstd;
  c.delay_ticks = 2;
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  void* (*old_malloc)(size_t) = mju_user_malloc;
  void (*old_free)(void*) = mju_user_free;
  mju_user_malloc = counting_malloc;
  mju_user_free = counting_free;
  mj_allocs = 0;
  uint64_t before = sp_alloc_count();
  double u[2], y[4], x0[4] = {0, 0, 1, 0.5};
  for (long k = 0; k < 500; k++) {
    u[0] = sin(0.05 * k);
    u[1] = cos(0.03 * k);
    sp_plant_write(p, u);
    sp_plant_read(p, y, NULL, NULL);
  }
  CHECK_INT(sp_plant_reset(p, x0), 0);
  CHECK(sp_alloc_count() == before);
  CHECK(mj_allocs == 0);
  mju_user_malloc = old_malloc;
  mju_user_free = old_free;
  sp_plant_close(p);
}

static int mj_warnings;
static void quiet_warning(const char* msg) {
  mj_warnings++;
}

TEST(a_blown_up_simulation_is_reported_as_a_fault_until_reset) {
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  void (*old)(const char*) = mju_user_warning;
  mju_user_warning = quiet_warning;  // MuJoCo would print and write MUJOCO_LOG.TXT
  double x[4], u[2] = {0.5, 0};
  uint32_t status = 0;
  CHECK_INT(sp_plant_write(p, u), 0);
  sp_plant_mujoco_data(p)->qvel[0] = NAN;
  CHECK_INT(sp_plant_write(p, u), SP_ENUMERIC);
  CHECK_INT(sp_plant_read(p, x, NULL, &status), 0);
  CHECK(status & SP_FLAG_PLANT_FAULT);
  CHECK(isfinite(x[0]) && isfinite(x[2]));  // MuJoCo reset the data itself
  CHECK_INT(sp_plant_write(p, u), 0);       // later ticks are fine, the fault stays reported
  CHECK_INT(sp_plant_read(p, x, NULL, &status), 0);
  CHECK(status & SP_FLAG_PLANT_FAULT);
  CHECK_INT(sp_plant_reset(p, NULL), 0);
  CHECK_INT(sp_plant_read(p, x, NULL, &status), 0);
  CHECK_INT(status, 0);
  CHECK(mj_warnings > 0);
  mju_user_warning = old;
  sp_plant_close(p);
}

// least squares of y on the columns of A (n x k, k <= 3), via the normal equations
static void lsq(double* beta, const double* A, const double* y, int n, int k) {
  double G[9] = {0}, r[3] = {0};
  for (int i = 0; i < n; i++)
    for (int a = 0; a < k; a++) {
      r[a] += A[i * k + a] * y[i];
      for (int b = 0; b < k; b++) G[a * k + b] += A[i * k + a] * A[i * k + b];
    }
  // Gaussian elimination, k small and G well conditioned by construction
  for (int a = 0; a < k; a++)
    for (int b = a + 1; b < k; b++) {
      double f = G[b * k + a] / G[a * k + a];
      for (int cc = a; cc < k; cc++) G[b * k + cc] -= f * G[a * k + cc];
      r[b] -= f * r[a];
    }
  for (int a = k - 1; a >= 0; a--) {
    double s = r[a];
    for (int b = a + 1; b < k; b++) s -= G[a * k + b] * beta[b];
    beta[a] = s / G[a * k + a];
  }
}

TEST(mujoco_car_behaves_like_method_1_car_models_loosely) {
  // excite the car with slow, varied commands, then fit the simple models to the recorded
  // finite differences: unicycle_accel (v' = k_a u1, phi' = k_s v u2) and car_drag
  // (v' = k_a u1 - c_d v|v|, phi' = (k_s u2 + b_s) v)
  sp_plant_mujoco_config c = car();
  sp_plant* p = open_cfg("mujoco", &c);
  CHECK(p);
  enum { N = 1000 };
  static double X[N + 1][4], U[N][2];
  sp_plant_read(p, X[0], NULL, NULL);
  for (int k = 0; k < N; k++) {
    double t = 0.02 * k;
    U[k][0] = 0.45 + 0.35 * sin(0.7 * t) + 0.15 * sin(2.3 * t);
    U[k][1] = 0.8 * sin(0.45 * t + 0.5 * sin(1.7 * t));
    sp_plant_write(p, U[k]);
    sp_plant_read(p, X[k + 1], NULL, NULL);
  }
  static double A1[N], A2[2 * N], B1[N], B2[2 * N], dv[N], dphi[N];
  for (int k = 0; k < N; k++) {
    double v = X[k][2];
    dv[k] = (X[k + 1][2] - X[k][2]) / 0.02;
    dphi[k] = (X[k + 1][3] - X[k][3]) / 0.02;
    A1[k] = U[k][0];
    A2[2 * k] = U[k][0];
    A2[2 * k + 1] = -v * fabs(v);
    B1[k] = v * U[k][1];
    B2[2 * k] = v * U[k][1];
    B2[2 * k + 1] = v;
  }
  double ka, ks, kd[2], sd[2];
  lsq(&ka, A1, dv, N, 1);
  lsq(&ks, B1, dphi, N, 1);
  lsq(kd, A2, dv, N, 2);
  lsq(sd, B2, dphi, N, 2);

  // residual of the fitted unicycle heading model, relative to the heading rate
  double e2 = 0, s2 = 0;
  for (int k = 0; k < N; k++) {
    double r = dphi[k] - ks * B1[k];
    e2 += r * r;
    s2 += dphi[k] * dphi[k];
  }
  printf("  best fit unicycle_accel: k_a = %.2f, k_s = %.2f (heading-rate residual %.0f%%)\n", ka,
         ks, 100 * sqrt(e2 / s2));
  printf(
      "  best fit car_drag: k_a = %.2f, c_d = %.3f, k_s = %.2f, b_s = %.3f "
      "(method 1's car: 11.25, 0.55, 6.5, 0.1)\n",
      kd[0], kd[1], sd[0], sd[1]);

  // the same signs and orders of magnitude as the simple car: throttle accelerates, positive
  // steer turns left, drag slows a fast car; steering as curvature = 0.4 rad / wheelbase 0.32 m
  CHECK(ka > 0.2 && ka < 20);
  CHECK(kd[0] > 1 && kd[1] > 0.05);
  CHECK(ks > 0.5 && ks < 2.5);
  CHECK(fabs(sd[1]) < 0.1);  // no steering bias: the car is symmetric
  CHECK(sqrt(e2 / s2) < 0.5);
  sp_plant_close(p);
}

TEST_MAIN()
