// backend_mujoco.c: the "mujoco" plant backend (see backend_mujoco.h).
//
// MuJoCo's C API (mujoco.h, 2.2): mj_loadXML, mj_makeData, mj_step = mj_step1 + mj_step2.
// A tick runs mj_step2 on the state its last mj_step1 measured, the remaining sub-steps as
// mj_step, and ends with mj_step1 on the new state: the same arithmetic as `substeps` mj_step
// calls, with kinematics, velocities and sensors of the final state ready to read (after a plain
// mj_step they describe the state before the step). RK4 cannot be split (mj_step2 integrates
// with Euler), so there a tick ends with mj_forward instead.
#include "hal/backend_mujoco.h"

#include <errno.h>
#include <math.h>
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "hal/delay.h"
#include "hal/lowlevel.h"
#include "hal/mjcf_rbd.h"

#define NAME_LEN 64

typedef struct entry {
  int source;
  int id;     // joint, sensor or body id (-1: whole-vector qpos/qvel)
  int adr;    // qpos/qvel/sensordata address for those sources
  int index;  // component
  double scale, offset;
  double prev;  // headings: the last value reported, for continuity
} entry;

typedef struct act_map {
  int action, id;
  double scale, offset;
} act_map;

typedef struct mj_plant {
  mjModel* m;
  mjData* d;
  int nx, nu, nact, nwheel;
  int substeps, split, key;
  double rate_hz;
  uint64_t seed;
  char robot[NAME_LEN];
  char file[256];
  sp_rng rng_w, rng_v;  // process and sensor noise streams

  // one allocation, carved: see layout
  entry* x_map;           // (nx)
  act_map* u_map;         // (nact)
  int* wheel;             // (nwheel) hinge joint ids
  double* radius;         // (nwheel) wheel radii
  const char** x_names;   // (nx) into names
  const char** u_names;   // (nu)
  char* names;            // ((nx + nu) x NAME_LEN)
  double* x0;             // (nx)
  double* vstd;           // (nx)
  double* wstd;           // (nv)
  double* y;              // (nx) what read returns
  double* u_init;         // (nu)
  double* u_min;          // (nu)
  double* u_max;          // (nu)
  double* u_act;          // (nu)
  double* mass0;          // (nbody) the file's values, for reversible perturbations
  double* inertia0;       // (nbody x 3)
  double* friction0;      // (ngeom x 3)
  double* gear0;          // (nu_mj x 6)
  double* damping0;       // (nv)
  double* frictionloss0;  // (nv)
  double* ipos0;          // (nbody x 3)
  double* iquat0;         // (nbody x 4)
  // the physics-rate inner loop: low-level controller, latency, sensor noise, push
  sp_lowlevel* ll;        // NULL: the command goes to ctrl directly
  sp_lowlevel_data* lld;  // its workspace
  int ncmd;               // the low-level controller's command size
  double* cmd;            // (ncmd) its command this tick
  double* act;            // (nu_mj) what the actuators should get this physics step
  double* act_now;        // (nu_mj) what they get (after the latency line)
  double* qn;             // (nq) the positions the controller reads (with noise)
  double* vn;             // (nv) the velocities it reads
  int* qadr;              // (nu_mj) the joint coordinates each actuator drives (-1: none)
  int* vadr;              // (nu_mj)
  char* cmd_names;        // (ncmd x NAME_LEN)
  double* lat_buf;        // (latency x nu_mj) separately allocated, changed by perturb
  sp__delay latency;      // in physics steps
  double noise;           // std on joint readings and on the reported state
  double push, push_time;
  int push_done, root;  // root: the payload and push body (first free joint's), -1: none
  int safe;             // sp_plant_safe: the low-level controller's safe mode
  long phys;            // physics steps since reset
  sp__delay delay_line;
  int has_x0, has_v, has_w, has_limits, fault;
  int bad_warnings;  // MuJoCo's instability warnings counted so far
  int64_t t_ns;
  long steps;
} mj_plant;

// ---- small helpers ----------------------------------------------------------------------------

static double wrap(double a) {
  return a - 2 * M_PI * ceil((a - M_PI) / (2 * M_PI));
}

static double yaw_of_quat(const double* q) {
  return atan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] * q[2] + q[3] * q[3]));
}

static int is_heading(int source) {
  return source == SP_MJ_YAW || source == SP_MJ_BODY_YAW;
}

static const char* source_name(int s) {
  static const char* names[] = {"qpos",     "qvel",     "sensor",   "yaw",
                                "body_pos", "body_yaw", "body_vel", "body_angvel"};
  return s >= 0 && s <= SP_MJ_BODY_ANGVEL ? names[s] : "unknown";
}

// MuJoCo's multi-line messages as one line: runs of white space become one space
static const char* one_line(char* s) {
  char* w = s;
  for (const char* r = s; *r; r++) {
    int space = *r == ' ' || *r == '\n' || *r == '\t' || *r == '\r';
    if (space && (w == s || w[-1] == ' ')) continue;
    *w++ = space ? ' ' : *r;
  }
  while (w > s && w[-1] == ' ') w--;
  *w = 0;
  return s;
}

// the free joint a body moves on (its first joint), or -1
static int free_joint_of_body(const mjModel* m, int b) {
  if (b <= 0 || m->body_jntnum[b] < 1) return -1;
  int j = m->body_jntadr[b];
  return m->jnt_type[j] == mjJNT_FREE ? j : -1;
}

static int bad_warnings(const mjData* d) {
  return d->warning[mjWARN_BADQPOS].number + d->warning[mjWARN_BADQVEL].number +
         d->warning[mjWARN_BADQACC].number;
}

// body-frame velocity of body b: res[0..2] angular, res[3..5] linear at the body's origin
static void body_velocity(const mjModel* m, const mjData* d, int b, double* res) {
  mj_objectVelocity(m, d, mjOBJ_XBODY, b, res, 1);
}

// ---- measuring the state ----------------------------------------------------------------------

static double raw_value(const mj_plant* mp, const entry* e) {
  const mjModel* m = mp->m;
  const mjData* d = mp->d;
  double v[6];
  switch (e->source) {
    case SP_MJ_QPOS:
      return d->qpos[e->adr];
    case SP_MJ_QVEL:
      return d->qvel[e->adr];
    case SP_MJ_SENSOR:
      return d->sensordata[e->adr];
    case SP_MJ_YAW:
      return yaw_of_quat(d->qpos + e->adr);
    case SP_MJ_BODY_POS:
      return d->xpos[3 * e->id + e->index];
    case SP_MJ_BODY_YAW:
      return atan2(d->xmat[9 * e->id + 3], d->xmat[9 * e->id]);
    case SP_MJ_BODY_VEL:
      body_velocity(m, d, e->id, v);
      return v[3 + e->index];
    case SP_MJ_BODY_ANGVEL:
      body_velocity(m, d, e->id, v);
      return v[e->index];
  }
  return NAN;
}

// y = the mapped state plus sensor noise (one draw per tick); headings continue from prev
static void measure(mj_plant* mp) {
  for (int i = 0; i < mp->nx; i++) {
    entry* e = &mp->x_map[i];
    double v = raw_value(mp, e);
    if (is_heading(e->source)) v = e->prev = e->prev + wrap(v - e->prev);
    mp->y[i] = e->offset + e->scale * v;
    if (mp->has_v) mp->y[i] += mp->vstd[i] * sp_rng_normal(&mp->rng_v);
    if (mp->noise > 0) mp->y[i] += mp->noise * sp_rng_normal(&mp->rng_v);
  }
}

