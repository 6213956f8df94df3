-- ppo.lua: data-parallel PPO on spinal.mpi (tests/integration/mpi_ppo.sh runs it under
-- `mpirun -np 2` and as a plain process).
--   1. the same combined data: each rank collects its share of the environments (given
--      observations, actions and rewards, so the data do not depend on sampling) and
--      agent:data_parallel() averages over the ranks; after every update every rank holds the
--      same parameters, bit for bit, and they, the losses, the KL-driven learning rate and the
--      batch statistics match one process updating on the whole batch (float tolerance);
--   2. MuJoCo quadrupeds: each rank steps its own environments (seeded by rank) through
--      agent:iterate with 4 minibatches and the float32 networks; the ranks' rollouts differ and
--      their parameters are identical after every update.
local sp = require "spinal"
local ppo = require "spinal.ppo"
local mpi = sp.mpi
local A = sp.array
local T = dofile((debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or ".") .. "/common.lua")
local rank, size, check, same_everywhere = T.rank, T.size, T.check, T.same_everywhere


-- ---- 1. the same combined data --------------------------------------------------------------
local N_ENV, NOBS, NACT, NSTEPS, ITERS = 3, 5, 2, 6, 4
local function obs_of(it, t, g, j) return math.sin(0.3 * t + 0.7 * g + 1.1 * j + 0.5 * it) * (1 + 0.2 * j) end
local function act_of(it, t, g, j) return 0.5 * math.cos(0.2 * t + g + 0.9 * j + it) end
local function rew_of(it, t, g) return math.sin(0.1 * t * g + it) end
local function done_of(t, g) return (t + g) % 5 == 0 and 1 or 0 end

-- envs are the global indices first .. first + n - 1
local function train_given(first, n, parallel)
  local agent = ppo.new { nobs = NOBS, nact = NACT, nenvs = n, nsteps = NSTEPS, hidden = { 8 },
                          dtype = "f64", epochs = 3, minibatches = 1, seed = 4, lr = 3e-3,
                          desired_kl = 0.01 }
  if parallel then
    local r, s = agent:data_parallel()
    check(r == rank and s == size and agent.rank == rank and agent.ranks == size,
      "data_parallel returns rank and size")
  end
  local function block(it, t, f)
    local a = A.zeros(n, f == obs_of and NOBS or NACT)
    for i = 1, n do
      for j = 1, a.shape[2] do a[i][j] = f(it, t, first + i - 1, j) end
    end
    return a
  end
  local params, stats = {}, {}
  for it = 1, ITERS do
    for t = 1, NSTEPS do
      agent:collect(block(it, t, obs_of), block(it, t, act_of))
      local r, d = A.zeros(n), A.zeros(n)
      for i = 1, n do r[i], d[i] = rew_of(it, t, first + i - 1), done_of(t, first + i - 1) end
      agent:record(r, d)
    end
    stats[it] = agent:update(block(it, NSTEPS + 1, obs_of))
    params[it] = agent:params()
    if parallel then same_everywhere(params[it], ("update %d parameters"):format(it)) end
  end
  return params, stats, agent
end

local dp_params, dp_stats, dp_agent = train_given(rank * N_ENV + 1, N_ENV, true)
local err_ok, err_msg = pcall(function()
  dp_agent:collect(A.zeros(N_ENV, NOBS))
  dp_agent:data_parallel()
end)
check(not err_ok and tostring(err_msg):find(
  "data_parallel: a rollout is half collected (call it before collecting)", 1, true),
  "data_parallel refuses a half-collected rollout: " .. tostring(err_msg))

local worst = 0
if rank == 0 then
  local ref_params, ref_stats = train_given(1, N_ENV * size, false)
  local TOL = 1e-8
  local function close(a, b, what)
    local d = math.abs(a - b) / math.max(1, math.abs(b))
    worst = math.max(worst, d)
    check(d <= TOL, ("%s: %.17g against one process's %.17g"):format(what, a, b))
  end
  for it = 1, ITERS do
    for _, key in ipairs { "surrogate", "value_loss", "entropy", "kl", "lr", "mean_reward",
                           "mean_value", "mean_return" } do
      close(dp_stats[it][key], ref_stats[it][key], ("update %d %s"):format(it, key))
    end
    for k = 1, ref_params[it]:numel() do
      close(dp_params[it][k], ref_params[it][k], ("update %d parameter %d"):format(it, k))
    end
  end
  local moved = 0
  for k = 1, ref_params[ITERS]:numel() do
    moved = math.max(moved, math.abs(ref_params[ITERS][k] - ref_params[1][k]))
  end
  check(moved > 1e-4, "the parameters move over the updates")
end

-- ---- 2. MuJoCo quadrupeds, one set per rank -------------------------------------------------
local root = os.getenv "SPINAL_SOURCE_DIR" or (arg[0]:match "^(.*)/[^/]*$" or ".") .. "/../.."
local env = assert(ppo.quadruped { mjcf = root .. "/robots/quadruped.xml", nenvs = 4,
                                   threads = 1, seed = 1 + 1000 * rank })
local agent = ppo.new { env = env, nsteps = 8, hidden = { 32 }, epochs = 2, minibatches = 4,
                        seed = 9 }
agent:data_parallel()
local first = mpi.gather(env.obs:reshape(1, 4 * env.nobs))
if rank == 0 and size > 1 then
  local differ = false
  for k = 1, 4 * env.nobs do differ = differ or first[1][k] ~= first[2][k] end
  check(differ, "the ranks' environments start from different states")
end
for it = 1, 3 do
  local s = agent:iterate(env)
  check(s.steps == 8 and s.refused == 0, "eight optimiser steps")
  same_everywhere(agent:params(), ("quadruped update %d parameters"):format(it))
  local kl = mpi.gather(s.kl)
  if rank == 0 then
    for q = 2, size do check(kl[q] == kl[1], "every rank reports the same KL") end
  end
end

if rank == 0 then
  print(("spinal.mpi PPO: all checks passed on %d rank(s) (largest relative difference from "
    .. "one process: %.3g)"):format(size, worst))
end
