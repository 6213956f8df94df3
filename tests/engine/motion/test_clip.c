// test_clip.c: engine/motion/clip.c and clip_file.c: derivatives against the analytic motion they
// sample (second order in the frame spacing), interpolation and windows, looping, files in spinal's
// two formats and the public mocap text format written here, and the errors naming file and field.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/la/quat.h"
#include "engine/motion/clip.h"
#include "engine/motion/clip_file.h"
#include "test.h"

static const char* tmp_path(const char* name) {
  return sp_test_tmp_path("spinal_clip", name);
}

static void write_text(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

// the analytic motion: constant body rates w0 from q(0) = Exp(r0), p(t) = (t + t^2/2, sin t, 0.3),
// joints j(t) = sin(t + j)
static const double w0[3] = {0.4, -0.7, 1.1}, r0[3] = {0.2, 0.1, -0.3};
static void truth(double t, double* p, double* q, double* vw, double* j, double* jd, int nj) {
  double e[4], q0[4], rv[3] = {w0[0] * t, w0[1] * t, w0[2] * t};
  sp_quat_exp(q0, r0);
  sp_quat_exp(e, rv);
  sp_quat_mul(q, q0, e);
  p[0] = t + t * t / 2, p[1] = sin(t), p[2] = 0.3;
  vw[0] = 1 + t, vw[1] = cos(t), vw[2] = 0;
  for (int k = 0; k < nj; k++) j[k] = sin(t + k), jd[k] = cos(t + k);
}

static sp_clip* analytic_clip(int n, double dt, int nj) {
  sp_clip* c;
  if (sp_clip_new(&c, n, nj, dt, 0)) return NULL;
  for (int i = 0; i < n; i++) {
    double vw[3], jd[SP_CLIP_MAXJOINTS];
    truth(i * dt, c->pos + 3 * i, c->quat + 4 * i, vw, c->joints + i * nj, jd, nj);
  }
  if (sp_clip_finish(c, NULL, 0)) abort();
  return c;
}

// largest error of the interior frames' velocities against the analytic ones
static double velocity_error(int n, double dt) {
  const int nj = 3;
  sp_clip* c = analytic_clip(n, dt, nj);
  double worst = 0;
  for (int i = 1; i < n - 1; i++) {
    double p[3], q[4], vw[3], j[3], jd[3], vb[3];
    truth(i * dt, p, q, vw, j, jd, nj);
    sp_quat_rotate_inv(vb, q, vw);
    for (int k = 0; k < 3; k++) {
      worst = fmax(worst, fabs(c->vel[3 * i + k] - vb[k]));
      // constant body rates: central differences of the orientation are exact
      if (fabs(c->angvel[3 * i + k] - w0[k]) > 1e-9) worst = 1e9;
    }
    for (int k = 0; k < nj; k++) worst = fmax(worst, fabs(c->jvel[i * nj + k] - jd[k]));
  }
  sp_clip_free(c);
  return worst;
}

TEST(velocities_are_second_order_body_frame_derivatives_of_the_frames) {
  double e1 = velocity_error(41, 0.05), e2 = velocity_error(81, 0.025);
  CHECK(e1 < 2e-3);
  CHECK(e1 / e2 > 3.5 && e1 / e2 < 4.5);  // halving the spacing quarters the error
}

TEST(samples_hit_the_frames_and_slerp_between_them) {
  sp_clip* c = analytic_clip(11, 0.1, 2);
  int nx = sp_clip_nx(c);
  CHECK_INT(nx, 17);
  CHECK_CLOSE(sp_clip_duration(c), 1.0, 1e-15, 0);
  double s[17], w[3 * 17];
  sp_clip_sample(c, s, 0.3);
  for (int k = 0; k < 3; k++) CHECK_CLOSE(s[k], c->pos[9 + k], 1e-12, 1e-15);
  for (int k = 0; k < 4; k++) CHECK_CLOSE(s[3 + k], c->quat[12 + k], 1e-12, 1e-15);
  for (int k = 0; k < 3; k++) CHECK_CLOSE(s[10 + k], c->angvel[9 + k], 1e-12, 1e-15);
  CHECK_CLOSE(s[13 + 1], c->joints[3 * 2 + 1], 1e-12, 1e-15);
  // between frames: constant body rate, so the slerp is the true orientation
  double p[3], q[4], vw[3], j[2], jd[2];
  sp_clip_sample(c, s, 0.35);
  truth(0.35, p, q, vw, j, jd, 2);
  for (int k = 0; k < 4; k++) CHECK_CLOSE(s[3 + k], q[k], 1e-12, 1e-14);
  CHECK_CLOSE(s[13], 0.5 * (c->joints[6] + c->joints[8]), 1e-12, 0);
  // beyond the ends a clip that does not loop holds its end frames
  sp_clip_sample(c, s, 5.0);
  CHECK_CLOSE(s[0], c->pos[30], 1e-15, 0);
  sp_clip_sample(c, s, -1.0);
  CHECK_CLOSE(s[0], c->pos[0], 1e-15, 0);
  // windows are samples at the offsets
  const double off[3] = {0.0, 0.1, 0.25};
  double one[17];
  sp_clip_window(c, w, 0.2, off, 3);
  for (int i = 0; i < 3; i++) {
    sp_clip_sample(c, one, 0.2 + off[i]);
    for (int k = 0; k < nx; k++) CHECK_CLOSE(w[i * nx + k], one[k], 0, 0);
  }
  sp_clip_free(c);
}

TEST(a_looping_clip_wraps_and_keeps_walking) {
  sp_clip* c = analytic_clip(11, 0.1, 1);
  c->loop = 1;
  double a[15], b[15];
  sp_clip_sample(c, a, 0.25);
  sp_clip_sample(c, b, 2.25);  // two cycles later
  CHECK_CLOSE(b[0], a[0] + 2 * (c->pos[30] - c->pos[0]), 1e-12, 1e-12);
  CHECK_CLOSE(b[1], a[1] + 2 * (c->pos[31] - c->pos[1]), 1e-12, 1e-12);
  CHECK_CLOSE(b[2], a[2], 1e-12, 0);  // height is not offset
  for (int k = 3; k < 15; k++) CHECK_CLOSE(b[k], a[k], 1e-9, 1e-12);
  sp_clip_free(c);
}

TEST(finish_refuses_zero_and_nonfinite_values_naming_the_frame) {
  sp_clip* c;
  char msg[200];
  CHECK_INT(sp_clip_new(&c, 3, 1, 0.1, 0), 0);
  memset(c->quat + 4, 0, 4 * sizeof(double));
  CHECK_INT(sp_clip_finish(c, msg, sizeof msg), SP_ENUMERIC);
  CHECK_STR(msg, "frame 1: quaternion is zero");
  c->quat[4] = 1;
  c->joints[2] = NAN;
  CHECK_INT(sp_clip_finish(c, msg, sizeof msg), SP_ENUMERIC);
  CHECK_STR(msg, "frame 2: a joint angle is not finite");
  sp_clip_free(c);
  CHECK_INT(sp_clip_new(&c, 1, 1, 0.1, 0), SP_EINVAL);
}

TEST(spinal_json_and_npy_files_round_trip_exactly) {
  sp_clip* c = analytic_clip(7, 0.02, 4);
  c->loop = 1;
  char msg[256];
  const char* pj = tmp_path("c.json");
  CHECK_INT(sp_clip_save_json(c, pj, msg, sizeof msg), 0);
  sp_clip* d = NULL;
  CHECK_INT(sp_clip_load_json(&d, pj, NULL, msg, sizeof msg), 0);
  CHECK_INT(d->nframes, 7);
  CHECK_INT(d->nj, 4);
  CHECK_INT(d->loop, 1);
  CHECK_CLOSE(d->frame_dt, 0.02, 0, 0);
  for (int i = 0; i < 7 * 3; i++) CHECK_CLOSE(d->pos[i], c->pos[i], 0, 0);
  for (int i = 0; i < 7 * 4; i++) CHECK_CLOSE(d->quat[i], c->quat[i], 1e-16, 0);
  for (int i = 0; i < 7 * 4; i++) CHECK_CLOSE(d->jvel[i], c->jvel[i], 1e-14, 0);
  sp_clip_free(d);
  const char* pn = tmp_path("c.npy");
  CHECK_INT(sp_clip_save_npy(c, pn, msg, sizeof msg), 0);
  CHECK_INT(sp_clip_load_npy(&d, pn, 0.02, 0, msg, sizeof msg), 0);
  CHECK_INT(d->nj, 4);
  CHECK_INT(d->loop, 0);
  for (int i = 0; i < 7 * 4; i++) CHECK_CLOSE(d->joints[i], c->joints[i], 0, 0);
  sp_clip_free(d);
  CHECK_INT(sp_clip_load_npy(&d, pn, 0, 0, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "c.npy: frame duration must be > 0, got 0"));
  sp_clip_free(c);
}

// a frame of the public format: position, quaternion x y z w, 12 joints numbered by file index
static void mocap_frame(char* buf, size_t n, double x, const double* q_wxyz) {
  int k = snprintf(buf, n, "[%g, 0, 0.45, %.17g, %.17g, %.17g, %.17g", x, q_wxyz[1], q_wxyz[2],
                   q_wxyz[3], q_wxyz[0]);
  for (int j = 0; j < 12; j++) k += snprintf(buf + k, n - (size_t)k, ", %d.0", j);
  snprintf(buf + k, n - (size_t)k, "]");
}

TEST(public_mocap_text_loads_with_xyzw_quaternions_and_the_joint_map) {
  double q[4], rv[3] = {0.1, 0.2, 0.3};
  sp_quat_exp(q, rv);
  char f1[512], f2[512], f3[512], text[2048];
  mocap_frame(f1, sizeof f1, 0.0, q);
  mocap_frame(f2, sizeof f2, 0.1, q);
  mocap_frame(f3, sizeof f3, 0.2, q);
  snprintf(text, sizeof text,
           "{\n\"LoopMode\": \"Wrap\",\n\"FrameDuration\": 0.05,\n\"EnableCycleOffsetPosition\": "
           "true,\n\"EnableCycleOffsetRotation\": true,\n\"Frames\":[\n%s,\n%s,\n%s\n]\n}\n",
           f1, f2, f3);
  const char* path = tmp_path("dog_pace.txt");
  write_text(path, text);
  char msg[256];
  sp_clip* c = NULL;
  CHECK_INT(sp_clip_load_json(&c, path, NULL, msg, sizeof msg), 0);
  CHECK_INT(c->nj, 12);
  CHECK_INT(c->loop, 1);
  CHECK_CLOSE(c->frame_dt, 0.05, 0, 0);
  for (int k = 0; k < 4; k++) CHECK_CLOSE(c->quat[4 + k], q[k], 1e-15, 1e-16);
  // default map: the identity (the files' order is spinal's quadruped's)
  for (int j = 0; j < 12; j++) CHECK_CLOSE(c->joints[12 + j], j, 0, 0);
  // body-frame velocity of a 2 m/s walk along world x
  double vw[3] = {2, 0, 0}, vb[3];
  sp_quat_rotate_inv(vb, q, vw);
  for (int k = 0; k < 3; k++) CHECK_CLOSE(c->vel[3 + k], vb[k], 1e-12, 1e-12);
  sp_clip_free(c);
  // a map with signs and offsets
  // a map for a robot ordered FL, FR, HL, HR (robots/quadruped_tree.xml), with a sign and offset
  sp_clip_map m = sp_clip_map_default();
  const int legs[4] = {1, 0, 3, 2};
  for (int j = 0; j < 12; j++) m.perm[j] = 3 * legs[j / 3] + j % 3;
  m.sign[1] = -1;
  m.offset[2] = 0.5;
  CHECK_INT(sp_clip_load_json(&c, path, &m, msg, sizeof msg), 0);
  CHECK_CLOSE(c->joints[0], 3, 0, 0);
  CHECK_CLOSE(c->joints[1], -4, 0, 0);
  CHECK_CLOSE(c->joints[2], 5.5, 0, 0);
  CHECK_CLOSE(c->joints[11], 8, 0, 0);
  sp_clip_free(c);
  m.perm[3] = m.perm[0];
  CHECK_INT(sp_clip_load_json(&c, path, &m, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "dog_pace.txt: joint map: perm[3] = 3, expected a permutation of 0..11"));
}

TEST(the_laikago_map_turns_its_base_frame_and_joints_into_spinals) {
  // a level Laikago heading along world x: its base frame (z forward, x left, y up) is the
  // rotation (0.5, 0.5, 0.5, 0.5); at its joint zeros the thigh leans 0.599 rad back
  const double init[4] = {0.5, 0.5, 0.5, 0.5};
  char f1[512], f2[512], text[2048];
  mocap_frame(f1, sizeof f1, 0.0, init);
  mocap_frame(f2, sizeof f2, 0.1, init);
  snprintf(text, sizeof text,
           "{\"LoopMode\": \"Clamp\", \"FrameDuration\": 0.05, \"Frames\": [%s, %s]}\n", f1, f2);
  const char* path = tmp_path("laikago.txt");
  write_text(path, text);
  sp_clip_map m = sp_clip_map_laikago();
  char msg[256];
  CHECK_INT(sp_clip_map_check(&m, msg, sizeof msg), 0);
  sp_clip* c = NULL;
  CHECK_INT(sp_clip_load_json(&c, path, &m, msg, sizeof msg), 0);
  // the trunk is level, heading x (up to the quaternion's sign)
  double s = c->quat[0] < 0 ? -1 : 1;
  CHECK_CLOSE(s * c->quat[0], 1, 1e-15, 0);
  for (int k = 1; k < 4; k++) CHECK_CLOSE(c->quat[k], 0, 1e-15, 1e-15);
  // position scaled, then moved forward to the hips' centre
  CHECK_CLOSE(m.scale, 0.426 / (hypot(0.20833, 0.1422) + hypot(0.25, 0.022)), 1e-15, 0);
  CHECK_CLOSE(c->pos[3], 0.1 * m.scale + m.root_offset[0], 1e-15, 1e-15);
  CHECK_CLOSE(c->pos[5], 0.45 * m.scale, 1e-15, 0);
  // FR: abduction file 0 -> -0; hip file 1 -> 1 + 0.599; knee file 2 -> 2 + 0.088 - 0.599
  CHECK_CLOSE(c->joints[0], 0, 0, 0);
  CHECK_CLOSE(c->joints[1], 1 + atan2(0.1422, 0.20833), 1e-15, 0);
  CHECK_CLOSE(c->joints[2], 2 + atan2(0.022, 0.25) - atan2(0.1422, 0.20833), 1e-15, 0);
  CHECK_CLOSE(c->joints[6], -6, 0, 0);  // RR abduction
  CHECK_CLOSE(c->joints[9], 9, 0, 0);   // RL abduction
  sp_clip_free(c);
  // bad root fields
  m.root_quat[0] = m.root_quat[1] = m.root_quat[2] = m.root_quat[3] = 0;
  CHECK_INT(sp_clip_map_check(&m, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "joint map: root_quat is zero, expected a rotation (w, x, y, z)");
  m = sp_clip_map_laikago();
  m.scale = 0;
  CHECK_INT(sp_clip_map_check(&m, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "joint map: scale is 0, expected a number > 0");
  m = sp_clip_map_laikago();
  m.root_offset[2] = NAN;
  CHECK_INT(sp_clip_load_json(&c, path, &m, msg, sizeof msg), SP_EINVAL);
  CHECK(strstr(msg, "laikago.txt: joint map: root_offset[2] is not finite"));
}

TEST(loader_errors_name_the_file_line_and_field) {
  char msg[300];
  sp_clip* c = NULL;
  const char* p = tmp_path("bad.txt");
  write_text(
      p,
      "{\"LoopMode\": \"Wrap\", \"FrameDuration\": 0.05,\n\"Frames\": "
      "[\n[0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0],\n[0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0]]}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg,
               "bad.txt: line 4: frame 2 has 18 numbers, expected 19 (3 position, 4 "
               "quaternion x y z w, 12 joint angles)"));
  write_text(p, "{\"LoopMode\": \"Bounce\", \"FrameDuration\": 0.05, \"Frames\": []}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(
      msg, "bad.txt: line 1: field 'LoopMode': expected \"Wrap\" or \"Clamp\", got \"Bounce\""));
  write_text(p, "{\"LoopMode\": \"Wrap\", \"FrameDuration\": \"fast\", \"Frames\": []}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, "bad.txt: line 1: field 'FrameDuration': expected a number > 0, got string"));
  write_text(p, "{\"format\": \"spinal-clip\", \"version\": 1, \"frames\": []}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(
      msg,
      "bad.txt: line 1: field 'frame_duration': expected a number > 0, got nothing (missing)"));
  write_text(p,
             "{\"format\": \"spinal-clip\", \"version\": 1, \"frame_duration\": 0.1,\n \"frames\": "
             "[[0,0,0,0,0,0,0],[0,0,0,1,0,0,0]]}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_ENUMERIC);
  CHECK(strstr(msg, "bad.txt: frame 0: quaternion is zero"));
  write_text(p, "{\"frames\": [1, 2,]}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, "bad.txt: line 1: expected a value, got ']'"));
  write_text(p, "{\"frames\": []}");
  CHECK_INT(sp_clip_load_json(&c, p, NULL, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg,
               "bad.txt: not a motion clip: expected a field 'format' (spinal-clip) or "
               "'Frames' (mocap text format)"));
  CHECK_INT(sp_clip_load_json(&c, tmp_path("none.json"), NULL, msg, sizeof msg), SP_EIO);
  CHECK(strstr(msg, "none.json: cannot open: No such file or directory"));
  CHECK(c == NULL);
}

TEST(sampling_and_windows_do_not_allocate) {
  sp_clip* c = analytic_clip(21, 0.05, 12);
  double w[4 * 37];
  const double off[4] = {1.0 / 30, 1.0 / 15, 1.0 / 3, 1.0};
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 100; i++) sp_clip_window(c, w, 0.01 * i, off, 4);
  CHECK_INT(sp_alloc_count() - before, 0);
  sp_clip_free(c);
}

TEST_MAIN()
