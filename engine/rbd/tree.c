// tree.c: building a kinematic tree (links, joints, inertias), its q/v/u layout, its named
// parameters, the configuration manifold (integrate, normalise) and the workspace.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/rbd/rbd.h"
#include "engine/rbd/spatial.h"

static const double eye3[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

int sp_rbd_new(sp_rbd** out) {
  sp_rbd* t = sp_calloc(1, sizeof *t);
  *out = t;
  if (!t) return SP_ENOMEM;
  t->gravity[2] = -9.81;
  return SP_OK;
}

void sp_rbd_free(sp_rbd* t) {
  if (!t) return;
  sp_free(t->links);
  sp_free(t->dof_link);
  sp_free(t->dof_parent);
  sp_free(t->act_dof);
  sp_free(t->act_gear);
  sp_free(t->param);
  sp_free(t->param_name);
  sp_free(t->param_link);
  sp_free(t->param_kind);
  sp_free(t);
}

void sp_rbd_link_init(sp_rbd_link* l, const char* name, int parent, sp_rbd_joint joint) {
  memset(l, 0, sizeof *l);
  snprintf(l->name, sizeof l->name, "%s", name ? name : "");
  l->parent = parent;
  l->joint = joint;
  memcpy(l->rot, eye3, sizeof eye3);
  l->axis[2] = 1.0;
  l->gear = 1.0;
}

int sp_rbd_find(const sp_rbd* t, const char* name) {
  for (int i = 0; i < t->nlinks; i++)
    if (!strcmp(t->links[i].name, name)) return i;
  return -1;
}

// inertia (ixx iyy izz ixy ixz iyz) is positive semi-definite: Sylvester on the 3x3 with slack
static int inertia_ok(const double* in) {
  double a = in[0], b = in[1], c = in[2], d = in[3], e = in[4], f = in[5];
  for (int i = 0; i < 6; i++)
    if (!isfinite(in[i])) return 0;
  double tol = 1e-12 * (fabs(a) + fabs(b) + fabs(c) + 1e-300);
  if (a < -tol || b < -tol || c < -tol) return 0;
  if (a * b - d * d < -tol * tol * 1e6 - 1e-15) return 0;
  double det = a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e);
  return det >= -1e-12 * (a * b * c + 1e-300) - 1e-18;
}

static int push(sp_rbd* t, const sp_rbd_link* l) {
  if (t->nlinks == t->cap) {
    int cap = t->cap ? 2 * t->cap : 16;
    sp_rbd_link* nl = sp_realloc(t->links, (size_t)cap * sizeof *nl);
    if (!nl) return SP_ENOMEM;
    t->links = nl;
    t->cap = cap;
  }
  t->links[t->nlinks++] = *l;
  return SP_OK;
}

