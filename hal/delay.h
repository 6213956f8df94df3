// delay.h: an actuation delay line of whole control ticks, shared by the simulated plants.
//
// A command written at tick k acts during tick k + n; before the first delayed command arrives the
// line holds u_init. The storage (n x nu doubles) belongs to the caller, so a plant carves it out
// of its one allocation. push never allocates.
#ifndef SP_HAL_DELAY_H
#define SP_HAL_DELAY_H

typedef struct sp__delay {
  int n, nu;    // ticks of delay (0: none), command size
  int head;     // oldest slot
  double* buf;  // (n x nu) commands written but not yet acting, oldest at head
} sp__delay;

// Attach storage buf (n x nu doubles, may be NULL when n is 0).
void sp__delay_init(sp__delay* dl, double* buf, int n, int nu);
// Fill every slot with u_init (nu), or zeros when u_init is NULL.
void sp__delay_reset(sp__delay* dl, const double* u_init);
// u_act (nu) gets the command acting now: the one pushed n ticks ago, or u itself when n is 0;
// u (nu) enters the line.
void sp__delay_push(sp__delay* dl, double* u_act, const double* u);

#endif  // SP_HAL_DELAY_H
