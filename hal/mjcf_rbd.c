// mjcf_rbd.c: an engine/rbd tree from MuJoCo's compiled model (mj_loadXML, then a walk over the
// body tree, inertias, joints and motor actuators). No XML is parsed here.
#include "hal/mjcf_rbd.h"

#include <math.h>
#include <mujoco/mujoco.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/rbd/spatial.h"

static const char* body_name(const mjModel* m, int b, char* buf, size_t n) {
  const char* s = mj_id2name(m, mjOBJ_BODY, b);
  if (s && s[0]) return s;
  snprintf(buf, n, "body%d", b);
  return buf;
}

static const char* joint_name(const mjModel* m, int j, char* buf, size_t n) {
  const char* s = mj_id2name(m, mjOBJ_JOINT, j);
  if (s && s[0]) return s;
  snprintf(buf, n, "joint%d", j);
  return buf;
}

// smooth passive forces the tree does not model: refuse rather than disagree silently
static int check_passive(const mjModel* m, char* msg, size_t n) {
  if (m->opt.density != 0 || m->opt.viscosity != 0)
    return sp_errorf(msg, n, SP_EUNSUPPORTED,
                     "mjcf: option density/viscosity (fluid forces) is not supported");
  for (int k = 0; k < m->ntendon; k++)
    if (m->tendon_stiffness[k] != 0 || m->tendon_damping[k] != 0) {
      const char* tn = mj_id2name(m, mjOBJ_TENDON, k);
      return sp_errorf(msg, n, SP_EUNSUPPORTED,
                       "mjcf: tendon %d ('%s'): tendon stiffness and damping are not supported", k,
                       tn ? tn : "");
    }
  return SP_OK;
}

static sp_rbd_joint joint_type(const mjModel* m, int j) {
  switch (m->jnt_type[j]) {
    case mjJNT_FREE:
      return SP_RBD_FREE;
    case mjJNT_BALL:
      return SP_RBD_BALL;
    case mjJNT_SLIDE:
      return SP_RBD_PRISMATIC;
    default:
      return SP_RBD_REVOLUTE;
  }
}

// the joint j's axis, anchor, spring, damping and armature into l
static int joint_params(const mjModel* m, int j, const char* bn, sp_rbd_link* l, char* msg,
                        size_t n) {
  int qa = m->jnt_qposadr[j], da = m->jnt_dofadr[j];
  for (int k = 0; k < 3; k++) l->axis[k] = m->jnt_axis[3 * j + k];
  if (l->joint != SP_RBD_FREE)
    for (int k = 0; k < 3; k++) l->anchor[k] = m->jnt_pos[3 * j + k];
  if (l->joint == SP_RBD_REVOLUTE || l->joint == SP_RBD_PRISMATIC) {
    l->ref = m->qpos0[qa];
    l->stiffness = m->jnt_stiffness[j];
    l->springref = m->qpos_spring[qa];
  } else if (m->jnt_stiffness[j] != 0) {
    return sp_errorf(msg, n, SP_EUNSUPPORTED,
                     "mjcf: body '%s': stiffness on a ball or free joint is not supported", bn);
  }
  l->damping = m->dof_damping[da];
  l->armature = m->dof_armature[da];
  return SP_OK;
}

// body b's mass, centre of mass and inertia (body_inertia is diagonal in the frame
// (body_ipos, body_iquat)) into l
static void body_inertia(const mjModel* m, int b, sp_rbd_link* l) {
  double R[9], I[9];
  const double* dg = m->body_inertia + 3 * b;
  sp_m3_from_quat(R, m->body_iquat + 4 * b);
  for (int r = 0; r < 3; r++)
    for (int s = 0; s < 3; s++)
      I[3 * r + s] = R[3 * r] * dg[0] * R[3 * s] + R[3 * r + 1] * dg[1] * R[3 * s + 1] +
                     R[3 * r + 2] * dg[2] * R[3 * s + 2];
  l->mass = m->body_mass[b];
  for (int k = 0; k < 3; k++) l->com[k] = m->body_ipos[3 * b + k];
  l->inertia[0] = I[0], l->inertia[1] = I[4], l->inertia[2] = I[8];
  l->inertia[3] = I[1], l->inertia[4] = I[2], l->inertia[5] = I[5];
}