int sp_rbd_add(sp_rbd* t, const sp_rbd_link* l, int* index, char* msg, size_t n) {
  const char* nm = l->name;
  if (t->finalized) return sp_errorf(msg, n, SP_EINVAL, "link '%s': tree is finalized", nm);
  if (!nm[0]) return sp_errorf(msg, n, SP_EINVAL, "link %d: name is empty", t->nlinks + 1);
  if (sp_rbd_find(t, nm) >= 0)
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': name is used twice", nm);
  if (l->parent < -1 || l->parent >= t->nlinks)
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': parent %d is not an earlier link", nm,
                     l->parent);
  if ((int)l->joint < SP_RBD_FIXED || (int)l->joint > SP_RBD_FREE)
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': unknown joint type %d", nm, (int)l->joint);
  double an = sqrt(l->axis[0] * l->axis[0] + l->axis[1] * l->axis[1] + l->axis[2] * l->axis[2]);
  if ((l->joint == SP_RBD_REVOLUTE || l->joint == SP_RBD_PRISMATIC) && !(an > 1e-12))
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': joint axis must be non-zero", nm);
  if (!(l->mass >= 0) || !isfinite(l->mass))
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': mass must be >= 0, got %g", nm, l->mass);
  if (!inertia_ok(l->inertia))
    return sp_errorf(msg, n, SP_EINVAL,
                     "link '%s': inertia must be symmetric positive semi-definite", nm);
  if (!(l->damping >= 0) || !(l->armature >= 0) || !(l->stiffness >= 0))
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': damping, armature and stiffness must be >= 0",
                     nm);
  if (l->stiffness != 0 && l->joint != SP_RBD_REVOLUTE && l->joint != SP_RBD_PRISMATIC)
    return sp_errorf(msg, n, SP_EINVAL, "link '%s': stiffness needs a revolute or prismatic joint",
                     nm);
  int rc;
  sp_rbd_link c = *l;
  if (an > 0)
    for (int i = 0; i < 3; i++) c.axis[i] /= an;
  c.hidden = 0;
  if (l->joint == SP_RBD_FREE) {
    // three massless prismatic links along the parent axes, then the ball carrying the body
    int parent = l->parent;
    for (int k = 0; k < 3; k++) {
      sp_rbd_link s;
      char nm2[SP_RBD_NAME + 8];
      snprintf(nm2, sizeof nm2, "%s/%c", nm, "xyz"[k]);
      sp_rbd_link_init(&s, nm2, parent, SP_RBD_PRISMATIC);
      if (k == 0) memcpy(s.pos, l->pos, sizeof s.pos), memcpy(s.rot, l->rot, sizeof s.rot);
      s.axis[0] = s.axis[1] = s.axis[2] = 0;
      s.axis[k] = 1;
      s.hidden = 1;
      s.damping = l->damping;
      s.armature = l->armature;
      if ((rc = push(t, &s))) return rc;
      parent = t->nlinks - 1;
    }
    c.parent = parent;
    c.joint = SP_RBD_BALL;
    memset(c.pos, 0, sizeof c.pos);
    memcpy(c.rot, eye3, sizeof eye3);
    memset(c.anchor, 0, sizeof c.anchor);
    c.actuated = 0;
  }
  if ((rc = push(t, &c))) return rc;
  if (index) *index = t->nlinks - 1;
  return SP_OK;
}

static void add_param(sp_rbd* t, double* ptr, int i, int kind, const char* field) {
  const char* link = t->links[i].name;
  if (t->param_name) {
    t->param[t->np] = ptr;
    t->param_link[t->np] = i;
    t->param_kind[t->np] = kind;
    snprintf(t->param_name[t->np], sizeof t->param_name[0], "%s.%s", link, field);
  }
  t->np++;
}

// walk the parameter table: count (names NULL) or fill
static void list_params(sp_rbd* t) {
  static const char* const xyz[] = {"x", "y", "z"};
  static const char* const in[] = {"ixx", "iyy", "izz", "ixy", "ixz", "iyz"};
  t->np = 0;
  for (int i = 0; i < t->nlinks; i++) {
    sp_rbd_link* l = &t->links[i];
    if (l->hidden) continue;
    char f[16];
    add_param(t, &l->mass, i, SP_RBD_P_MASS, "mass");
    for (int k = 0; k < 3; k++)
      snprintf(f, sizeof f, "com_%s", xyz[k]), add_param(t, &l->com[k], i, SP_RBD_P_COM + k, f);
    for (int k = 0; k < 6; k++) add_param(t, &l->inertia[k], i, SP_RBD_P_INERTIA + k, in[k]);
    for (int k = 0; k < 3; k++)
      snprintf(f, sizeof f, "pos_%s", xyz[k]), add_param(t, &l->pos[k], i, SP_RBD_P_POS + k, f);
    if (l->joint != SP_RBD_FIXED) {
      add_param(t, &l->damping, i, SP_RBD_P_DAMPING, "damping");
      add_param(t, &l->armature, i, SP_RBD_P_ARMATURE, "armature");
      if (l->joint == SP_RBD_REVOLUTE || l->joint == SP_RBD_PRISMATIC)
        add_param(t, &l->stiffness, i, SP_RBD_P_STIFFNESS, "stiffness");
    }
  }
}

