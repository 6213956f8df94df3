// rbd_model.c: an articulated rigid-body tree as an sp_model class: continuous dynamics
// (qdot, ABA) with exact ambient-coordinate Jacobians from aba_derivatives.c, or the discrete
// semi-implicit Euler map of step.c.
#include "engine/rbd/rbd_model.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"

typedef struct rbd_user {
  sp_model_class cls;    // first: a model's class pointer is its rbd_user
  int registered;        // 1: owned by the model registry, never freed
  pthread_mutex_t lock;  // serialises evaluations: all models of a registered tree share s
  sp_rbd* t;
  sp_rbd_data* d;
  char name[SP_RBD_NAME];
  const char** x_names;  // (nx)
  const char** u_names;  // (nu)
  const char** p_names;  // (np) the tree's parameter names
  double* p0;            // (np) the tree's parameters when the model was made
  double* Gp;            // (nv x np)
  char* names;           // storage
  double* Gq;            // (nv x nv)
  double* Gv;            // (nv x nv)
  double* Mi;            // (nv x nv)
  double* tau;           // (nv)
  double* qdd;           // (nv)
  double* A;             // (2nv x 2nv) semi-implicit
  double* Bu;            // (2nv x nu)
} rbd_user;

// models made by sp_model_new from a registered class have no user pointer: the class is the
// first member of its rbd_user, so the class pointer leads to it in both cases
static rbd_user* user_of(const sp_model* m) {
  return (rbd_user*)(void*)m->cls;
}

// the model's parameters become the tree's before every evaluation
static void apply(rbd_user* s, const double* p) {
  sp_rbd* t = s->t;
  for (int i = 0; i < t->np; i++) *t->param[i] = p[i];
}

// quaternion product o = a * b (w, x, y, z)
static void qmul(double* o, const double* a, const double* b) {
  o[0] = a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3];
  o[1] = a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2];
  o[2] = a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1];
  o[3] = a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0];
}

static void cont_f_unlocked(const sp_model* m, double* xd, const double* x, const double* u,
                            const double* p) {
  rbd_user* s = user_of(m);
  const sp_rbd* t = s->t;
  const double *q = x, *v = x + t->nq;
  apply(s, p);
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nq == 1) xd[l->iq] = v[l->iv];
    if (l->nq == 4) {
      double w[4] = {0, 0.5 * v[l->iv], 0.5 * v[l->iv + 1], 0.5 * v[l->iv + 2]};
      qmul(xd + l->iq, q + l->iq, w);
    }
  }
  sp_rbd_actuate(t, s->tau, u);
  sp_rbd_aba(xd + t->nq, s->d, q, v, s->tau);
}

static void cont_jac_unlocked(const sp_model* m, double* fx, double* fu, double* fp,
                              const double* x, const double* u, const double* p) {
  rbd_user* s = user_of(m);
  const sp_rbd* t = s->t;
  int nq = t->nq, nv = t->nv, nx = nq + nv, nu = t->nu;
  const double *q = x, *v = x + nq;
  apply(s, p);
  sp_rbd_actuate(t, s->tau, u);
  sp_rbd_aba_derivatives(s->qdd, s->Gq, s->Gv, fu ? s->Mi : NULL, fp && t->np ? s->Gp : NULL, s->d,
                         q, v, s->tau);
  memset(fx, 0, (size_t)nx * (size_t)nx * sizeof *fx);
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    if (l->nq == 1) {
      fx[l->iq * nx + nq + l->iv] = 1.0;
      for (int r = 0; r < nv; r++) fx[(nq + r) * nx + l->iq] = s->Gq[r * nv + l->iv];
    } else if (l->nq == 4) {
      const double* z = q + l->iq;
      const double* w = v + l->iv;
      // d(quat * (0, w) / 2)/dquat: right multiplication by (0, w/2)
      double Rw[16] = {0,    -w[0], -w[1], -w[2], w[0], 0,    w[2],  -w[1],
                       w[1], -w[2], 0,     w[0],  w[2], w[1], -w[0], 0};
      // d/dw: quat * (0, e_k) / 2
      double Lq[12] = {-z[1], -z[2], -z[3], z[0],  -z[3], z[2],
                       z[3],  z[0],  -z[1], -z[2], z[1],  z[0]};
      for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 4; c++) fx[(l->iq + r) * nx + l->iq + c] = 0.5 * Rw[4 * r + c];
        for (int c = 0; c < 3; c++) fx[(l->iq + r) * nx + nq + l->iv + c] = 0.5 * Lq[3 * r + c];
      }
      // tangent from ambient: dtheta = 2 Im(conj(quat) dquat) / |quat|^2
      double n2 = z[0] * z[0] + z[1] * z[1] + z[2] * z[2] + z[3] * z[3];
      double T[12] = {-z[1], z[0], z[3], -z[2], -z[2], -z[3], z[0], z[1], -z[3], z[2], -z[1], z[0]};
      for (int r = 0; r < nv; r++)
        for (int c = 0; c < 4; c++) {
          double sum = 0;
          for (int k = 0; k < 3; k++) sum += s->Gq[r * nv + l->iv + k] * T[4 * k + c];
          fx[(nq + r) * nx + l->iq + c] = 2.0 * sum / n2;
        }
    }
  }
  for (int r = 0; r < nv; r++)
    for (int c = 0; c < nv; c++) fx[(nq + r) * nx + nq + c] = s->Gv[r * nv + c];
  if (fu) {
    memset(fu, 0, (size_t)nx * (size_t)nu * sizeof *fu);
    for (int r = 0; r < nv; r++)
      for (int a = 0; a < nu; a++)
        fu[(nq + r) * nu + a] = s->Mi[r * nv + t->act_dof[a]] * t->act_gear[a];
  }
  if (fp && t->np) {
    int np = t->np;
    memset(fp, 0, (size_t)nq * (size_t)np * sizeof *fp);
    memcpy(fp + (size_t)nq * (size_t)np, s->Gp, (size_t)nv * (size_t)np * sizeof *fp);
  }
}