// body b as a chain of links, one per joint (a fixed link for none); the last carries the mass
static int add_body(sp_rbd* t, const mjModel* m, int b, int* last, int* jlink, char* msg,
                    size_t n) {
  char bb[32], jb[32];
  const char* bn = body_name(m, b, bb, sizeof bb);
  int parent = last[m->body_parentid[b]];
  int nj = m->body_jntnum[b], j0 = m->body_jntadr[b];
  for (int c = 0; c < (nj ? nj : 1); c++) {
    sp_rbd_link l;
    int j = nj ? j0 + c : -1, lastlink = c == nj - 1 || nj == 0;
    sp_rbd_joint type = j >= 0 ? joint_type(m, j) : SP_RBD_FIXED;
    char name[SP_RBD_NAME];
    if (lastlink)
      snprintf(name, sizeof name, "%s", bn);
    else
      snprintf(name, sizeof name, "%s/%s", bn, joint_name(m, j, jb, sizeof jb));
    sp_rbd_link_init(&l, name, parent, type);
    if (c == 0 && type != SP_RBD_FREE) {
      for (int k = 0; k < 3; k++) l.pos[k] = m->body_pos[3 * b + k];
      sp_m3_from_quat(l.rot, m->body_quat + 4 * b);
    }
    int rc = j >= 0 ? joint_params(m, j, bn, &l, msg, n) : SP_OK;
    if (rc) return rc;
    if (lastlink) body_inertia(m, b, &l);
    int idx;
    if ((rc = sp_rbd_add(t, &l, &idx, msg, n))) return rc;
    if (j >= 0) jlink[j] = idx;
    parent = idx;
  }
  last[b] = parent;
  return SP_OK;
}

// actuators on hinges and slides: force = gain u + b0 + b1 length + b2 velocity with
// length = gear q, so tau = gear gain u plus a spring (-gear^2 b1) and damper (-gear^2 b2)
static int add_actuators(sp_rbd* t, const mjModel* m, const int* jlink, char* msg, size_t n) {
  for (int a = 0; a < m->nu; a++) {
    int j = m->actuator_trnid[2 * a];
    const char* an = mj_id2name(m, mjOBJ_ACTUATOR, a);
    int affine = m->actuator_biastype[a] == mjBIAS_AFFINE;
    if (m->actuator_trntype[a] != mjTRN_JOINT || m->actuator_dyntype[a] != mjDYN_NONE ||
        m->actuator_gaintype[a] != mjGAIN_FIXED ||
        (m->actuator_biastype[a] != mjBIAS_NONE && !affine) ||
        (m->jnt_type[j] != mjJNT_HINGE && m->jnt_type[j] != mjJNT_SLIDE))
      return sp_errorf(msg, n, SP_EUNSUPPORTED,
                       "mjcf: actuator %d ('%s'): only fixed-gain actuators with no or affine bias "
                       "and no activation dynamics (motor, position, velocity) on a hinge or slide "
                       "joint are supported",
                       a, an ? an : "");
    sp_rbd_link* l = &t->links[jlink[j]];
    l->actuated = 1;
    if (!affine) continue;
    double g = m->actuator_gear[6 * a];
    const double* b = m->actuator_biasprm + mjNBIAS * a;
    double k = -g * g * b[1], c = -g * g * b[2], f0 = g * b[0];
    if (k < 0 || c < 0 || (k == 0 && f0 != 0))
      return sp_errorf(msg, n, SP_EUNSUPPORTED,
                       "mjcf: actuator %d ('%s'): its bias is not a spring and damper on the joint",
                       a, an ? an : "");
    // combine with the joint's spring: k_j (q - r_j) + k (q - f0 / k)
    if (k > 0) {
      l->springref = (l->stiffness * l->springref + f0) / (l->stiffness + k);
      l->stiffness += k;
    }
    l->damping += c;
  }
  return SP_OK;
}

// u in MuJoCo's actuator order (several actuators may drive one joint)
static int map_controls(sp_rbd* t, const mjModel* m, const int* jlink, char* msg, size_t n) {
  if (m->nu > 0) {
    int* ad = sp_realloc(t->act_dof, (size_t)m->nu * sizeof *ad);
    if (ad) t->act_dof = ad;
    double* ag = ad ? sp_realloc(t->act_gear, (size_t)m->nu * sizeof *ag) : NULL;
    if (ag) t->act_gear = ag;
    if (!ad || !ag) return sp_errorf(msg, n, SP_ENOMEM, "mjcf: out of memory");
  }
  t->nu = m->nu;
  for (int a = 0; a < m->nu; a++) {
    const sp_rbd_link* l = &t->links[jlink[m->actuator_trnid[2 * a]]];
    t->act_dof[a] = l->iv;
    t->act_gear[a] = m->actuator_gear[6 * a] * m->actuator_gainprm[mjNGAIN * a];
  }
  return SP_OK;
}