int sp_rbd_finalize(sp_rbd* t, char* msg, size_t n) {
  if (t->finalized) return SP_OK;
  if (t->nlinks == 0) return sp_errorf(msg, n, SP_EINVAL, "tree has no links");
  int nq = 0, nv = 0, nu = 0;
  for (int i = 0; i < t->nlinks; i++) {
    sp_rbd_link* l = &t->links[i];
    int q = 0, v = 0;
    switch (l->joint) {
      case SP_RBD_REVOLUTE:
      case SP_RBD_PRISMATIC:
        q = v = 1;
        break;
      case SP_RBD_BALL:
        q = 4, v = 3;
        break;
      default:
        break;
    }
    l->iq = nq, l->nq = q, l->iv = nv, l->nv = v;
    nq += q, nv += v;
    if (l->actuated) nu += v;
  }
  t->nq = nq, t->nv = nv, t->nu = nu;
  int nvv = nv ? nv : 1, nuu = nu ? nu : 1;
  t->dof_link = sp_malloc((size_t)nvv * sizeof(int));
  t->dof_parent = sp_malloc((size_t)nvv * sizeof(int));
  t->act_dof = sp_malloc((size_t)nuu * sizeof(int));
  t->act_gear = sp_malloc((size_t)nuu * sizeof(double));
  list_params(t);
  int np = t->np ? t->np : 1;
  t->param = sp_malloc((size_t)np * sizeof *t->param);
  t->param_name = sp_malloc((size_t)np * sizeof *t->param_name);
  t->param_link = sp_malloc((size_t)np * sizeof *t->param_link);
  t->param_kind = sp_malloc((size_t)np * sizeof *t->param_kind);
  if (!t->dof_link || !t->dof_parent || !t->act_dof || !t->act_gear || !t->param ||
      !t->param_name || !t->param_link || !t->param_kind)
    return sp_errorf(msg, n, SP_ENOMEM, "tree: out of memory");
  list_params(t);
  // dof chain: the previous dof on the path to the root
  int k = 0, a = 0;
  for (int i = 0; i < t->nlinks; i++) {
    sp_rbd_link* l = &t->links[i];
    int prev = -1;
    for (int j = l->parent; j >= 0; j = t->links[j].parent)
      if (t->links[j].nv) {
        prev = t->links[j].iv + t->links[j].nv - 1;
        break;
      }
    for (int c = 0; c < l->nv; c++, k++) {
      t->dof_link[k] = i;
      t->dof_parent[k] = c ? k - 1 : prev;
      if (l->actuated) t->act_dof[a] = k, t->act_gear[a++] = l->gear;
    }
  }
  t->finalized = 1;
  return SP_OK;
}

int sp_rbd_param_index(const sp_rbd* t, const char* name) {
  for (int i = 0; i < t->np; i++)
    if (!strcmp(t->param_name[i], name)) return i;
  return -1;
}

int sp_rbd_param_get(const sp_rbd* t, const char* name, double* value) {
  int i = sp_rbd_param_index(t, name);
  if (i < 0) return SP_ENOTFOUND;
  *value = *t->param[i];
  return SP_OK;
}

int sp_rbd_param_set(sp_rbd* t, const char* name, double value) {
  int i = sp_rbd_param_index(t, name);
  if (i < 0) return SP_ENOTFOUND;
  *t->param[i] = value;
  return SP_OK;
}

void sp_rbd_neutral(const sp_rbd* t, double* q) {
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nq == 1) q[l->iq] = l->ref;
    if (l->nq == 4) q[l->iq] = 1, q[l->iq + 1] = q[l->iq + 2] = q[l->iq + 3] = 0;
  }
}

void sp_rbd_normalize(const sp_rbd* t, double* q) {
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nq != 4) continue;
    double* z = q + l->iq;
    double s = sqrt(z[0] * z[0] + z[1] * z[1] + z[2] * z[2] + z[3] * z[3]);
    if (s > 0)
      for (int k = 0; k < 4; k++) z[k] /= s;
  }
}

