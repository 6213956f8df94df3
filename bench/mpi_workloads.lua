-- mpi_workloads.lua: the workloads bench/bench_mpi.sh times at 1 and 2 ranks (run by it, not by
-- bench/run's Lua loop: it needs mpirun). Prints one line on rank 0:
--   rollouts N_TRANSITIONS TOTAL_S COMM_S    each rank steps its share of R car rollouts on its own
--                                            model plant; the transitions gathered on rank 0
--   allreduce N_PARAMS MEDIAN_S              allreduce_grads (mean) of a 1 M-parameter network
--   train STEPS TOTAL_S COMM_S               data-parallel SGD on an MLP (32-256-256-8, 76 k
--                                            parameters), a batch of 4096 rows split over the ranks
--   wm STEPS TOTAL_S COMM_S                  data-parallel training of the default world model
--                                            (12 joints, 3 x 256 elu, float32, 148 k parameters):
--                                            256 windows of 8 steps split over the ranks, grad,
--                                            allreduce_grads, Adam (docs/distributed.md)
--   imitate SAMPLES TOTAL_S COMM_S          method 2's collection (spinal.imitate, L:data_parallel):
--                                            2000 transitions of the default VAE policy (with
--                                            noise) on MuJoCo quadrupeds, each rank its share on
--                                            its own plant, then every rank's transitions added
--                                            to every rank's buffer (COMM_S: that merge)
--   ppo SAMPLES TOTAL_S                     data-parallel PPO (agent:data_parallel): 32 MuJoCo
--                                            quadrupeds split over the ranks (one thread each), 3
--                                            iterations of 24 steps and the update (256-128 elu,
--                                            5 epochs of 4 minibatches)
-- Times are wall clock on rank 0 between barriers (launcher start-up excluded); each line ends
-- with the largest CPU time (os.clock) any rank spent on the workload: on a machine whose cores
-- are busy with other work, one process's CPU time over it is the speed-up the split would give
-- with a free core per rank.
local sp = require "spinal"
local host = require "spinal.host"
local mpi = sp.mpi
local what = arg[1] or "rollouts"
local rank = mpi.rank()

if what == "rollouts" then
  local root = (arg[0]:match "^(.*)/[^/]*$" or ".") .. "/.."
  local F = require "spinal.figure8"
  local run_lib = require "spinal.run"
  local R = tonumber(arg[2]) or 16
  local car = F.setup { gamma = 0.5, seed = 1, robot = root .. "/robots/rc_car.lua" }
  mpi.barrier()
  local t0, c0 = host.clock(), os.clock()
  local mine = {}
  for e = 1, R do
    if mpi.owner(e) == rank then
      local x0 = { car.x0[1] + 0.01 * e, car.x0[2], 0, car.x0[4] }
      mine[#mine + 1] = run_lib.rollout(car.plant, car.policy, { steps = car.steps, x0 = x0 })
    end
  end
  local t1 = host.clock()
  mpi.barrier()  -- waiting for the slowest rank is part of the cost of splitting the work
  local t2 = host.clock()
  local data = mpi.gather_transitions(mine)
  local t3 = host.clock()
  local cpu = mpi.allreduce(os.clock() - c0, "max")
  if rank == 0 then
    print(("rollouts %d %.6f %.6f %.6f %.6f"):format(data.X.shape[1], t3 - t0, t3 - t2, t2 - t1,
      cpu))
  end
elseif what == "train" then
  local A = sp.array
  local B, STEPS = 4096, 10
  local size = mpi.size()
  local rows = B // size
  local net = sp.nn.mlp { sizes = { 32, 256, 256, 8 }, seed = 1, batch = rows }
  local opt = sp.nn.sgd { lr = 1e-3 }
  local x = A.randn({ rows, 32 }, sp.rng.new(rank + 1))
  local g = A.full({ rows, 8 }, 1 / B)
  mpi.broadcast_params(net)
  mpi.barrier()
  local t0, c0, comm = host.clock(), os.clock(), 0
  for _ = 1, STEPS do
    net:zero_grad()
    net:forward(x)
    net:backward(g)
    local c0 = host.clock()
    mpi.allreduce_grads(net, "sum")
    comm = comm + host.clock() - c0
    opt:step(net)
  end
  local t1 = host.clock()
  local cpu = mpi.allreduce(os.clock() - c0, "max")
  if rank == 0 then print(("train %d %.6f %.6f %.6f"):format(STEPS, t1 - t0, comm, cpu)) end
elseif what == "wm" then
  local A = sp.array
  local B, N, STEPS = 256, 8, 10
  local size = mpi.size()
  local rows = B // size
  local model = sp.wm.new { nj = 12, nu = 12, dt = 0.02, seed = 1, batch = rows, horizon = N }
  local opt = sp.nn.adam { lr = 1e-3 }
  -- this rank's windows: small random states near the upright pose
  local g = sp.rng.new(rank + 1)
  local S = A.randn({ rows, N + 1, model.nx }, g) * 0.1
  for b = 1, rows do
    for k = 1, N + 1 do S[b][k][4] = 1 end
  end
  local Aw = A.randn({ rows, N, 12 }, g) * 0.1
  mpi.broadcast_params(model)
  model:grad(S, Aw)  -- warm the workspace
  mpi.barrier()
  local t0, c0, comm = host.clock(), os.clock(), 0
  for _ = 1, STEPS do
    model:grad(S, Aw)
    local c1 = host.clock()
    mpi.allreduce_grads(model, "mean")
    comm = comm + host.clock() - c1
    model:apply(opt)
  end
  local t1 = host.clock()
  local cpu = mpi.allreduce(os.clock() - c0, "max")
  if rank == 0 then print(("wm %d %.6f %.6f %.6f"):format(STEPS, t1 - t0, comm, cpu)) end
elseif what == "imitate" then
  local A = sp.array
  local imitate = require "spinal.imitate"
  local root = (arg[0]:match "^(.*)/[^/]*$" or ".") .. "/.."
  -- a walking clip (the standing pose moving forward, the joints swinging)
  local STAND = { 0, 0.9, -1.8 }
  local rows = {}
  for i = 1, 400 do
    local r = { 0.3 * (i - 1) * 0.02, 0, 0.285, 1, 0, 0, 0 }
    for j = 1, 12 do r[7 + j] = STAND[(j - 1) % 3 + 1] + 0.1 * math.sin(i / 5 + j) end
    rows[i] = r
  end
  local clip = sp.motion.clip { frames = A(rows), frame_duration = 0.02 }
  local robot = sp.robot.load(root .. "/robots/quadruped_joint.lua")
  local plant = assert(sp.hal.open(robot, "mujoco"))
  plant:activate()
  local L = imitate.new { plant = plant, robot = robot, clips = { { clip = clip } }, seed = 1,
                          collect = 2000, bootstrap = false }
  if mpi.size() > 1 then L:data_parallel(mpi) end
  -- the merge's time: wrap it
  local comm = 0
  if L.par then
    local merge = L.par.merge
    L.par.merge = function(...)
      local t = host.clock()
      local a, b = merge(...)
      comm = comm + host.clock() - t
      return a, b
    end
  end
  mpi.barrier()
  local t0, c0 = host.clock(), os.clock()
  L:collect()
  mpi.barrier()
  local t1 = host.clock()
  local cpu = mpi.allreduce(os.clock() - c0, "max")
  if rank == 0 then print(("imitate %d %.6f %.6f %.6f"):format(L.samples, t1 - t0, comm, cpu)) end
elseif what == "ppo" then
  local ppo = require "spinal.ppo"
  local root = (arg[0]:match "^(.*)/[^/]*$" or ".") .. "/.."
  local size = mpi.size()
  local E, ITERS = 32, 3
  local env = assert(ppo.quadruped { mjcf = root .. "/robots/quadruped.xml", nenvs = E // size,
                                     threads = 1, seed = 1 + 1000 * rank })
  local agent = ppo.new { env = env, nsteps = 24, hidden = { 256, 128 }, seed = 1 }
  agent:data_parallel()
  mpi.barrier()
  local t0, c0, samples = host.clock(), os.clock(), 0
  for _ = 1, ITERS do samples = samples + agent:iterate(env).samples * size end
  mpi.barrier()
  local t1 = host.clock()
  local cpu = mpi.allreduce(os.clock() - c0, "max")
  if rank == 0 then print(("ppo %d %.6f %.6f"):format(samples, t1 - t0, cpu)) end
elseif what == "allreduce" then
  -- a network of 999 inputs and 1000 outputs: 1,000,000 parameters
  local net = sp.nn.mlp { sizes = { 999, 1000 }, seed = rank + 1 }
  local n = net.nparams
  local times = {}
  for i = 1, 15 do
    mpi.barrier()
    local t0 = host.clock()
    mpi.allreduce_grads(net, "mean")
    times[i] = host.clock() - t0
  end
  table.sort(times)
  if rank == 0 then print(("allreduce %d %.6f"):format(n, times[8])) end
end
