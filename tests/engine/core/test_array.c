// test_array.c: storage sharing and lifetime, views, broadcasting, reductions, BLAS products
// against naive loops, and numpy-compatible printing of engine/core/array.c.
#include "engine/core/alloc.h"
#include "engine/core/array.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "test.h"

static int64_t s2[2];
static const int64_t* shape2(int64_t a, int64_t b) {
  s2[0] = a;
  s2[1] = b;
  return s2;
}

static double get2(const sp_array* a, int64_t i, int64_t j) {
  int64_t idx[2] = {i, j};
  return *sp_array_at(a, idx);
}

static void fill_random(sp_array* a, sp_rng* r) {
  int64_t n = sp_array_size(a), idx[SP_MAXDIM] = {0};
  for (int64_t i = 0; i < n; i++) {
    *sp_array_at(a, idx) = sp_rng_normal(r);
    for (int d = a->ndim - 1; d >= 0 && ++idx[d] == a->shape[d]; d--) idx[d] = 0;
  }
}

TEST(new_array_is_zero_filled_contiguous_and_owned_once) {
  sp_array a;
  CHECK_INT(sp_array_new(&a, 2, shape2(3, 4)), 0);
  CHECK_INT(sp_array_size(&a), 12);
  CHECK(sp_array_is_contiguous(&a));
  CHECK_INT(a.stride[0], 4);
  CHECK_INT(a.stride[1], 1);
  CHECK_INT(sp_array_refcount(&a), 1);
  for (int i = 0; i < 12; i++) CHECK(a.data[i] == 0);
  sp_array_release(&a);
  CHECK(a.data == NULL);
  sp_array_release(&a);  // safe twice
}

