// test_derivatives.c: the analytic derivatives of RNEA (rnea_derivatives.c), ABA
// (aba_derivatives.c) and the semi-implicit Euler step (step.c) against central finite
// differences in the tangent space, on random trees with every joint type, over several seeds.
#include <string.h>

#include "engine/core/alloc.h"
#include "random_tree.h"
#include "test.h"

#define NS 6
#define H 1e-6

// central difference of fn along q (+) h e_j / v + h e_j / tau + h e_j
typedef void (*eval_fn)(double* out, sp_rbd_data* d, const double* q, const double* v,
                        const double* x);
static void fd(double* J, int rows, eval_fn fn, sp_rbd_data* d, const double* q, const double* v,
               const double* x, int wrt) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  double qp[64], qm[64], vp[64], vm[64], xp[64], xm[64], op[128], om[128], e[64] = {0};
  for (int j = 0; j < nv; j++) {
    memcpy(qp, q, sizeof qp), memcpy(qm, q, sizeof qm);
    memcpy(vp, v, sizeof vp), memcpy(vm, v, sizeof vm);
    memcpy(xp, x, sizeof xp), memcpy(xm, x, sizeof xm);
    e[j] = 1;
    if (wrt == 0) sp_rbd_integrate(t, qp, q, e, H), sp_rbd_integrate(t, qm, q, e, -H);
    if (wrt == 1) vp[j] += H, vm[j] -= H;
    if (wrt == 2) xp[j] += H, xm[j] -= H;
    e[j] = 0;
    fn(op, d, qp, vp, xp);
    fn(om, d, qm, vm, xm);
    for (int i = 0; i < rows; i++) J[i * nv + j] = (op[i] - om[i]) / (2 * H);
  }
}

static double max_rel(const double* A, const double* B, int n) {
  double e = 0, s = 0;
  for (int i = 0; i < n; i++) e = fmax(e, fabs(A[i] - B[i])), s = fmax(s, fabs(B[i]));
  return e / (1 + s);
}

TEST(rnea_derivatives_match_central_differences) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(600 + s, 9, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 6);
    int nv = t->nv;
    double q[64], v[64], a[64], dq[4096], dv[4096], fq[4096], fv[4096];
    rt_state(t, &r, q, v, a);
    sp_rbd_rnea_derivatives(dq, dv, d, q, v, a);
    fd(fq, nv, sp_rbd_rnea, d, q, v, a, 0);
    fd(fv, nv, sp_rbd_rnea, d, q, v, a, 1);
    CHECK(max_rel(dq, fq, nv * nv) < 1e-6);
    CHECK(max_rel(dv, fv, nv * nv) < 1e-6);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

TEST(aba_derivatives_match_central_differences) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(700 + s, 9, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 7);
    int nv = t->nv;
    double q[64], v[64], tau[64], qdd[64], qdd2[64], dq[4096], dv[4096], dt[4096], fq[4096],
        fv[4096], ft[4096];
    rt_state(t, &r, q, v, tau);
    CHECK_INT(sp_rbd_aba_derivatives(qdd, dq, dv, dt, NULL, d, q, v, tau), SP_OK);
    sp_rbd_aba(qdd2, d, q, v, tau);
    CHECK(max_rel(qdd, qdd2, nv) < 1e-12);
    fd(fq, nv, sp_rbd_aba, d, q, v, tau, 0);
    fd(fv, nv, sp_rbd_aba, d, q, v, tau, 1);
    fd(ft, nv, sp_rbd_aba, d, q, v, tau, 2);
    CHECK(max_rel(dq, fq, nv * nv) < 1e-6);
    CHECK(max_rel(dv, fv, nv * nv) < 1e-6);
    CHECK(max_rel(dt, ft, nv * nv) < 1e-6);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

// the step's output in the tangent space at a fixed base point: (q+ (-) q_ref, v+)
static const double* step_ref;
static double step_u[64];
static void step_out(double* out, sp_rbd_data* d, const double* q, const double* v,
                     const double* u) {
  const sp_rbd* t = d->tree;
  double qn[64];
  sp_rbd_step(qn, out + t->nv, NULL, NULL, NULL, d, q, v, u ? u : step_u, 0.05);
  sp_rbd_difference(t, out, step_ref, qn);
}