// ---- opening: resolve every name against the model --------------------------------------------

static int resolve_state(mj_plant* mp, entry* e, const sp_plant_mujoco_state* s, int i, char* msg,
                         size_t len) {
  const mjModel* m = mp->m;
  e->source = s->source;
  e->index = s->index;
  e->scale = s->scale == 0 ? 1.0 : s->scale;
  e->offset = s->offset;
  e->id = -1;
  const char* what = source_name(s->source);
  if (s->source < SP_MJ_QPOS || s->source > SP_MJ_BODY_ANGVEL)
    return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: state %d: unknown source %d", i + 1,
                     (int)s->source);
  if (!isfinite(e->scale) || !isfinite(e->offset))
    return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: state %d: scale and offset must be finite",
                     i + 1);
  int type = s->source == SP_MJ_SENSOR ? mjOBJ_SENSOR
             : (s->source == SP_MJ_QPOS || s->source == SP_MJ_QVEL || s->source == SP_MJ_YAW)
                 ? mjOBJ_JOINT
                 : mjOBJ_BODY;
  const char* kind = type == mjOBJ_SENSOR ? "sensor" : type == mjOBJ_JOINT ? "joint" : "body";
  if (!s->name && !(s->source == SP_MJ_QPOS || s->source == SP_MJ_QVEL))
    return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: state %d (%s): a %s name is required",
                     i + 1, what, kind);
  if (s->name) {
    e->id = mj_name2id(m, type, s->name);
    if (e->id < 0)
      return sp_errorf(msg, len, SP_ENOTFOUND,
                       "mujoco plant: state %d (%s): no %s named '%s' in %s", i + 1, what, kind,
                       s->name, mp->file);
  }

  // the component count of the source, to check the index
  int n = 1;
  switch (s->source) {
    case SP_MJ_QPOS:
    case SP_MJ_QVEL: {
      int q = s->source == SP_MJ_QPOS;
      if (e->id < 0) {
        n = q ? m->nq : m->nv;
        e->adr = s->index;
      } else {
        int t = m->jnt_type[e->id];
        n = t == mjJNT_FREE ? (q ? 7 : 6) : t == mjJNT_BALL ? (q ? 4 : 3) : 1;
        e->adr = (q ? m->jnt_qposadr[e->id] : m->jnt_dofadr[e->id]) + s->index;
      }
      break;
    }
    case SP_MJ_SENSOR:
      n = m->sensor_dim[e->id];
      e->adr = m->sensor_adr[e->id] + s->index;
      break;
    case SP_MJ_YAW: {
      int t = m->jnt_type[e->id];
      if (t != mjJNT_FREE && t != mjJNT_BALL)
        return sp_errorf(msg, len, SP_EINVAL,
                         "mujoco plant: state %d (yaw): joint '%s' is not a free or ball joint",
                         i + 1, s->name);
      e->adr = m->jnt_qposadr[e->id] + (t == mjJNT_FREE ? 3 : 0);
      e->index = 0;
      n = 1;
      break;
    }
    case SP_MJ_BODY_YAW:
      e->index = 0;
      n = 1;
      break;
    default:
      n = 3;  // body_pos, body_vel, body_angvel
  }
  if (s->index < 0 || s->index >= n)
    return sp_errorf(msg, len, SP_ERANGE,
                     "mujoco plant: state %d (%s '%s'): index %d out of range [0, %d)", i + 1, what,
                     s->name ? s->name : "(all)", s->index, n);
  return 0;
}

// size of the one allocation; with mp non-NULL, also carve it
static size_t layout(mj_plant* mp, int nx, int nu, int nact, int nwheel, const mjModel* m) {
  size_t off = sizeof(mj_plant);
  char* base = (char*)mp;
#define CARVE(field, type, count)                   \
  do {                                              \
    off = (off + 15) & ~(size_t)15;                 \
    if (mp) mp->field = (type*)(void*)(base + off); \
    off += sizeof(type) * (size_t)(count);          \
  } while (0)
  CARVE(x_map, entry, nx);
  CARVE(u_map, act_map, nact);
  CARVE(wheel, int, nwheel);
  CARVE(radius, double, nwheel);
  CARVE(x_names, const char*, nx);
  CARVE(u_names, const char*, nu);
  CARVE(names, char, (size_t)(nx + nu) * NAME_LEN);
  CARVE(x0, double, nx);
  CARVE(vstd, double, nx);
  CARVE(wstd, double, m->nv);
  CARVE(y, double, nx);
  CARVE(u_init, double, nu);
  CARVE(u_min, double, nu);
  CARVE(u_max, double, nu);
  CARVE(u_act, double, nu);
  CARVE(mass0, double, m->nbody);
  CARVE(inertia0, double, 3 * m->nbody);
  CARVE(friction0, double, 3 * m->ngeom);
  CARVE(gear0, double, 6 * m->nu);
  CARVE(damping0, double, m->nv);
  CARVE(frictionloss0, double, m->nv);
  CARVE(ipos0, double, 3 * m->nbody);
  CARVE(iquat0, double, 4 * m->nbody);
  CARVE(act, double, m->nu);
  CARVE(act_now, double, m->nu);
  CARVE(qn, double, m->nq);
  CARVE(vn, double, m->nv);
  CARVE(qadr, int, m->nu);
  CARVE(vadr, int, m->nu);
#undef CARVE
  return off;
}

// wheel joints from the config, or from the MJCF's custom text "spinal_wheels": how many there
// are (out and buf hold the first max)
static int wheel_names(const mjModel* m, const sp_plant_mujoco_config* c, const char** out,
                       char (*buf)[NAME_LEN], int max) {
  if (c && c->wheels) {
    for (int i = 0; i < c->nwheels && i < max; i++) out[i] = c->wheels[i];
    return c->nwheels;
  }
  int t = mj_name2id(m, mjOBJ_TEXT, "spinal_wheels");
  if (t < 0) return 0;
  const char* s = m->text_data + m->text_adr[t];
  int n = 0;
  while (*s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == ',') s++;
    if (!*s) break;
    size_t k = strcspn(s, " \t\n,");
    if (n < max) {
      snprintf(buf[n], NAME_LEN, "%.*s", (int)k, s);
      out[n] = buf[n];
    }
    n++;
    s += k;
  }
  return n;
}

#define MAX_WHEELS 32

static int perturb_apply(mj_plant* mp, const sp_plant_mujoco_perturbation* q, char* msg,
                         size_t len);
static int mj_reset(sp_plant* p, const double* x0);

// ---- open, step by step
// --------------------------------------------------------------------------

// the config's own consistency, and the MJCF path (the config's, or the URI's)
static int check_config(const sp_plant_mujoco_config* c, const char* uri, const char** path,
                        char* msg, size_t len) {
  *path = c->mjcf;
  if (!*path && !strncmp(uri, "mujoco://", 9) && uri[9]) *path = uri + 9;
  if (!*path)
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: no MJCF file (set the config's 'mjcf' or open mujoco://PATH)");
  if (c->rate_hz < 0 || !isfinite(c->rate_hz))
    return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: field 'rate_hz' must be >= 0, got %g",
                     c->rate_hz);
  if (c->substeps < 0 || c->delay_ticks < 0 || c->delay_ticks > SP_PLANT_MAX_DELAY ||
      c->substeps > SP_PLANT_MAX_SUBSTEPS)
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: 'substeps' must be in [0, %d] and 'delay_ticks' in "
                     "[0, %d], got %d and %d",
                     SP_PLANT_MAX_SUBSTEPS, SP_PLANT_MAX_DELAY, c->substeps, c->delay_ticks);
  if (c->nx < 0 || c->nu < 0 || c->nactuators < 0 || (c->nx > 0 && !c->state) ||
      (c->nu > 0 && (!c->actuators || c->nactuators < 1)))
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: nx = %d needs a state map and nu = %d an actuator map", c->nx,
                     c->nu);
  return 0;
}