// quaternion product out = a * b (w, x, y, z); out may not alias
static void quat_mul(double* o, const double* a, const double* b) {
  o[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
  o[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
  o[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
  o[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
}

void sp_rbd_integrate(const sp_rbd* t, double* qo, const double* q, const double* v, double dt) {
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nq == 1) qo[l->iq] = q[l->iq] + dt * v[l->iv];
    if (l->nq != 4) continue;
    // quat * exp(w dt / 2), w local
    const double* w = v + l->iv;
    double th = dt * sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    double e[4], s = th > 1e-12 ? sin(th / 2) / th * dt : dt / 2 * (1 - th * th / 24);
    e[0] = cos(th / 2), e[1] = s * w[0], e[2] = s * w[1], e[3] = s * w[2];
    double z[4];
    quat_mul(z, q + l->iq, e);
    memcpy(qo + l->iq, z, sizeof z);
  }
}

void sp_rbd_actuate(const sp_rbd* t, double* tau, const double* u) {
  memset(tau, 0, (size_t)t->nv * sizeof *tau);
  for (int a = 0; a < t->nu; a++) tau[t->act_dof[a]] += t->act_gear[a] * u[a];
}

int sp_rbd_data_new(sp_rbd_data** out, const sp_rbd* t) {
  *out = NULL;
  if (!t || !t->finalized) return SP_EINVAL;
  size_t L = (size_t)t->nlinks, V = (size_t)(t->nv ? t->nv : 1);
  size_t sizes[] = {9 * L,
                    3 * L,
                    6 * V,
                    36 * L,
                    36 * L,
                    36 * L,
                    6 * L,
                    6 * L,
                    6 * L,
                    6 * L,
                    6 * L,
                    6 * V,
                    36 * L,
                    V,
                    24 * V,
                    V * V,
                    6 * (L + 1) * V,
                    4 * V + 5 * V * V,
                    V * (size_t)(t->np ? t->np : 1),
                    V * (size_t)(t->np ? t->np : 1),
                    4 * V * V,
                    2 * V * (size_t)(t->nu ? t->nu : 1),
                    2 * V * (size_t)(t->np ? t->np : 1)};
  size_t total = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) total += sizes[i];
  sp_rbd_data* d = sp_calloc(1, sizeof *d + total * sizeof(double) + L * sizeof(int));
  if (!d) return SP_ENOMEM;
  double* w = (double*)(d + 1);
  double** slots[] = {&d->R, &d->p,   &d->S,  &d->I,   &d->Ic,   &d->Bc, &d->v, &d->a,
                      &d->f, &d->c,   &d->pA, &d->U,   &d->Dinv, &d->uu, &d->W, &d->M,
                      &d->F, &d->tmp, &d->dp, &d->dtp, &d->sA,   &d->sB, &d->sP};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) *slots[i] = w, w += sizes[i];
  // subtree dof ranges: every dof below a link comes after its own (parents precede children)
  d->dof_end = (int*)w;
  for (int i = 0; i < t->nlinks; i++) d->dof_end[i] = t->links[i].iv + t->links[i].nv;
  for (int i = t->nlinks - 1; i >= 0; i--) {
    int p = t->links[i].parent;
    if (p >= 0 && d->dof_end[i] > d->dof_end[p]) d->dof_end[p] = d->dof_end[i];
  }
  d->tree = t;
  d->nlinks = t->nlinks;
  d->nv = t->nv;
  *out = d;
  return SP_OK;
}

void sp_rbd_data_free(sp_rbd_data* d) {
  sp_free(d);
}

void sp_rbd_difference(const sp_rbd* t, double* dv, const double* q0, const double* q1) {
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nq == 1) dv[l->iv] = q1[l->iq] - q0[l->iq];
    if (l->nq != 4) continue;
    // log(conj(q0) q1), both normalised, on the short path
    const double* a = q0 + l->iq;
    double c[4] = {a[0], -a[1], -a[2], -a[3]}, z[4];
    quat_mul(z, c, q1 + l->iq);
    double n0 = c[0] * c[0] + c[1] * c[1] + c[2] * c[2] + c[3] * c[3];
    const double* b = q1 + l->iq;
    double n1 = b[0] * b[0] + b[1] * b[1] + b[2] * b[2] + b[3] * b[3];
    double s = 1.0 / sqrt(n0 * n1);
    for (int k = 0; k < 4; k++) z[k] *= s;
    if (z[0] < 0)
      for (int k = 0; k < 4; k++) z[k] = -z[k];
    double sn = sqrt(z[1] * z[1] + z[2] * z[2] + z[3] * z[3]);
    double th = 2 * atan2(sn, z[0]);
    double f = sn > 1e-12 ? th / sn : 2.0;
    for (int k = 0; k < 3; k++) dv[l->iv + k] = f * z[1 + k];
  }
}
