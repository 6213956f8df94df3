// loop_ctrl.c: a controller of any class as the control loop's policy (loop_ctrl.h).
#include "hal/loop_ctrl.h"

#include <math.h>
#include <string.h>

#include "engine/core/error.h"

int sp_loop_ctrl_init(sp_loop_ctrl* s, const sp_ctrl* c) {
  if (!s || !c) return SP_EINVAL;
  memset(s, 0, sizeof *s);
  s->ctrl = c;
  return sp_ctrl_data_new(&s->data, c);
}

void sp_loop_ctrl_release(sp_loop_ctrl* s) {
  if (!s) return;
  sp_ctrl_data_free(s->data);
  s->data = NULL;
}

int sp_loop_ctrl_act(void* user, double* u, const double* x, double t, long k) {
  (void)t;
  (void)k;
  const sp_loop_ctrl* s = user;
  const double* p = sp_loop_params(s->loop);
  return sp_ctrl_act(s->ctrl, s->data, u, x, p + s->ctrl->nk, p) == SP_EINVAL;
}

int sp_loop_ctrl_set_gain(const sp_ctrl* c, double* params, const char* name, const double* v,
                          int n, int* count) {
  int size = 0, matrix = 0;
  int i = sp_ctrl_gain_index(c, name, &size, &matrix);
  if (count) *count = size;
  if (i < 0) return i;
  int broadcast = n == 1 && size > 1 && !matrix;
  if (n != size && !broadcast) return SP_ESHAPE;
  for (int j = 0; j < n; j++)
    if (!isfinite(v[j])) return SP_EINVAL;
  for (int j = 0; j < size; j++) params[i + j] = v[broadcast ? 0 : j];
  return SP_OK;
}