// load the model: a missing file and a bad file are told apart
static int load_model(mjModel** out, const char* path, char* msg, size_t len) {
  *out = NULL;
  FILE* f = fopen(path, "r");
  if (!f)
    return sp_errorf(msg, len, SP_EIO, "mujoco plant: cannot open MJCF '%s': %s", path,
                     strerror(errno));
  fclose(f);
  struct stat sb;
  if (!stat(path, &sb) && S_ISDIR(sb.st_mode))
    return sp_errorf(msg, len, SP_EIO, "mujoco plant: MJCF '%s' is a directory", path);
  char err[512] = "";
  *out = sp_mjcf_load(path, err, sizeof err);
  if (!*out) return sp_errorf(msg, len, SP_EFORMAT, "mujoco plant: %s", one_line(err));
  return 0;
}

// the tick rate and sub-steps against the model's timestep (which it may set)
static int fit_rate(mjModel* m, const sp_plant_mujoco_config* c, const char* path, double* rate_out,
                    int* substeps_out, char* msg, size_t len) {
  double ts = m->opt.timestep, rate = c->rate_hz;
  int substeps = c->substeps;
  if (rate == 0) {
    rate = 1.0 / (ts * (substeps ? substeps : 1));
    if (!substeps) substeps = 1;
  }
  if (substeps > 0) {
    m->opt.timestep = 1.0 / (rate * substeps);
  } else {
    double r = 1.0 / (rate * ts);
    substeps = (int)llround(r);
    if (substeps < 1 || fabs(r - substeps) > 1e-6 * r)
      return sp_errorf(msg, len, SP_EINVAL,
                       "mujoco plant: a %g Hz tick is %.6g steps of the MJCF's timestep %g s in "
                       "%s: not an integer (set 'substeps' or change the rate or timestep)",
                       rate, r, ts, path);
  }
  *rate_out = rate;
  *substeps_out = substeps;
  return 0;
}

// state map: the config's, or (qpos, qvel); with the state names
static int map_states(mj_plant* mp, const sp_plant_mujoco_config* c, char* msg, size_t len) {
  const mjModel* m = mp->m;
  for (int i = 0; i < mp->nx; i++) {
    int rc;
    if (c->nx) {
      rc = resolve_state(mp, &mp->x_map[i], &c->state[i], i, msg, len);
    } else {
      sp_plant_mujoco_state s = {i < m->nq ? SP_MJ_QPOS : SP_MJ_QVEL, NULL,
                                 i < m->nq ? i : i - m->nq, 1, 0};
      rc = resolve_state(mp, &mp->x_map[i], &s, i, msg, len);
    }
    if (rc) return rc;
    char* nm = mp->names + (size_t)i * NAME_LEN;
    const entry* e = &mp->x_map[i];
    if (c->nx && c->x_names) {
      snprintf(nm, NAME_LEN, "%s", c->x_names[i]);
    } else if (!c->nx) {
      snprintf(nm, NAME_LEN, "%s%d", i < m->nq ? "qpos" : "qvel", e->index);
    } else if (e->source == SP_MJ_YAW || e->source == SP_MJ_BODY_YAW) {
      snprintf(nm, NAME_LEN, "%s.%s", c->state[i].name, source_name(e->source));
    } else {
      snprintf(nm, NAME_LEN, "%s.%s%d", c->state[i].name ? c->state[i].name : "all",
               source_name(e->source), e->index);
    }
    mp->x_names[i] = nm;
  }
  return 0;
}

// ---- the low-level controller ------------------------------------------------------------------

// the joint coordinates an actuator drives (hinge and slide joints; -1 otherwise)
static void actuator_joints(const mjModel* m, int* qadr, int* vadr) {
  for (int k = 0; k < m->nu; k++) {
    int j = m->actuator_trnid[2 * k];
    int ok = m->actuator_trntype[k] == mjTRN_JOINT && j >= 0 &&
             (m->jnt_type[j] == mjJNT_HINGE || m->jnt_type[j] == mjJNT_SLIDE);
    qadr[k] = ok ? m->jnt_qposadr[j] : -1;
    vadr[k] = ok ? m->jnt_dofadr[j] : -1;
  }
}

// the controller for this model (the plant's qadr/vadr filled first)
static int make_lowlevel(mj_plant* mp, const sp_lowlevel_config* c, const char* path, char* msg,
                         size_t len) {
  const mjModel* m = mp->m;
  actuator_joints(m, mp->qadr, mp->vadr);
  sp_lowlevel_plant pl = {.nq = m->nq,
                          .nv = m->nv,
                          .nact = m->nu,
                          .qadr = mp->qadr,
                          .vadr = mp->vadr,
                          .dt = m->opt.timestep,
                          .mjcf = path,
                          .mj = m};
  char err[256] = "";
  int rc = sp_lowlevel_new(&mp->ll, c, &pl, err, sizeof err);
  if (!rc) rc = sp_lowlevel_data_new(&mp->lld, mp->ll);
  if (rc) return sp_errorf(msg, len, rc, "mujoco plant: %s", err[0] ? err : sp_strerror(rc));
  // its command entries and their names: the class's, or the actuators' (joint_pd)
  mp->ncmd = mp->ll->ncmd;
  mp->cmd = sp_calloc((size_t)mp->ncmd, sizeof(double) + NAME_LEN);
  if (!mp->cmd) return SP_ENOMEM;
  mp->cmd_names = (char*)(mp->cmd + mp->ncmd);
  for (int i = 0; i < mp->ncmd; i++) {
    const char* n = mp->ll->cls->cmd_names ? mp->ll->cls->cmd_names[i]
                    : i < m->nu            ? mj_id2name(m, mjOBJ_ACTUATOR, i)
                                           : NULL;
    snprintf(mp->cmd_names + (size_t)i * NAME_LEN, NAME_LEN, "%s", n ? n : "cmd");
  }
  return 0;
}

static int cmd_index(const mj_plant* mp, const char* name) {
  for (int i = 0; i < mp->ncmd; i++)
    if (!strcmp(mp->cmd_names + (size_t)i * NAME_LEN, name)) return i;
  return -1;
}

// "vx, vy, wz" (the first few) for messages
static const char* cmd_list(mj_plant* mp) {
  static _Thread_local char buf[256];
  buf[0] = 0;
  for (int i = 0; i < mp->ncmd; i++) {
    size_t n = strlen(buf);
    snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", mp->cmd_names + (size_t)i * NAME_LEN);
  }
  return buf;
}

