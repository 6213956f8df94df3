// bench_gait.c: the walking controller (engine/ctrl/gait.h) on robots/quadruped.xml.
//
// Without arguments (make bench): one JSON line each for
//   gait_tick        CPU microseconds per sp_gait_tick while walking (state in, torques out), and
//                    its share of a 1 kHz control period
//   gait_mujoco_sps  MuJoCo physics steps per second of the quadruped with the controller in the
//                    loop, against raw mj_step of the same MJCF in the same run (zero torques
//                    from the stand keyframe, so the robot folds onto the floor: a similar
//                    contact count; the ratio is what the controller costs per step)
// Both timed as the best of 5 batches in the calling thread's CPU time (a shared machine).
//
// `bench_gait --long [SECONDS]` (not part of make bench): the figures of docs/quadruped.md:
// SECONDS (default 60) of simulated walking at each command of a fixed list, printing the achieved
// velocity, the height and tilt range and whether it fell; then the largest lateral push
// (impulse over 0.1 s on the trunk, every impulse on a 1 N s grid up to it survived) it survives
// standing and walking at 0.5 m/s. The simulation is deterministic (no noise): no seed.
#include <time.h>

#include "../tests/hal/gait_sim.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int bench(void) {
  gait_sim s;
  if (gait_sim_open(&s)) {
    printf("{\"name\":\"gait_tick\",\"error\":\"cannot load robots/quadruped.xml\"}\n");
    return 1;
  }
  double cmd[3] = {0.5, 0, 0.3};
  gait_sim_run(&s, SP_GAIT_WALK, cmd, 2, 0, NULL);  // a walking state
  // record 1000 walking states, then time the tick over them
  enum { N = 1000 };
  static double Q[N][19], V[N][18], T[N];
  for (int i = 0; i < N; i++) {
    memcpy(Q[i], s.d->qpos, sizeof Q[i]);
    memcpy(V[i], s.d->qvel, sizeof V[i]);
    T[i] = s.d->time;
    gait_sim_run(&s, SP_GAIT_WALK, cmd, 0.001, 0, NULL);
  }
  double best = 1e300, tau[12], sink = 0;
  for (int b = 0; b < 5; b++) {
    sp_gait_reset(s.g, s.gd, Q[0]);
    double t0 = now();
    for (int i = 0; i < N; i++) {
      sp_gait_tick(s.g, s.gd, SP_GAIT_WALK, T[i], Q[i], V[i], cmd, tau);
      sink += tau[1];
    }
    double us = 1e6 * (now() - t0) / N;
    if (us < best) best = us;
  }
  printf(
      "{\"name\":\"gait_tick\",\"model\":\"quadruped\",\"us\":%.3f,\"percent_of_1khz\":%.3f,"
      "\"check\":%d}\n",
      best, best / 10, isfinite(sink));
  // steps per second, controller in the loop vs raw
  double with = 1e300, raw = 1e300;
  int k = mj_name2id(s.m, mjOBJ_KEY, "stand");
  for (int b = 0; b < 5; b++) {
    mju_copy(s.d->qpos, s.m->key_qpos + k * s.m->nq, s.m->nq);
    mju_zero(s.d->qvel, s.m->nv);
    s.d->time = 0;
    sp_gait_reset(s.g, s.gd, s.d->qpos);
    double t0 = now();
    for (int i = 0; i < 2000; i++) {
      sp_gait_tick(s.g, s.gd, SP_GAIT_WALK, s.d->time, s.d->qpos, s.d->qvel, cmd, s.d->ctrl);
      mj_step(s.m, s.d);
    }
    double a = (now() - t0) / 2000;
    mju_copy(s.d->qpos, s.m->key_qpos + k * s.m->nq, s.m->nq);
    mju_zero(s.d->qvel, s.m->nv);
    mju_zero(s.d->ctrl, s.m->nu);
    t0 = now();
    for (int i = 0; i < 2000; i++) mj_step(s.m, s.d);
    double r = (now() - t0) / 2000;
    if (a < with) with = a;
    if (r < raw) raw = r;
  }
  printf(
      "{\"name\":\"gait_mujoco_sps\",\"model\":\"quadruped\",\"steps_per_s\":%.0f,"
      "\"raw_steps_per_s\":%.0f,\"ratio\":%.3f}\n",
      1 / with, 1 / raw, raw / with);
  gait_sim_close(&s);
  return 0;
}