// q and v must have MuJoCo's layout
static int check_layout(const sp_rbd* t, const mjModel* m, const int* jlink, char* msg, size_t n) {
  for (int j = 0; j < m->njnt; j++) {
    const sp_rbd_link* l = &t->links[jlink[j]];
    int iq = m->jnt_type[j] == mjJNT_FREE ? l->iq - 3 : l->iq;
    int iv = m->jnt_type[j] == mjJNT_FREE ? l->iv - 3 : l->iv;
    if (iq != m->jnt_qposadr[j] || iv != m->jnt_dofadr[j])
      return sp_errorf(msg, n, SP_EUNSUPPORTED, "mjcf: joint %d: layout differs from MuJoCo's", j);
  }
  if (t->nq != m->nq || t->nv != m->nv || t->nu != m->nu)
    return sp_errorf(msg, n, SP_EUNSUPPORTED, "mjcf: sizes differ from MuJoCo's");
  return SP_OK;
}

int sp_mjcf_rbd_from_model(sp_rbd** out, const mjModel* m, char* msg, size_t n) {
  *out = NULL;
  sp_rbd* t;
  if (sp_rbd_new(&t)) return sp_errorf(msg, n, SP_ENOMEM, "mjcf: out of memory");
  int* last = sp_malloc((size_t)m->nbody * sizeof *last);  // link carrying each body
  int* jlink = sp_malloc((size_t)(m->njnt ? m->njnt : 1) * sizeof *jlink);
  int rc = !last || !jlink ? sp_errorf(msg, n, SP_ENOMEM, "mjcf: out of memory")
                           : check_passive(m, msg, n);
  if (!rc) {
    for (int k = 0; k < 3; k++) t->gravity[k] = m->opt.gravity[k];
    last[0] = -1;
  }
  // links in body order, so q and v follow MuJoCo's joint order
  for (int b = 1; !rc && b < m->nbody; b++) rc = add_body(t, m, b, last, jlink, msg, n);
  if (!rc) rc = add_actuators(t, m, jlink, msg, n);
  if (!rc) rc = sp_rbd_finalize(t, msg, n);
  if (!rc) rc = map_controls(t, m, jlink, msg, n);
  if (!rc) rc = check_layout(t, m, jlink, msg, n);
  sp_free(last);
  sp_free(jlink);
  if (rc)
    sp_rbd_free(t);
  else
    *out = t;
  return rc;
}

// the index of the first non-finite entry of v (n), or -1
static long first_nonfinite(const mjtNum* v, long n) {
  for (long i = 0; i < n; i++)
    if (!isfinite(v[i])) return i;
  return -1;
}

int sp_mjcf_check(const mjModel* m, const char* path, char* msg, size_t n) {
  if (!(m->opt.timestep > 0) || !isfinite(m->opt.timestep))
    return sp_errorf(msg, n, SP_EFORMAT,
                     "%s: option timestep must be a positive number of seconds, got %g", path,
                     m->opt.timestep);
  if (first_nonfinite(m->opt.gravity, 3) >= 0)
    return sp_errorf(msg, n, SP_EFORMAT, "%s: option gravity is not finite", path);
  // per element: the array, its width, the element's kind and count
  const struct {
    const mjtNum* v;
    int width, obj;
    const char* field;
  } arrays[] = {
      {m->body_pos, 3, mjOBJ_BODY, "pos"},
      {m->body_quat, 4, mjOBJ_BODY, "quat"},
      {m->body_ipos, 3, mjOBJ_BODY, "ipos"},
      {m->body_iquat, 4, mjOBJ_BODY, "iquat"},
      {m->body_mass, 1, mjOBJ_BODY, "mass"},
      {m->body_inertia, 3, mjOBJ_BODY, "inertia"},
      {m->jnt_pos, 3, mjOBJ_JOINT, "pos"},
      {m->jnt_axis, 3, mjOBJ_JOINT, "axis"},
      {m->jnt_stiffness, 1, mjOBJ_JOINT, "stiffness"},
      {m->geom_pos, 3, mjOBJ_GEOM, "pos"},
      {m->geom_quat, 4, mjOBJ_GEOM, "quat"},
      {m->geom_size, 3, mjOBJ_GEOM, "size"},
  };
  for (size_t a = 0; a < sizeof arrays / sizeof arrays[0]; a++) {
    long count = arrays[a].obj == mjOBJ_BODY    ? m->nbody
                 : arrays[a].obj == mjOBJ_JOINT ? m->njnt
                                                : m->ngeom;
    long bad = first_nonfinite(arrays[a].v, count * arrays[a].width);
    if (bad < 0) continue;
    long id = bad / arrays[a].width;
    const char* kind = arrays[a].obj == mjOBJ_BODY    ? "body"
                       : arrays[a].obj == mjOBJ_JOINT ? "joint"
                                                      : "geom";
    const char* name = mj_id2name(m, arrays[a].obj, (int)id);
    return sp_errorf(msg, n, SP_EFORMAT, "%s: %s '%s' (number %ld): %s is not finite (NaN or Inf)",
                     path, kind, name ? name : "", id, arrays[a].field);
  }
  long bad = first_nonfinite(m->qpos0, m->nq);
  if (bad >= 0)
    return sp_errorf(msg, n, SP_EFORMAT, "%s: the default joint position qpos0[%ld] is not finite",
                     path, bad);
  bad = first_nonfinite(m->dof_damping, m->nv);
  if (bad < 0) bad = first_nonfinite(m->dof_armature, m->nv);
  if (bad >= 0)
    return sp_errorf(msg, n, SP_EFORMAT, "%s: the damping or armature of dof %ld is not finite",
                     path, bad);
  return 0;
}

