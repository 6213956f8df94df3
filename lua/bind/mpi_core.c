// mpi_core.c: the MPI primitives under spinal.mpi (require "spinal.mpi_core"; the user-facing
// module is lua/spinal/mpi.lua, docs/api/mpi.md, docs/distributed.md). This file is the only
// code that includes mpi.h: the engine and the hal stay free of MPI.
//
// MPI is initialised lazily, by the first call that needs the world (rank, size, a collective),
// and only when the process was started by an MPI launcher (mpirun, mpiexec, srun: recognised by
// the environment they set). A plain `spinal script.lua` never initialises MPI: it is a world of
// one (rank 0, size 1) in which every collective returns its input.
//
// The world ends with the Lua state: normally MPI_Finalize; after a script error (the host sets
// registry["spinal.failed"], lua/host/main.c) MPI_Abort, so the other ranks, which may be waiting
// in a collective for the failed one, are ended by the launcher instead of hanging.
//
//   core.launched() -> rank, size (from the launcher's environment, without initialising MPI;
//                      nil when not launched; size is nil when the launcher does not say; also
//                      for a task of a Slurm step started without MPI, where init raises)
//   core.init() -> rank, size             core.initialized() -> boolean
//   core.barrier()
//   core.bcast_bytes(s or nil, root) -> root's string
//   core.bcast_array(a, root)              in place; every rank passes the same number of elements
//   core.reduce_array(a, op [, root])      in place; op "sum", "mean", "max" or "min"; root: to
//                                          root only (others keep their input); else reduce to
//                                          rank 0 and broadcast, so every rank holds the same bits
//   core.gather_bytes(s, root) -> list of strings by rank (root), nil (others)
//   core.gather_rows(a, root) -> array (sum of rows, ...), counts (root); nil (others)
//   core.array_bytes(a) -> string          core.array_from_bytes(s, shape) -> array
//   core.abort(message, code)             core.mark_failed(flag)
// Loading the module also leaves registry[SPL_REDUCE_HOOK_KEY]: the C sum-allreduce that engine
// objects call through a hook (reduce_hook.h; PPO's data-parallel update, lua/bind/ppo.c).
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "engine/core/error.h"
#include "reduce_hook.h"

static int g_state;  // 0: not yet decided, 1: MPI initialised by us, 2: a world of one
static int g_rank, g_size = 1;

// an integer environment variable, or -1
static int env_int(const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) return -1;
  char* end;
  long x = strtol(v, &end, 10);
  return *end || x < 0 || x > 1 << 30 ? -1 : (int)x;
}

// rank and size as the launcher set them (Open MPI's mpirun, PMIx as mpirun and `srun --mpi=pmix`
// set it, PMI-1/2 as MPICH's hydra and `srun --mpi=pmi2` set it); 0 when the process was not
// started by an MPI launcher. The size: the launcher's, else the Slurm job step's task count
// (SLURM_STEP_NUM_TASKS; SLURM_NTASKS is the allocation's, also seen by a batch script)
static int launched_env(int* rank, int* size) {
  static const char* const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", NULL};
  static const char* const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS",
                                      "SLURM_NTASKS", NULL};
  *rank = *size = -1;
  for (int i = 0; ranks[i] && *rank < 0; i++) *rank = env_int(ranks[i]);
  for (int i = 0; sizes[i] && *size < 0; i++) *size = env_int(sizes[i]);
  return *rank >= 0;
}

// a task of a Slurm job step of several tasks that srun started without an MPI plugin (the
// cluster's MpiDefault=none and no --mpi=pmix): SLURM_PROCID and SLURM_STEP_NUM_TASKS > 1 but no
// launcher's rank. MPI cannot start there, and taking it for a world of one would run the whole job
// once per task into the same files. (A batch script's own environment has SLURM_PROCID and
// SLURM_NTASKS but no SLURM_STEP_NUM_TASKS: a plain `spinal script.lua` there is not a step task.)
static int slurm_without_mpi(int* rank, int* size) {
  int r, s;
  if (launched_env(&r, &s)) return 0;
  *rank = env_int("SLURM_PROCID");
  *size = env_int("SLURM_STEP_NUM_TASKS");
  return *rank >= 0 && *size > 1;
}