TEST(new_rejects_bad_rank_and_negative_extents) {
  sp_array a;
  int64_t shape[SP_MAXDIM + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK_INT(sp_array_new(&a, SP_MAXDIM + 1, shape), SP_EINVAL);
  CHECK_INT(sp_array_new(&a, 2, shape2(2, -1)), SP_EINVAL);
  CHECK(a.data == NULL);
}

static int refuse_all(size_t n, void* user) {
  return 1;
}

TEST(new_reports_out_of_memory) {
  sp_array a;
  sp_alloc_set_hook(refuse_all, NULL);
  int rc = sp_array_new(&a, 2, shape2(2, 2));
  sp_alloc_set_hook(NULL, NULL);
  CHECK_INT(rc, SP_ENOMEM);
  CHECK(a.data == NULL);
}

TEST(views_share_storage_and_keep_it_alive_until_the_last_release) {
  sp_array a, row, col, t;
  sp_array_new(&a, 2, shape2(3, 4));
  for (int i = 0; i < 12; i++) a.data[i] = i;
  CHECK_INT(sp_array_select(&row, &a, 0, 1), 0);
  CHECK_INT(sp_array_narrow(&col, &a, 1, 2, 2), 0);
  CHECK_INT(sp_array_transpose(&t, &a, 0, 1), 0);
  CHECK_INT(sp_array_refcount(&a), 4);
  // writes through a view are seen by the original and by the other views
  row.data[2 * row.stride[0]] = 100;
  CHECK(a.data[6] == 100);
  CHECK(get2(&col, 1, 0) == 100);
  CHECK(get2(&t, 2, 1) == 100);
  // the original can go first; the views still read valid storage (ASan checks this)
  sp_array_release(&a);
  CHECK_INT(sp_array_refcount(&row), 3);
  CHECK(get2(&t, 3, 2) == 11);
  sp_array_release(&row);
  sp_array_release(&col);
  CHECK_INT(sp_array_refcount(&t), 1);
  sp_array_release(&t);
}

TEST(wrapped_memory_is_not_owned) {
  double mem[6] = {1, 2, 3, 4, 5, 6};
  sp_array a, v;
  CHECK_INT(sp_array_wrap(&a, mem, 2, shape2(2, 3)), 0);
  CHECK_INT(sp_array_refcount(&a), 0);
  sp_array_select(&v, &a, 1, 2);
  CHECK(v.data[v.stride[0]] == 6);
  sp_array_release(&v);
  sp_array_release(&a);
  CHECK(mem[5] == 6);
}

TEST(narrow_select_and_transpose_reject_out_of_range_arguments) {
  sp_array a, v;
  sp_array_new(&a, 2, shape2(2, 3));
  CHECK_INT(sp_array_narrow(&v, &a, 2, 0, 1), SP_EINVAL);
  CHECK_INT(sp_array_narrow(&v, &a, 1, 2, 2), SP_ERANGE);
  CHECK_INT(sp_array_narrow(&v, &a, 1, -1, 1), SP_ERANGE);
  CHECK_INT(sp_array_select(&v, &a, 0, 2), SP_ERANGE);
  CHECK_INT(sp_array_transpose(&v, &a, 0, 2), SP_EINVAL);
  CHECK_INT(sp_array_refcount(&a), 1);  // failures take no reference
  sp_array_release(&a);
}

TEST(slice_with_negative_step_reverses_a_dimension) {
  sp_array a, v;
  int64_t n = 7;
  sp_array_new(&a, 1, &n);
  for (int i = 0; i < 7; i++) a.data[i] = i;
  CHECK_INT(sp_array_slice(&v, &a, 0, 6, -1, -2), 0);  // 6, 4, 2, 0
  CHECK_INT(v.shape[0], 4);
  for (int i = 0; i < 4; i++) CHECK(v.data[i * v.stride[0]] == 6 - 2 * i);
  sp_array_release(&v);
  CHECK_INT(sp_array_slice(&v, &a, 0, 1, 6, 3), 0);  // 1, 4
  CHECK_INT(v.shape[0], 2);
  CHECK(v.data[v.stride[0]] == 4);
  sp_array_release(&v);
  sp_array_release(&a);
}

TEST(reshape_is_a_view_when_contiguous_and_a_copy_otherwise) {
  sp_array a, r, t, rt;
  sp_array_new(&a, 2, shape2(2, 3));
  for (int i = 0; i < 6; i++) a.data[i] = i;
  int64_t flat[1] = {-1};
  CHECK_INT(sp_array_reshape(&r, &a, 1, flat), 0);
  CHECK_INT(r.shape[0], 6);
  CHECK(r.data == a.data);
  CHECK_INT(sp_array_refcount(&a), 2);
  sp_array_transpose(&t, &a, 0, 1);
  CHECK_INT(sp_array_reshape(&rt, &t, 1, flat), 0);
  CHECK(rt.buf != a.buf);
  double want[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; i++) CHECK(rt.data[i] == want[i]);
  int64_t bad[2] = {4, 2};
  sp_array x;
  CHECK_INT(sp_array_reshape(&x, &a, 2, bad), SP_ESHAPE);
  sp_array_release(&r);
  sp_array_release(&t);
  sp_array_release(&rt);
  sp_array_release(&a);
}

TEST(cat_joins_views_along_a_dimension_and_checks_the_others) {
  sp_array a, b, t, out, bad;
  sp_array_new(&a, 2, shape2(2, 3));
  sp_array_new(&b, 2, shape2(3, 2));
  for (int i = 0; i < 6; i++) a.data[i] = i, b.data[i] = 10 + i;
  sp_array_transpose(&t, &b, 0, 1);  // 2x3: [[10,12,14],[11,13,15]]
  const sp_array* parts[2] = {&a, &t};
  CHECK_INT(sp_array_cat(&out, parts, 2, 0), 0);
  CHECK_INT(out.shape[0], 4);
  CHECK(get2(&out, 1, 2) == 5 && get2(&out, 2, 1) == 12 && get2(&out, 3, 0) == 11);
  sp_array_release(&out);
  CHECK_INT(sp_array_cat(&out, parts, 2, 1), 0);
  CHECK_INT(out.shape[1], 6);
  CHECK(get2(&out, 0, 3) == 10 && get2(&out, 1, 5) == 15);
  sp_array_release(&out);
  const sp_array* mismatched[2] = {&a, &b};
  CHECK_INT(sp_array_cat(&bad, mismatched, 2, 0), SP_ESHAPE);
  sp_array u;
  CHECK_INT(sp_array_unsqueeze(&u, &a, 1), 0);
  CHECK_INT(u.ndim, 3);
  CHECK_INT(u.shape[1], 1);
  CHECK(*sp_array_at(&u, (int64_t[]){1, 0, 2}) == 5);
  sp_array_release(&u);
  sp_array_release(&a);
  sp_array_release(&b);
  sp_array_release(&t);
}

TEST(elementwise_ops_reductions_and_views_on_existing_arrays_do_not_allocate) {
  sp_array a, b, out, row, t;
  int64_t three = 3;
  sp_array_new(&a, 2, shape2(4, 3));
  sp_array_new(&b, 1, &three);
  sp_array_new(&out, 2, shape2(4, 3));
  sp_array_fill(&a, 2);
  uint64_t before = sp_alloc_count();
  double s;
  for (int i = 0; i < 100; i++) {
    sp_array_binop(&out, &a, &b, SP_OP_MUL);
    sp_array_binop(&a, &a, &b, SP_OP_ADD);
    sp_array_binop_scalar(&out, &out, 0.5, SP_OP_MUL, 0);
    sp_array_unop(&out, &a, SP_OP_TANH);
    sp_array_reduce_all(&s, &out, SP_REDUCE_SUM);
    sp_array_select(&row, &a, 0, 1);
    sp_array_transpose(&t, &a, 0, 1);
    sp_array_assign(&row, &b);
    sp_array_release(&row);
    sp_array_release(&t);
  }
  CHECK_INT(sp_alloc_count() - before, 0);
  sp_array_release(&a);
  sp_array_release(&b);
  sp_array_release(&out);
}

TEST(broadcast_shapes_follow_numpy_rules) {
  sp_array a, b, c, d;
  int64_t three = 3, two = 2;
  sp_array_new(&a, 2, shape2(2, 3));
  sp_array_new(&b, 1, &three);
  sp_array_new(&c, 2, shape2(4, 1));
  sp_array_new(&d, 1, &two);
  int nd;
  int64_t s[SP_MAXDIM];
  CHECK_INT(sp_array_broadcast_shape(&nd, s, &a, &b), 0);
  CHECK_INT(nd, 2);
  CHECK_INT(s[0], 2);
  CHECK_INT(s[1], 3);
  CHECK_INT(sp_array_broadcast_shape(&nd, s, &c, &b), 0);
  CHECK_INT(s[0], 4);
  CHECK_INT(s[1], 3);
  CHECK_INT(sp_array_broadcast_shape(&nd, s, &a, &d), SP_ESHAPE);
  sp_array_release(&a);
  sp_array_release(&b);
  sp_array_release(&c);
  sp_array_release(&d);
}

TEST(binop_broadcasts_a_column_against_a_row) {
  sp_array col, row, out;
  int64_t three = 3;
  sp_array_new(&col, 2, shape2(2, 1));
  sp_array_new(&row, 1, &three);
  col.data[0] = 10;
  col.data[1] = 20;
  for (int j = 0; j < 3; j++) row.data[j] = j;
  sp_array_new(&out, 2, shape2(2, 3));
  CHECK_INT(sp_array_binop(&out, &col, &row, SP_OP_SUB), 0);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) CHECK(get2(&out, i, j) == 10 * (i + 1) - j);
  sp_array wrong;
  sp_array_new(&wrong, 2, shape2(3, 2));
  CHECK_INT(sp_array_binop(&wrong, &col, &row, SP_OP_ADD), SP_ESHAPE);
  sp_array_release(&wrong);
  sp_array_release(&col);
  sp_array_release(&row);
  sp_array_release(&out);
}