static void semi_f_unlocked(const sp_model* m, double* xn, const double* x, const double* u,
                            const double* p) {
  rbd_user* s = user_of(m);
  int nq = s->t->nq;
  apply(s, p);
  sp_rbd_step(xn, xn + nq, NULL, NULL, NULL, s->d, x, x + nq, u, m->dt);
}

static void semi_jac_unlocked(const sp_model* m, double* fx, double* fu, double* fp,
                              const double* x, const double* u, const double* p) {
  rbd_user* s = user_of(m);
  int nq = s->t->nq, nx = 2 * s->t->nv, nu = s->t->nu;
  apply(s, p);
  sp_rbd_step(NULL, NULL, fx, s->Bu, fp && s->t->np ? fp : NULL, s->d, x, x + nq, u, m->dt);
  if (fu) memcpy(fu, s->Bu, (size_t)nx * (size_t)nu * sizeof *fu);
}

// the class's entry points: one evaluation at a time per tree class (the shared workspace and the
// parameters written into the tree), so a plant thread and a design in Lua may use one class
static void cont_f(const sp_model* m, double* xd, const double* x, const double* u,
                   const double* p) {
  rbd_user* s = user_of(m);
  pthread_mutex_lock(&s->lock);
  cont_f_unlocked(m, xd, x, u, p);
  pthread_mutex_unlock(&s->lock);
}

static void cont_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                     const double* u, const double* p) {
  rbd_user* s = user_of(m);
  pthread_mutex_lock(&s->lock);
  cont_jac_unlocked(m, fx, fu, fp, x, u, p);
  pthread_mutex_unlock(&s->lock);
}

static void semi_f(const sp_model* m, double* xn, const double* x, const double* u,
                   const double* p) {
  rbd_user* s = user_of(m);
  pthread_mutex_lock(&s->lock);
  semi_f_unlocked(m, xn, x, u, p);
  pthread_mutex_unlock(&s->lock);
}

static void semi_jac(const sp_model* m, double* fx, double* fu, double* fp, const double* x,
                     const double* u, const double* p) {
  rbd_user* s = user_of(m);
  pthread_mutex_lock(&s->lock);
  semi_jac_unlocked(m, fx, fu, fp, x, u, p);
  pthread_mutex_unlock(&s->lock);
}

sp_rbd* sp_rbd_model_tree(const sp_model* m) {
  return user_of(m)->t;
}

static void user_free(rbd_user* s) {
  if (!s) return;
  pthread_mutex_destroy(&s->lock);
  sp_rbd_data_free(s->d);
  sp_free(s->x_names);
  sp_free(s->u_names);
  sp_free(s->p_names);
  sp_free(s->p0);
  sp_free(s->Gp);
  sp_free(s->names);
  sp_free(s->Gq);
  sp_free(s);
}

// "q.<link>" style names for q, v and u into one buffer
static int make_names(rbd_user* s) {
  const sp_rbd* t = s->t;
  int nx = t->nq + t->nv, nu = t->nu;
  size_t per = SP_RBD_NAME + 16;
  s->names = sp_calloc((size_t)(nx + nu + 1), per);
  s->x_names = sp_calloc((size_t)nx + 1, sizeof *s->x_names);
  s->u_names = sp_calloc((size_t)nu + 1, sizeof *s->u_names);
  if (!s->names || !s->x_names || !s->u_names) return SP_ENOMEM;
  static const char* const qs[] = {"w", "x", "y", "z"};
  static const char* const ws[] = {"wx", "wy", "wz"};
  for (int i = 0; i < t->nlinks; i++) {
    const sp_rbd_link* l = &t->links[i];
    for (int k = 0; k < l->nq; k++) {
      char* b = s->names + (size_t)(l->iq + k) * per;
      if (l->nq == 1)
        snprintf(b, per, "q.%s", l->name);
      else
        snprintf(b, per, "q.%s.%s", l->name, qs[k]);
      s->x_names[l->iq + k] = b;
    }
    for (int k = 0; k < l->nv; k++) {
      char* b = s->names + (size_t)(t->nq + l->iv + k) * per;
      if (l->nv == 1)
        snprintf(b, per, "v.%s", l->name);
      else
        snprintf(b, per, "v.%s.%s", l->name, ws[k]);
      s->x_names[t->nq + l->iv + k] = b;
    }
  }
  // actions in the tree's actuator order; a dof driven twice gets "#2"
  for (int a = 0; a < nu; a++) {
    int k = t->act_dof[a], dup = 1;
    for (int b = 0; b < a; b++) dup += t->act_dof[b] == k;
    const sp_rbd_link* l = &t->links[t->dof_link[k]];
    char* c = s->names + (size_t)(nx + a) * per;
    if (dup > 1)
      snprintf(c, per, "u.%s#%d", l->name, dup);
    else
      snprintf(c, per, "u.%s", l->name);
    s->u_names[a] = c;
  }
  return SP_OK;
}