TEST(step_jacobians_match_central_differences_in_the_tangent_space) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(800 + s, 8, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 8);
    int nv = t->nv, nu = t->nu, n2 = 2 * nv;
    double q[64], v[64], u[64], qn[64], vn[64], A[128 * 128], B[128 * 64];
    rt_state(t, &r, q, v, u);
    for (int k = 0; k < nv; k++) v[k] *= 3;  // large rotations in one step
    CHECK_INT(sp_rbd_step(qn, vn, A, B, NULL, d, q, v, u, 0.05), SP_OK);
    step_ref = qn;
    // columns wrt q, v: (2nv x nv) each, compared with A's column blocks
    double Fq[128 * 64], Fv[128 * 64];
    fd(Fq, n2, step_out, d, q, v, u, 0);
    fd(Fv, n2, step_out, d, q, v, u, 1);
    double eq = 0, ev = 0, eu = 0;
    for (int i = 0; i < n2; i++)
      for (int j = 0; j < nv; j++) {
        eq = fmax(eq, fabs(A[i * n2 + j] - Fq[i * nv + j]));
        ev = fmax(ev, fabs(A[i * n2 + nv + j] - Fv[i * nv + j]));
      }
    CHECK(eq < 1e-6);
    CHECK(ev < 1e-6);
    // actions: perturb u directly
    for (int a = 0; a < nu; a++) {
      double up[64], um[64], op[128], om[128];
      memcpy(up, u, sizeof up), memcpy(um, u, sizeof um);
      up[a] += H, um[a] -= H;
      step_out(op, d, q, v, up);
      step_out(om, d, q, v, um);
      for (int i = 0; i < n2; i++) eu = fmax(eu, fabs(B[i * nu + a] - (op[i] - om[i]) / (2 * H)));
    }
    CHECK(eu < 1e-6);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

// central differences over the tree's named parameters of out = fn(...) (rows entries)
static void fd_params(double* J, int rows, eval_fn fn, sp_rbd_data* d, const double* q,
                      const double* v, const double* x) {
  const sp_rbd* t = d->tree;
  int np = t->np;
  double op[128], om[128];
  for (int i = 0; i < np; i++) {
    double p0 = *t->param[i], h = 1e-6 * fmax(1, fabs(p0));
    *t->param[i] = p0 + h;
    fn(op, d, q, v, x);
    *t->param[i] = p0 - h;
    fn(om, d, q, v, x);
    *t->param[i] = p0;
    for (int r = 0; r < rows; r++) J[r * np + i] = (op[r] - om[r]) / (2 * h);
  }
}