TEST(in_place_add_of_own_transpose_reads_before_writing) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sp_rng_seed(&r, seed, 0);
    sp_array a, t, expect;
    sp_array_new(&a, 2, shape2(5, 5));
    fill_random(&a, &r);
    sp_array_transpose(&t, &a, 0, 1);
    sp_array_new(&expect, 2, shape2(5, 5));
    for (int i = 0; i < 5; i++)
      for (int j = 0; j < 5; j++) expect.data[i * 5 + j] = get2(&a, i, j) + get2(&a, j, i);
    CHECK_INT(sp_array_binop(&a, &a, &t, SP_OP_ADD), 0);
    for (int i = 0; i < 25; i++) CHECK(a.data[i] == expect.data[i]);
    sp_array_release(&t);
    sp_array_release(&a);
    sp_array_release(&expect);
  }
}

TEST(assign_broadcasts_and_fill_reaches_every_element_of_a_strided_view) {
  sp_array a, v, row;
  int64_t three = 3;
  sp_array_new(&a, 2, shape2(4, 3));
  sp_array_new(&row, 1, &three);
  for (int j = 0; j < 3; j++) row.data[j] = j + 1;
  CHECK_INT(sp_array_assign(&a, &row), 0);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) CHECK(get2(&a, i, j) == j + 1);
  sp_array_slice(&v, &a, 0, 0, 4, 2);  // rows 0 and 2
  sp_array_fill(&v, -1);
  for (int i = 0; i < 4; i++) CHECK(get2(&a, i, 1) == (i % 2 ? 2 : -1));
  sp_array_release(&v);
  sp_array_release(&a);
  sp_array_release(&row);
}