// actuator map: the config's, or ctrl itself; every action drives an actuator, named after it
static int map_actuators(mj_plant* mp, const sp_plant_mujoco_config* c, const char* path, char* msg,
                         size_t len) {
  const mjModel* m = mp->m;
  int nx = mp->nx, nu = mp->nu;
  for (int k = 0; k < mp->nact; k++) {
    act_map* a = &mp->u_map[k];
    if (!c->nu) {
      *a = (act_map){k, k, 1, 0};  // the command is ctrl, or the controller's whole command
      continue;
    }
    const sp_plant_mujoco_actuator* s = &c->actuators[k];
    if (s->action < 0 || s->action >= nu)
      return sp_errorf(msg, len, SP_ERANGE,
                       "mujoco plant: actuator map %d: action %d out of range [0, %d)", k + 1,
                       s->action, nu);
    a->action = s->action;
    a->scale = s->scale == 0 ? 1.0 : s->scale;
    a->offset = s->offset;
    a->id = !s->name ? -1
            : mp->ll ? cmd_index(mp, s->name)
                     : mj_name2id(m, mjOBJ_ACTUATOR, s->name);
    if (a->id < 0 && mp->ll)
      return sp_errorf(msg, len, SP_ENOTFOUND,
                       "mujoco plant: action %d: the low-level controller %s has no command "
                       "named '%s' (its commands: %s)",
                       s->action + 1, mp->ll->cls->name, s->name ? s->name : "(null)",
                       cmd_list(mp));
    if (a->id < 0)
      return sp_errorf(msg, len, SP_ENOTFOUND,
                       "mujoco plant: action %d: no actuator named '%s' in %s", s->action + 1,
                       s->name ? s->name : "(null)", path);
  }
  for (int j = 0; j < nu; j++) {
    int first = -1;
    for (int k = 0; k < mp->nact && first < 0; k++)
      if (mp->u_map[k].action == j) first = mp->u_map[k].id;
    if (first < 0)
      return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: action %d drives no actuator", j + 1);
    char* nm = mp->names + (size_t)(nx + j) * NAME_LEN;
    const char* an =
        mp->ll ? mp->cmd_names + (size_t)first * NAME_LEN : mj_id2name(m, mjOBJ_ACTUATOR, first);
    snprintf(nm, NAME_LEN, "%s", c->nu && c->u_names ? c->u_names[j] : an ? an : "ctrl");
    mp->u_names[j] = nm;
  }
  return 0;
}

// wheels: hinge joints on bodies whose first geom gives the radius; and the keyframe
static int find_wheels_and_key(mj_plant* mp, const sp_plant_mujoco_config* c,
                               const char* const* wnames, const char* path, char* msg, size_t len) {
  const mjModel* m = mp->m;
  for (int w = 0; w < mp->nwheel; w++) {
    int j = mj_name2id(m, mjOBJ_JOINT, wnames[w]);
    if (j < 0)
      return sp_errorf(msg, len, SP_ENOTFOUND, "mujoco plant: wheel %d: no joint named '%s' in %s",
                       w + 1, wnames[w], path);
    int b = m->jnt_bodyid[j];
    if (m->jnt_type[j] != mjJNT_HINGE || m->body_geomnum[b] < 1)
      return sp_errorf(msg, len, SP_EINVAL,
                       "mujoco plant: wheel '%s' must be a hinge joint on a body with a geom",
                       wnames[w]);
    mp->wheel[w] = j;
    mp->radius[w] = m->geom_size[3 * m->body_geomadr[b]];
  }
  if (c->keyframe) {
    mp->key = mj_name2id(m, mjOBJ_KEY, c->keyframe);
    if (mp->key < 0)
      return sp_errorf(msg, len, SP_ENOTFOUND, "mujoco plant: no keyframe named '%s' in %s",
                       c->keyframe, path);
  }
  return 0;
}

// initial state, noise and command limits
static int copy_vectors(mj_plant* mp, const sp_plant_mujoco_config* c, char* msg, size_t len) {
  for (int i = 0; i < mp->nx; i++) {
    mp->x0[i] = c->x0 && c->nx ? c->x0[i] : 0.0;
    mp->vstd[i] = c->sensor_std && c->nx ? c->sensor_std[i] : 0.0;
    if (!(mp->vstd[i] >= 0) || !isfinite(mp->x0[i]))
      return sp_errorf(msg, len, SP_EINVAL,
                       "mujoco plant: state %d: sensor noise must be >= 0 and x0 finite", i + 1);
  }
  for (int i = 0; i < mp->m->nv; i++) {
    mp->wstd[i] = c->process_std ? c->process_std[i] : c->process_std_all;
    if (!(mp->wstd[i] >= 0))
      return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: process noise of dof %d must be >= 0",
                       i + 1);
  }
  for (int j = 0; j < mp->nu; j++) {
    mp->u_init[j] = c->u_init ? c->u_init[j] : 0.0;
    mp->u_min[j] = c->u_min ? c->u_min[j] : -INFINITY;
    mp->u_max[j] = c->u_max ? c->u_max[j] : INFINITY;
  }
  mp->has_x0 = c->x0 && c->nx;
  mp->has_v = c->sensor_std && c->nx;
  mp->has_w = c->process_std != NULL || c->process_std_all > 0;
  mp->has_limits = c->u_min || c->u_max;
  return 0;
}

// the file's values of what perturbations change, to restore them
static void save_file_values(mj_plant* mp) {
  const mjModel* m = mp->m;
  memcpy(mp->mass0, m->body_mass, sizeof(double) * m->nbody);
  memcpy(mp->inertia0, m->body_inertia, sizeof(double) * 3 * m->nbody);
  memcpy(mp->friction0, m->geom_friction, sizeof(double) * 3 * m->ngeom);
  memcpy(mp->gear0, m->actuator_gear, sizeof(double) * 6 * m->nu);
  memcpy(mp->damping0, m->dof_damping, sizeof(double) * m->nv);
  memcpy(mp->frictionloss0, m->dof_frictionloss, sizeof(double) * m->nv);
  memcpy(mp->ipos0, m->body_ipos, sizeof(double) * 3 * m->nbody);
  memcpy(mp->iquat0, m->body_iquat, sizeof(double) * 4 * m->nbody);
}

// the command size of a low-level controller for model m (built and freed again)
static int lowlevel_ncmd(const mjModel* m, const sp_lowlevel_config* c, const char* path, int* ncmd,
                         char* msg, size_t len) {
  int* adr = sp_malloc(sizeof(int) * (size_t)(2 * m->nu + 1));
  if (!adr) return SP_ENOMEM;
  actuator_joints(m, adr, adr + m->nu);
  sp_lowlevel_plant pl = {m->nq, m->nv, m->nu, adr, adr + m->nu, m->opt.timestep, path, m};
  sp_lowlevel* ll = NULL;
  char err[256] = "";
  int rc = sp_lowlevel_new(&ll, c, &pl, err, sizeof err);
  if (!rc) *ncmd = ll->ncmd;
  sp_lowlevel_free(ll);
  sp_free(adr);
  return rc ? sp_errorf(msg, len, rc, "mujoco plant: %s", err) : 0;
}