TEST(parameter_derivatives_of_rnea_aba_and_the_step_match_central_differences) {
  static double an[128 * 400], num[128 * 400], P[128 * 400];
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(1200 + s, 7, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    CHECK(t->np <= 400);
    sp_rng r;
    sp_rng_seed(&r, s, 12);
    int nv = t->nv, np = t->np;
    double q[64], v[64], a[64], qn[64], vn[64];
    rt_state(t, &r, q, v, a);
    sp_rbd_rnea_dparams(an, d, q, v, a);
    fd_params(num, nv, sp_rbd_rnea, d, q, v, a);
    CHECK(max_rel(an, num, nv * np) < 1e-6);
    double big = 0;  // the parameters matter: the comparison is not between zeros
    for (int k = 0; k < nv * np; k++) big = fmax(big, fabs(num[k]));
    CHECK(big > 0.1);
    CHECK_INT(sp_rbd_aba_derivatives(NULL, NULL, NULL, NULL, an, d, q, v, a), SP_OK);
    fd_params(num, nv, sp_rbd_aba, d, q, v, a);
    CHECK(max_rel(an, num, nv * np) < 1e-6);
    // the step: u = a's first nu entries
    CHECK_INT(sp_rbd_step(qn, vn, NULL, NULL, P, d, q, v, a, 0.05), SP_OK);
    step_ref = qn;
    fd_params(num, 2 * nv, step_out, d, q, v, a);
    CHECK(max_rel(P, num, 2 * nv * np) < 1e-6);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

TEST(step_vjp_accumulates_the_transposed_jacobians_without_allocating) {
  static double A[128 * 128], B[128 * 64], P[128 * 400];
  for (int s = 0; s < 3; s++) {
    sp_rbd* t = rt_tree(1300 + s, 6, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 13);
    int nv = t->nv, nu = t->nu, np = t->np, n2 = 2 * nv;
    CHECK(np <= 400);
    double q[64], v[64], u[64], g[128], gx[128], gu[64], gp[400];
    rt_state(t, &r, q, v, u);
    for (int k = 0; k < n2; k++) g[k] = sp_rng_normal(&r);
    // start from ones: the result must be 1 + J^T g (accumulated, not overwritten)
    for (int k = 0; k < n2; k++) gx[k] = 1;
    for (int k = 0; k < nu; k++) gu[k] = 1;
    for (int k = 0; k < np; k++) gp[k] = 1;
    uint64_t n0 = sp_alloc_count();
    CHECK_INT(sp_rbd_step_vjp(gx, gu, gp, d, q, v, u, 0.02, g), SP_OK);
    CHECK_INT(sp_alloc_count() - n0, 0);
    CHECK_INT(sp_rbd_step(NULL, NULL, A, B, P, d, q, v, u, 0.02), SP_OK);
    for (int c = 0; c < n2; c++) {
      double e = 1;
      for (int k = 0; k < n2; k++) e += A[k * n2 + c] * g[k];
      CHECK(fabs(gx[c] - e) < 1e-12 * (1 + fabs(e)));
    }
    for (int c = 0; c < nu; c++) {
      double e = 1;
      for (int k = 0; k < n2; k++) e += B[k * nu + c] * g[k];
      CHECK(fabs(gu[c] - e) < 1e-12 * (1 + fabs(e)));
    }
    for (int c = 0; c < np; c++) {
      double e = 1;
      for (int k = 0; k < n2; k++) e += P[k * np + c] * g[k];
      CHECK(fabs(gp[c] - e) < 1e-12 * (1 + fabs(e)));
    }
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

// dqdd/dtau comes from its own sweeps over the tree (no mass matrix): it must invert CRBA's M, on
// trees whose subtrees are not contiguous dof ranges (random parents)
TEST(aba_derivatives_inverse_mass_matrix_inverts_crba_and_is_symmetric) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(900 + s, 12, s % 2, s % 3 == 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 9);
    int nv = t->nv;
    double q[64], v[64], tau[64], M[4096], Mi[4096];
    rt_state(t, &r, q, v, tau);
    CHECK_INT(sp_rbd_aba_derivatives(NULL, NULL, NULL, Mi, NULL, d, q, v, tau), SP_OK);
    sp_rbd_crba(M, d, q);
    double err = 0, scale = 0;
    for (int i = 0; i < nv; i++)
      for (int j = 0; j < nv; j++) {
        double p = 0;
        for (int k = 0; k < nv; k++) p += M[i * nv + k] * Mi[k * nv + j];
        err = fmax(err, fabs(p - (i == j)));
        scale = fmax(scale, fabs(Mi[i * nv + j]));
        CHECK(Mi[i * nv + j] == Mi[j * nv + i]);
      }
    CHECK(scale > 0);
    CHECK(err < 1e-10);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

// a leaf joint with nothing to move (no mass, inertia or armature) makes M singular
TEST(aba_derivatives_and_the_step_refuse_a_singular_mass_matrix) {
  for (int armature = 0; armature < 2; armature++) {
    sp_rbd* t;
    CHECK_INT(sp_rbd_new(&t), SP_OK);
    sp_rbd_link l;
    int base;
    sp_rbd_link_init(&l, "base", -1, SP_RBD_REVOLUTE);
    l.axis[0] = 1, l.axis[2] = 0;
    l.mass = 1, l.com[1] = 0.3, l.inertia[0] = l.inertia[1] = l.inertia[2] = 0.01;
    l.actuated = 1;
    CHECK_INT(sp_rbd_add(t, &l, &base, NULL, 0), SP_OK);
    sp_rbd_link_init(&l, "empty", base, SP_RBD_REVOLUTE);
    l.pos[1] = 0.5;
    l.armature = armature ? 0.01 : 0.0;
    CHECK_INT(sp_rbd_add(t, &l, NULL, NULL, 0), SP_OK);
    CHECK_INT(sp_rbd_finalize(t, NULL, 0), SP_OK);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    double q[2] = {0.3, -0.2}, v[2] = {0.1, 0.4}, tau[2] = {0.5, 0}, qn[2], vn[2], A[16], B[4];
    double Mi[4], G[4];
    int want = armature ? SP_OK : SP_ESINGULAR;
    CHECK_INT(sp_rbd_aba_derivatives(NULL, G, NULL, Mi, NULL, d, q, v, tau), want);
    CHECK_INT(sp_rbd_step(qn, vn, A, B, NULL, d, q, v, tau, 0.01), want);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

TEST_MAIN()
