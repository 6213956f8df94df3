// internal.h: passes shared by the world model's files (wm.c, rollout_loss.c, wm_file.c).
#ifndef SP_WM_INTERNAL_H
#define SP_WM_INTERNAL_H

#include "engine/wm/wm.h"

// Build a model around an existing network (taken over; freed with the model), checking it fits the
// configuration: SP_EMISMATCH otherwise (the network is then not taken).
int sp__wm_wrap(sp_wm** out, const sp_wm_config* cfg, sp_mlp* net);

#endif  // SP_WM_INTERNAL_H
