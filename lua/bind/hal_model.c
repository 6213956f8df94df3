// hal_model.c: the "model" backend's configuration table for hal.open (hal/backend_model.h): a
// model of spinal.model simulated at a fixed rate, with noise, delay and command limits.
//
//   hal.open("model", { model = "unicycle_accel", rate = 50, params = { 1.2, 0.9 }, substeps = 4,
//                       integrator = "rk4", x0 = {...}, process_std = {...}, sensor_std = {...},
//                       delay = 2, seed = 1, robot = "car", u_init = {...}, u_min = {...},
//                       u_max = {...}, lowlevel = { kind = "joint_pd", params = { kp = 20 } } })
#include <string.h>

#include "engine/model/model.h"
#include "hal_bind.h"

void spH_sim_settings(const spA_table* t, int min_substeps, int* substeps, int* delay,
                      uint64_t* seed) {
  *substeps = (int)spA_integer(t, "substeps", min_substeps, min_substeps, SP_PLANT_MAX_SUBSTEPS, 0);
  *delay = (int)spA_integer(t, "delay", 0, 0, SP_PLANT_MAX_DELAY, 0);
  *seed = (uint64_t)spA_integer(t, "seed", 0, 0, LUA_MAXINTEGER, 0);
}

static const char* const integrators[] = {"euler", "rk4", NULL};

void spH_model_config(lua_State* L, int arg, sp_plant_model_config* c) {
  spA_table t = spA_opts(L, arg, 0);
  memset(c, 0, sizeof *c);
  c->model = spA_string(&t, "model", NULL, 1);
  const sp_model_class* cls = sp_model_find(c->model);
  if (!cls) spA_fielderror(&t, "model", "no model named '%s'", c->model);
  int nx = cls->nx, nu = cls->nu, np = cls->np;
  c->rate_hz = spA_positive(&t, "rate", 0, 1);
  spH_sim_settings(&t, 1, &c->substeps, &c->delay_ticks, &c->seed);
  c->integrator =
      spA_option(&t, "integrator", 1, integrators) ? SP_INTEGRATOR_RK4 : SP_INTEGRATOR_EULER;
  c->robot = spA_string(&t, "robot", NULL, 0);
  // a joint-level controller inside the plant: its command has the model's input size
  c->lowlevel = spH_lowlevel_config(&t);

  // vectors: scratch userdata left on the stack until the plant copied them
  double* d = spA_scratch(L, (size_t)np + 3 * (size_t)nx + 3 * (size_t)nu);
  double *p = d, *x0 = p + np, *wstd = x0 + nx, *vstd = wstd + nx, *uinit = vstd + nx;
  double *umin = uinit + nu, *umax = umin + nu;
  if (spA_field_vector(&t, "params", p, np, 0)) c->p = p;
  if (spA_field_vector(&t, "x0", x0, nx, 0)) c->x0 = x0;
  if (spA_field_vector(&t, "process_std", wstd, nx, 0)) c->process_std = wstd;
  if (spA_field_vector(&t, "sensor_std", vstd, nx, 0)) c->sensor_std = vstd;
  if (spA_field_vector(&t, "u_init", uinit, nu, 0)) c->u_init = uinit;
  if (spA_field_vector(&t, "u_min", umin, nu, 0)) c->u_min = umin;
  if (spA_field_vector(&t, "u_max", umax, nu, 0)) c->u_max = umax;
}