static int mj_open(sp_plant* p, const char* uri, const void* config, char* msg, size_t len) {
  const sp_plant_mujoco_config* c = config;
  sp_plant_mujoco_config none = {0};
  if (!c) c = &none;
  const char* path = NULL;
  mjModel* m = NULL;
  int rc = check_config(c, uri, &path, msg, len);
  if (!rc) rc = load_model(&m, path, msg, len);
  if (rc) return rc;
  double rate = 0;
  int substeps = 0;
  if ((rc = fit_rate(m, c, path, &rate, &substeps, msg, len))) {
    mj_deleteModel(m);
    return rc;
  }

  // sizes, then the plant in one allocation (the delay line after the named arrays); a low-level
  // controller's command size is known once it is built, so a plant without a command map takes
  // it from the class first
  int nx = c->nx ? c->nx : m->nq + m->nv;
  int nu = c->nu ? c->nu : m->nu;
  if (c->lowlevel && !c->nu && (rc = lowlevel_ncmd(m, c->lowlevel, path, &nu, msg, len))) {
    mj_deleteModel(m);
    return rc;
  }
  int nact = c->nu ? c->nactuators : nu;
  const char* wnames[MAX_WHEELS];
  char wbuf[MAX_WHEELS][NAME_LEN];
  int nwheel = wheel_names(m, c, wnames, wbuf, MAX_WHEELS);
  if (nwheel > MAX_WHEELS) {
    mj_deleteModel(m);
    return sp_errorf(msg, len, SP_ERANGE, "mujoco plant: at most %d wheels, got %d", MAX_WHEELS,
                     nwheel);
  }
  size_t bytes = layout(NULL, nx, nu, nact, nwheel, m);
  size_t dbytes = (size_t)c->delay_ticks * nu * sizeof(double);
  mj_plant* mp = sp_calloc(1, bytes + dbytes + 16);
  if (!mp) {
    mj_deleteModel(m);
    return SP_ENOMEM;
  }
  layout(mp, nx, nu, nact, nwheel, m);
  sp__delay_init(&mp->delay_line, (double*)(void*)((char*)mp + ((bytes + 15) & ~(size_t)15)),
                 c->delay_ticks, nu);
  p->impl = mp;  // from here the plant's close frees mp and the model
  mp->m = m;
  mp->nx = nx;
  mp->nu = nu;
  mp->nact = nact;
  mp->nwheel = nwheel;
  mp->rate_hz = rate;
  mp->substeps = substeps;
  mp->split = m->opt.integrator != mjINT_RK4;
  mp->seed = c->seed;
  mp->key = -1;
  snprintf(mp->file, sizeof mp->file, "%s", path);
  snprintf(mp->robot, sizeof mp->robot, "%s", c->robot ? c->robot : m->names);

  if (c->lowlevel && (rc = make_lowlevel(mp, c->lowlevel, path, msg, len))) return rc;
  if ((rc = map_states(mp, c, msg, len)) || (rc = map_actuators(mp, c, path, msg, len)) ||
      (rc = find_wheels_and_key(mp, c, wnames, path, msg, len)) ||
      (rc = copy_vectors(mp, c, msg, len)))
    return rc;

  // the file's values, then the data and the configured perturbations
  save_file_values(mp);
  mp->root = -1;
  for (int j = 0; j < m->njnt && mp->root < 0; j++)
    if (m->jnt_type[j] == mjJNT_FREE) mp->root = m->jnt_bodyid[j];
  sp__delay_init(&mp->latency, NULL, 0, m->nu);
  mp->d = mj_makeData(m);
  if (!mp->d) return sp_errorf(msg, len, SP_ENOMEM, "mujoco plant: cannot allocate mjData");
  return c->perturb ? perturb_apply(mp, c->perturb, msg, len) : 0;
}

// ---- lifecycle --------------------------------------------------------------------------------

static int mj_seed(sp_plant* p, uint64_t seed) {
  mj_plant* mp = p->impl;
  mp->seed = seed;
  sp_rng_seed(&mp->rng_w, seed, 1);
  sp_rng_seed(&mp->rng_v, seed, 2);
  return 0;
}

static int mj_configure(sp_plant* p, char* msg, size_t len) {
  mj_plant* mp = p->impl;
  p->caps.robot = mp->robot;
  p->caps.nx = mp->nx;
  p->caps.nu = mp->nu;
  p->caps.rate_hz = mp->rate_hz;
  p->caps.x_names = mp->x_names;
  p->caps.u_names = mp->u_names;
  p->caps.u_min = mp->has_limits ? mp->u_min : NULL;
  p->caps.u_max = mp->has_limits ? mp->u_max : NULL;
  p->caps.can_reset = 1;
  mj_seed(p, mp->seed);
  return mj_reset(p, NULL);
}

static void mj_close(sp_plant* p) {
  mj_plant* mp = p->impl;
  if (!mp) return;
  if (mp->d) mj_deleteData(mp->d);
  if (mp->m) mj_deleteModel(mp->m);
  sp_lowlevel_data_free(mp->lld);
  sp_lowlevel_free(mp->ll);
  sp_free(mp->cmd);
  sp_free(mp->lat_buf);
  sp_free(mp);
  p->impl = NULL;
}

static int mj_read(sp_plant* p, double* x, int64_t* t_ns, uint32_t* status) {
  mj_plant* mp = p->impl;
  memcpy(x, mp->y, (size_t)mp->nx * sizeof(double));
  *t_ns = mp->t_ns;
  *status = mp->fault ? SP_FLAG_PLANT_FAULT : 0;
  return 0;
}

// the push, once, at its time: the root's velocity changes by impulse / total mass along the
// root body's lateral axis (horizontal), so the robot's momentum changes by the impulse
static void apply_push(mj_plant* mp) {
  const mjModel* m = mp->m;
  mjData* d = mp->d;
  mp->push_done = 1;
  int j = free_joint_of_body(m, mp->root);
  if (j < 0) return;
  const double* R = d->xmat + 9 * mp->root;
  double ly[2] = {R[1], R[4]}, n = sqrt(ly[0] * ly[0] + ly[1] * ly[1]);
  if (n < 1e-9) return;
  double dv = mp->push / mj_getTotalmass(m);
  double* qv = d->qvel + m->jnt_dofadr[j];
  qv[0] += dv * ly[0] / n;
  qv[1] += dv * ly[1] / n;
}

// what the actuators get in this physics step: the low-level controller's output on the state it
// reads (with noise), or the command's ctrl values; then through the latency line
static int actuate(mj_plant* mp) {
  const mjModel* m = mp->m;
  mjData* d = mp->d;
  int rc = 0;
  if (mp->ll) {
    const double *q = d->qpos, *v = d->qvel;
    if (mp->noise > 0) {
      for (int i = 0; i < m->nq; i++) mp->qn[i] = d->qpos[i];
      for (int i = 0; i < m->njnt; i++) {
        int t = m->jnt_type[i];
        if (t == mjJNT_HINGE || t == mjJNT_SLIDE)
          mp->qn[m->jnt_qposadr[i]] += mp->noise * sp_rng_normal(&mp->rng_v);
      }
      for (int i = 0; i < m->nv; i++)
        mp->vn[i] = d->qvel[i] + mp->noise * sp_rng_normal(&mp->rng_v);
      q = mp->qn;
      v = mp->vn;
    }
    sp_lowlevel_mode mode = mp->safe ? SP_LOWLEVEL_SIT : SP_LOWLEVEL_RUN;
    rc = sp_lowlevel_tick(mp->ll, mp->lld, mode, (double)mp->phys * m->opt.timestep, q, v, mp->cmd,
                          mp->act);
  }
  sp__delay_push(&mp->latency, mp->act_now, mp->act);
  for (int a = 0; a < m->nu; a++) d->ctrl[a] = mp->act_now[a];
  return rc;
}

