// test_npy.c: NPY round trips and header edge cases of engine/core/npy.c (numpy.lib.format).
#include <stdlib.h>
#include <unistd.h>

#include "engine/core/error.h"
#include "engine/core/npy.h"
#include "test.h"

static const char* tmp_path(const char* name) {
  return sp_test_tmp_path("spinal_npy", name);
}

// write a v1.0 file with the given dict (padded here) and raw data
static const char* write_npy(const char* name, const char* dict, const void* data, size_t bytes,
                             int major) {
  const char* path = tmp_path(name);
  FILE* f = fopen(path, "wb");
  size_t len = strlen(dict), pre = major == 1 ? 10 : 12;
  size_t total = pre + len + 1, pad = (64 - total % 64) % 64, hlen = len + pad + 1;
  fwrite("\x93NUMPY", 1, 6, f);
  unsigned char v[2] = {(unsigned char)major, 0};
  fwrite(v, 1, 2, f);
  unsigned char h[4] = {(unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8), 0, 0};
  fwrite(h, 1, major == 1 ? 2 : 4, f);
  fwrite(dict, 1, len, f);
  for (size_t i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  if (bytes) fwrite(data, 1, bytes, f);
  fclose(f);
  return path;
}

TEST(save_then_load_round_trips_shape_and_values) {
  int64_t shapes[4][3] = {{0}, {5}, {2, 3}, {2, 1, 4}};
  int ndims[4] = {0, 1, 2, 3};
  for (int c = 0; c < 4; c++) {
    sp_array a, b;
    sp_array_new(&a, ndims[c], shapes[c]);
    for (int64_t i = 0; i < sp_array_size(&a); i++) a.data[i] = 0.25 * (double)i - 1.0 / 3;
    char msg[256];
    const char* path = tmp_path("round.npy");
    CHECK_INT(sp_npy_save(path, &a, msg, sizeof msg), 0);
    CHECK_INT(sp_npy_load(&b, path, msg, sizeof msg), 0);
    CHECK(sp_array_same_shape(&a, &b));
    for (int64_t i = 0; i < sp_array_size(&a); i++) CHECK(a.data[i] == b.data[i]);
    sp_array_release(&a);
    sp_array_release(&b);
  }
}

TEST(saving_a_transposed_view_writes_its_logical_order) {
  int64_t shape[2] = {2, 3};
  sp_array a, t, b;
  sp_array_new(&a, 2, shape);
  for (int i = 0; i < 6; i++) a.data[i] = i;
  sp_array_transpose(&t, &a, 0, 1);
  const char* path = tmp_path("t.npy");
  CHECK_INT(sp_npy_save(path, &t, NULL, 0), 0);
  CHECK_INT(sp_npy_load(&b, path, NULL, 0), 0);
  CHECK_INT(b.shape[0], 3);
  CHECK_INT(b.shape[1], 2);
  double want[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; i++) CHECK(b.data[i] == want[i]);
  sp_array_release(&a);
  sp_array_release(&t);
  sp_array_release(&b);
}

TEST(header_is_padded_so_data_starts_on_a_64_byte_boundary) {
  int64_t n = 3;
  sp_array a;
  sp_array_new(&a, 1, &n);
  const char* path = tmp_path("pad.npy");
  sp_npy_save(path, &a, NULL, 0);
  FILE* f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  CHECK_INT((size - 24) % 64, 0);
  sp_array_release(&a);
}

TEST(loads_other_dtypes_and_byte_orders_as_float64) {
  float f4[3] = {1.5f, -2, 3};
  int32_t i4[3] = {-1, 0, 7};
  int64_t i8[3] = {1, -2, 1LL << 40};
  uint8_t u1[3] = {0, 200, 255};
  uint8_t b1[3] = {1, 0, 1};
  unsigned char be[8] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};  // pi, big-endian
  struct {
    const char* descr;
    const void* data;
    size_t bytes;
    double want[3];
    int n;
  } cases[] = {
      {"<f4", f4, sizeof f4, {1.5, -2, 3}, 3},
      {"<i4", i4, sizeof i4, {-1, 0, 7}, 3},
      {"<i8", i8, sizeof i8, {1, -2, 1099511627776.0}, 3},
      {"|u1", u1, sizeof u1, {0, 200, 255}, 3},
      {"|b1", b1, sizeof b1, {1, 0, 1}, 3},
      {">f8", be, sizeof be, {3.141592653589793}, 1},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }",
             cases[c].descr, cases[c].n);
    const char* path = write_npy("dtype.npy", dict, cases[c].data, cases[c].bytes, 1);
    sp_array a;
    char msg[256];
    CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), 0);
    CHECK_INT(a.shape[0], cases[c].n);
    for (int i = 0; i < cases[c].n; i++) CHECK(a.data[i] == cases[c].want[i]);
    sp_array_release(&a);
  }
}