TEST(unary_and_clamp_apply_elementwise) {
  sp_array a, out;
  int64_t n = 5;
  sp_array_new(&a, 1, &n);
  sp_array_new(&out, 1, &n);
  double x[5] = {-2, -0.5, 0, 0.5, 2};
  for (int i = 0; i < 5; i++) a.data[i] = x[i];
  sp_array_unop(&out, &a, SP_OP_TANH);
  for (int i = 0; i < 5; i++) CHECK_CLOSE(out.data[i], tanh(x[i]), 1e-15, 0);
  sp_array_unop(&out, &a, SP_OP_SIGMOID);
  for (int i = 0; i < 5; i++) CHECK_CLOSE(out.data[i], 1 / (1 + exp(-x[i])), 1e-15, 0);
  sp_array_clamp(&a, &a, -1, 1);
  CHECK(a.data[0] == -1 && a.data[1] == -0.5 && a.data[4] == 1);
  CHECK_INT(sp_array_clamp(&a, &a, 1, -1), SP_EINVAL);
  sp_array_release(&a);
  sp_array_release(&out);
}

TEST(reductions_along_a_dimension_match_loops) {
  sp_rng r;
  sp_rng_seed(&r, 11, 0);
  sp_array a, s0, m1;
  sp_array_new(&a, 2, shape2(3, 4));
  fill_random(&a, &r);
  int64_t four = 4, three = 3;
  sp_array_new(&s0, 1, &four);
  sp_array_new(&m1, 1, &three);
  CHECK_INT(sp_array_reduce(&s0, &a, 0, SP_REDUCE_SUM), 0);
  CHECK_INT(sp_array_reduce(&m1, &a, 1, SP_REDUCE_MAX), 0);
  double total = 0;
  for (int j = 0; j < 4; j++) {
    double s = 0;
    for (int i = 0; i < 3; i++) s += get2(&a, i, j);
    CHECK_CLOSE(s0.data[j], s, 1e-14, 1e-14);
    total += s;
  }
  for (int i = 0; i < 3; i++) {
    double m = -INFINITY;
    for (int j = 0; j < 4; j++) m = fmax(m, get2(&a, i, j));
    CHECK(m1.data[i] == m);
  }
  double mean;
  sp_array_reduce_all(&mean, &a, SP_REDUCE_MEAN);
  CHECK_CLOSE(mean, total / 12, 1e-14, 1e-14);
  int64_t zero = 0;
  sp_array e;
  sp_array_new(&e, 1, &zero);
  CHECK_INT(sp_array_reduce_all(&mean, &e, SP_REDUCE_MAX), SP_EINVAL);
  sp_array_release(&e);
  sp_array_release(&a);
  sp_array_release(&s0);
  sp_array_release(&m1);
}