static int user_new(rbd_user** out, sp_rbd* t, sp_rbd_scheme scheme, const char* name) {
  *out = NULL;
  if (!t || !t->finalized || t->nv < 1) return SP_EINVAL;
  if (scheme == SP_RBD_SEMI_IMPLICIT && t->nq != t->nv) return SP_EUNSUPPORTED;
  if (scheme != SP_RBD_SEMI_IMPLICIT && scheme != SP_RBD_CONTINUOUS) return SP_EINVAL;
  rbd_user* s = sp_calloc(1, sizeof *s);
  if (!s) return SP_ENOMEM;
  pthread_mutex_init(&s->lock, NULL);
  s->t = t;
  int nv = t->nv, nu = t->nu;
  size_t nn = (size_t)nv * (size_t)nv;
  int rc = sp_rbd_data_new(&s->d, t);
  if (!rc) rc = make_names(s);
  if (!rc) {
    int np = t->np ? t->np : 1;
    s->p_names = sp_calloc((size_t)np, sizeof *s->p_names);
    s->p0 = sp_calloc((size_t)np, sizeof *s->p0);
    s->Gp = sp_calloc((size_t)nv * (size_t)np, sizeof *s->Gp);
    if (!s->p_names || !s->p0 || !s->Gp) rc = SP_ENOMEM;
    for (int i = 0; !rc && i < t->np; i++)
      s->p_names[i] = t->param_name[i], s->p0[i] = *t->param[i];
  }
  if (!rc) {
    s->Gq = sp_malloc((3 * nn + 2 * (size_t)nv + 4 * nn + 2 * (size_t)nv * (size_t)(nu + 1)) *
                      sizeof(double));
    if (!s->Gq) rc = SP_ENOMEM;
  }
  if (rc) {
    user_free(s);
    return rc;
  }
  s->Gv = s->Gq + nn, s->Mi = s->Gv + nn, s->tau = s->Mi + nn, s->qdd = s->tau + nv;
  s->A = s->qdd + nv, s->Bu = s->A + 4 * nn;
  snprintf(s->name, sizeof s->name, "%s", name ? name : "rbd");
  s->cls = (sp_model_class){
      .name = s->name,
      .doc = scheme == SP_RBD_SEMI_IMPLICIT
                 ? "articulated rigid-body tree, semi-implicit Euler (engine/rbd)"
                 : "articulated rigid-body tree, xdot = (qdot, ABA) (engine/rbd)",
      .nx = scheme == SP_RBD_SEMI_IMPLICIT ? 2 * nv : t->nq + nv,
      .nu = nu,
      .np = t->np,
      .x_names = s->x_names,
      .u_names = s->u_names,
      .p_names = s->p_names,
      .p_default = s->p0,
      .discrete = scheme == SP_RBD_SEMI_IMPLICIT,
      .f = scheme == SP_RBD_SEMI_IMPLICIT ? semi_f : cont_f,
      .f_jac = scheme == SP_RBD_SEMI_IMPLICIT ? semi_jac : cont_jac,
  };
  *out = s;
  return SP_OK;
}

int sp_rbd_model_new(sp_model** out, sp_rbd* t, double dt, sp_rbd_scheme scheme, const char* name) {
  *out = NULL;
  rbd_user* s;
  int rc = user_new(&s, t, scheme, name);
  if (rc) return rc;
  sp_model* m;
  rc = sp_model_new_class(&m, &s->cls, NULL, dt);
  if (rc) {
    user_free(s);
    return rc;
  }
  m->user = s;
  *out = m;
  return SP_OK;
}

void sp_rbd_model_free(sp_model* m) {
  if (!m) return;
  if (!user_of(m)->registered) user_free(user_of(m));
  sp_model_free(m);
}

int sp_rbd_model_register(sp_rbd* t, const char* name, sp_rbd_scheme scheme) {
  if (!name || !name[0] || sp_model_find(name)) return SP_EINVAL;
  rbd_user* s;
  int rc = user_new(&s, t, scheme, name);
  if (rc) return rc;
  s->registered = 1;
  rc = sp_model_register(&s->cls);
  if (rc) user_free(s);
  return rc;
}
