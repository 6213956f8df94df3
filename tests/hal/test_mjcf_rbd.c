// test_mjcf_rbd.c: trees imported from MJCF (hal/mjcf_rbd.c) against MuJoCo itself on the same
// model with contacts, limits and equality constraints disabled: the mass matrix (mj_fullM, with
// armature), the bias forces (qfrc_bias) and forward dynamics (qacc from qfrc_applied and ctrl,
// with MuJoCo's damping and springs) agree to 1e-9 relative on random states, for the arm and
// cart-pole in robots/, MuJoCo's humanoid sample, a free-floating 12-joint quadruped tree and the
// quadruped robot (robots/quadruped.xml).
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/rng.h"
#include "hal/mjcf_rbd.h"
#include "test.h"

#define HUMANOID "/usr/share/mujoco/model/humanoid/humanoid.xml"

static const char* robot(const char* file) {
  static char buf[1024];
  const char* src = getenv("SPINAL_SOURCE_DIR");
  snprintf(buf, sizeof buf, "%s/robots/%s", src ? src : "..", file);
  return buf;
}

static double rel(const double* a, const double* b, int n) {
  double e = 0, s = 0;
  for (int i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i])), s = fmax(s, fabs(b[i]));
  return e / (s > 0 ? s : 1);
}

// worst relative disagreement over nstates random states
static void compare(int* sp_failed_, const char* path, int nstates) {
  char err[512] = "";
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) SP_FAIL_("cannot load %s: %s", path, err);
  m->opt.disableflags |= mjDSBL_CONTACT | mjDSBL_LIMIT | mjDSBL_EQUALITY | mjDSBL_FRICTIONLOSS;
  mjData* d = mj_makeData(m);
  sp_rbd* t;
  char msg[256];
  int rc = sp_mjcf_rbd_from_model(&t, m, msg, sizeof msg);
  if (rc) SP_FAIL_("%s: %s", path, msg);
  sp_rbd_data* w;
  CHECK_INT(sp_rbd_data_new(&w, t), SP_OK);
  int nv = m->nv;
  double* M = malloc(sizeof(double) * (size_t)(nv * nv * 2 + 4 * nv));
  double *Mmj = M + nv * nv, *b = Mmj + nv * nv, *qdd = b + nv, *tau = qdd + nv, *tu = tau + nv;
  sp_rng r;
  sp_rng_seed(&r, 11, 0);
  double eM = 0, eb = 0, ea = 0;
  for (int s = 0; s < nstates; s++) {
    mj_resetData(m, d);
    for (int i = 0; i < nv; i++) d->qvel[i] = sp_rng_normal(&r);
    mj_integratePos(m, d->qpos, d->qvel, 0.5);
    for (int i = 0; i < nv; i++) d->qvel[i] = 2 * sp_rng_normal(&r);
    for (int i = 0; i < nv; i++) d->qfrc_applied[i] = 5 * sp_rng_normal(&r);
    for (int a = 0; a < m->nu; a++) d->ctrl[a] = 2 * sp_rng_uniform(&r) - 1;
    mj_forward(m, d);
    mj_fullM(m, Mmj, d->qM);
    sp_rbd_crba(M, w, d->qpos);
    eM = fmax(eM, rel(M, Mmj, nv * nv));
    sp_rbd_bias(b, w, d->qpos, d->qvel);
    eb = fmax(eb, rel(b, d->qfrc_bias, nv));
    sp_rbd_actuate(t, tu, d->ctrl);
    for (int i = 0; i < nv; i++) tau[i] = tu[i] + d->qfrc_applied[i];
    sp_rbd_aba(qdd, w, d->qpos, d->qvel, tau);
    ea = fmax(ea, rel(qdd, d->qacc, nv));
  }
  printf("  %s: nq %d nv %d nu %d: M %.1e, bias %.1e, qacc %.1e\n", path, m->nq, nv, m->nu, eM, eb,
         ea);
  free(M);
  sp_rbd_data_free(w);
  sp_rbd_free(t);
  mj_deleteData(d);
  mj_deleteModel(m);
  CHECK(eM < 1e-9);
  CHECK(eb < 1e-9);
  CHECK(ea < 1e-9);
}

TEST(arm3_matches_mujoco) {
  compare(sp_failed_, robot("arm3.xml"), 20);
}
TEST(cartpole_matches_mujoco) {
  compare(sp_failed_, robot("cartpole.xml"), 20);
}
TEST(humanoid_sample_matches_mujoco) {
  compare(sp_failed_, HUMANOID, 20);
}
TEST(free_floating_quadruped_tree_matches_mujoco) {
  compare(sp_failed_, robot("quadruped_tree.xml"), 20);
}
TEST(quadruped_robot_matches_mujoco) {
  compare(sp_failed_, robot("quadruped.xml"), 20);
}