static int mj_write(sp_plant* p, const double* u) {
  mj_plant* mp = p->impl;
  mjModel* m = mp->m;
  mjData* d = mp->d;

  // the command acting now: into the low-level controller's command, or into ctrl
  sp__delay_push(&mp->delay_line, mp->u_act, u);
  double* target = mp->ll ? mp->cmd : mp->act;
  for (int k = 0; k < mp->nact; k++) {
    const act_map* a = &mp->u_map[k];
    target[a->id] = a->offset + a->scale * mp->u_act[a->action];
  }

  // one control period of physics steps, each with its actuation, then the process noise on the
  // velocities, then the new state's kinematics (mj_step2 + mj_step1 per step is mj_step)
  int rc = 0;
  double push_at = mp->push_time / m->opt.timestep - 0.5;
  for (int s = 0; s < mp->substeps; s++) {
    if (mp->push != 0 && !mp->push_done && (double)mp->phys >= push_at) {
      apply_push(mp);
      if (mp->split && s == 0) mj_step1(m, d);  // the velocities' quantities follow the push
    }
    if (actuate(mp)) rc = SP_ENUMERIC;
    if (mp->split) {
      if (s > 0) mj_step1(m, d);
      mj_step2(m, d);
    } else {
      mj_step(m, d);
    }
    mp->phys++;
  }
  if (mp->has_w)
    for (int i = 0; i < m->nv; i++) d->qvel[i] += mp->wstd[i] * sp_rng_normal(&mp->rng_w);
  if (mp->split) {
    mj_step1(m, d);
  } else {
    mj_forward(m, d);
  }
  mp->steps++;
  mp->t_ns = (int64_t)llround((double)mp->steps * 1e9 / mp->rate_hz);
  measure(mp);

  // MuJoCo resets the data itself when the simulation blows up: report it
  int bad = bad_warnings(d);
  if (bad != mp->bad_warnings) {
    mp->bad_warnings = bad;
    mp->fault = 1;
    return SP_ENUMERIC;
  }
  return rc;
}

static int mj_safe(sp_plant* p, int on) {
  mj_plant* mp = p->impl;
  if (!mp->ll) return SP_EUNSUPPORTED;
  mp->safe = on;
  return 0;
}

// ---- reset ------------------------------------------------------------------------------------

static void set_heading(double* quat, double yaw) {
  quat[0] = cos(0.5 * yaw);
  quat[1] = 0;
  quat[2] = 0;
  quat[3] = sin(0.5 * yaw);
}

// positions: qpos, yaw, body_pos, body_yaw, jointpos sensors
static void reset_position(mj_plant* mp, const entry* e, double v) {
  const mjModel* m = mp->m;
  mjData* d = mp->d;
  int j;
  switch (e->source) {
    case SP_MJ_QPOS:
      d->qpos[e->adr] = v;
      break;
    case SP_MJ_YAW:
      set_heading(d->qpos + e->adr, v);
      break;
    case SP_MJ_BODY_POS:
      if ((j = free_joint_of_body(m, e->id)) >= 0) d->qpos[m->jnt_qposadr[j] + e->index] = v;
      break;
    case SP_MJ_BODY_YAW:
      if ((j = free_joint_of_body(m, e->id)) >= 0) set_heading(d->qpos + m->jnt_qposadr[j] + 3, v);
      break;
    case SP_MJ_SENSOR:
      if (m->sensor_type[e->id] == mjSENS_JOINTPOS && m->sensor_objtype[e->id] == mjOBJ_JOINT)
        d->qpos[m->jnt_qposadr[m->sensor_objid[e->id]]] = v;
      break;
  }
}

// velocities, given the kinematics of the new pose; angular (pass 0) before linear (pass 1).
// Returns 1 when it changed the free joint's velocity (what other entries measure then changes)
static int reset_velocity(mj_plant* mp, const entry* e, double v, int pass) {
  const mjModel* m = mp->m;
  mjData* d = mp->d;
  int b = -1, linear = 0, axis = e->index;
  const double* frame = NULL;  // rotation of the frame the value is measured in
  double cur = raw_value(mp, e);
  switch (e->source) {
    case SP_MJ_QVEL:
      if (pass == 1) d->qvel[e->adr] = v;
      return pass == 1;
    case SP_MJ_SENSOR: {
      int st = m->sensor_type[e->id], obj = m->sensor_objid[e->id];
      if (st == mjSENS_JOINTVEL && m->sensor_objtype[e->id] == mjOBJ_JOINT) {
        if (pass == 1) d->qvel[m->jnt_dofadr[obj]] = v;
        return pass == 1;
      }
      if ((st != mjSENS_VELOCIMETER && st != mjSENS_GYRO) || m->sensor_objtype[e->id] != mjOBJ_SITE)
        return 0;
      b = m->site_bodyid[obj];
      frame = d->site_xmat + 9 * obj;
      linear = st == mjSENS_VELOCIMETER;
      break;
    }
    case SP_MJ_BODY_VEL:
    case SP_MJ_BODY_ANGVEL:
      b = e->id;
      frame = d->xmat + 9 * b;
      linear = e->source == SP_MJ_BODY_VEL;
      break;
    default:
      return 0;
  }
  int j = free_joint_of_body(m, b);
  if (j < 0 || pass != linear) return 0;

  // change the free joint's velocity along the measuring axis by what is missing
  double dv = v - cur, w[3];
  for (int r = 0; r < 3; r++) w[r] = frame[3 * r + axis] * dv;  // world direction of the axis
  double* qv = d->qvel + m->jnt_dofadr[j];
  if (linear) {
    for (int r = 0; r < 3; r++) qv[r] += w[r];
  } else {
    // the free joint's angular velocity is in the body frame: R_body^T w
    const double* R = d->xmat + 9 * b;
    for (int r = 0; r < 3; r++) qv[3 + r] += R[r] * w[0] + R[3 + r] * w[1] + R[6 + r] * w[2];
  }
  return 1;
}

// spin every wheel so that its lowest point does not slide along its rolling direction
static void roll_wheels(mj_plant* mp) {
  const mjModel* m = mp->m;
  mjData* d = mp->d;
  for (int w = 0; w < mp->nwheel; w++) {
    int j = mp->wheel[w], b = m->jnt_bodyid[j], parent = m->body_parentid[b];
    const double* a = d->xaxis + 3 * j;
    double roll[3] = {a[1], -a[0], 0};  // a x z: the direction the wheel rolls in
    double n2 = roll[0] * roll[0] + roll[1] * roll[1];
    if (n2 < 1e-2) continue;  // axle (nearly) vertical: not a wheel on the ground
    double vc[6], vp[6];
    mj_objectVelocity(m, d, mjOBJ_XBODY, b, vc, 0);
    mj_objectVelocity(m, d, mjOBJ_XBODY, parent, vp, 0);
    double along = (vc[3] * roll[0] + vc[4] * roll[1]) / n2;
    double spin = along / mp->radius[w];
    double carried = vp[0] * a[0] + vp[1] * a[1] + vp[2] * a[2];
    d->qvel[m->jnt_dofadr[j]] = spin - carried;
  }
}

