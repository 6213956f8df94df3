// model.c: the model registry, instances, integrators and their exact step Jacobians.
//
// Integrators over one sub-step of length h = dt / substeps:
//   Euler:  x+ = x + h k1,                               k1 = f(x)
//   RK4:    x+ = x + h/6 (k1 + 2 k2 + 2 k3 + k4),        k1 = f(x),          k2 = f(x + h/2 k1),
//                                                        k3 = f(x + h/2 k2), k4 = f(x + h k3)
// (Hairer, Norsett, Wanner, "Solving Ordinary Differential Equations I", II.1, the classical
// 4-stage method.) A discrete class's f is the step itself.
//
// Step Jacobians are the exact derivatives of the map computed above, by forward-mode
// differentiation of the integrator (internal numerical differentiation in the sense of Bock):
// the sensitivity S = dx / d(x0, u, p), an nx x (nx + nu + np) matrix, starts at [I 0 0] and is
// carried through every stage and sub-step by the chain rule,
//   dk_i = fx(xs_i) (S + c_i dk_{i-1}) + [0  fu(xs_i)  fp(xs_i)],   xs_i = x + c_i k_{i-1},
//   S+   = S + h/6 (dk_1 + 2 dk_2 + 2 dk_3 + dk_4).
// The three column blocks of S are independent, so only the blocks a caller asks for are carried.
// The VJP form builds the blocks it needs the same way and multiplies by g transposed: exact, and
// cheap for the small state dimensions these models have.
#include "engine/model/model.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"

// ---- registry -----------------------------------------------------------------------------------

#define SP_MODEL_MAX_CLASSES 128

// built-in classes, one per file in engine/model/
extern const sp_model_class sp__model_unicycle_accel, sp__model_car_drag, sp__model_unicycle_vel,
    sp__model_bicycle_kin, sp__model_bicycle_dyn, sp__model_pendulum, sp__model_double_pendulum,
    sp__model_cartpole;

static const sp_model_class* const builtins[] = {
    &sp__model_unicycle_accel,  &sp__model_car_drag,    &sp__model_unicycle_vel,
    &sp__model_bicycle_kin,     &sp__model_bicycle_dyn, &sp__model_pendulum,
    &sp__model_double_pendulum, &sp__model_cartpole,
};

static const sp_model_class* registry[SP_MODEL_MAX_CLASSES];
static int nregistry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static int valid_names(const char* const* names, int n) {
  if (n == 0) return 1;
  if (!names) return 0;
  for (int i = 0; i < n; i++)
    if (!names[i] || !names[i][0]) return 0;
  return 1;
}

static int class_is_valid(const sp_model_class* cls) {
  return cls && cls->name && cls->name[0] && cls->nx > 0 && cls->nu >= 0 && cls->np >= 0 &&
         cls->f && cls->f_jac && valid_names(cls->x_names, cls->nx) &&
         valid_names(cls->u_names, cls->nu) && valid_names(cls->p_names, cls->np) &&
         (cls->np == 0 || cls->p_default);
}

static const sp_model_class* find_locked(const char* name) {
  for (int i = 0; i < nregistry; i++)
    if (strcmp(registry[i]->name, name) == 0) return registry[i];
  return NULL;
}

// caller holds registry_lock
static int register_locked(const sp_model_class* cls) {
  if (!class_is_valid(cls) || find_locked(cls->name)) return SP_EINVAL;
  if (nregistry == SP_MODEL_MAX_CLASSES) return SP_ERANGE;
  registry[nregistry++] = cls;
  return SP_OK;
}

static void register_builtins(void) {
  pthread_mutex_lock(&registry_lock);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) register_locked(builtins[i]);
  pthread_mutex_unlock(&registry_lock);
}

static void ensure_builtins(void) {
  pthread_once(&builtins_once, register_builtins);
}