// our manifold semi-implicit step's exact A, B against MuJoCo's own finite-difference transition
// Jacobians (mjd_transitionFD, tangent space) of its Euler step, with damping removed (MuJoCo's
// Euler treats damping implicitly, the tree's step explicitly)
static void compare_step(int* sp_failed_, const char* path) {
  char err[512] = "";
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) SP_FAIL_("cannot load %s: %s", path, err);
  m->opt.disableflags |= mjDSBL_CONTACT | mjDSBL_LIMIT | mjDSBL_EQUALITY | mjDSBL_FRICTIONLOSS;
  m->opt.integrator = mjINT_EULER;
  for (int i = 0; i < m->nv; i++) m->dof_damping[i] = 0;
  mjData* d = mj_makeData(m);
  sp_rbd* t;
  char msg[256];
  if (sp_mjcf_rbd_from_model(&t, m, msg, sizeof msg)) SP_FAIL_("%s: %s", path, msg);
  sp_rbd_data* w;
  CHECK_INT(sp_rbd_data_new(&w, t), SP_OK);
  int nv = m->nv, nu = m->nu, n = 2 * nv;
  double* buf = malloc(sizeof(double) * (size_t)(2 * n * n + 2 * n * nu + 2 * nv + 8));
  double *A = buf, *Am = A + n * n, *B = Am + n * n, *Bm = B + n * nu, *qn = Bm + n * nu;
  double* vn = qn + nv + 8;
  sp_rng r;
  sp_rng_seed(&r, 5, 0);
  double ea = 0, eb = 0;
  for (int s = 0; s < 3; s++) {
    mj_resetData(m, d);
    for (int i = 0; i < nv; i++) d->qvel[i] = sp_rng_normal(&r);
    mj_integratePos(m, d->qpos, d->qvel, 0.3);
    for (int i = 0; i < nv; i++) d->qvel[i] = sp_rng_normal(&r);
    for (int a = 0; a < nu; a++) d->ctrl[a] = sp_rng_uniform(&r) - 0.5;
    mj_forward(m, d);
    mjd_transitionFD(m, d, 1e-7, 1, Am, nu ? Bm : NULL, NULL, NULL);
    CHECK_INT(sp_rbd_step(qn, vn, A, B, NULL, w, d->qpos, d->qvel, d->ctrl, m->opt.timestep),
              SP_OK);
    ea = fmax(ea, rel(A, Am, n * n));
    if (nu) eb = fmax(eb, rel(B, Bm, n * nu));
  }
  printf("  %s: step A %.1e, B %.1e (vs mjd_transitionFD)\n", path, ea, eb);
  free(buf);
  sp_rbd_data_free(w);
  sp_rbd_free(t);
  mj_deleteData(d);
  mj_deleteModel(m);
  CHECK(ea < 1e-6);
  CHECK(eb < 1e-6);
}

TEST(step_jacobians_match_mujoco_transition_fd_on_free_floating_trees) {
  compare_step(sp_failed_, HUMANOID);
  compare_step(sp_failed_, robot("quadruped_tree.xml"));
  compare_step(sp_failed_, robot("quadruped.xml"));
  compare_step(sp_failed_, robot("arm3.xml"));
}

