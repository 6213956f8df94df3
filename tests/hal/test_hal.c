// test_hal.c: hal/hal.c backend registry, URI dispatch and lifecycle rules.
#include "fake_plant.h"
#include "hal/hal.h"
#include "test.h"

static fake_config cfg2 = {.n = 2, .rate_hz = 100.0};

TEST(open_picks_the_backend_by_uri_scheme) {
  fake_register();
  char msg[256];
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "fake", &cfg2, msg, sizeof msg), 0);
  CHECK(p != NULL);
  CHECK_STR(p->backend->scheme, "fake");
  CHECK_INT(p->state, SP_PLANT_OPENED);
  sp_plant_close(p);
  CHECK_INT(sp_plant_open(&p, "fake://anything:1234", &cfg2, msg, sizeof msg), 0);
  CHECK_STR(sp_plant_capabilities(p)->backend, "fake");
  sp_plant_close(p);
}

TEST(unknown_scheme_is_not_found_and_names_the_registered_ones) {
  fake_register();
  char msg[256];
  sp_plant* p = (sp_plant*)&msg;
  CHECK_INT(sp_plant_open(&p, "warp://robot", NULL, msg, sizeof msg), SP_ENOTFOUND);
  CHECK(p == NULL);
  CHECK(strstr(msg, "'warp'") != NULL);
  CHECK(strstr(msg, "fake") != NULL);
  CHECK_INT(sp_plant_open(&p, "", NULL, msg, sizeof msg), SP_EINVAL);
}

TEST(backend_open_failure_reports_its_message_and_leaks_nothing) {
  fake_register();
  char msg[256];
  sp_plant* p = NULL;
  fake_config bad = {.n = 0, .rate_hz = 100};
  CHECK_INT(sp_plant_open(&p, "fake", &bad, msg, sizeof msg), SP_EINVAL);
  CHECK(p == NULL);
  CHECK(strstr(msg, "1 <= n <= 8") != NULL);
}

TEST(duplicate_scheme_registration_is_refused) {
  fake_register();
  CHECK_INT(sp_plant_register(&fake_backend), SP_EINVAL);
  sp_plant_backend incomplete = {.scheme = "half"};
  CHECK_INT(sp_plant_register(&incomplete), SP_EINVAL);
}

TEST(lifecycle_misuse_returns_estate_and_changes_nothing) {
  fake_register();
  sp_plant* p = NULL;
  double x[2] = {0}, u[2] = {1, 1};
  CHECK_INT(sp_plant_open(&p, "fake", &cfg2, NULL, 0), 0);
  // opened: nothing but configure
  CHECK_INT(sp_plant_read(p, x, NULL, NULL), SP_ESTATE);
  CHECK_INT(sp_plant_write(p, u), SP_ESTATE);
  CHECK_INT(sp_plant_activate(p), SP_ESTATE);
  CHECK_INT(sp_plant_reset(p, NULL), SP_ESTATE);
  CHECK_INT(sp_plant_configure(p, NULL, 0), 0);
  CHECK_INT(sp_plant_configure(p, NULL, 0), SP_ESTATE);
  // configured: read and reset, but no write before activate
  CHECK_INT(sp_plant_read(p, x, NULL, NULL), 0);
  CHECK_INT(sp_plant_write(p, u), SP_ESTATE);
  CHECK_INT(((fake_impl*)p->impl)->writes, 0);
  CHECK_INT(sp_plant_deactivate(p), SP_ESTATE);
  CHECK_INT(sp_plant_activate(p), 0);
  CHECK_INT(sp_plant_activate(p), SP_ESTATE);
  CHECK_INT(sp_plant_write(p, u), 0);
  CHECK_INT(sp_plant_deactivate(p), 0);
  // deactivated: writes refused again
  CHECK_INT(sp_plant_write(p, u), SP_ESTATE);
  CHECK_INT(((fake_impl*)p->impl)->writes, 1);
  sp_plant_close(p);
}

TEST(read_returns_state_time_and_capabilities) {
  fake_register();
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "fake", &cfg2, NULL, 0), 0);
  CHECK_INT(sp_plant_configure(p, NULL, 0), 0);
  const sp_plant_caps* c = sp_plant_capabilities(p);
  CHECK_INT(c->nx, 2);
  CHECK_INT(c->nu, 2);
  CHECK_STR(c->robot, "fake");
  CHECK_STR(c->x_names[1], "b");
  CHECK_INT(sp_plant_activate(p), 0);
  double x0[2] = {1, 2}, u[2] = {10, -10}, x[2];
  int64_t t = -1;
  uint32_t st = 99;
  CHECK_INT(sp_plant_reset(p, x0), 0);
  CHECK_INT(sp_plant_write(p, u), 0);
  CHECK_INT(sp_plant_read(p, x, &t, &st), 0);
  CHECK_CLOSE(x[0], 1.1, 1e-12, 0);
  CHECK_CLOSE(x[1], 1.9, 1e-12, 0);
  CHECK_INT(t, 10000000);
  CHECK_INT(st, 0);
  sp_plant_close(p);  // closes an active plant
}

TEST(reset_is_unsupported_where_the_backend_has_none) {
  static sp_plant_backend noreset;
  noreset = fake_backend;
  noreset.scheme = "fake_noreset";
  noreset.reset = NULL;
  sp_plant_register(&noreset);
  sp_plant* p = NULL;
  CHECK_INT(sp_plant_open(&p, "fake_noreset", &cfg2, NULL, 0), 0);
  CHECK_INT(sp_plant_configure(p, NULL, 0), 0);
  CHECK_INT(sp_plant_reset(p, NULL), SP_EUNSUPPORTED);
  sp_plant_close(p);
}

TEST_MAIN()