// gait parameters "name=value" and robot changes "damping=X", "latency=MS" for the push scan
typedef struct push_setup {
  int n;
  char* const* set;
} push_setup;

static int push_apply(gait_sim* s, const push_setup* ps) {
  gait_perturbation pert = {"", 0, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; ps && i < ps->n; i++) {
    char name[64], msg[200];
    double v;
    if (sscanf(ps->set[i], "%63[^=]=%lf", name, &v) != 2)
      return fprintf(stderr, "bench_gait: bad setting '%s'\n", ps->set[i]), -1;
    if (!strcmp(name, "damping")) {
      pert.damping = v;
    } else if (!strcmp(name, "latency_ms")) {
      pert.delay = (int)v;
    } else if (!strcmp(name, "motor")) {
      pert.motor = v;
    } else if (!strcmp(name, "payload")) {
      pert.payload = v;
    } else if (sp_gait_set(s->g, name, v, msg, sizeof msg)) {
      return fprintf(stderr, "bench_gait: %s\n", msg), -1;
    }
  }
  gait_sim_perturb(s, &pert);
  return 0;
}

// survives an impulse J (N s over 0.1 s) on the trunk in the world direction (dx, dy) while in
// mode with cmd (walking along +x): no fall within 3 s
static int survives_dir(double J, double dx, double dy, int mode, const double* cmd,
                        const push_setup* ps) {
  gait_sim s;
  if (gait_sim_open(&s)) return 0;
  if (push_apply(&s, ps)) {
    gait_sim_close(&s);
    return 0;
  }
  gait_sim_run(&s, mode, cmd, 3, 0, NULL);
  int trunk = mj_name2id(s.m, mjOBJ_BODY, "trunk");
  gait_stats st;
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

// survives a lateral impulse J (N s over 0.1 s, to the left) while in mode with cmd
static int survives(double J, int mode, const double* cmd) {
  return survives_dir(J, 0, 1, mode, cmd, NULL);
}

// the largest impulse on a 1 N s grid below which every impulse is survived (survival is not
// monotonic in the impulse, so no bisection)
static double largest_push_dir(double dx, double dy, int mode, const double* cmd,
                               const push_setup* ps) {
  double J = 0;
  while (J < 60 && survives_dir(J + 1, dx, dy, mode, cmd, ps)) J += 1;
  return J;
}

static double largest_push(int mode, const double* cmd) {
  double J = 0;
  while (J < 60 && survives(J + 1, mode, cmd)) J += 1;
  return J;
}

// `bench_gait --push [NAME=VALUE ...]`: the largest push survived in each of four directions
// (left, right, forward, backward), standing and walking forward at 0.5 m/s, with the gait's
// parameters set by name and the robot changed by damping=X (joint damping scale),
// latency_ms=N (torques N physics steps late), motor=X, payload=KG.
static int pushes(int argc, char** argv) {
  push_setup ps = {argc, argv};
  static const struct {
    const char* name;
    double dx, dy;
  } dirs[] = {{"left", 0, 1}, {"right", 0, -1}, {"forward", 1, 0}, {"backward", -1, 0}};
  double walk[3] = {0.5, 0, 0};
  for (int m = 0; m < 2; m++) {
    printf("{\"name\":\"gait_push\",\"mode\":\"%s\"", m ? "walking_0.5" : "standing");
    for (int i = 0; i < 4; i++) {
      double J = largest_push_dir(dirs[i].dx, dirs[i].dy, m ? SP_GAIT_WALK : SP_GAIT_STAND,
                                  m ? walk : NULL, &ps);
      printf(",\"%s_Ns\":%.0f", dirs[i].name, J);
      fflush(stdout);
    }
    printf("}\n");
    fflush(stdout);
  }
  return 0;
}

static int longruns(double seconds) {
  static const double cmds[][3] = {{0, 0, 0},     {0.5, 0, 0},   {1.0, 0, 0},      {-0.5, 0, 0},
                                   {0, 0.3, 0},   {0, 0.5, 0},   {0, 0, 1.0},      {0, 0, 1.5},
                                   {0.5, 0, 0.5}, {1.0, 0, 1.0}, {0.5, 0.3, -0.5}, {1.0, 0.3, 0}};
  int ncmd = (int)(sizeof cmds / sizeof cmds[0]);
  for (int c = 0; c < ncmd; c++) {
    gait_sim s;
    if (gait_sim_open(&s)) return 1;
    clock_t w0 = clock();
    gait_stats st;
    gait_sim_run(&s, SP_GAIT_WALK, cmds[c], seconds, seconds - 3, &st);
    printf(
        "{\"name\":\"gait_long\",\"cmd\":[%g,%g,%g],\"seconds\":%g,\"vx\":%.3f,\"vy\":%.3f,"
        "\"wz\":%.3f,\"zmin\":%.3f,\"zmax\":%.3f,\"tilt_max\":%.3f,\"fell\":%d,"
        "\"other_contacts\":%d,\"wall_s\":%.2f}\n",
        cmds[c][0], cmds[c][1], cmds[c][2], seconds, st.vx, st.vy, st.wz, st.zmin, st.zmax,
        st.tilt_max, st.fell, st.other_contacts, (double)(clock() - w0) / CLOCKS_PER_SEC);
    fflush(stdout);
    gait_sim_close(&s);
  }
  double walk[3] = {0.5, 0, 0};
  printf("{\"name\":\"gait_push\",\"standing_Ns\":%.1f,\"walking_0.5_Ns\":%.1f}\n",
         largest_push(SP_GAIT_STAND, NULL), largest_push(SP_GAIT_WALK, walk));
  return 0;
}

static int perturbations(double seconds) {
  static const gait_perturbation ps[] = {
      {"nominal", 0, 0, 0, 0, 0, 0, 0, 0},
      {"payload 1 kg", 1, 0, 0, 0, 0, 0, 0, 0},
      {"payload 3 kg", 3, 0, 0, 0, 0, 0, 0, 0},
      {"payload 2 kg at x +0.1 m", 2, 0.1, 0, 0, 0, 0, 0, 0},
      {"payload 2 kg at x -0.1 m", 2, -0.1, 0, 0, 0, 0, 0, 0},
      {"foot friction 0.4", 0, 0, 0.4, 0, 0, 0, 0, 0},
      {"foot friction 1.2", 0, 0, 1.2, 0, 0, 0, 0, 0},
      {"motor strength x0.8", 0, 0, 0, 0.8, 0, 0, 0, 0},
      {"motor strength x1.2", 0, 0, 0, 1.2, 0, 0, 0, 0},
      {"joint damping x2", 0, 0, 0, 0, 2, 0, 0, 0},
      {"joint friction loss x3", 0, 0, 0, 0, 0, 3, 0, 0},
      {"latency 5 ms", 0, 0, 0, 0, 0, 0, 5, 0},
      {"latency 10 ms", 0, 0, 0, 0, 0, 0, 10, 0},
      {"latency 20 ms", 0, 0, 0, 0, 0, 0, 20, 0},
      {"state noise x1", 0, 0, 0, 0, 0, 0, 0, 1},
      {"state noise x2", 0, 0, 0, 0, 0, 0, 0, 2},
  };
  static const double cmds[][3] = {{0.5, 0, 0}, {1.0, 0, 0}, {0, 0.3, 0}, {0.5, 0, 0.5}};
  for (int i = 0; i < (int)(sizeof ps / sizeof ps[0]); i++) {
    int falls = 0;
    double ev = 0, ew = 0, tilt = 0;
    for (int c = 0; c < 4; c++) {
      gait_sim s;
      if (gait_sim_open(&s)) return 1;
      gait_sim_perturb(&s, ps + i);
      gait_stats st;
      gait_sim_run(&s, SP_GAIT_WALK, cmds[c], seconds, seconds - 3, &st);
      falls += st.fell;
      ev = fmax(ev, fmax(fabs(st.vx - cmds[c][0]), fabs(st.vy - cmds[c][1])));
      ew = fmax(ew, fabs(st.wz - cmds[c][2]));
      tilt = fmax(tilt, st.tilt_max);
      gait_sim_close(&s);
    }
    printf(
        "{\"name\":\"gait_perturbed\",\"perturbation\":\"%s\",\"seconds\":%g,\"falls\":%d,"
        "\"max_v_error\":%.3f,\"max_wz_error\":%.3f,\"tilt_max\":%.3f,\"noise_seed\":1}\n",
        ps[i].name, seconds, falls, ev, ew, tilt);
    fflush(stdout);
  }
  return 0;
}

// `bench_gait --gait NAME=VALUE ... [-- SECONDS]`: the gait's parameters set by name (e.g.
// gait=2 period=0.25), then SECONDS (default 20) at each of a few commands: achieved velocity,
// height and tilt ranges, falls. What docs/quadruped.md reports for pace and bound. The robot
// changes of --push (damping=X, latency_ms=N, motor=X, payload=KG) are taken too.
static int gaits(int argc, char** argv) {
  static const double cmds[][3] = {{0, 0, 0},   {0.5, 0, 0}, {1.0, 0, 0},   {1.25, 0, 0},
                                   {0, 0.3, 0}, {0, 0, 1.0}, {0.5, 0, 0.5}, {1.25, 0, 0.8}};
  double seconds = 20;
  for (int c = 0; c < (int)(sizeof cmds / sizeof cmds[0]); c++) {
    gait_sim s;
    if (gait_sim_open(&s)) return 1;
    int nset = argc;
    for (int i = 0; i < argc; i++) {
      if (!strcmp(argv[i], "--") && i + 1 < argc) {
        seconds = atof(argv[i + 1]);
        nset = i;
        break;
      }
    }
    push_setup ps = {nset, argv};
    if (push_apply(&s, &ps)) return 1;
    gait_stats st;
    gait_sim_run(&s, SP_GAIT_WALK, cmds[c], seconds, seconds - 3, &st);
    printf(
        "{\"name\":\"gait_pattern\",\"cmd\":[%g,%g,%g],\"seconds\":%g,\"vx\":%.3f,"
        "\"vy\":%.3f,\"wz\":%.3f,\"zmin\":%.3f,\"zmax\":%.3f,\"tilt_max\":%.3f,"
        "\"fell\":%d,\"other_contacts\":%d}\n",
        cmds[c][0], cmds[c][1], cmds[c][2], seconds, st.vx, st.vy, st.wz, st.zmin, st.zmax,
        st.tilt_max, st.fell, st.other_contacts);
    fflush(stdout);
    gait_sim_close(&s);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--gait") == 0) return gaits(argc - 2, argv + 2);
  if (argc > 1 && strcmp(argv[1], "--push") == 0) return pushes(argc - 2, argv + 2);
  if (argc > 1 && strcmp(argv[1], "--perturb") == 0)
    return perturbations(argc > 2 ? atof(argv[2]) : 20);
  if (argc > 1 && strcmp(argv[1], "--long") == 0) return longruns(argc > 2 ? atof(argv[2]) : 60);
  return bench();
}
