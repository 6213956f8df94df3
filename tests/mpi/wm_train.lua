-- wm_train.lua: data-parallel training of method 2's world model and VAE policy on spinal.mpi
-- (tests/integration/mpi_train.sh runs it under `mpirun -np 2` and as a plain process).
-- Rank 0's normalisers go to every rank (model:normalizers, mpi.broadcast, set_normalizers).
-- Each rank takes its share of a batch, computes the gradient of its rows (model:grad,
-- pol:grad), the gradients are averaged by allreduce_grads and every rank applies the same
-- optimiser step (apply). Checked after every step, for float64 and float32 networks:
--   every rank holds the same parameters, bit for bit;
--   the loss curve is that of one process training on the combined batch (float tolerance:
--   1e-9 relative in float64, 1e-6 in float32, where the per-rank sums are rounded to float32).
local sp = require "spinal"
local mpi = sp.mpi
local wm = sp.wm
local A = sp.array
local T = dofile((debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or ".") .. "/common.lua")
local rank, size, check, same_everywhere = T.rank, T.size, T.check, T.same_everywhere


local worst = { f64 = 0, f32 = 0 }  -- the largest relative difference from one process
local TOL = { f64 = 1e-9, f32 = 1e-6 }
local function close(a, b, dtype, what)
  local rel = math.abs(a - b) / math.max(1e-12, math.abs(b))
  worst[dtype] = math.max(worst[dtype], rel)
  check(rel <= TOL[dtype], ("%s: %.17g against the single-process %.17g"):format(what, a, b))
end

-- rows [rank * n + 1, (rank + 1) * n] of x along the first dimension
local function share(x, n) return x:narrow(1, rank * n + 1, n):contiguous() end

-- ---- the data: a damped joint driven by the first action (the same on every rank) -----------
local NJ, NU, DT = 2, 2, 0.05
local function state(q, v)
  local s = A.zeros(13 + 2 * NJ)
  s[3], s[4], s[14], s[16] = 1, 1, q, v
  return s
end
local T = 1500
local buf = wm.replay { nx = 17, nu = NU, capacity = 2000, seed = 11 }
local S_obs, A_obs, S1_obs = A.zeros(T, 17), A.zeros(T, NU), A.zeros(T, 17)
do
  local g = sp.rng.new(3)
  local q, v = 0, 0
  for t = 1, T do
    local a = 2 * g:normal()
    local s = state(q, v)
    v = v + DT * (a - q - 0.5 * v)
    q = q + DT * v
    local s1 = state(q, v)
    buf:push(s, { a, 0 }, s1, t % 300 == 0)
    S_obs[t]:copy(s)
    S1_obs[t]:copy(s1)
    A_obs[t][1] = a
  end
end

local RB, STEPS = 16, 8  -- rows per rank, steps
local N = RB * size       -- the combined batch
-- the combined batches of every step, drawn once (the same windows on every rank)
local batches = {}
for s = 1, STEPS do
  local S, Aw = buf:sample(N, 4)
  batches[s] = { S = S, A = Aw }
end

-- parallel: rank 0 observes the transitions and gives every rank its normalisers (broadcast);
-- one process observes them itself
local function new_model(dtype, parallel)
  local m = wm.new { nj = NJ, nu = NU, dt = DT, hidden = 16, layers = 2, seed = 5,
                     dtype = dtype, batch = N, horizon = 6 }
  if not parallel or rank == 0 then m:observe(S_obs, A_obs, S1_obs) end
  if parallel then
    m:set_normalizers(mpi.broadcast(m:normalizers()))
    check(m.samples == T, "normalisers broadcast")
  end
  return m
end

-- ---- 1. the world model ---------------------------------------------------------------------
local function train_wm(dtype, parallel)
  local m = new_model(dtype, parallel)
  local opt = sp.nn.adam { lr = 3e-3 }
  local losses = {}
  if parallel then mpi.broadcast_params(m) end
  for s = 1, STEPS do
    local S, Aw = batches[s].S, batches[s].A
    if parallel then
      local l = m:grad(share(S, RB), share(Aw, RB))  -- the mean over this rank's windows
      mpi.allreduce_grads(m, "mean")                  -- = the gradient of the combined mean
      losses[s] = mpi.allreduce(l, "mean")
      m:apply(opt)
      same_everywhere(m:params(), ("%s world model step %d parameters"):format(dtype, s))
    else
      losses[s] = m:train(S, Aw, opt)
    end
  end
  return losses, m
end

local models = {}
for _, dtype in ipairs { "f64", "f32" } do
  local dp, m = train_wm(dtype, true)
  models[dtype] = m
  if rank == 0 then
    local ref = train_wm(dtype, false)
    for s = 1, STEPS do close(dp[s], ref[s], dtype, ("%s world-model loss at step %d"):format(dtype, s)) end
    -- the steps do something (a test of equal parameters that never move could not fail)
    check((m:params() - new_model(dtype):params()):abs():max() > 1e-3,
      dtype .. " world-model parameters move")
  end
end

-- ---- 2. the VAE policy through the (trained, now frozen) world model ------------------------
local H, LAT = 6, 3
local rng = sp.rng.new(21)
local S0 = A.zeros(N, 17)
local C, R = A.zeros(N, H, 1), A.zeros(N, H, 17)
for b = 1, N do
  S0[b][3], S0[b][4] = 1, 1
  local target = ((b - 1) % 5) * 0.2 - 0.4
  for k = 1, H do
    C[b][k][1] = target
    R[b][k][3], R[b][k][4], R[b][k][14] = 1, 1, target
  end
end
local EPS = A.randn({ N, H, LAT }, rng)

local function new_policy(dtype)
  return wm.vae { nj = NJ, nu = NU, nc = 1, lat = LAT, hidden = 16, layers = 2, seed = 8,
                  dtype = dtype, batch = N, horizon = H }
end

local function train_vae(dtype, parallel)
  local pol = new_policy(dtype)
  local opt = sp.nn.adam { lr = 3e-3 }
  local m = models[dtype]
  local losses = {}
  if parallel then mpi.broadcast_params(pol) end
  for s = 1, STEPS do
    if parallel then
      local l = pol:grad(m, share(S0, RB), share(C, RB), share(R, RB), share(EPS, RB))
      mpi.allreduce_grads(pol, "mean")
      losses[s] = mpi.allreduce(l, "mean")
      pol:apply(opt)
      same_everywhere(pol:params(), ("%s policy step %d parameters"):format(dtype, s))
    else
      losses[s] = pol:train(m, S0, C, R, EPS, opt)
    end
  end
  return losses, pol
end

for _, dtype in ipairs { "f64", "f32" } do
  local dp, pol = train_vae(dtype, true)
  if rank == 0 then
    local ref = train_vae(dtype, false)
    for s = 1, STEPS do close(dp[s], ref[s], dtype, ("%s policy loss at step %d"):format(dtype, s)) end
    check((pol:params() - new_policy(dtype):params()):abs():max() > 1e-3,
      dtype .. " policy parameters move")
  end
end

mpi.barrier()
if rank == 0 then
  print(("largest relative difference from one process: %.3g (f64), %.3g (f32)"):format(
    worst.f64, worst.f32))
end
print(("all checks passed on %d rank%s (rank %d)"):format(size, size > 1 and "s" or "", rank))