// write xml to a temporary file; path receives its name (remove it after use)
static int write_tmp(char* path, const char* xml) {
  strcpy(path, "/tmp/spinal_mjcf_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  FILE* f = fdopen(fd, "w");
  fputs(xml, f);
  fclose(f);
  return 0;
}

// servos (position, velocity), two actuators on one joint, springs with springref, refs, a ball
// joint and a body with three joints
static const char* servo_xml =
    "<mujoco><option gravity='0.5 0 -9.81'/><worldbody>"
    "<body name='a' pos='0 0 1' quat='0.9 0.1 0.2 0.3'>"
    "  <joint name='ja' axis='0 1 0' ref='0.3' stiffness='2' springref='0.5' damping='0.2'/>"
    "  <joint name='jb' type='slide' axis='1 0 1' ref='0.1' armature='0.05'/>"
    "  <joint name='jc' axis='1 0 0' pos='0 0 0.1'/>"
    "  <geom type='capsule' fromto='0 0 0 0.3 0 0' size='0.05'/>"
    "  <body name='b' pos='0.3 0 0'><joint name='jd' type='ball' pos='0 0 0.05' damping='0.1'/>"
    "    <geom type='box' size='0.1 0.05 0.02' pos='0.1 0 0'/></body>"
    "</body></worldbody><actuator>"
    "  <position name='pa' joint='ja' kp='30' gear='2'/>"
    "  <velocity name='vb' joint='jb' kv='4'/>"
    "  <motor name='mc' joint='jc' gear='3'/>"
    "  <motor name='ma' joint='ja' gear='1.5'/>"
    "</actuator></mujoco>";

TEST(servo_actuators_springs_refs_and_ball_joints_match_mujoco) {
  char path[64];
  CHECK(write_tmp(path, servo_xml) == 0);
  int failed = 0;
  compare(&failed, path, 20);
  sp_rbd* t;
  char msg[256];
  int rc = sp_mjcf_rbd_load(&t, path, msg, sizeof msg);
  remove(path);
  CHECK(!failed);
  CHECK_INT(rc, SP_OK);
  CHECK_INT(t->nu, 4);
  CHECK_INT(t->act_dof[0], t->act_dof[3]);  // two actuators on ja
  sp_rbd_free(t);
}

TEST(import_keeps_mujoco_layout_names_and_actuator_order) {
  sp_rbd* t;
  char msg[256];
  CHECK_INT(sp_mjcf_rbd_load(&t, HUMANOID, msg, sizeof msg), SP_OK);
  CHECK_INT(t->nq, 28);
  CHECK_INT(t->nv, 27);
  CHECK_INT(t->nu, 21);
  // first motor drives abdomen_y, the second joint of body 'lower_waist' (abdomen_z comes first)
  int l = sp_rbd_find(t, "lower_waist");
  CHECK(l >= 0);
  CHECK_INT(t->act_dof[0], t->links[l].iv);
  CHECK_INT(t->act_dof[1], t->links[l].iv - 1);
  CHECK(fabs(t->act_gear[0] - 40) < 1e-12);
  double mass;
  CHECK_INT(sp_rbd_param_get(t, "torso.mass", &mass), SP_OK);
  CHECK(mass > 0);
  sp_rbd_free(t);
}

TEST(missing_file_and_unsupported_actuator_are_reported) {
  sp_rbd* t;
  char msg[512];
  CHECK_INT(sp_mjcf_rbd_load(&t, "/nonexistent/robot.xml", msg, sizeof msg), SP_EFORMAT);
  CHECK(t == NULL);
  CHECK(strstr(msg, "/nonexistent/robot.xml") != NULL);
  const char* xml =
      "<mujoco><worldbody><body name='b'><joint name='j' axis='0 1 0'/>"
      "<geom size='.1' mass='1'/></body></worldbody>"
      "<actuator><general name='servo' joint='j' dyntype='filter'/></actuator></mujoco>";
  char path[] = "/tmp/spinal_mjcf_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE* f = fdopen(fd, "w");
  fputs(xml, f);
  fclose(f);
  int rc = sp_mjcf_rbd_load(&t, path, msg, sizeof msg);
  remove(path);
  CHECK_INT(rc, SP_EUNSUPPORTED);
  CHECK(strstr(msg, "'servo'") != NULL);
  // fluid forces would make the tree disagree with MuJoCo: refused, not ignored
  CHECK(write_tmp(path,
                  "<mujoco><option density='1.2'/><worldbody><body><joint/>"
                  "<geom size='.1'/></body></worldbody></mujoco>") == 0);
  rc = sp_mjcf_rbd_load(&t, path, msg, sizeof msg);
  remove(path);
  CHECK_INT(rc, SP_EUNSUPPORTED);
  CHECK(strstr(msg, "density") != NULL);
}

// a model no simulation can use is refused by the import and by the mujoco plant, naming the file
static void refused(int* sp_failed_, const char* xml, const char* want) {
  char path[64], msg[512], want_msg[600];
  CHECK(write_tmp(path, xml) == 0);
  sp_rbd* t = NULL;
  int rc = sp_mjcf_rbd_load(&t, path, msg, sizeof msg);
  remove(path);
  CHECK_INT(rc, SP_EFORMAT);
  CHECK(t == NULL);
  snprintf(want_msg, sizeof want_msg, "%s: %s", path, want);
  CHECK_STR(msg, want_msg);
}

TEST(nan_numbers_and_non_positive_timesteps_are_refused_with_the_file_named) {
  const char* body =
      "<worldbody><body name='b' pos='0 0 1'><joint name='j' axis='0 1 0'/>"
      "<geom size='.1' mass='1'/></body></worldbody></mujoco>";
  char xml[512];
  snprintf(xml, sizeof xml, "<mujoco><option timestep='0'/>%s", body);
  refused(sp_failed_, xml, "option timestep must be a positive number of seconds, got 0");
  snprintf(xml, sizeof xml, "<mujoco><option timestep='-0.01'/>%s", body);
  refused(sp_failed_, xml, "option timestep must be a positive number of seconds, got -0.01");
  snprintf(xml, sizeof xml, "<mujoco><option timestep='nan'/>%s", body);
  refused(sp_failed_, xml, "a number in the XML is NaN (MuJoCo only warns about it)");
  refused(sp_failed_,
          "<mujoco><worldbody><body name='b' pos='nan 0 1'><joint name='j' axis='0 1 0'/>"
          "<geom size='.1' mass='1'/></body></worldbody></mujoco>",
          "a number in the XML is NaN (MuJoCo only warns about it)");
}

TEST_MAIN()
