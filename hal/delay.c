// delay.c: the actuation delay line of the simulated plants (see delay.h).
#include "hal/delay.h"

#include <string.h>

void sp__delay_init(sp__delay* dl, double* buf, int n, int nu) {
  dl->n = n;
  dl->nu = nu;
  dl->head = 0;
  dl->buf = buf;
}

void sp__delay_reset(sp__delay* dl, const double* u_init) {
  for (int k = 0; k < dl->n; k++)
    for (int i = 0; i < dl->nu; i++) dl->buf[(size_t)k * dl->nu + i] = u_init ? u_init[i] : 0.0;
  dl->head = 0;
}

void sp__delay_push(sp__delay* dl, double* u_act, const double* u) {
  size_t bytes = (size_t)dl->nu * sizeof(double);
  if (dl->n == 0) {
    memcpy(u_act, u, bytes);
    return;
  }
  // the oldest slot acts now and takes the new command
  double* slot = dl->buf + (size_t)dl->head * dl->nu;
  memcpy(u_act, slot, bytes);
  memcpy(slot, u, bytes);
  dl->head = (dl->head + 1) % dl->n;
}
