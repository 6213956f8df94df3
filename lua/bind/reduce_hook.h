// reduce_hook.h: the C route from a binding's engine object to spinal.mpi's allreduce, without
// the binding (or the engine) including mpi.h. Loading spinal.mpi_core (lua/bind/mpi_core.c)
// stores a light userdata pointing at a static spL_reduce_hook in the registry under
// SPL_REDUCE_HOOK_KEY; a binding fetches it and hands sum and ctx to its engine object (PPO:
// sp_ppo_set_reduce, lua/bind/ppo.c). sum adds x (n elements of dtype) over every rank of the
// MPI world in place, every rank receiving the same bits (reduced on rank 0, then broadcast); in a
// world of one it leaves x alone. It never raises a Lua error: 0 or an SP_E* code.
#ifndef SPL_REDUCE_HOOK_H
#define SPL_REDUCE_HOOK_H

#include <stddef.h>

#include "engine/nn/dtype.h"

#define SPL_REDUCE_HOOK_KEY "spinal.mpi.reduce_hook"

typedef struct spL_reduce_hook {
  int (*sum)(void* ctx, sp_dtype dtype, void* x, size_t n);
  void* ctx;
} spL_reduce_hook;

#endif  // SPL_REDUCE_HOOK_H