int sp_model_register(const sp_model_class* cls) {
  ensure_builtins();
  pthread_mutex_lock(&registry_lock);
  int rc = register_locked(cls);
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

const sp_model_class* sp_model_find(const char* name) {
  if (!name) return NULL;
  ensure_builtins();
  pthread_mutex_lock(&registry_lock);
  const sp_model_class* cls = find_locked(name);
  pthread_mutex_unlock(&registry_lock);
  return cls;
}

int sp_model_list(const char** names, int n) {
  ensure_builtins();
  pthread_mutex_lock(&registry_lock);
  for (int i = 0; i < nregistry && i < n; i++) names[i] = registry[i]->name;
  int total = nregistry;
  pthread_mutex_unlock(&registry_lock);
  return total;
}

// ---- instances and workspaces -------------------------------------------------------------------

// scratch layout (doubles), N = nx + nu + np columns of the sensitivity:
//   x, xs, k, acc (nx each) | fx (nx*nx) | fu (nx*nu) | fp (nx*np) | S, dk, dacc, T (nx*N each)
static size_t work_size(int nx, int nu, int np) {
  size_t n = (size_t)nx, cols = (size_t)(nx + nu + np);
  return 4 * n + n * n + n * (size_t)nu + n * (size_t)np + 4 * n * cols;
}

int sp_model_new_class(sp_model** out, const sp_model_class* cls, const double* p, double dt) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!class_is_valid(cls) || !(dt > 0) || !isfinite(dt)) return SP_EINVAL;
  size_t head = (sizeof(sp_model) + sizeof(double) - 1) / sizeof(double);
  size_t total = head + (size_t)(cls->np ? cls->np : 1);
  double* block = sp_calloc(total, sizeof(double));
  if (!block) return SP_ENOMEM;
  sp_model* m = (sp_model*)block;
  m->cls = cls;
  m->nx = cls->nx;
  m->nu = cls->nu;
  m->np = cls->np;
  m->p = block + head;
  m->dt = dt;
  m->substeps = 1;
  m->integrator = SP_INTEGRATOR_RK4;
  m->user = NULL;
  if (cls->np > 0) memcpy(m->p, p ? p : cls->p_default, (size_t)cls->np * sizeof(double));
  *out = m;
  return SP_OK;
}

int sp_model_new(sp_model** out, const char* name, const double* p, double dt) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!name) return SP_EINVAL;
  const sp_model_class* cls = sp_model_find(name);
  if (!cls) return SP_ENOTFOUND;
  return sp_model_new_class(out, cls, p, dt);
}

void sp_model_free(sp_model* m) {
  sp_free(m);
}

int sp_model_data_new(sp_model_data** out, const sp_model* m) {
  if (!out) return SP_EINVAL;
  *out = NULL;
  if (!m) return SP_EINVAL;
  size_t head = (sizeof(sp_model_data) + sizeof(double) - 1) / sizeof(double);
  double* block = sp_calloc(head + work_size(m->nx, m->nu, m->np), sizeof(double));
  if (!block) return SP_ENOMEM;
  sp_model_data* d = (sp_model_data*)block;
  d->model = m;
  d->nx = m->nx;
  d->nu = m->nu;
  d->np = m->np;
  d->work = block + head;
  *out = d;
  return SP_OK;
}

void sp_model_data_free(sp_model_data* d) {
  sp_free(d);
}

int sp_model_configure(sp_model* m, double dt, sp_integrator integrator, int substeps) {
  if (!m || !(dt > 0) || !isfinite(dt) || substeps < 1 ||
      (integrator != SP_INTEGRATOR_EULER && integrator != SP_INTEGRATOR_RK4))
    return SP_EINVAL;
  m->dt = dt;
  m->integrator = integrator;
  m->substeps = substeps;
  return SP_OK;
}

int sp_model_param_index(const sp_model* m, const char* name) {
  if (!m || !name) return SP_ENOTFOUND;
  for (int i = 0; i < m->np; i++)
    if (strcmp(m->cls->p_names[i], name) == 0) return i;
  return SP_ENOTFOUND;
}

int sp_model_set_param(sp_model* m, const char* name, double value) {
  int i = sp_model_param_index(m, name);
  if (i < 0) return i;
  m->p[i] = value;
  return SP_OK;
}

int sp_model_get_param(const sp_model* m, const char* name, double* value) {
  int i = sp_model_param_index(m, name);
  if (i < 0) return i;
  *value = m->p[i];
  return SP_OK;
}

// ---- stepping -----------------------------------------------------------------------------------

