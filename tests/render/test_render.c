// test_render.c: render/render.c on robots/rc_car.xml, headless: the car is drawn where its pose
// puts it (its red chassis moves across the image as it moves), the same pose gives the same
// image, paths are drawn, the focus follows the car, frames allocate nothing, and every failure
// (no file, bad size, unknown body, a non-finite pose, no EGL driver) is a code and a message.
#include <stdlib.h>

#include "engine/core/alloc.h"
#include "engine/core/error.h"
#include "render/render.h"
#include "test.h"

#define W 160
#define H 120

static char car_path[512];

static const char* car_xml(void) {
  const char* src = getenv("SPINAL_SOURCE_DIR");
  snprintf(car_path, sizeof car_path, "%s/robots/rc_car.xml", src ? src : "..");
  return car_path;
}

// rc_car.xml's qpos0 with the chassis at (x, y): free joint (x y z qw qx qy qz), then 6 hinges
static void car_pose(double* q, double x, double y) {
  memset(q, 0, 13 * sizeof(double));
  q[0] = x;
  q[1] = y;
  q[2] = 0.0498;
  q[3] = 1;
}

// the camera of the tests: 1.5 m from the origin, looking along +y (world +x to the right)
static const sp_render_camera cam = {{0, 0, 0.05}, 1.5, 90, -30};

typedef struct stats {
  double mean, std;  // over every byte
  long red;          // pixels of the chassis's colour
  double red_col;    // their mean column
  long blue;         // pixels of a blue path
} stats;

static stats measure(const unsigned char* rgb) {
  stats s = {0};
  double sum = 0, sum2 = 0, cols = 0;
  for (int i = 0; i < W * H; i++) {
    const unsigned char* p = rgb + 3 * i;
    for (int c = 0; c < 3; c++) sum += p[c], sum2 += (double)p[c] * p[c];
    if (p[0] > 120 && p[1] < 90 && p[2] < 90) s.red++, cols += i % W;
    if (p[2] > 150 && p[0] < 100) s.blue++;
  }
  s.mean = sum / (3.0 * W * H);
  s.std = sqrt(sum2 / (3.0 * W * H) - s.mean * s.mean);
  s.red_col = s.red ? cols / s.red : -1;
  return s;
}

static sp_render* open_car(int* failed) {
  sp_render* r = NULL;
  char msg[512] = "";
  sp_render_config c = {.mjcf = car_xml(), .width = W, .height = H};
  int rc = sp_render_new(&r, &c, msg, sizeof msg);
  if (rc) fprintf(stderr, "  sp_render_new: %s\n", msg);
  *failed = rc != 0;
  return r;
}

TEST(the_car_is_drawn_where_its_pose_puts_it) {
  int bad;
  sp_render* r = open_car(&bad);
  CHECK(!bad);
  CHECK_INT(sp_render_nq(r), 13);
  unsigned char* a = malloc(W * H * 3);
  unsigned char* b = malloc(W * H * 3);
  double q[13];
  car_pose(q, 0, 0);
  CHECK_INT(sp_render_pose(r, q), 0);
  CHECK_INT(sp_render_frame(r, a, &cam, NULL, 0), 0);
  car_pose(q, 0.3, 0);
  CHECK_INT(sp_render_pose(r, q), 0);
  CHECK_INT(sp_render_frame(r, b, &cam, NULL, 0), 0);
  stats sa = measure(a), sb = measure(b);

  // not blank: a floor, a car, light and shade
  CHECK(sa.std > 10);
  CHECK(sa.red > W * H / 100);
  // the car at the origin is in the middle; 0.3 m to the right it is right of the middle
  CHECK(fabs(sa.red_col - W / 2.0) < 0.1 * W);
  CHECK(sb.red_col - sa.red_col > 0.1 * W);
  CHECK(fabs((double)sb.red - sa.red) < 0.5 * sa.red);  // the same car, moved
  double diff = 0;
  for (int i = 0; i < W * H * 3; i++) diff += abs((int)a[i] - (int)b[i]);
  CHECK(diff / (W * H * 3) > 1);

  // out of view: no car
  car_pose(q, 20, 0);
  CHECK_INT(sp_render_pose(r, q), 0);
  CHECK_INT(sp_render_frame(r, b, &cam, NULL, 0), 0);
  CHECK(measure(b).red < W * H / 1000);
  free(a);
  free(b);
  sp_render_free(r);
}

TEST(the_same_pose_gives_the_same_image) {
  int bad;
  sp_render* r = open_car(&bad);
  CHECK(!bad);
  unsigned char* a = malloc(W * H * 3);
  unsigned char* b = malloc(W * H * 3);
  double q[13];
  car_pose(q, 0.1, -0.05);
  sp_render_pose(r, q);
  CHECK_INT(sp_render_frame(r, a, &cam, NULL, 0), 0);
  car_pose(q, 0.5, 0.5);
  sp_render_pose(r, q);
  CHECK_INT(sp_render_frame(r, b, &cam, NULL, 0), 0);
  CHECK(memcmp(a, b, W * H * 3) != 0);
  car_pose(q, 0.1, -0.05);
  sp_render_pose(r, q);
  CHECK_INT(sp_render_frame(r, b, &cam, NULL, 0), 0);
  CHECK(memcmp(a, b, W * H * 3) == 0);
  free(a);
  free(b);
  sp_render_free(r);
}