static int mj_reset(sp_plant* p, const double* x0) {
  mj_plant* mp = p->impl;
  mjModel* m = mp->m;
  mjData* d = mp->d;
  if (!x0 && mp->has_x0) x0 = mp->x0;
  if (mp->key >= 0) {
    mj_resetDataKeyframe(m, d, mp->key);
  } else {
    mj_resetData(m, d);
  }
  mp->bad_warnings = 0;
  mp->fault = 0;

  // pose, then velocities in the new pose (angular first: they move the points that linear
  // velocities are measured at), then the wheels roll
  if (x0) {
    for (int i = 0; i < mp->nx; i++) {
      const entry* e = &mp->x_map[i];
      reset_position(mp, e, (x0[i] - e->offset) / e->scale);
    }
    mj_forward(m, d);
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < mp->nx; i++) {
        const entry* e = &mp->x_map[i];
        if (reset_velocity(mp, e, (x0[i] - e->offset) / e->scale, pass)) mj_forward(m, d);
      }
    }
  } else {
    mj_forward(m, d);
  }
  if (mp->nwheel) {
    roll_wheels(mp);
    mj_forward(m, d);
  }

  // headings continue from the requested value (x0 may hold a heading beyond +-pi)
  for (int i = 0; i < mp->nx; i++) {
    entry* e = &mp->x_map[i];
    if (!is_heading(e->source)) continue;
    double raw = raw_value(mp, e);
    e->prev = x0 ? (x0[i] - e->offset) / e->scale : raw;
    e->prev += wrap(raw - e->prev);
  }
  sp__delay_reset(&mp->delay_line, mp->u_init);
  // actuators no action drives keep the keyframe's ctrl; the latency line starts full of it
  memcpy(mp->act, d->ctrl, sizeof(double) * (size_t)m->nu);
  sp__delay_reset(&mp->latency, mp->act);
  if (mp->ll) {
    memset(mp->cmd, 0, sizeof(double) * (size_t)mp->ncmd);
    sp_lowlevel_reset(mp->ll, mp->lld, d->qpos, d->qvel);
  }
  mp->push_done = 0;
  mp->phys = 0;
  mp->steps = 0;
  mp->t_ns = 0;
  measure(mp);
  return 0;
}

// ---- perturbations ----------------------------------------------------------------------------

static int scale_ok(double s) {
  return s > 0 && isfinite(s);
}

// the ranges of the "real" variants (docs/quadruped.md); nothing changes on an error
static int check_variants(const mj_plant* mp, const sp_plant_mujoco_perturbation* q, char* msg,
                          size_t len) {
  struct {
    const char* name;
    double v, lo, hi;
  } r[] = {{"payload", q->payload, 0, 1e4},
           {"payload_x", q->payload_x, -10, 10},
           {"payload_y", q->payload_y, -10, 10},
           {"motor", q->motor, 0, 100},
           {"pd", q->pd, 0, 100},
           {"latency", q->latency, 0, 10},
           {"noise", q->noise, 0, 1e3},
           {"push", q->push, -1e4, 1e4},
           {"push_time", q->push_time, 0, 1e9}};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
    if (!(r[i].v >= r[i].lo && r[i].v <= r[i].hi))
      return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: perturb: %s must be in [%g, %g], got %g",
                       r[i].name, r[i].lo, r[i].hi, r[i].v);
  if (q->motor < 0 || q->pd < 0)
    return sp_errorf(msg, len, SP_EINVAL, "mujoco plant: perturb: scales must be > 0");
  if ((q->payload > 0 || q->push != 0) && mp->root < 0)
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: perturb: %s needs a free-floating body (a free joint) in %s",
                     q->payload > 0 ? "payload" : "push", mp->file);
  if (q->pd > 0 && q->pd != 1 && !mp->ll)
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: perturb: pd scales the low-level controller's gains, and this "
                     "plant has none");
  double steps = q->latency / mp->m->opt.timestep;
  if (llround(steps) > SP_PLANT_MAX_DELAY)
    return sp_errorf(msg, len, SP_ERANGE,
                     "mujoco plant: perturb: latency %g s is %.0f physics steps (at most %d)",
                     q->latency, steps, SP_PLANT_MAX_DELAY);
  return 0;
}

// a point mass on the root body at (x, y) from its centre of mass, at the centre's height: the
// body's mass, centre and principal inertia become the combined body's (parallel axis theorem)
static void add_payload(mj_plant* mp, double mass, double x, double y) {
  mjModel* m = mp->m;
  int b = mp->root;
  double m0 = m->body_mass[b], c0[3], p[3], c[3], R[9], I[9] = {0}, J[9];
  memcpy(c0, m->body_ipos + 3 * b, sizeof c0);
  p[0] = c0[0] + x, p[1] = c0[1] + y, p[2] = c0[2];
  for (int r = 0; r < 3; r++) c[r] = (m0 * c0[r] + mass * p[r]) / (m0 + mass);
  // the body's inertia about its centre in the body frame: R diag(i) R'
  mju_quat2Mat(R, m->body_iquat + 4 * b);
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < 3; k++)
      for (int l = 0; l < 3; l++)
        I[3 * r + k] += R[3 * r + l] * m->body_inertia[3 * b + l] * R[3 * k + l];
  // both masses moved to the new centre
  const double* at[2] = {c0, p};
  double ms[2] = {m0, mass};
  for (int i = 0; i < 2; i++) {
    double d[3] = {at[i][0] - c[0], at[i][1] - c[1], at[i][2] - c[2]};
    double d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    for (int r = 0; r < 3; r++)
      for (int k = 0; k < 3; k++) I[3 * r + k] += ms[i] * ((r == k ? d2 : 0) - d[r] * d[k]);
  }
  double eig[3], quat[4];
  mju_eig3(eig, J, quat, I);
  m->body_mass[b] = m0 + mass;
  memcpy(m->body_ipos + 3 * b, c, sizeof c);
  memcpy(m->body_inertia + 3 * b, eig, sizeof eig);
  memcpy(m->body_iquat + 4 * b, quat, sizeof quat);
}

// latency (a new line of physics steps), noise, push and the controller's gain scale
static int set_variants(mj_plant* mp, const sp_plant_mujoco_perturbation* q, char* msg,
                        size_t len) {
  int nu = mp->m->nu, n = (int)llround(q->latency / mp->m->opt.timestep);
  if (mp->ll && sp_lowlevel_set_gain_scale(mp->ll, q->pd == 0 ? 1 : q->pd))
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: perturb: pd %g takes the low-level controller's gains out of "
                     "their ranges",
                     q->pd);
  if (n != mp->latency.n) {
    double* buf = n ? sp_malloc(sizeof(double) * (size_t)n * (size_t)(nu ? nu : 1)) : NULL;
    if (n && !buf) return sp_errorf(msg, len, SP_ENOMEM, "mujoco plant: no memory for latency");
    sp_free(mp->lat_buf);
    mp->lat_buf = buf;
    sp__delay_init(&mp->latency, buf, n, nu);
    sp__delay_reset(&mp->latency, mp->act);  // the current actuation fills the line
  }
  mp->noise = q->noise;
  mp->push = q->push;
  mp->push_time = q->push_time;
  return 0;
}