typedef struct {
  double *x, *xs, *k, *acc, *fx, *fu, *fp, *S, *dk, *dacc, *T;
  int n, N;
  int lo[3], hi[3], on[3];  // column blocks of S: x, u, p; on[b] when carried
} work;

static work carve(const sp_model* m, sp_model_data* d) {
  work w;
  int n = m->nx, nu = m->nu, np = m->np;
  w.n = n;
  w.N = n + nu + np;
  double* q = d->work;
  w.x = q, q += n;
  w.xs = q, q += n;
  w.k = q, q += n;
  w.acc = q, q += n;
  w.fx = q, q += (size_t)n * n;
  w.fu = q, q += (size_t)n * nu;
  w.fp = q, q += (size_t)n * np;
  size_t nN = (size_t)n * w.N;
  w.S = q, q += nN;
  w.dk = q, q += nN;
  w.dacc = q, q += nN;
  w.T = q;
  w.lo[0] = 0, w.hi[0] = n;
  w.lo[1] = n, w.hi[1] = n + nu;
  w.lo[2] = n + nu, w.hi[2] = w.N;
  w.on[0] = w.on[1] = w.on[2] = 0;
  return w;
}

static int any_on(const work* w) {
  return w->on[0] || w->on[1] || w->on[2];
}

// y = a + c b over the carried columns of nx x N matrices
static void cols_axpy(const work* w, double* y, const double* a, double c, const double* b) {
  for (int bl = 0; bl < 3; bl++) {
    if (!w->on[bl]) continue;
    for (int i = 0; i < w->n; i++)
      for (int j = w->lo[bl]; j < w->hi[bl]; j++) {
        size_t ij = (size_t)i * w->N + j;
        y[ij] = a[ij] + c * b[ij];
      }
  }
}

// one stage: k = f(xs), and when sensitivities are carried dk = fx T + [0 fu fp]
static void stage(const sp_model* m, work* w, const double* u) {
  const sp_model_class* cls = m->cls;
  cls->f(m, w->k, w->xs, u, m->p);
  if (!any_on(w)) return;
  int n = w->n, N = w->N, nu = m->nu, np = m->np;
  double* fu = (w->on[1] && nu > 0) ? w->fu : NULL;
  double* fp = (w->on[2] && np > 0) ? w->fp : NULL;
  cls->f_jac(m, w->fx, fu, fp, w->xs, u, m->p);
  for (int bl = 0; bl < 3; bl++) {
    if (!w->on[bl]) continue;
    for (int i = 0; i < n; i++) {
      const double* fxi = w->fx + (size_t)i * n;
      for (int j = w->lo[bl]; j < w->hi[bl]; j++) {
        double s = 0;
        for (int l = 0; l < n; l++) s += fxi[l] * w->T[(size_t)l * N + j];
        if (bl == 1) s += fu[(size_t)i * nu + (j - w->lo[1])];
        if (bl == 2) s += fp[(size_t)i * np + (j - w->lo[2])];
        w->dk[(size_t)i * N + j] = s;
      }
    }
  }
}

