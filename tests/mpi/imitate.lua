-- imitate.lua: method 2's loop (spinal.imitate) as one data-parallel job (L:data_parallel(),
-- lua/spinal/imitate_mpi.lua) on the MuJoCo quadruped, each rank stepping its own plant
-- (tests/integration/mpi_imitate.sh runs it under `mpirun -np 2` and as a plain process).
-- Checked after every iteration: every rank holds the same world model, policy, start records
-- and counters, bit for bit; each rank stepped its share of the iteration's transitions (odd
-- counts: the first rank one more); every rank's buffer holds all of them; the networks moved;
-- and the sample count after the last iteration is the budget. Then one data-parallel step of
-- each network against one process's step on the same whole batch (float tolerance).
local sp = require "spinal"
local mpi = sp.mpi
local A = sp.array
local imitate = require "spinal.imitate"
local T = dofile((debug.getinfo(1, "S").source:match "^@(.*)/[^/]*$" or ".") .. "/common.lua")
local rank, size, check, same_everywhere = T.rank, T.size, T.check, T.same_everywhere
local SRC = os.getenv "SPINAL_SOURCE_DIR" or "."

-- a clip of the standing pose walking forward at 0.3 m/s
local STAND = { 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8 }
local frames = {}
for i = 1, 80 do
  local row = { 0.3 * (i - 1) * 0.02, 0, 0.285, 1, 0, 0, 0 }
  for j = 1, 12 do row[7 + j] = STAND[j] + 0.1 * math.sin(i / 5 + j) end
  frames[i] = row
end
local clip = sp.motion.clip { frames = A(frames), frame_duration = 0.02 }

local robot = sp.robot.load(SRC .. "/robots/quadruped_joint.lua")
local plant = assert(sp.hal.open(robot, "mujoco"))
plant:activate()
local COLLECT, ITERS = 101, 3
local L = imitate.new { plant = plant, robot = robot, clips = { { clip = clip, name = "walk" } },
  seed = 3, wm_hidden = 16, wm_layers = 2, pol_hidden = 16, pol_layers = 2, lat = 4,
  wm_batch = 9, pol_batch = 7, wm_steps = 4, wm_iters = 3, pol_iters = 2, horizon = 4,
  collect = COLLECT, episode_steps = 30, offsets = { 1, 2 } }
L:data_parallel()
local p0 = { wm = L.model:params(), pol = L.pol:params() }
same_everywhere(p0.wm, "initial world model")

-- the start records as one array (clip, frame, state of every record)
local function starts(st)
  local rows = {}
  for i = 1, math.min(st.n, L.cfg.capacity) do
    local r = { st.clip[i], st.frame[i] }
    for j = 1, L.nx do r[2 + j] = st.s[i][j] end
    rows[i] = r
  end
  return A(rows)
end

for it = 1, ITERS do
  local r = L:iterate()
  check(r.iter == it and L.samples == it * COLLECT,
    ("iteration %d: %d samples, expected %d"):format(it, L.samples, it * COLLECT))
  check(L.buf.pushed == it * COLLECT, ("iteration %d: the buffer holds %d transitions, expected %d")
    :format(it, L.buf.pushed, it * COLLECT))
  local want = {}
  for q = 0, size - 1 do want[q + 1] = COLLECT // size + (q < COLLECT % size and 1 or 0) end
  for q = 1, size do
    check(L.par.stepped[q] == want[q], ("iteration %d: rank %d stepped %d transitions, expected %d")
      :format(it, q - 1, L.par.stepped[q], want[q]))
  end
  check(r.wm_loss == r.wm_loss and r.pol_loss == r.pol_loss, "losses are numbers")
  same_everywhere(L.model:params(), ("iteration %d world model"):format(it))
  same_everywhere(L.pol:params(), ("iteration %d policy"):format(it))
  same_everywhere(L.model:normalizers(), ("iteration %d normalisers"):format(it))
  same_everywhere(starts(L.starts), ("iteration %d start records"):format(it))
  same_everywhere(A { L.samples, L.episodes, r.falls, r.mean_length, r.wm_loss, r.pol_loss },
    ("iteration %d counters and losses"):format(it))
end
-- the steps do something (identical parameters that never move could not fail)
check((L.model:params() - p0.wm):abs():max() > 1e-4, "the world model's parameters move")
check((L.pol:params() - p0.pol):abs():max() > 1e-4, "the policy's parameters move")
-- the ranks stepped different episodes: rank 1's transitions are not rank 0's
if size > 1 then
  local s = L.starts.s
  check(s[1][1] ~= s[COLLECT // size + 2][1] or s[1][3] ~= s[COLLECT // size + 2][3],
    "rank 1 collected rank 0's transitions")
end

-- one data-parallel step is the one-process step on the whole batch (float32 networks: to float
-- tolerance): a copy of the networks and optimisers (saved and loaded) trains on the same batch
local tmp = os.tmpname()
local worst = 0
local function near(a, b, what)
  local d = (a - b):abs():max()
  worst = math.max(worst, d)
  -- 1% of one Adam step (lr 1e-3): the gradients differ in their last float32 bits only, but
  -- Adam divides by the gradients' own scale, so a near-zero component can move a little more
  check(d < 1e-5, ("%s: the data-parallel step differs from one process's by %.3g"):format(what, d))
end
do
  assert(L.model:save(tmp, L.wopt))
  local m1, o1 = assert(sp.wm.load(tmp))
  local S, Aa = L.buf:sample(L.cfg.wm_batch, L.cfg.wm_steps)
  local l1 = m1:train(S, Aa, o1)
  local l2 = L:wm_step(S, Aa)
  check(math.abs(l1 - l2) <= 1e-6 * math.abs(l1),
    ("world-model loss %.9g, one process %.9g"):format(l2, l1))
  near(L.model:params(), m1:params(), "world model")
  assert(L.pol:save(tmp, L.popt))
  local p1, q1 = assert(sp.wm.load_vae(tmp))
  local g = sp.rng.new(9)
  local S0, C, R = L:policy_batch(g, L.cfg.pol_batch, L.cfg.horizon)
  local eps = A.randn({ L.cfg.pol_batch, L.cfg.horizon, L.cfg.lat }, g)
  local k1 = p1:train(L.model, S0, C, R, eps, q1)
  local k2 = L:pol_step(S0, C, R, eps)
  check(math.abs(k1 - k2) <= 1e-6 * math.abs(k1),
    ("policy loss %.9g, one process %.9g"):format(k2, k1))
  near(L.pol:params(), p1:params(), "policy")
  os.remove(tmp)
end
same_everywhere(L.pol:params(), "policy after the compared step")
plant:close()
mpi.barrier()
if rank == 0 then print(("largest difference from one process's step: %.3g"):format(worst)) end
print(("imitate: %d samples (budget %d); all checks passed on %d rank%s (rank %d)"):format(
  L.samples, ITERS * COLLECT, size, size > 1 and "s" or "", rank))