static int world_gc(lua_State* L) {
  if (g_state != 1) return 0;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return 0;
  g_state = 2;
  lua_getfield(L, LUA_REGISTRYINDEX, "spinal.failed");
  int failed = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (failed) {
    // the others may be inside a collective waiting for this rank: end the whole job
    fprintf(stderr,
            "spinal.mpi: rank %d of %d failed (an error, or a non-zero exit status); aborting the "
            "job\n",
            g_rank, g_size);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return 0;
}

// decide the world once: MPI when launched by an MPI launcher, else a world of one
static void world(lua_State* L) {
  if (g_state) return;
  int r, s;
  if (slurm_without_mpi(&r, &s))
    luaL_error(L,
               "spinal.mpi: task %d of %d of a Slurm job step that srun started without MPI (no "
               "PMIX_RANK or PMI_RANK in the environment): launch it with `srun --mpi=pmix` "
               "(docs/distributed.md)",
               r, s);
  if (!launched_env(&r, &s)) {
    g_state = 2;
    return;
  }
  int provided;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    g_state = 2;
    luaL_error(L,
               "spinal.mpi: MPI_Init failed (launched as rank %d by an MPI launcher; under Slurm "
               "Open MPI needs `srun --mpi=pmix`)",
               r);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  g_state = 1;
  // finalised (or aborted) when the Lua state closes
  lua_newuserdatauv(L, 1, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, world_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "spinal.mpi.world");
}

// raise "mpi.<what>: <MPI's message>" for a failed call
static void check(lua_State* L, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  luaL_error(L, "mpi.%s: %s (rank %d of %d)", what, msg, g_rank, g_size);
}

static int checkroot(lua_State* L, int arg) {
  lua_Integer root = luaL_optinteger(L, arg, 0);
  if (root < 0 || root >= g_size)
    spA_argerror(L, arg, "expected a root rank in [0, %d], got %I", g_size - 1, root);
  return (int)root;
}

static int l_launched(lua_State* L) {
  int r, s;
  if (!launched_env(&r, &s) && !slurm_without_mpi(&r, &s)) return 0;
  lua_pushinteger(L, r);
  if (s >= 0)
    lua_pushinteger(L, s);
  else
    lua_pushnil(L);
  return 2;
}

static int l_init(lua_State* L) {
  world(L);
  lua_pushinteger(L, g_rank);
  lua_pushinteger(L, g_size);
  return 2;
}

static int l_initialized(lua_State* L) {
  lua_pushboolean(L, g_state == 1);
  return 1;
}

static int l_barrier(lua_State* L) {
  world(L);
  if (g_state == 1) check(L, MPI_Barrier(MPI_COMM_WORLD), "barrier");
  return 0;
}

static int l_bcast_bytes(lua_State* L) {
  world(L);
  int root = checkroot(L, 2);
  if (g_state != 1) {
    lua_settop(L, 1);
    return 1;
  }
  size_t n = 0;
  const char* s = g_rank == root ? luaL_checklstring(L, 1, &n) : NULL;
  if (n > (size_t)1 << 30) spA_argerror(L, 1, "expected at most 1 GiB, got %I", (lua_Integer)n);
  long long len = (long long)n;
  check(L, MPI_Bcast(&len, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "broadcast");
  char* buf = g_rank == root ? (char*)s : spA_scratch_bytes(L, (size_t)len + 1);
  check(L, MPI_Bcast(buf, (int)len, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
  lua_pushlstring(L, buf, (size_t)len);
  return 1;
}

// the contiguous array at arg with at most INT_MAX elements
static sp_array* checkflat(lua_State* L, int arg, const char* what) {
  sp_array* a = spL_checkarray(L, arg);
  if (!sp_array_is_contiguous(a))
    spA_argerror(L, arg,
                 "expected a contiguous array (%s works in place; a strided view would need a "
                 "copy: use a:contiguous() and copy the result back)",
                 what);
  if (sp_array_size(a) > 0x7fffffff)
    spA_argerror(L, arg, "expected at most %d elements, got %I", 0x7fffffff,
                 (lua_Integer)sp_array_size(a));
  return a;
}

static int l_bcast_array(lua_State* L) {
  world(L);
  sp_array* a = checkflat(L, 1, "broadcast");
  int root = checkroot(L, 2);
  lua_settop(L, 1);
  if (g_state != 1) return 1;
  long long n = (long long)sp_array_size(a), theirs = n;
  check(L, MPI_Bcast(&theirs, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "broadcast");
  if (theirs != n)
    return luaL_error(L,
                      "mpi.broadcast: rank %d holds an array of %I elements, the root (rank %d) "
                      "sent %I",
                      g_rank, (lua_Integer)n, root, (lua_Integer)theirs);
  check(L, MPI_Bcast(a->data, (int)n, MPI_DOUBLE, root, MPI_COMM_WORLD), "broadcast");
  return 1;
}

static int l_reduce_array(lua_State* L) {
  world(L);
  sp_array* a = checkflat(L, 1, "allreduce");
  static const char* const ops[] = {"sum", "max", "min", "mean", NULL};
  int op = luaL_checkoption(L, 2, NULL, ops);
  int to_root = !lua_isnoneornil(L, 3);
  int root = to_root ? checkroot(L, 3) : 0;
  lua_settop(L, 1);
  if (g_state != 1) return 1;
  MPI_Op mop = op == 0 || op == 3 ? MPI_SUM : op == 1 ? MPI_MAX : MPI_MIN;
  long long n = (long long)sp_array_size(a), theirs = n;
  // the same element count everywhere (a mismatch would corrupt memory, not just results)
  check(L, MPI_Bcast(&theirs, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "allreduce");
  if (theirs != n)
    return luaL_error(L,
                      "mpi.allreduce: rank %d holds an array of %I elements, rank %d one of %I "
                      "(every rank reduces the same shape)",
                      g_rank, (lua_Integer)n, root, (lua_Integer)theirs);
  void* send = g_rank == root ? MPI_IN_PLACE : a->data;
  check(L, MPI_Reduce(send, a->data, (int)n, MPI_DOUBLE, mop, root, MPI_COMM_WORLD), "allreduce");
  if (op == 3 && g_rank == root)
    for (long long i = 0; i < n; i++) a->data[i] /= g_size;
  if (!to_root) check(L, MPI_Bcast(a->data, (int)n, MPI_DOUBLE, root, MPI_COMM_WORLD), "allreduce");
  return 1;
}

static int l_gather_bytes(lua_State* L) {
  world(L);
  size_t n;
  const char* s = luaL_checklstring(L, 1, &n);
  int root = checkroot(L, 2);
  if (g_state != 1) {
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  if (n > 0x7fffffff) spA_argerror(L, 1, "expected at most 2 GiB, got %I", (lua_Integer)n);
  int len = (int)n;
  int* lens = g_rank == root ? (int*)spA_scratch_bytes(L, sizeof(int) * (size_t)g_size * 2) : NULL;
  check(L, MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, root, MPI_COMM_WORLD), "gather");
  char* buf = NULL;
  int* displs = NULL;
  if (g_rank == root) {
    displs = lens + g_size;
    long long total = 0;
    for (int i = 0; i < g_size; i++) {
      displs[i] = (int)total;
      total += lens[i];
    }
    if (total > 0x7fffffff) {
      // everyone else has sent already; the root cannot receive it
      return luaL_error(L, "mpi.gather: %I bytes in all, more than one gather can carry (2 GiB)",
                        (lua_Integer)total);
    }
    buf = spA_scratch_bytes(L, (size_t)total + 1);
  }
  check(L, MPI_Gatherv(s, len, MPI_BYTE, buf, lens, displs, MPI_BYTE, root, MPI_COMM_WORLD),
        "gather");
  if (g_rank != root) return 0;
  lua_createtable(L, g_size, 0);
  for (int i = 0; i < g_size; i++) {
    lua_pushlstring(L, buf + displs[i], (size_t)lens[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

#define MAXD 8

static int l_gather_rows(lua_State* L) {
  world(L);
  sp_array* a = checkflat(L, 1, "gather");
  int root = checkroot(L, 2);
  lua_settop(L, 1);
  if (a->ndim < 1 || a->ndim > MAXD)
    return spA_argerror(L, 1, "expected an array of 1 to %d dimensions, got %d", MAXD, a->ndim);
  if (g_state != 1) {
    lua_createtable(L, 1, 0);
    lua_pushinteger(L, a->shape[0]);
    lua_rawseti(L, -2, 1);
    return 2;
  }
  // every rank's shape: ndim, then the extents
  long long mine[MAXD + 1] = {a->ndim};
  for (int d = 0; d < a->ndim; d++) mine[d + 1] = a->shape[d];
  long long* shapes =
      g_rank == root ? spA_scratch_bytes(L, sizeof(long long) * (MAXD + 1) * (size_t)g_size) : NULL;
  check(L,
        MPI_Gather(mine, MAXD + 1, MPI_LONG_LONG, shapes, MAXD + 1, MPI_LONG_LONG, root,
                   MPI_COMM_WORLD),
        "gather");
  int *counts = NULL, *displs = NULL;
  sp_array* out = NULL;
  if (g_rank == root) {
    long long rows = 0, row = 1, total = 0;
    for (int d = 1; d < a->ndim; d++) row *= a->shape[d];
    for (int i = 0; i < g_size; i++) {
      const long long* s = shapes + (MAXD + 1) * i;
      int same = s[0] == a->ndim;
      for (int d = 1; same && d < a->ndim; d++) same = s[d + 1] == a->shape[d];
      if (!same) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int d = 0; d < s[0] && d < MAXD; d++) {
          lua_pushfstring(L, d ? ", %I" : "%I", (lua_Integer)s[d + 1]);
          luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        return luaL_error(L,
                          "mpi.gather: rank %d sent an array of shape (%s); rank %d's rows have "
                          "another shape (every rank gathers rows of the same shape)",
                          i, lua_tostring(L, -1), root);
      }
      rows += s[1];
    }
    total = rows * row;
    if (total > 0x7fffffff)
      return luaL_error(L, "mpi.gather: %I numbers in all, more than one gather can carry",
                        (lua_Integer)total);
    counts = spA_scratch_bytes(L, sizeof(int) * 2 * (size_t)g_size);
    displs = counts + g_size;
    long long at = 0;
    for (int i = 0; i < g_size; i++) {
      counts[i] = (int)(shapes[(MAXD + 1) * i + 1] * row);
      displs[i] = (int)at;
      at += counts[i];
    }
    int64_t shape[MAXD];
    for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[d];
    shape[0] = rows;
    out = spL_newarray(L, a->ndim, shape);
  }
  check(L,
        MPI_Gatherv(a->data, (int)sp_array_size(a), MPI_DOUBLE, out ? out->data : NULL, counts,
                    displs, MPI_DOUBLE, root, MPI_COMM_WORLD),
        "gather");
  if (g_rank != root) return 0;
  lua_createtable(L, g_size, 0);
  for (int i = 0; i < g_size; i++) {
    lua_pushinteger(L, shapes[(MAXD + 1) * i + 1]);
    lua_rawseti(L, -2, i + 1);
  }
  return 2;
}

static int l_array_bytes(lua_State* L) {
  sp_array* a = spL_checkarray(L, 1);
  size_t n = (size_t)sp_array_size(a);
  double* buf = spA_scratch(L, n ? n : 1);
  spA_gather(a, buf);
  lua_pushlstring(L, (const char*)buf, n * sizeof(double));
  return 1;
}

static int l_array_from_bytes(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  int64_t shape[MAXD];
  int ndim = spL_checkshape(L, 2, 2, shape);
  sp_array* a = spL_newarray(L, ndim, shape);
  if ((size_t)sp_array_size(a) * sizeof(double) != len)
    return spA_argerror(L, 1, "expected %I bytes for the shape, got %I",
                        (lua_Integer)(sp_array_size(a) * (int64_t)sizeof(double)),
                        (lua_Integer)len);
  memcpy(a->data, s, len);
  return 1;
}

static int l_abort(lua_State* L) {
  const char* msg = luaL_optstring(L, 1, "aborted");
  lua_Integer code = luaL_optinteger(L, 2, 1);
  world(L);
  fprintf(stderr, "spinal.mpi: rank %d of %d: %s\n", g_rank, g_size, msg);
  fflush(stderr);
  if (g_state == 1) MPI_Abort(MPI_COMM_WORLD, (int)code);
  exit((int)code);
}

// mark_failed(flag): how the world ends when the Lua state closes (MPI_Abort when set); the
// host sets it after a script error, spinal.mpi's os.exit for a non-zero status
static int l_mark_failed(lua_State* L) {
  lua_pushboolean(L, lua_toboolean(L, 1));
  lua_setfield(L, LUA_REGISTRYINDEX, "spinal.failed");
  return 0;
}

static const luaL_Reg functions[] = {
    {"launched", l_launched},
    {"init", l_init},
    {"initialized", l_initialized},
    {"barrier", l_barrier},
    {"bcast_bytes", l_bcast_bytes},
    {"bcast_array", l_bcast_array},
    {"reduce_array", l_reduce_array},
    {"gather_bytes", l_gather_bytes},
    {"gather_rows", l_gather_rows},
    {"array_bytes", l_array_bytes},
    {"array_from_bytes", l_array_from_bytes},
    {"abort", l_abort},
    {"mark_failed", l_mark_failed},
    {NULL, NULL},
};

// the hook's sum (reduce_hook.h): reduce to rank 0, then broadcast, as core.reduce_array does
static int hook_sum(void* ctx, sp_dtype dtype, void* x, size_t n) {
  (void)ctx;
  if (g_state != 1 || n == 0) return 0;
  if (n > 0x7fffffff) return SP_ERANGE;
  MPI_Datatype t = dtype == SP_F32 ? MPI_FLOAT : MPI_DOUBLE;
  void* send = g_rank == 0 ? MPI_IN_PLACE : x;
  if (MPI_Reduce(send, x, (int)n, t, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
      MPI_Bcast(x, (int)n, t, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return SP_EIO;
  return 0;
}

static spL_reduce_hook g_hook = {hook_sum, NULL};

int luaopen_spinal_mpi_core(lua_State* L) {
  lua_pushlightuserdata(L, &g_hook);
  lua_setfield(L, LUA_REGISTRYINDEX, SPL_REDUCE_HOOK_KEY);
  luaL_newlib(L, functions);
  return 1;
}