// advance w->x (and S when carried) by one step of length dt
static void advance(const sp_model* m, work* w, const double* x0, const double* u) {
  int n = w->n, N = w->N;
  memcpy(w->x, x0, (size_t)n * sizeof(double));
  if (any_on(w)) {
    memset(w->S, 0, (size_t)n * N * sizeof(double));
    for (int i = 0; i < n; i++) w->S[(size_t)i * N + i] = 1;
  }

  // discrete class: one application of the map, S = [fx fu fp]
  if (m->cls->discrete) {
    memcpy(w->xs, w->x, (size_t)n * sizeof(double));
    if (any_on(w)) memcpy(w->T, w->S, (size_t)n * N * sizeof(double));
    stage(m, w, u);
    memcpy(w->x, w->k, (size_t)n * sizeof(double));
    if (any_on(w)) memcpy(w->S, w->dk, (size_t)n * N * sizeof(double));
    return;
  }

  int substeps = m->substeps >= 1 ? m->substeps : 1;
  double h = m->dt / substeps;
  for (int s = 0; s < substeps; s++) {
    if (m->integrator == SP_INTEGRATOR_EULER) {
      memcpy(w->xs, w->x, (size_t)n * sizeof(double));
      if (any_on(w)) memcpy(w->T, w->S, (size_t)n * N * sizeof(double));
      stage(m, w, u);
      for (int i = 0; i < n; i++) w->x[i] += h * w->k[i];
      if (any_on(w)) cols_axpy(w, w->S, w->S, h, w->dk);
      continue;
    }

    // classical RK4: stage offsets c and weights b
    static const double c[4] = {0, 0.5, 0.5, 1};
    static const double b[4] = {1, 2, 2, 1};
    for (int st = 0; st < 4; st++) {
      double ch = c[st] * h;
      for (int i = 0; i < n; i++) w->xs[i] = w->x[i] + ch * (st ? w->k[i] : 0);
      if (any_on(w)) {
        if (st == 0)
          memcpy(w->T, w->S, (size_t)n * N * sizeof(double));
        else
          cols_axpy(w, w->T, w->S, ch, w->dk);
      }
      stage(m, w, u);
      for (int i = 0; i < n; i++) w->acc[i] = (st ? w->acc[i] : 0) + b[st] * w->k[i];
      if (any_on(w)) {
        if (st == 0)
          memcpy(w->dacc, w->dk, (size_t)n * N * sizeof(double));
        else
          cols_axpy(w, w->dacc, w->dacc, b[st], w->dk);
      }
    }
    for (int i = 0; i < n; i++) w->x[i] += h / 6 * w->acc[i];
    if (any_on(w)) cols_axpy(w, w->S, w->S, h / 6, w->dacc);
  }
}

void sp_model_f(const sp_model* m, sp_model_data* d, double* xdot, const double* x,
                const double* u) {
  (void)d;
  m->cls->f(m, xdot, x, u, m->p);
}

void sp_model_f_jac(const sp_model* m, sp_model_data* d, double* fx, double* fu, double* fp,
                    const double* x, const double* u) {
  work w = carve(m, d);
  m->cls->f_jac(m, fx ? fx : w.fx, m->nu ? fu : NULL, m->np ? fp : NULL, x, u, m->p);
}

void sp_model_step(const sp_model* m, sp_model_data* d, double* x_next, const double* x,
                   const double* u) {
  work w = carve(m, d);
  advance(m, &w, x, u);
  memcpy(x_next, w.x, (size_t)w.n * sizeof(double));
}

// copy column block bl of S (nx x N) into a dense nx x (hi - lo) matrix
static void copy_block(const work* w, double* out, int bl) {
  int width = w->hi[bl] - w->lo[bl];
  for (int i = 0; i < w->n; i++)
    for (int j = 0; j < width; j++)
      out[(size_t)i * width + j] = w->S[(size_t)i * w->N + w->lo[bl] + j];
}

void sp_model_step_jac(const sp_model* m, sp_model_data* d, double* x_next, double* A, double* B,
                       double* P, const double* x, const double* u) {
  work w = carve(m, d);
  w.on[0] = A != NULL;
  w.on[1] = B != NULL && m->nu > 0;
  w.on[2] = P != NULL && m->np > 0;
  advance(m, &w, x, u);
  if (x_next) memcpy(x_next, w.x, (size_t)w.n * sizeof(double));
  if (w.on[0]) copy_block(&w, A, 0);
  if (w.on[1]) copy_block(&w, B, 1);
  if (w.on[2]) copy_block(&w, P, 2);
}

void sp_model_step_vjp(const sp_model* m, sp_model_data* d, double* gx, double* gu, double* gp,
                       const double* x, const double* u, const double* g) {
  work w = carve(m, d);
  w.on[0] = gx != NULL;
  w.on[1] = gu != NULL && m->nu > 0;
  w.on[2] = gp != NULL && m->np > 0;
  if (!any_on(&w)) return;
  advance(m, &w, x, u);
  double* out[3] = {gx, gu, gp};
  for (int bl = 0; bl < 3; bl++) {
    if (!w.on[bl]) continue;
    for (int j = w.lo[bl]; j < w.hi[bl]; j++) {
      double s = 0;
      for (int i = 0; i < w.n; i++) s += w.S[(size_t)i * w.N + j] * g[i];
      out[bl][j - w.lo[bl]] += s;
    }
  }
}
