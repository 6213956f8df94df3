-- train.lua: data-parallel training and parallel data collection on spinal.mpi
-- (tests/integration/mpi_train.sh runs it under `mpirun -np 2` and as a plain process).
--   1. an nn MLP trained with SGD on a batch split across the ranks (gradients averaged by
--      allreduce_grads): after every step every rank holds the same parameters, bit for bit, and
--      the loss curve matches one process training on the whole batch (float tolerance);
--   2. method 1 on the car: feedback gradients of a batch of rollouts from different start states,
--      split across the ranks and averaged by allreduce: the same checks;
--   3. parallel data collection: each rank steps its own plant (the model backend; MuJoCo when
--      built); the transitions gathered on rank 0 are those of the same rollouts stepped by one
--      process.
local sp = require "spinal"
local mpi = sp.mpi
local A = sp.array
local T = dofile((debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or ".") .. "/common.lua")
local rank, size, check, same_everywhere = T.rank, T.size, T.check, T.same_everywhere
local TOL = 1e-9


local worst = 0  -- the largest relative difference from the single-process run
local function close(a, b, what)
  worst = math.max(worst, math.abs(a - b) / math.max(1, math.abs(b)))
  check(math.abs(a - b) <= TOL * math.max(1, math.abs(b)),
    ("%s: %.17g against the single-process %.17g"):format(what, a, b))
end

-- ---- 1. an MLP on a batch -------------------------------------------------------------------
local N, STEPS = 16 * size, 25
local rng = sp.rng.new(7)
local X = A.randn({ 16 * 2, 3 }, rng):narrow(1, 1, N):contiguous()  -- the same data everywhere
local Y = A.zeros(N, 2)
for i = 1, N do
  Y[i][1] = math.sin(X[i][1]) + X[i][2] * X[i][3]
  Y[i][2] = math.cos(X[i][2])
end

-- loss = mean over the rows given of |net(x) - y|^2 / 2; its gradient accumulated in net:grads()
local function loss_grad(net, x, y, denom)
  local out = net:forward(x)
  local g = A.zeros(x.shape[1], 2)
  local l = 0
  for i = 1, x.shape[1] do
    for j = 1, 2 do
      local d = out[i][j] - y[i][j]
      l = l + 0.5 * d * d / denom
      g[i][j] = d / denom
    end
  end
  net:zero_grad()
  net:backward(g)
  return l
end

local function train_mlp(parallel)
  local net = sp.nn.mlp { sizes = { 3, 16, 2 }, seed = 3, batch = N }
  local opt = sp.nn.sgd { lr = 0.1 }  -- plain SGD: the step scales with the gradient
  local losses = {}
  if parallel then
    mpi.broadcast_params(net)
    local rows = N // size  -- this rank's share of the batch: rows rank*rows+1 ..
    local x = X:narrow(1, rank * rows + 1, rows):contiguous()
    local y = Y:narrow(1, rank * rows + 1, rows):contiguous()
    for s = 1, STEPS do
      local l = loss_grad(net, x, y, rows)      -- the mean over this rank's rows
      mpi.allreduce_grads(net, "mean")          -- = the gradient of the mean over the batch
      losses[s] = mpi.allreduce(l, "mean")
      opt:step(net)
      same_everywhere(net:params(), ("mlp step %d parameters"):format(s))
    end
  else
    for s = 1, STEPS do
      losses[s] = loss_grad(net, X, Y, N)
      opt:step(net)
    end
  end
  return losses, net
end

local dp = train_mlp(true)
if rank == 0 then
  local ref = train_mlp(false)
  for s = 1, STEPS do close(dp[s], ref[s], ("mlp loss at step %d"):format(s)) end
  check(dp[STEPS] < 0.8 * dp[1], "the MLP learns")
end

-- ---- 2. method 1: feedback gradients of a batch of rollouts ----------------------------------
local F = require "spinal.figure8"
local run_lib = require "spinal.run"
local root = os.getenv "SPINAL_SOURCE_DIR" or (arg[0]:match "^(.*)/[^/]*$" or ".") .. "/../.."
local car = F.setup { gamma = 0.5, seconds = 7, seed = 2, hidden = { 16 },
                      robot = root .. "/robots/rc_car.lua" }