TEST(norms_of_a_known_vector) {
  double x[4] = {3, -4, 0, 0};
  int64_t n = 4;
  sp_array a;
  sp_array_wrap(&a, x, 1, &n);
  double v;
  sp_array_norm(&v, &a, 2);
  CHECK_CLOSE(v, 5, 1e-15, 0);
  sp_array_norm(&v, &a, 1);
  CHECK(v == 7);
  sp_array_norm(&v, &a, INFINITY);
  CHECK(v == 4);
  CHECK_INT(sp_array_norm(&v, &a, 3), SP_EINVAL);
  // no overflow for huge entries
  x[0] = 3e300;
  x[1] = 4e300;
  sp_array_norm(&v, &a, 2);
  CHECK_CLOSE(v, 5e300, 1e-15, 0);
}

// naive reference for out = a @ b (2-D x 2-D)
static void naive(double* out, const sp_array* a, const sp_array* b) {
  for (int64_t i = 0; i < a->shape[0]; i++)
    for (int64_t j = 0; j < b->shape[1]; j++) {
      double s = 0;
      for (int64_t k = 0; k < a->shape[1]; k++) s += get2(a, i, k) * get2(b, k, j);
      out[i * b->shape[1] + j] = s;
    }
}

// a random (rows x cols) operand laid out as stored, transposed, or column-strided
static void make_operand(sp_array* v, sp_rng* r, int64_t rows, int64_t cols, int layout) {
  sp_array base;
  if (layout == 0) {
    sp_array_new(&base, 2, shape2(rows, cols));
    sp_array_retain(v, &base);
  } else if (layout == 1) {
    sp_array_new(&base, 2, shape2(cols, rows));
    sp_array_transpose(v, &base, 0, 1);
  } else {
    sp_array_new(&base, 2, shape2(rows, 2 * cols));
    sp_array_slice(v, &base, 1, 0, 2 * cols, 2);
  }
  sp_array_release(&base);
  fill_random(v, r);
}

TEST(matmul_matches_a_naive_triple_loop_for_every_layout) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 6; seed++) {
    sp_rng_seed(&r, seed, 0);
    int64_t m = 1 + (int64_t)sp_rng_below(&r, 7), k = 1 + (int64_t)sp_rng_below(&r, 7),
            n = 1 + (int64_t)sp_rng_below(&r, 7);
    for (int la = 0; la < 3; la++)
      for (int lb = 0; lb < 3; lb++) {
        sp_array a, b, out;
        make_operand(&a, &r, m, k, la);
        make_operand(&b, &r, k, n, lb);
        sp_array_new(&out, 2, shape2(m, n));
        CHECK_INT(sp_array_matmul(&out, &a, &b), 0);
        double want[64];
        naive(want, &a, &b);
        for (int64_t i = 0; i < m * n; i++) CHECK_CLOSE(out.data[i], want[i], 1e-12, 1e-12);
        sp_array_release(&a);
        sp_array_release(&b);
        sp_array_release(&out);
      }
  }
}