TEST(fortran_order_and_version_2_headers_load_in_logical_order) {
  double col_major[6] = {0, 3, 1, 4, 2, 5};  // the 2x3 matrix [[0,1,2],[3,4,5]]
  const char* path =
      write_npy("f.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", col_major,
                sizeof col_major, 2);
  sp_array a;
  char msg[256];
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), 0);
  CHECK_INT(a.shape[0], 2);
  CHECK_INT(a.shape[1], 3);
  CHECK(sp_array_is_contiguous(&a));
  for (int i = 0; i < 6; i++) CHECK(a.data[i] == i);
  sp_array_release(&a);
}

TEST(malformed_magic_is_a_format_error_naming_the_file) {
  const char* path = tmp_path("bad.npy");
  FILE* f = fopen(path, "wb");
  fputs("PK\x03\x04 this is a zip, not an npy file", f);
  fclose(f);
  sp_array a;
  char msg[256];
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, path) != NULL);
  CHECK(strstr(msg, "bad magic") != NULL);
  CHECK(a.data == NULL);
}

TEST(truncated_data_is_a_format_error_saying_how_much_is_missing) {
  double d[3] = {1, 2, 3};
  const char* path = write_npy("short.npy",
                               "{'descr': '<f8', 'fortran_order': False, "
                               "'shape': (4,), }",
                               d, sizeof d, 1);
  sp_array a;
  char msg[256];
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, path) != NULL);
  CHECK(strstr(msg, "truncated data (expected 32 bytes, got 24)") != NULL);
  // the same through a converting dtype
  path = write_npy("short4.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", d,
                   sizeof d, 1);
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, "truncated data") != NULL);
}

TEST(truncated_header_is_a_format_error) {
  const char* path = tmp_path("hdr.npy");
  FILE* f = fopen(path, "wb");
  fwrite("\x93NUMPY\x01\x00\x76\x00{'descr'", 1, 18, f);
  fclose(f);
  sp_array a;
  char msg[256];
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, "truncated header") != NULL);
}

TEST(unsupported_dtype_is_a_format_error_naming_it) {
  double d[4] = {0};
  const char* path = write_npy("c16.npy",
                               "{'descr': '<c16', 'fortran_order': False, "
                               "'shape': (2,), }",
                               d, sizeof d, 1);
  sp_array a;
  char msg[256];
  CHECK_INT(sp_npy_load(&a, path, msg, sizeof msg), SP_EFORMAT);
  CHECK(strstr(msg, path) != NULL);
  CHECK(strstr(msg, "unsupported dtype '<c16'") != NULL);
}

TEST(missing_file_is_an_io_error_naming_it) {
  sp_array a;
  char msg[256];
  CHECK_INT(sp_npy_load(&a, "/nonexistent/dir/x.npy", msg, sizeof msg), SP_EIO);
  CHECK(strstr(msg, "/nonexistent/dir/x.npy: cannot open") != NULL);
  int64_t n = 1;
  sp_array_new(&a, 1, &n);
  CHECK_INT(sp_npy_save("/nonexistent/dir/x.npy", &a, msg, sizeof msg), SP_EIO);
  CHECK(strstr(msg, "/nonexistent/dir/x.npy") != NULL);
  sp_array_release(&a);
}

TEST_MAIN()