TEST(a_path_on_the_floor_is_drawn_in_its_colour) {
  int bad;
  sp_render* r = open_car(&bad);
  CHECK(!bad);
  unsigned char* a = malloc(W * H * 3);
  double q[13];
  car_pose(q, 0, 0);
  sp_render_pose(r, q);
  CHECK_INT(sp_render_frame(r, a, &cam, NULL, 0), 0);
  long before = measure(a).blue;
  // a circle of radius 0.5 m around the car
  double pts[61 * 3];
  for (int i = 0; i <= 60; i++) {
    pts[3 * i] = 0.5 * cos(2 * M_PI * i / 60);
    pts[3 * i + 1] = 0.5 * sin(2 * M_PI * i / 60);
    pts[3 * i + 2] = 0.003;
  }
  sp_render_path path = {pts, 61, {0.1f, 0.4f, 1, 1}, 0.02};
  CHECK_INT(sp_render_frame(r, a, &cam, &path, 1), 0);
  long with = measure(a).blue;
  CHECK(with > before + W * H / 100);
  // the first two points only: a short piece of it
  path.n = 2;
  CHECK_INT(sp_render_frame(r, a, &cam, &path, 1), 0);
  long piece = measure(a).blue;
  CHECK(piece > before && piece < with);
  free(a);
  sp_render_free(r);
}

TEST(the_focus_follows_the_car_and_measures_it) {
  int bad;
  sp_render* r = open_car(&bad);
  CHECK(!bad);
  double q[13], c[3], radius;
  car_pose(q, 1.5, -2);
  sp_render_pose(r, q);
  sp_render_focus(r, c, &radius);
  CHECK_CLOSE(c[0], 1.5, 0, 0.02);
  CHECK_CLOSE(c[1], -2, 0, 0.02);
  // chassis 0.19 m half-length plus the wheels: about a quarter of a metre
  CHECK(radius > 0.18 && radius < 0.35);
  // a wheel's subtree is smaller and sits at its axle
  char msg[128];
  CHECK_INT(sp_render_track(r, "rear_left", msg, sizeof msg), 0);
  sp_render_focus(r, c, &radius);
  CHECK_CLOSE(c[0], 1.5 - 0.16, 0, 0.01);
  CHECK_CLOSE(c[1], -2 + 0.12, 0, 0.01);
  CHECK(radius > 0.04 && radius < 0.08);
  sp_render_free(r);
}

TEST(frames_allocate_nothing) {
  int bad;
  sp_render* r = open_car(&bad);
  CHECK(!bad);
  unsigned char* a = malloc(W * H * 3);
  double q[13], pts[6] = {0, 0, 0.003, 1, 0, 0.003};
  sp_render_path path = {pts, 2, {1, 1, 1, 1}, 0.01};
  uint64_t before = sp_alloc_count();
  for (int i = 0; i < 5; i++) {
    car_pose(q, 0.05 * i, 0);
    CHECK_INT(sp_render_pose(r, q), 0);
    CHECK_INT(sp_render_frame(r, a, &cam, &path, 1), 0);
  }
  CHECK(sp_alloc_count() == before);
  free(a);
  sp_render_free(r);
}

TEST(failures_are_codes_with_messages) {
  sp_render* r = (sp_render*)1;
  char msg[512];
  sp_render_config c = {.mjcf = "no/such/car.xml"};
  CHECK_INT(sp_render_new(&r, &c, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(r == NULL);
  CHECK_STR(msg, "render: cannot open MJCF no/such/car.xml");
  c = (sp_render_config){.mjcf = car_xml(), .width = 8, .height = 480};
  CHECK_INT(sp_render_new(&r, &c, msg, sizeof msg), SP_ERANGE);
  CHECK_STR(msg, "render: image size 8 x 480 (expected 16 to 4096 pixels each way)");
  c = (sp_render_config){0};
  CHECK_INT(sp_render_new(&r, &c, msg, sizeof msg), SP_EINVAL);
  CHECK_STR(msg, "render: no MJCF file given");
  // a file that is no MJCF: MuJoCo's parser names the problem
  c = (sp_render_config){.mjcf = "/dev/null"};
  CHECK_INT(sp_render_new(&r, &c, msg, sizeof msg), SP_EFORMAT);
  CHECK(strncmp(msg, "render: /dev/null: ", 19) == 0);

  int bad;
  r = open_car(&bad);
  CHECK(!bad);
  CHECK_INT(sp_render_track(r, "wing", msg, sizeof msg), SP_ENOTFOUND);
  CHECK_STR(msg, "render: no body named 'wing'");
  double q[13];
  car_pose(q, 0, 0);
  q[5] = NAN;
  CHECK_INT(sp_render_pose(r, q), SP_ENUMERIC);
  unsigned char rgb[W * H * 3];
  sp_render_camera behind = cam;
  behind.distance = 0;
  CHECK_INT(sp_render_frame(r, rgb, &behind, NULL, 0), SP_EINVAL);
  sp_render_free(r);
  sp_render_free(NULL);
}

// GLVND's libEGL reads the vendor list on first use: pointing it at no vendor is a machine
// without an EGL driver (this test runs in its own process, as every test here)
TEST(no_egl_driver_is_a_clear_error) {
  setenv("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/none.json", 1);
  sp_render* r = (sp_render*)1;
  char msg[1024];
  sp_render_config c = {.mjcf = car_xml()};
  CHECK_INT(sp_render_new(&r, &c, msg, sizeof msg), SP_EUNSUPPORTED);
  CHECK(r == NULL);
  const char* head = "render: no OpenGL context for offscreen rendering (";
  CHECK(strncmp(msg, head, strlen(head)) == 0);
  CHECK(strstr(msg, "libegl-mesa0 libgl1-mesa-dri, installed by tools/install-deps") != NULL);
}

TEST_MAIN()
