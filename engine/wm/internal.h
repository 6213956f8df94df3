// internal.h: passes shared by the world model's files (wm.c, rollout_loss.c, wm_file.c).
#ifndef SP_WM_INTERNAL_H
#define SP_WM_INTERNAL_H

#include "engine/wm/wm.h"

// Build a model around an existing network (taken over; freed with the model), checking it fits the
// configuration: SP_EMISMATCH otherwise (the network is then not taken).
int sp__wm_wrap(sp_wm** out, const sp_wm_config* cfg, sp_mlp* net);

// The component sums of one row's errors (state s against reference r, both nx) ADDED into e
// (SP_WM_NCOMP); when g is not NULL, ADD into g (nx) the gradient of sum_c c[c] e_c with respect to
// s (rollout_loss.c).
void sp__wm_row_errors(const sp_wm* wm, double* e, double* g, const double* c, const double* s,
                       const double* r);

#endif  // SP_WM_INTERNAL_H