// MuJoCo's warnings while one model loads (its NaN warning is the only sign of a NaN in the XML)
static _Thread_local int load_saw_nan;
static void load_warning(const char* text) {
  if (strstr(text, "NaN")) load_saw_nan = 1;
}

mjModel* sp_mjcf_load(const char* path, char* msg, size_t n) {
  char err[512] = "";
  void (*saved)(const char*) = mju_user_warning;
  load_saw_nan = 0;
  mju_user_warning = load_warning;
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  mju_user_warning = saved;
  if (!m) {
    for (char* c = err; *c; c++)
      if (*c == '\n') *c = ' ';
    sp_errorf(msg, n, SP_EFORMAT, "%s: %s", path, err[0] ? err : "cannot load");
    return NULL;
  }
  int rc = load_saw_nan
               ? sp_errorf(msg, n, SP_EFORMAT,
                           "%s: a number in the XML is NaN (MuJoCo only warns about it)", path)
               : sp_mjcf_check(m, path, msg, n);
  if (rc) {
    mj_deleteModel(m);
    return NULL;
  }
  return m;
}

int sp_mjcf_check_file(const char* path, char* msg, size_t n) {
  mjModel* m = sp_mjcf_load(path, msg, n);
  if (!m) return SP_EFORMAT;
  mj_deleteModel(m);
  return 0;
}

int sp_mjcf_rbd_load(sp_rbd** out, const char* path, char* msg, size_t n) {
  *out = NULL;
  mjModel* m = sp_mjcf_load(path, msg, n);
  if (!m) return SP_EFORMAT;
  char inner[400] = "";
  int rc = sp_mjcf_rbd_from_model(out, m, inner, sizeof inner);
  if (rc) sp_errorf(msg, n, rc, "%s: %s", path, inner);
  mj_deleteModel(m);
  return rc;
}

double sp_mjcf_time_transition_fd(const char* path, int reps, unsigned long seed, int* nx,
                                  int* nu) {
  char err[512] = "";
  mjModel* m = mj_loadXML(path, NULL, err, sizeof err);
  if (!m) return SP_EFORMAT;
  m->opt.disableflags |= mjDSBL_CONTACT | mjDSBL_LIMIT | mjDSBL_EQUALITY;
  mjData* d = mj_makeData(m);
  if (!d) {
    mj_deleteModel(m);
    return SP_ENOMEM;
  }
  // a reproducible state near qpos0
  unsigned long s = seed * 2862933555777941757UL + 3037000493UL;
  for (int i = 0; i < m->nv; i++) {
    s = s * 6364136223846793005UL + 1442695040888963407UL;
    d->qvel[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
  }
  mj_integratePos(m, d->qpos, d->qvel, 0.3);
  int n = 2 * m->nv + m->na;
  mjtNum* A = sp_malloc((size_t)n * (size_t)n * sizeof *A);
  mjtNum* B = sp_malloc((size_t)n * (size_t)(m->nu ? m->nu : 1) * sizeof *B);
  if (!A || !B) {
    sp_free(A), sp_free(B);
    mj_deleteData(d);
    mj_deleteModel(m);
    return SP_ENOMEM;
  }
  mj_forward(m, d);
  mjd_transitionFD(m, d, 1e-6, 1, A, m->nu ? B : NULL, NULL, NULL);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int r = 0; r < reps; r++) mjd_transitionFD(m, d, 1e-6, 1, A, m->nu ? B : NULL, NULL, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (nx) *nx = n;
  if (nu) *nu = m->nu;
  sp_free(A), sp_free(B);
  mj_deleteData(d);
  mj_deleteModel(m);
  return ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)) / reps;
}