local K = 4                       -- rollouts per update, start states offset along x
local function start(k) return { car.x0[1] + 0.05 * (k - 1), car.x0[2], 0, car.x0[4] } end
local function batch_step(pol, opt, ks)
  local g, J = nil, 0
  for _, k in ipairs(ks) do
    local traj = run_lib.rollout(car.plant, pol, { steps = car.steps, x0 = start(k) })
    local gk, Jk = car:gradient(traj, pol)
    g = g and g + gk or gk:clone()
    J = J + Jk
  end
  return g, J
end
local function train_policy(parallel)
  local pol = car:new_policy(5)
  local opt = sp.nn.adam { lr = 3e-3 }
  local theta = pol:params()
  local costs, norms = {}, {}
  local ks = {}
  for k = 1, K do
    if not parallel or mpi.owner(k) == rank then ks[#ks + 1] = k end
  end
  for s = 1, 4 do
    local g, J = batch_step(pol, opt, ks)
    if parallel then
      mpi.allreduce(g, "sum")
      J = mpi.allreduce(J, "sum")
    end
    g = g / K
    costs[s], norms[s] = J / K, g:norm()
    opt:step(theta, g)
    if parallel then same_everywhere(theta, ("policy step %d parameters"):format(s)) end
  end
  return costs, norms
end
local pc, pn = train_policy(true)
if rank == 0 then
  local ref, rn = train_policy(false)
  for s = 1, #ref do
    close(pc[s], ref[s], ("policy batch cost at step %d"):format(s))
    close(pn[s], rn[s], ("policy gradient norm at step %d"):format(s))
  end
end

-- ---- 3. parallel data collection ------------------------------------------------------------
-- rollout e of 4 runs on rank owner(e); rank 0 receives every transition
local mine = {}
for e = 1, 4 do
  if mpi.owner(e) == rank then
    mine[#mine + 1] = run_lib.rollout(car.plant, car.policy, { steps = 50, x0 = start(e) })
  end
end
local data = mpi.gather_transitions(mine)
if rank == 0 then
  check(data.X.shape[1] == 4 * 50 and data.U.shape[2] == 2 and data.X_next.shape[2] == 4,
    "gathered transitions: 4 rollouts of 50 steps")
  check(#data.counts == size, "transition counts by rank")
  -- the same rollouts stepped here, in the gathered order (rank by rank, then episode)
  local at = 0
  for q = 0, size - 1 do
    local ep = 0
    for e = 1, 4 do
      if (e - 1) % size == q then
        ep = ep + 1
        local tr = run_lib.rollout(car.plant, car.policy, { steps = 50, x0 = start(e) })
        for k = 1, 50 do
          at = at + 1
          check(data.rank[at] == q and data.episode[at] == ep, "transition origin")
          for j = 1, 4 do
            check(data.X[at][j] == tr.X[k][j] and data.X_next[at][j] == tr.X[k + 1][j],
              "gathered states are the rollout's")
          end
          check(data.U[at][1] == tr.U[k][1] and data.U[at][2] == tr.U[k][2], "actions")
        end
      end
    end
  end
else
  check(data == nil, "transitions live on rank 0")
end
-- the same with MuJoCo: each rank opens and steps its own MuJoCo car
local has_mujoco = false
for _, b in ipairs(require("spinal.hal").backends()) do has_mujoco = has_mujoco or b == "mujoco" end
if has_mujoco then
  local mj = F.setup { gamma = 0.5, seconds = 7, seed = 2, hidden = { 16 }, plant = "mujoco",
                       robot = root .. "/robots/rc_car.lua" }
  local trajs = {}
  for e = 1, 2 * size do
    if mpi.owner(e) == rank then
      trajs[#trajs + 1] = run_lib.rollout(mj.plant, mj.policy, { steps = 40, x0 = start(e) })
    end
  end
  local d = mpi.gather_transitions(trajs)
  if rank == 0 then
    check(d.X.shape[1] == 2 * size * 40 and #d.counts == size, "MuJoCo transitions gathered")
    for q = 0, size - 1 do check(d.counts[q + 1] == 80, "MuJoCo transitions by rank") end
    for k = 1, d.X.shape[1] do
      check(d.X_next[k][1] == d.X_next[k][1] and d.flags[k] == d.flags[k], "finite MuJoCo states")
    end
    local moved = math.abs(d.X_next[d.X.shape[1]][1] - d.X[1][1]) + math.abs(d.X[80][3])
    check(moved > 0, "the MuJoCo cars moved")
  else
    check(d == nil, "MuJoCo transitions live on rank 0")
  end
end

if rank == 0 then
  print(("spinal.mpi training: all checks passed on %d rank(s) (largest relative difference from "
    .. "one process: %.3g)"):format(size, worst))
end