static int perturb_apply(mj_plant* mp, const sp_plant_mujoco_perturbation* q, char* msg,
                         size_t len) {
  mjModel* m = mp->m;
  mjData* d = mp->d;
  sp_plant_mujoco_perturbation none = {0};
  if (!q) q = &none;

  // every check first: nothing changes on an error
  double gm = q->mass == 0 ? 1 : q->mass, gf = q->friction == 0 ? 1 : q->friction;
  double gg = q->gear == 0 ? 1 : q->gear, gd = q->damping == 0 ? 1 : q->damping;
  if (!scale_ok(gm) || !scale_ok(gf) || !scale_ok(gg) || !scale_ok(gd))
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: perturbation scales must be > 0, got mass %g friction %g "
                     "gear %g damping %g",
                     q->mass, q->friction, q->gear, q->damping);
  if (!(q->frictionloss >= 0) || !isfinite(q->frictionloss))
    return sp_errorf(msg, len, SP_EINVAL,
                     "mujoco plant: perturb: frictionloss must be a force or torque >= 0, got %g",
                     q->frictionloss);
  // the variants that live outside the model first: they are the ones that can still fail
  int rc = check_variants(mp, q, msg, len);
  if (!rc) rc = set_variants(mp, q, msg, len);
  if (rc) return rc;
  struct {
    const sp_plant_mujoco_scale* s;
    int n, type;
    const char* what;
  } lists[3] = {{q->body_mass, q->nbody_mass, mjOBJ_BODY, "body"},
                {q->geom_friction, q->ngeom_friction, mjOBJ_GEOM, "geom"},
                {q->actuator_gear, q->nactuator_gear, mjOBJ_ACTUATOR, "actuator"}};
  for (int l = 0; l < 3; l++) {
    for (int k = 0; k < lists[l].n; k++) {
      const sp_plant_mujoco_scale* s = &lists[l].s[k];
      if (!s->name || mj_name2id(m, lists[l].type, s->name) < 0)
        return sp_errorf(msg, len, SP_ENOTFOUND, "mujoco plant: perturb: no %s named '%s' in %s",
                         lists[l].what, s->name ? s->name : "(null)", mp->file);
      if (!scale_ok(s->scale))
        return sp_errorf(msg, len, SP_EINVAL,
                         "mujoco plant: perturb: scale of %s '%s' must be > 0, got %g",
                         lists[l].what, s->name, s->scale);
    }
  }

  // from the file's values: global factor, then per-name factors
  for (int b = 0; b < m->nbody; b++) {
    m->body_mass[b] = gm * mp->mass0[b];
    for (int r = 0; r < 3; r++) m->body_inertia[3 * b + r] = gm * mp->inertia0[3 * b + r];
  }
  for (int g = 0; g < 3 * m->ngeom; g++) m->geom_friction[g] = gf * mp->friction0[g];
  double gmotor = q->motor == 0 ? 1 : q->motor;
  for (int a = 0; a < 6 * m->nu; a++) m->actuator_gear[a] = gg * gmotor * mp->gear0[a];
  for (int v = 0; v < m->nv; v++) {
    m->dof_damping[v] = gd * mp->damping0[v];
    m->dof_frictionloss[v] = mp->frictionloss0[v] + q->frictionloss;
  }
  for (int k = 0; k < q->nbody_mass; k++) {
    int b = mj_name2id(m, mjOBJ_BODY, q->body_mass[k].name);
    m->body_mass[b] *= q->body_mass[k].scale;
    for (int r = 0; r < 3; r++) m->body_inertia[3 * b + r] *= q->body_mass[k].scale;
  }
  for (int k = 0; k < q->ngeom_friction; k++) {
    int g = mj_name2id(m, mjOBJ_GEOM, q->geom_friction[k].name);
    for (int r = 0; r < 3; r++) m->geom_friction[3 * g + r] *= q->geom_friction[k].scale;
  }
  for (int k = 0; k < q->nactuator_gear; k++) {
    int a = mj_name2id(m, mjOBJ_ACTUATOR, q->actuator_gear[k].name);
    for (int r = 0; r < 6; r++) m->actuator_gear[6 * a + r] *= q->actuator_gear[k].scale;
  }

  for (int b = 0; b < m->nbody; b++) {
    memcpy(m->body_ipos + 3 * b, mp->ipos0 + 3 * b, sizeof(double) * 3);
    memcpy(m->body_iquat + 4 * b, mp->iquat0 + 4 * b, sizeof(double) * 4);
  }
  if (q->payload > 0) add_payload(mp, q->payload, q->payload_x, q->payload_y);

  // derived constants (subtree masses, inverse weights) follow; mj_setConst runs at qpos0, so
  // the simulation state is kept aside and restored
  size_t nq = (size_t)m->nq, nv = (size_t)m->nv, na = (size_t)m->na;
  double* keep = sp_malloc(sizeof(double) * (nq + nv + na + 1));
  if (!keep) return SP_ENOMEM;
  memcpy(keep, d->qpos, sizeof(double) * nq);
  memcpy(keep + nq, d->qvel, sizeof(double) * nv);
  memcpy(keep + nq + nv, d->act, sizeof(double) * na);
  double time = d->time;
  mj_setConst(m, d);
  memcpy(d->qpos, keep, sizeof(double) * nq);
  memcpy(d->qvel, keep + nq, sizeof(double) * nv);
  memcpy(d->act, keep + nq + nv, sizeof(double) * na);
  d->time = time;
  sp_free(keep);
  mj_forward(m, d);
  return 0;
}

int sp_plant_mujoco_perturb(sp_plant* p, const sp_plant_mujoco_perturbation* q, char* msg,
                            size_t msglen) {
  if (!sp_plant_mujoco_model(p)) return SP_EINVAL;
  return perturb_apply(p->impl, q, msg, msglen);
}

// ---- vtable and accessors ---------------------------------------------------------------------

static sp_lowlevel* mj_lowlevel(sp_plant* p) {
  return ((mj_plant*)p->impl)->ll;
}

const sp_plant_backend sp__plant_mujoco_backend = {
    .scheme = "mujoco",
    .open = mj_open,
    .configure = mj_configure,
    .close = mj_close,
    .read = mj_read,
    .write = mj_write,
    .reset = mj_reset,
    .seed = mj_seed,
    .safe = mj_safe,
    .lowlevel = mj_lowlevel,
};

struct mjModel_* sp_plant_mujoco_model(sp_plant* p) {
  if (!p || p->backend != &sp__plant_mujoco_backend || !p->impl || p->state < SP_PLANT_CONFIGURED)
    return NULL;
  return ((mj_plant*)p->impl)->m;
}

struct mjData_* sp_plant_mujoco_data(sp_plant* p) {
  return sp_plant_mujoco_model(p) ? ((mj_plant*)p->impl)->d : NULL;
}

const struct sp_lowlevel* sp_plant_mujoco_lowlevel(sp_plant* p) {
  return sp_plant_mujoco_model(p) ? ((mj_plant*)p->impl)->ll : NULL;
}

// the configuration for recordings (render/): qpos now, and the file it belongs to
int sp_plant_mujoco_qpos(sp_plant* p, double* qpos, int n) {
  const mjModel* m = sp_plant_mujoco_model(p);
  if (!m) return SP_EINVAL;
  if (qpos && n >= m->nq) memcpy(qpos, ((mj_plant*)p->impl)->d->qpos, sizeof(double) * m->nq);
  return m->nq;
}

int sp_plant_mujoco_truth(sp_plant* p, double* y, int n) {
  if (!sp_plant_mujoco_model(p)) return SP_EINVAL;
  mj_plant* mp = p->impl;
  if (y && n >= mp->nx)
    for (int i = 0; i < mp->nx; i++) {
      entry* e = &mp->x_map[i];
      // a heading as measure() continued it (before its noise): the last reading's
      y[i] = e->offset + e->scale * (is_heading(e->source) ? e->prev : raw_value(mp, e));
    }
  return mp->nx;
}

const char* sp_plant_mujoco_file(sp_plant* p) {
  return sp_plant_mujoco_model(p) ? ((mj_plant*)p->impl)->file : NULL;
}

int sp_plant_mujoco_substeps(const sp_plant* p) {
  if (!p || p->backend != &sp__plant_mujoco_backend || !p->impl) return 0;
  return ((const mj_plant*)p->impl)->substeps;
}