TEST(matrix_vector_products_match_loops_for_transposed_matrices) {
  sp_rng r;
  for (uint64_t seed = 1; seed <= 4; seed++) {
    sp_rng_seed(&r, seed, 1);
    int64_t m = 1 + (int64_t)sp_rng_below(&r, 6), k = 1 + (int64_t)sp_rng_below(&r, 6);
    for (int layout = 0; layout < 3; layout++) {
      sp_array a, x, y, xt, yt;
      make_operand(&a, &r, m, k, layout);
      sp_array_new(&x, 1, &k);
      sp_array_new(&y, 1, &m);
      fill_random(&x, &r);
      fill_random(&y, &r);
      sp_array_new(&xt, 1, &m);  // a @ x
      sp_array_new(&yt, 1, &k);  // y @ a
      CHECK_INT(sp_array_matmul(&xt, &a, &x), 0);
      CHECK_INT(sp_array_matmul(&yt, &y, &a), 0);
      for (int64_t i = 0; i < m; i++) {
        double s = 0;
        for (int64_t j = 0; j < k; j++) s += get2(&a, i, j) * x.data[j];
        CHECK_CLOSE(xt.data[i], s, 1e-12, 1e-12);
      }
      for (int64_t j = 0; j < k; j++) {
        double s = 0;
        for (int64_t i = 0; i < m; i++) s += y.data[i] * get2(&a, i, j);
        CHECK_CLOSE(yt.data[j], s, 1e-12, 1e-12);
      }
      sp_array_release(&a);
      sp_array_release(&x);
      sp_array_release(&y);
      sp_array_release(&xt);
      sp_array_release(&yt);
    }
  }
}

TEST(matmul_of_row_major_and_transposed_views_does_not_allocate) {
  sp_rng r;
  sp_rng_seed(&r, 5, 0);
  sp_array a, b, out;
  make_operand(&a, &r, 4, 3, 1);
  make_operand(&b, &r, 3, 5, 0);
  sp_array_new(&out, 2, shape2(4, 5));
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 100; i++) sp_array_matmul(&out, &a, &b);
  CHECK_INT(sp_alloc_count() - before, 0);
  sp_array_release(&a);
  sp_array_release(&b);
  sp_array_release(&out);
}

TEST(matmul_rejects_mismatched_inner_dimensions) {
  sp_array a, b, out;
  sp_array_new(&a, 2, shape2(2, 3));
  sp_array_new(&b, 2, shape2(4, 5));
  sp_array_new(&out, 2, shape2(2, 5));
  CHECK_INT(sp_array_matmul(&out, &a, &b), SP_ESHAPE);
  sp_array_release(&a);
  sp_array_release(&b);
  sp_array_release(&out);
}

TEST(format_matches_numpy_repr) {
  sp_array a;
  sp_array_new(&a, 2, shape2(2, 2));
  for (int i = 0; i < 4; i++) a.data[i] = i + 1;
  char buf[256];
  size_t n = sp_array_format(buf, sizeof buf, &a);
  CHECK_STR(buf, "array([[1., 2.],\n       [3., 4.]])");
  CHECK_INT(n, strlen(buf));
  a.data[1] = -2.5;
  sp_array_format(buf, sizeof buf, &a);
  CHECK_STR(buf, "array([[ 1. , -2.5],\n       [ 3. ,  4. ]])");
  // truncation keeps the terminator and still reports the full length
  char small[8];
  CHECK_INT(sp_array_format(small, sizeof small, &a), sp_array_format(NULL, 0, &a));
  CHECK_INT(sp_array_format(NULL, 0, &a), strlen(buf));
  CHECK_STR(small, "array([");
  sp_array_release(&a);
}

TEST(format_summarises_long_arrays_like_numpy) {
  sp_array a;
  int64_t n = 2000;
  sp_array_new(&a, 1, &n);
  for (int i = 0; i < 2000; i++) a.data[i] = i;
  char buf[512];
  sp_array_format(buf, sizeof buf, &a);
  CHECK_STR(buf,
            "array([0.000e+00, 1.000e+00, 2.000e+00, ..., 1.997e+03, 1.998e+03,\n"
            "       1.999e+03])");
  sp_array_release(&a);
}

TEST_MAIN()
