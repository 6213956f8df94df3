// checkpoint.h: a policy saved whole (engine/policy/policy.h): its network and optimiser state
// in an engine/nn checkpoint, and in the checkpoint's meta bytes the rest of the policy.
//
// Meta layout (all little-endian): "SPPOLICY" u32 version (1) u32 open (0 closed loop, 1 open)
//   u32 features  i32 nx nu nr nk nout  f64 period  (u32 kind, i32 index, f64 scale) x nout
//   f64 r0 (nr)  K0 (nk)  u_ff (nu)  sigma (nu)
//   u32 has_rng  u64 rng s[4]  f64 spare  u32 has_spare (a workspace's exploration rng; zeros
//   when none was given)
//   u32 label length + label (the caller's name of the class, e.g. "tracking")
//   u32 length + the embedded controller's class name ("tracker_car", "lqr"; empty: open loop)
//   u64 user length + user bytes (the caller's own record, e.g. a run's progress)
// The file is written atomically (engine/nn/checkpoint.c): a crash leaves the old or the new one.
// Hidden widths and activations are the network's (in the checkpoint's header). The embedded
// controller and the task are borrowed objects and are not saved: a loader supplies them.
//
// Errors fill msg naming the file and the field: SP_EIO, SP_EFORMAT (not a policy checkpoint),
// SP_ECHECKSUM, SP_EMISMATCH ("pol.ckpt: period is 5.5 in the file, 3 in the policy").
#ifndef SP_POLICY_CHECKPOINT_H
#define SP_POLICY_CHECKPOINT_H

#include <stddef.h>

#include "engine/core/export.h"
#include "engine/nn/optim.h"
#include "engine/policy/policy.h"

SP_API_BEGIN

// Save p (network, sigma, description), the exploration rng of workspace d when d is not NULL,
// opt's state when opt is not NULL, the label and user bytes (user may be NULL when user_len is
// 0).
int sp_policy_save(const char* path, const sp_policy* p, const sp_policy_data* d,
                   const sp_optim* opt, const char* label, const void* user, size_t user_len,
                   char* msg, size_t msg_size);

// Load into p, which must describe the same policy (controller class, sizes, features, period,
// outputs, base reference, gains and feed-forward, network), into workspace d when not NULL
// (the saved rng, if the file has one) and into opt when not NULL (its state). Nothing changes
// unless everything loads. *user (sp_malloc'ed, free with sp_free; NULL
// when empty) and *user_len get the user bytes when user is not NULL.
int sp_policy_load(const char* path, sp_policy* p, sp_policy_data* d, sp_optim* opt, void** user,
                   size_t* user_len, char* msg, size_t msg_size);

// The user bytes of the checkpoint at path, read without loading anything (*user sp_malloc'ed,
// NULL when empty; free with sp_free). Errors as sp_policy_load's.
int sp_policy_user_read(const char* path, void** user, size_t* user_len, char* msg,
                        size_t msg_size);

// What a loader needs to rebuild a policy from a file: a configuration (cfg->ctrl and cfg->task
// are left NULL for the caller; outputs, hidden, r0, K0 and u_ff point into *info, valid until
// sp_policy_info_free) and the label.
typedef struct sp_policy_info {
  sp_policy_config cfg;
  int open_loop;  // 1: no controller; else the controller must have nx, nu, nr, nk below
  int nx, nu, nr, nk;
  char label[32];
  char ctrl[32];  // the embedded controller's class name ("" for an open-loop policy)
  void* mem;      // owned storage
} sp_policy_info;

int sp_policy_info_read(const char* path, sp_policy_info* info, char* msg, size_t msg_size);
void sp_policy_info_free(sp_policy_info* info);

SP_API_END

#endif  // SP_POLICY_CHECKPOINT_H
