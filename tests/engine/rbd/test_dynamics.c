// test_dynamics.c: RNEA, CRBA and ABA agree with each other on random trees of every joint type
// (ABA inverts RNEA, CRBA's columns are RNEA's response to unit accelerations), frame Jacobians
// give the velocities of points, energy is conserved on passive trees, and none allocates or
// writes its inputs.
#include <string.h>

#include "engine/core/alloc.h"
#include "random_tree.h"
#include "test.h"

#define NS 8  // random trees per test

TEST(aba_inverts_rnea_on_random_trees) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(100 + s, 9, s % 2, 0);
    CHECK(t != NULL);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 1);
    double q[64], v[64], a[64], tau[64], a2[64];
    rt_state(t, &r, q, v, a);
    sp_rbd_rnea(tau, d, q, v, a);
    sp_rbd_aba(a2, d, q, v, tau);
    CHECK(rt_err(a2, a, t->nv) < 1e-10);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

TEST(crba_columns_are_rnea_responses_to_unit_accelerations) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(200 + s, 8, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 2);
    int nv = t->nv;
    double q[64], z[64] = {0}, e[64] = {0}, g[64], col[64], M[64 * 64];
    rt_state(t, &r, q, NULL, NULL);
    sp_rbd_crba(M, d, q);
    sp_rbd_rnea(g, d, q, z, z);
    for (int j = 0; j < nv; j++) {
      e[j] = 1;
      sp_rbd_rnea(col, d, q, z, e);
      for (int i = 0; i < nv; i++) col[i] -= g[i];
      for (int i = 0; i < nv; i++) CHECK(fabs(col[i] - M[i * nv + j]) < 1e-10 * (1 + fabs(col[i])));
      e[j] = 0;
    }
    // and bias equals rnea at zero acceleration without damping
    double b[64], v[64];
    rt_state(t, &r, q, v, NULL);
    sp_rbd_bias(b, d, q, v);
    sp_rbd_rnea(g, d, q, v, z);
    for (int i = 0; i < nv; i++) {
      const sp_rbd_link* l = &t->links[t->dof_link[i]];
      g[i] -= l->damping * v[i];
      if (l->nq == 1) g[i] -= l->stiffness * (q[l->iq] - l->springref);
    }
    CHECK(rt_err(b, g, nv) < 1e-12);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

TEST(frame_jacobian_gives_the_velocity_of_a_point) {
  for (int s = 0; s < NS; s++) {
    sp_rbd* t = rt_tree(300 + s, 7, s % 2, 0);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 3);
    int nv = t->nv, link = t->nlinks - 1;
    double q[64], v[64], qp[64], qm[64], J[6 * 64], pt[3] = {0.1, -0.2, 0.3};
    rt_state(t, &r, q, v, NULL);
    sp_rbd_fk(d, q);
    sp_rbd_jacobian(J, d, link, pt);
    double jv[6] = {0};
    for (int i = 0; i < 6; i++)
      for (int k = 0; k < nv; k++) jv[i] += J[i * nv + k] * v[k];
    // point velocity by central differences of its world position along q (+) h v
    double h = 1e-6, xp[3], xm[3], w[3];
    sp_rbd_integrate(t, qp, q, v, h);
    sp_rbd_integrate(t, qm, q, v, -h);
    sp_rbd_fk(d, qp);
    sp_m3_mulv(w, d->R + 9 * link, pt);
    for (int k = 0; k < 3; k++) xp[k] = w[k] + d->p[3 * link + k];
    sp_rbd_fk(d, qm);
    sp_m3_mulv(w, d->R + 9 * link, pt);
    for (int k = 0; k < 3; k++) xm[k] = w[k] + d->p[3 * link + k];
    for (int k = 0; k < 3; k++) CHECK(fabs((xp[k] - xm[k]) / (2 * h) - jv[3 + k]) < 1e-6);
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

// kinetic plus potential energy
static double energy(sp_rbd_data* d, const double* q, const double* v) {
  const sp_rbd* t = d->tree;
  int nv = t->nv;
  double M[64 * 64], e = 0;
  sp_rbd_crba(M, d, q);
  for (int i = 0; i < nv; i++)
    for (int j = 0; j < nv; j++) e += 0.5 * v[i] * M[i * nv + j] * v[j];
  for (int i = 0; i < t->nlinks; i++) {
    double c[3];
    sp_m3_mulv(c, d->R + 9 * i, t->links[i].com);
    for (int k = 0; k < 3; k++) e -= t->links[i].mass * t->gravity[k] * (c[k] + d->p[3 * i + k]);
  }
  return e;
}

TEST(energy_is_conserved_on_passive_trees) {
  for (int s = 0; s < 4; s++) {
    sp_rbd* t = rt_tree(400 + s, 6, s % 2, 1);
    sp_rbd_data* d;
    CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
    sp_rng r;
    sp_rng_seed(&r, s, 4);
    double q[64], v[64], u[64] = {0};
    rt_state(t, &r, q, v, NULL);
    for (int k = 0; k < t->nv; k++) v[k] *= 0.5;
    double e0 = energy(d, q, v), emax = 0;
    // symplectic Euler: the energy error stays O(dt) and does not drift
    for (int k = 0; k < 2000; k++) {
      CHECK_INT(sp_rbd_step(q, v, NULL, NULL, NULL, d, q, v, u, 1e-4), SP_OK);
      emax = fmax(emax, fabs(energy(d, q, v) - e0));
    }
    CHECK(emax < 2e-3 * (1 + fabs(e0)));
    sp_rbd_data_free(d);
    sp_rbd_free(t);
  }
}

TEST(algorithms_do_not_allocate_or_write_their_inputs) {
  sp_rbd* t = rt_tree(500, 10, 1, 0);
  sp_rbd_data* d;
  CHECK_INT(sp_rbd_data_new(&d, t), SP_OK);
  sp_rng r;
  sp_rng_seed(&r, 5, 5);
  int nv = t->nv, nq = t->nq;
  static double P2[64 * 400], P3[128 * 400];
  CHECK(t->np <= 400);
  double q[64], v[64], a[64], q0[64], v0[64], a0[64], out[64], M[64 * 64], M2[64 * 64], M3[64 * 64],
      qn[64], vn[64], A[128 * 128], B[128 * 64];
  rt_state(t, &r, q, v, a);
  memcpy(q0, q, sizeof q), memcpy(v0, v, sizeof v), memcpy(a0, a, sizeof a);
  uint64_t n0 = sp_alloc_count();
  for (int k = 0; k < 10; k++) {
    sp_rbd_fk(d, q);
    sp_rbd_jacobian(M, d, 3, NULL);
    sp_rbd_rnea(out, d, q, v, a);
    sp_rbd_bias(out, d, q, v);
    sp_rbd_crba(M, d, q);
    sp_rbd_aba(out, d, q, v, a);
    sp_rbd_rnea_derivatives(M, M2, d, q, v, a);
    sp_rbd_rnea_dparams(P2, d, q, v, a);
    CHECK_INT(sp_rbd_aba_derivatives(out, M, M2, M3, P2, d, q, v, a), SP_OK);
    CHECK_INT(sp_rbd_step(qn, vn, A, B, P3, d, q, v, a, 0.01), SP_OK);
  }
  CHECK_INT(sp_alloc_count() - n0, 0);
  CHECK(!memcmp(q, q0, (size_t)nq * sizeof *q));
  CHECK(!memcmp(v, v0, (size_t)nv * sizeof *v));
  CHECK(!memcmp(a, a0, (size_t)nv * sizeof *a));
  sp_rbd_data_free(d);
  sp_rbd_free(t);
}

TEST_MAIN()
