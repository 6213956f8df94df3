-- imitate.lua: method 2's alternating loop on a floating-base robot at the joint level
-- (spinal.imitate; docs/method2.md, "The loop"): collect transitions with the current VAE policy on
-- the plant, train the world model a few batches, train the policy a few batches through it,
-- repeat within a simulator-sample budget; checkpoint everything so a run resumes exactly.
--
--   local imitate = require "spinal.imitate"
--   local robot = sp.robot.load "robots/quadruped_joint.lua"
--   local plant = sp.run.open_plant(robot, "mujoco", "me")     -- or "udp://host:port"
--   local L = imitate.new { plant = plant, robot = robot, clips = train_clips, seed = 1 }
--   while L.samples < budget do L:iterate() ; L:save(dir) end
--   local m = L:evaluate(test_clip, { seconds = 10 })   -- on the plant, not in the world model
--   local L2 = imitate.load(dir, { plant = plant, robot = robot, clips = train_clips })
--
-- The plant is driven tick by tick through the HAL exactly as a robot is (read, act, write): a
-- robot behind `spinal bridge` works the same way. Its state is MuJoCo's (qpos, qvel) as
-- robots/quadruped_joint.lua names it: position, quaternion w x y z, joints, then the free joint's
-- linear velocity in the WORLD frame, its angular velocity in the BODY frame and the joint
-- velocities. The world model's layout is [p, q, v_body, w_body, qj, qd] (docs/api/wm.md):
-- M.to_wm and M.to_plant convert (the linear velocity is rotated into the body frame).
--
-- Episodes start from a reference state of a training clip (a random clip and time; plants that
-- cannot reset start where the robot is, the reference aligned to it), end on a fall (trunk below
-- fall_height or tilted more than fall_tilt rad), when the joints are further than far_joint rad
-- (mean) from the reference, or after episode_steps ticks.
--
-- The encoder's conditioning at step k (state-independent, so the policy's training through the
-- world model sees the same data as the plant): for each offset o in `offsets` (ticks ahead) the
-- reference frame at k + o as features [height, up direction in its body frame, body velocities,
-- joints, joint velocities] and its planar displacement and heading change from the reference
-- frame at k, in that frame's heading frame: 37 numbers per offset for 12 joints.
local A = require "spinal.array"
local wm = require "spinal.wm"
local nn = require "spinal.nn"
local rng = require "spinal.rng"
local json = require "spinal.json"

local M = {}
local Loop = {}
Loop.__index = Loop
M.Loop = Loop

M.defaults = {
  seed = 1,
  dt = 0.02,
  -- world model
  wm_hidden = 256, wm_layers = 3, wm_lr = 1e-3, wm_batch = 128, wm_steps = 8, wm_iters = 60,
  -- policy
  pol_hidden = 256, pol_layers = 2, lat = 32, pol_lr = 1e-3, pol_batch = 128, horizon = 24,
  pol_iters = 50, beta = 0.01, sigma = 0.3,
  offsets = { 1, 2, 5, 15 },
  -- collection
  collect = 2000,          -- plant transitions per iteration
  episode_steps = 250,     -- longest episode (ticks)
  act_noise = 0.05,        -- rad, Gaussian, on the PD targets while collecting
  bootstrap = true,        -- iteration 1 plays the reference's joints (open loop) as targets
  capacity = 200000,
  fall_height = 0.15, fall_tilt = 1.0, far_joint = 0.6,
}

-- ---- states ---------------------------------------------------------------------------------

-- rotate v by the unit quaternion (w, x, y, z) (body to world); inverse = true: world to body
local function qrot(w, x, y, z, v1, v2, v3, inverse)
  if inverse then x, y, z = -x, -y, -z end
  -- t = 2 q_vec x v ; v' = v + w t + q_vec x t
  local t1 = 2 * (y * v3 - z * v2)
  local t2 = 2 * (z * v1 - x * v3)
  local t3 = 2 * (x * v2 - y * v1)
  return v1 + w * t1 + (y * t3 - z * t2), v2 + w * t2 + (z * t1 - x * t3),
         v3 + w * t3 + (x * t2 - y * t1)
end
M.qrot = qrot

local function yaw_of(w, x, y, z)
  return math.atan(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
end

-- plant state (qpos, qvel: 7 + nj, 6 + nj) -> world-model state (Lua table, nx = 13 + 2 nj)
function M.to_wm(x, nj)
  local s = {}
  for i = 1, 7 do s[i] = x[i] end
  local w, qx, qy, qz = x[4], x[5], x[6], x[7]
  local o = 7 + nj
  s[8], s[9], s[10] = qrot(w, qx, qy, qz, x[o + 1], x[o + 2], x[o + 3], true)
  s[11], s[12], s[13] = x[o + 4], x[o + 5], x[o + 6]
  for j = 1, nj do
    s[13 + j] = x[7 + j]
    s[13 + nj + j] = x[o + 6 + j]
  end
  return s
end

-- world-model state -> plant state (the inverse of M.to_wm)
function M.to_plant(s, nj)
  local x = {}
  for i = 1, 7 do x[i] = s[i] end
  local o = 7 + nj
  for j = 1, nj do
    x[7 + j] = s[13 + j]
    x[o + 6 + j] = s[13 + nj + j]
  end
  x[o + 1], x[o + 2], x[o + 3] = qrot(s[4], s[5], s[6], s[7], s[8], s[9], s[10], false)
  x[o + 4], x[o + 5], x[o + 6] = s[11], s[12], s[13]
  return x
end

-- ---- clips at the control rate ---------------------------------------------------------------

-- a clip sampled at the loop's rate (frames as Lua tables of world-model states) with the encoder's
-- conditioning of every frame precomputed
function M.reference(clip, dt, offsets, name)
  local n = math.floor(clip.duration / dt + 1e-9) + 1
  local nj = clip.nj
  local ref = { name = name, n = n, nj = nj, dt = dt, frames = {}, cond = {} }
  for i = 1, n do
    local s = clip:sample((i - 1) * dt)
    local t = {}
    for j = 1, clip.nx do t[j] = s[j] end
    ref.frames[i] = t
  end
  local function frame(i) return ref.frames[math.max(1, math.min(n, i))] end
  for i = 1, n do
    local r0 = frame(i)
    local yaw0 = yaw_of(r0[4], r0[5], r0[6], r0[7])
    local cy, sy = math.cos(yaw0), math.sin(yaw0)
    local c = {}
    for _, o in ipairs(offsets) do
      local r = frame(i + o)
      c[#c + 1] = r[3]
      local u1, u2, u3 = qrot(r[4], r[5], r[6], r[7], 0, 0, 1, true)
      local m = #c
      c[m + 1], c[m + 2], c[m + 3] = u1, u2, u3
      for j = 8, 13 + 2 * nj do c[#c + 1] = r[j] end
      local dx, dy = r[1] - r0[1], r[2] - r0[2]
      c[#c + 1] = cy * dx + sy * dy
      c[#c + 1] = -sy * dx + cy * dy
      local dyaw = yaw_of(r[4], r[5], r[6], r[7]) - yaw0
      c[#c + 1] = math.atan(math.sin(dyaw), math.cos(dyaw))
    end
    ref.cond[i] = c
  end
  ref.nc = #ref.cond[1]
  return ref
end

function M.nc(nj, offsets)
  return #offsets * (10 + 2 * nj + 3)
end

-- the reference frame i (clamped to the clip) moved rigidly in the plane so that frame i0 has the
-- horizontal position and heading of state s0 (align = { dyaw, cx, cy, rx, ry }): a Lua table
local function aligned(ref, i, al)
  local r = ref.frames[math.max(1, math.min(ref.n, i))]
  if not al then return r end
  local out = {}
  for j = 1, #r do out[j] = r[j] end
  local c, s = math.cos(al.dyaw), math.sin(al.dyaw)
  local dx, dy = r[1] - al.rx, r[2] - al.ry
  out[1] = al.cx + c * dx - s * dy
  out[2] = al.cy + s * dx + c * dy
  local h = al.dyaw / 2
  local zw, zz = math.cos(h), math.sin(h)  -- qz(dyaw) * q
  local w, x, y, z = r[4], r[5], r[6], r[7]
  out[4], out[5], out[6], out[7] = zw * w - zz * z, zw * x - zz * y, zw * y + zz * x, zw * z + zz * w
  return out
end

local function alignment(ref, i0, s0)
  local r = ref.frames[math.max(1, math.min(ref.n, i0))]
  local dyaw = yaw_of(s0[4], s0[5], s0[6], s0[7]) - yaw_of(r[4], r[5], r[6], r[7])
  return { dyaw = dyaw, cx = s0[1], cy = s0[2], rx = r[1], ry = r[2] }
end
M.aligned, M.alignment = aligned, alignment

-- ---- the loop --------------------------------------------------------------------------------

local function merged(opts)
  local c = {}
  for k, v in pairs(M.defaults) do c[k] = v end
  for k, v in pairs(opts or {}) do
    if M.defaults[k] ~= nil then c[k] = v end
  end
  return c
end

-- opts: plant (a HAL plant of the robot), robot (spinal.robot), clips (list of { clip =, name = }
-- or of spinal.motion clips), and the settings of M.defaults
function M.new(opts)
  local self = setmetatable({}, Loop)
  self:init(opts)
  local c = self.cfg
  self.model = wm.new { nj = self.nj, nu = self.nu, dt = c.dt, hidden = c.wm_hidden,
                        layers = c.wm_layers, seed = c.seed, batch = c.wm_batch,
                        horizon = math.max(c.wm_steps, 24) }
  self.wopt = nn.adam { lr = c.wm_lr, clip = 1 }
  self.pol = wm.vae { nj = self.nj, nu = self.nu, nc = self.nc, lat = c.lat, hidden = c.pol_hidden,
                      layers = c.pol_layers, a_nom = self.a_nom, sigma = c.sigma, beta = c.beta,
                      seed = c.seed + 1000, batch = c.pol_batch, horizon = c.horizon }
  self.popt = nn.adam { lr = c.pol_lr, clip = 1 }
  self.buf = wm.replay { nx = self.nx, nu = self.nu, capacity = c.capacity, seed = c.seed }
  self.iter, self.samples, self.episodes = 0, 0, 0
  self.starts = { n = 0, clip = {}, frame = {}, s = {} }
  return self
end

-- the sizes a quick run pre-trains with (tests: seconds, not minutes), over M.defaults
M.quick = { wm_hidden = 64, wm_layers = 2, pol_hidden = 64, lat = 16, wm_batch = 32, pol_batch = 32,
            wm_iters = 30, pol_iters = 4, horizon = 8, collect = 600, episode_steps = 100 }

-- a loop trained from nothing on `samples` transitions (whole collection rounds of cfg.collect),
-- with a progress bar: opts as M.new's; o.quick: M.quick's sizes over opts, o.label: the bar's
function M.pretrain(opts, samples, o)
  o = o or {}
  local lo = {}
  for k, v in pairs(opts) do lo[k] = v end
  if o.quick then for k, v in pairs(M.quick) do lo[k] = v end end
  local L = M.new(lo)
  local iters = math.ceil(samples / L.cfg.collect)
  local bar = require("spinal.progress") { total = iters, label = o.label or "imitate" }
  while L.iter < iters do
    local r = L:iterate()
    bar:update(r.iter, { wm = r.wm_loss, pol = r.pol_loss })
  end
  bar:done()
  return L
end

function Loop:init(opts)
  assert(type(opts) == "table" and opts.plant and opts.robot and opts.clips,
    "imitate.new: expected { plant =, robot =, clips = {...} }")
  self.cfg = merged(opts)
  self.plant, self.robot = opts.plant, opts.robot
  self.nu = self.plant.nu
  self.nj = self.nu
  self.nx = 13 + 2 * self.nj
  if self.plant.nx ~= self.nx then
    error(("imitate: the plant's state has %d entries, expected %d (qpos, qvel of a floating "
      .. "base with %d joints)"):format(self.plant.nx, self.nx, self.nj), 2)
  end
  self.nc = M.nc(self.nj, self.cfg.offsets)
  -- the nominal pose the decoder is a residual on: the robot's safe command (standing)
  local safe = self.robot.safety and self.robot.safety.safe
  if type(safe) ~= "table" or #safe ~= self.nu then
    error("imitate: the robot needs safety.safe_command (the standing pose, one target per "
      .. "action)", 2)
  end
  self.a_nom = {}
  for j = 1, self.nu do self.a_nom[j] = safe[j] end
  local lim = self.robot.limits or {}
  self.lo, self.hi = {}, {}
  for j = 1, self.nu do
    self.lo[j] = lim.action_min and lim.action_min[j] or -math.huge
    self.hi[j] = lim.action_max and lim.action_max[j] or math.huge
  end
  self.refs = {}
  for i, cl in ipairs(opts.clips) do
    local clip, name = cl, "clip" .. i
    if type(cl) == "table" and cl.clip then clip, name = cl.clip, cl.name or name end
    if clip.nj ~= self.nj then
      error(("imitate: clip %s has %d joints, the robot %d"):format(name, clip.nj, self.nj), 2)
    end
    self.refs[i] = M.reference(clip, self.cfg.dt, self.cfg.offsets, name)
  end
end

-- a generator for one purpose of one iteration: resuming needs no generator state
function Loop:rng(purpose)
  return rng.new(self.cfg.seed, self.iter * 16 + purpose)
end

-- the loop's fall test on a state (the world model's layout): trunk below fall_height or tilted
-- more than fall_tilt
function Loop:fell(s)
  local _, _, upz = qrot(s[4], s[5], s[6], s[7], 0, 0, 1, false)
  return s[3] < self.cfg.fall_height or upz < math.cos(self.cfg.fall_tilt)
end

local function joint_error(self, s, r)
  local e = 0
  for j = 1, self.nj do e = e + math.abs(s[13 + j] - r[13 + j]) end
  return e / self.nj
end

local function clamp_action(self, a)
  for j = 1, self.nu do a[j] = math.max(self.lo[j], math.min(self.hi[j], a[j])) end
  return a
end

-- the plant's state as the world model's; a plant that cannot give one (a robot over udp that
-- stopped answering) raises its reason
function M.read(plant, nj)
  local x, err = plant:read()
  if not x then error("the robot's state: " .. tostring(err), 0) end
  return M.to_wm(x, nj)
end

-- the operator, asked on the terminal: the question on stderr, the answer a line of stdin; nil
-- without a terminal on both (a script, CI: nobody to ask)
function M.ask_operator(question)
  local ok, host = pcall(require, "spinal.host")
  if not (ok and host.isatty(io.stdin) and host.isatty(io.stderr)) then return nil end
  io.stderr:write(question, " ")
  io.stderr:flush()
  return io.stdin:read "l"
end

-- where an episode starts on a robot the host cannot reset (over udp), the robot must stand:
-- one that lies fallen (fell(s), s its world-model state) is stood up by a person. On a terminal
-- the operator is asked to (Enter when it stands, q to stop the run) and the session re-armed;
-- without one the run stops with an error saying so (ask(question) -> the answer line, or nil:
-- nobody to ask; default M.ask_operator). Returns the robot's world-model state, upright.
function M.stand_up(plant, fell, nj, ask)
  local s = M.read(plant, nj)
  ask = ask or M.ask_operator
  while fell(s) do
    local why = ("the robot is down (trunk at %.2f m) and the host cannot reset it (%s)")
      :format(s[3], tostring(plant.backend))
    local answer = ask(why .. ": stand it up, then press Enter (q and Enter stops the run)")
    if answer == nil then
      error(why .. " and there is no terminal to ask the operator to stand it up: stand it up "
        .. "and run again (a simulator behind `spinal bridge --reset-on-session` is stood up on "
        .. "each new session)", 0)
    end
    if answer:match "^%s*[qQ]" then error(why .. ": stopped by the operator", 0) end
    if plant.rearm then plant:rearm() end
    s = M.read(plant, nj)
  end
  return s
end

-- an episode's start on a plant the host cannot reset: a new session over udp (rearm), then the
-- robot where it stands, stood up first when fell says it lies fallen (M.stand_up; fell nil: not
-- checked). Returns its world-model state.
function M.start_in_place(plant, fell, nj)
  if plant.backend == "udp" then plant:rearm() end
  if fell then return M.stand_up(plant, fell, nj) end
  return M.read(plant, nj)
end

-- start an episode on the plant at frame i0 of ref: reset to it when the plant can, else start
-- where the robot is (M.start_in_place); returns the world-model state and the alignment of the
-- reference
function Loop:start_episode(ref, i0)
  local p = self.plant
  local s
  if p.can_reset ~= false then
    p:reset(M.to_plant(ref.frames[i0], self.nj))
    s = M.read(p, self.nj)
  else
    s = M.start_in_place(p, function(x) return self:fell(x) end, self.nj)
  end
  local al = nil
  if p.can_reset == false then al = alignment(ref, i0, s) end
  return s, al
end

-- one episode of at most `steps` ticks; mode: "policy" (posterior with latent noise g, action
-- noise), "mean" (posterior mean, no noise: evaluation), "reference" (the reference's joints as
-- targets). on_step(k, s, a, s1, r1) for every transition. Returns ticks done, fell
function Loop:episode(ref, i0, steps, mode, g, on_step)
  local c = self.cfg
  local s, al = self:start_episode(ref, i0)
  local lat = c.lat
  for k = 0, steps - 1 do
    local i = i0 + k
    local a
    if mode == "reference" then
      local r = ref.frames[math.min(ref.n, i + 1)]
      a = {}
      for j = 1, self.nu do a[j] = r[13 + j] end
    else
      local eps = nil
      if mode == "policy" then
        eps = {}
        for j = 1, lat do eps[j] = g:normal() end
        eps = A(eps)
      end
      local at = self.pol:act(A(s), A(ref.cond[math.min(ref.n, i)]), eps)
      a = {}
      for j = 1, self.nu do a[j] = at[j] end
    end
    if mode ~= "mean" and c.act_noise > 0 then
      for j = 1, self.nu do a[j] = a[j] + c.act_noise * g:normal() end
    end
    clamp_action(self, a)
    self.plant:write(a)
    local s1 = M.read(self.plant, self.nj)
    local r1 = aligned(ref, i + 1, al)
    local down = self:fell(s1)
    local far = joint_error(self, s1, r1) > c.far_joint
    local last = down or (mode ~= "mean" and far) or k == steps - 1
    if on_step then on_step(k, s, a, s1, r1, last, i) end
    s = s1
    if down then return k + 1, true end
    if last then return k + 1, false end
  end
  return steps, false
end

-- collect cfg.collect transitions into the replay buffer (and their start records). Under
-- L:data_parallel() (spinal.imitate_mpi) each rank steps its own plant for its share of them
-- (self.par:share, its own generator) and every rank adds every rank's transitions, in rank order
-- (self.par:merge), so all hold the same buffer, start records and normalisers.
function Loop:collect()
  local c = self.cfg
  local par = self.par
  local g = par and par:rng(1) or self:rng(1)
  local want = par and par:share(c.collect) or c.collect
  local got, falls, lens = 0, 0, {}
  local mode = (self.iter == 0 and c.bootstrap) and "reference" or "policy"
  local T = { S = {}, A = {}, S1 = {}, done = {}, clip = {}, frame = {} }
  while got < want do
    local ci = g:integer(#self.refs)
    local ref = self.refs[ci]
    local last_start = math.max(1, ref.n - 2)
    local i0 = g:integer(last_start)
    local steps = math.min(c.episode_steps, want - got, ref.n - i0)
    if steps < 1 then steps = 1 end
    local n, down = self:episode(ref, i0, steps, mode, g, function(_, s, a, s1, _, last, i)
      local m = #T.S + 1
      T.S[m], T.A[m], T.S1[m], T.done[m], T.clip[m], T.frame[m] = s, a, s1, last, ci, i
    end)
    got = got + n
    lens[#lens + 1] = n
    if down then falls = falls + 1 end
  end
  local length = 0
  for _, n in ipairs(lens) do length = length + n end
  local stats = { transitions = got, episodes = #lens, falls = falls, length = length }
  if par then T, stats = par:merge(T, stats) end
  local st = self.starts
  for m = 1, #T.S do
    self.buf:push(T.S[m], T.A[m], T.S1[m], T.done[m])
    -- the start record of this transition for the policy's training (a ring like the buffer)
    local slot = st.n % c.capacity + 1
    st.n = st.n + 1
    st.clip[slot], st.frame[slot], st.s[slot] = T.clip[m], T.frame[m], T.S[m]
  end
  self.model:observe(A(T.S), A(T.A), A(T.S1))
  self.samples = self.samples + stats.transitions
  self.episodes = self.episodes + stats.episodes
  return { transitions = stats.transitions, episodes = stats.episodes, falls = stats.falls,
           mean_length = stats.length / stats.episodes }
end

-- one optimiser step of the world model and of the policy on a batch (data_parallel replaces
-- them on the instance by steps on this rank's rows with the gradients averaged over the ranks)
function Loop:wm_step(S, Aa)
  return self.model:train(S, Aa, self.wopt)
end

function Loop:pol_step(S0, C, R, eps)
  return self.pol:train(self.model, S0, C, R, eps, self.popt)
end

-- run the loop as one job over the ranks of an MPI run (docs/distributed.md): collection split,
-- training data-parallel, the same parameters on every rank after every step
function Loop:data_parallel(mpi)
  return require("spinal.imitate_mpi").attach(self, mpi)
end

function Loop:train_wm()
  local c = self.cfg
  local loss, parts = 0, nil
  for _ = 1, c.wm_iters do
    local S, Aa = self.buf:sample(c.wm_batch, c.wm_steps)
    if not S then return nil end
    loss, parts = self:wm_step(S, Aa)
  end
  return loss, parts
end

-- the start state s0 moved rigidly in the plane so that its horizontal position and heading are
-- those of reference frame i0 (the world model and the policy do not see either, so this equals
-- aligning the reference to s0): a new Lua table
local function to_reference(ref, i0, s0)
  local r = ref.frames[math.max(1, math.min(ref.n, i0))]
  local d = yaw_of(r[4], r[5], r[6], r[7]) - yaw_of(s0[4], s0[5], s0[6], s0[7])
  local out = {}
  for j = 1, #s0 do out[j] = s0[j] end
  out[1], out[2] = r[1], r[2]
  local h = d / 2
  local zw, zz = math.cos(h), math.sin(h)  -- qz(d) * q
  local w, x, y, z = s0[4], s0[5], s0[6], s0[7]
  out[4], out[5], out[6], out[7] = zw * w - zz * z, zw * x - zz * y, zw * y + zz * x, zw * z + zz * w
  return out
end
M.to_reference = to_reference

-- a reference's frames and conditioning as arrays padded with the last frame, so that a window of
-- H steps from any frame is a view (made on first use)
local function padded(ref, H)
  if not ref.pad or ref.pad < H + 1 then
    local F, C = {}, {}
    for i = 1, ref.n + H + 1 do
      F[i] = ref.frames[math.min(ref.n, i)]
      C[i] = ref.cond[math.min(ref.n, i)]
    end
    ref.F, ref.C, ref.pad = A(F), A(C), H + 1
  end
  return ref.F, ref.C
end

-- one batch of policy training data: start states from the collected transitions (moved onto
-- their reference frame), the reference frames after each of the H steps and the conditioning of
-- each step
function Loop:policy_batch(g, B, H)
  local st, nx = self.starts, self.nx
  local have = math.min(st.n, self.cfg.capacity)
  local s0f, cs, rs = {}, {}, {}
  for b = 1, B do
    local slot = g:integer(have)
    local ref, i0 = self.refs[st.clip[slot]], st.frame[slot]
    local s0 = to_reference(ref, i0, st.s[slot])
    for j = 1, nx do s0f[#s0f + 1] = s0[j] end
    local F, C = padded(ref, H)
    cs[b] = C:narrow(1, i0, H)
    rs[b] = F:narrow(1, i0 + 1, H)
  end
  return A(s0f):reshape(B, nx), A.stack(cs), A.stack(rs)
end

function Loop:train_policy()
  local c = self.cfg
  local g = self:rng(2)
  local loss, parts = 0, nil
  for _ = 1, c.pol_iters do
    local S0, C, R = self:policy_batch(g, c.pol_batch, c.horizon)
    local eps = A.randn({ c.pol_batch, c.horizon, c.lat }, g)
    loss, parts = self:pol_step(S0, C, R, eps)
  end
  return loss, parts
end

-- one iteration: collect, train the world model, train the policy
function Loop:iterate()
  local col = self:collect()
  local wl, wp = self:train_wm()
  local pl, pp = self:train_policy()
  self.iter = self.iter + 1
  return { iter = self.iter, samples = self.samples, episodes = col.episodes, falls = col.falls,
           mean_length = col.mean_length, wm_loss = wl, wm_parts = wp, pol_loss = pl,
           pol_parts = pp }
end

-- ---- evaluation on the plant ----------------------------------------------------------------

-- run the policy (posterior mean, no noise) on the plant from the clip's start for `seconds`;
-- opts.test_buf: a replay buffer the transitions also go to (held-out world-model data);
-- opts.truth: score the state a mujoco plant has without its sensor noise (plant:truth(), what a
-- motion-capture system would measure) rather than the one it reports (the policy sees that one).
-- Returns per-clip metrics and the trajectory (plant states, actions, the reference's joints)
function Loop:evaluate(ref, opts)
  opts = opts or {}
  local steps = math.min(ref.n - 1, math.floor((opts.seconds or 10) / self.cfg.dt + 0.5))
  local X, U, Rj = {}, {}, {}
  local je, ve, n = 0, 0, 0
  local last_s, last_r
  local function nj_row(s)
    local t = {}
    for j = 1, self.nj do t[j] = s[13 + j] end
    return t
  end
  local _, down = self:episode(ref, 1, steps, "mean", nil, function(k, s, a, s1, r1, last)
    if k == 0 then X[1], Rj[1] = M.to_plant(s, self.nj), nj_row(ref.frames[1]) end
    local m = #X + 1
    X[m], U[#U + 1], Rj[m] = M.to_plant(s1, self.nj), a, nj_row(r1)
    if opts.test_buf then opts.test_buf:push(s, a, s1, last) end
    if opts.truth then s1 = M.to_wm(self.plant:truth(), self.nj) end
    je = je + joint_error(self, s1, r1)
    local dvx, dvy = s1[8] - r1[8], s1[9] - r1[9]
    ve = ve + math.sqrt(dvx * dvx + dvy * dvy)
    n = n + 1
    last_s, last_r = s1, r1
  end)
  local dx, dy = last_s[1] - last_r[1], last_s[2] - last_r[2]
  return { name = ref.name, fell = down, steps = n, seconds = n * self.cfg.dt,
           joint_error = je / n, velocity_error = ve / n,
           position_error = math.sqrt(dx * dx + dy * dy),
           X = A(X), U = A(U), Rj = A(Rj) }
end

-- ---- checkpoints ----------------------------------------------------------------------------

local function check(ok, err)
  if not ok then error("imitate: " .. tostring(err), 0) end
  return ok
end

-- save everything the loop needs to continue exactly into dir (which must exist): the world model
-- with its optimiser and normalisers, the policy with its optimiser, the replay buffer with its
-- generator, the start records and the counters (each file written atomically by its writer;
-- loop.json last, so a checkpoint is whole when loop.json names its iteration)
function Loop:save(dir)
  check(self.model:save(dir .. "/wm.ckpt", self.wopt))
  check(self.pol:save(dir .. "/policy.ckpt", self.popt))
  check(self.buf:save(dir .. "/replay.bin"))
  local st = self.starts
  local have = math.min(st.n, self.cfg.capacity)
  if have > 0 then
    local rows = {}
    for i = 1, have do
      local r = { st.clip[i], st.frame[i] }
      for j = 1, self.nx do r[2 + j] = st.s[i][j] end
      rows[i] = r
    end
    local tmp = dir .. "/starts.npy.tmp"
    check(A(rows):save(tmp))
    check(os.rename(tmp, dir .. "/starts.npy"))
  end
  local cfg = {}
  for k, v in pairs(self.cfg) do cfg[k] = v end
  -- the clips by name and length: the start records and a resumed loop index them
  local clips = {}
  for i, ref in ipairs(self.refs) do clips[i] = { name = ref.name, n = ref.n } end
  local note = { iter = self.iter, samples = self.samples, episodes = self.episodes,
                 starts = st.n, cfg = cfg, history = self.history, clips = clips }
  local f = assert(io.open(dir .. "/loop.json.tmp", "w"))
  f:write(json.encode(note, { indent = 1 }), "\n")
  f:close()
  check(os.rename(dir .. "/loop.json.tmp", dir .. "/loop.json"))
end

-- a checkpoint's start records index its clips: loading it with other clips (another gait
-- library, or the quick one) would send collection and evaluation to frames that do not exist
local function check_clips(self, dir, note)
  local hint = ": load a checkpoint with the gait library it was trained on (quick=true uses the "
    .. "quick library unless library= names one)"
  local saved = note.clips
  if saved then
    if #saved ~= #self.refs then
      error(("imitate: %s was trained on %d gait clips, given %d%s"):format(dir, #saved,
        #self.refs, hint), 0)
    end
    for i, c in ipairs(saved) do
      local ref = self.refs[i]
      if c.name ~= ref.name or c.n ~= ref.n then
        error(("imitate: %s's clip %d is %s (%d frames), given %s (%d frames)%s"):format(dir, i,
          tostring(c.name), c.n or -1, ref.name, ref.n, hint), 0)
      end
    end
  end
  -- checkpoints written before the clips were recorded: their start records must fit
  local st = self.starts
  for i = 1, math.min(st.n, self.cfg.capacity) do
    local ref = self.refs[st.clip[i]]
    if not ref or st.frame[i] < 1 or st.frame[i] > ref.n then
      error(("imitate: %s's start %d is frame %d of clip %d, which the %d given clips do not "
        .. "have%s"):format(dir, i, st.frame[i], st.clip[i], #self.refs, hint), 0)
    end
  end
end

-- a loop from a checkpoint directory: opts as M.new's (plant, robot, clips: the same clips)
function M.load(dir, opts)
  local note = json.read(dir .. "/loop.json")
  if type(note) ~= "table" then error(("imitate: cannot resume from %s (no loop.json)"):format(dir), 0) end
  local o = {}
  for k, v in pairs(note.cfg) do o[k] = v end
  o.plant, o.robot, o.clips = opts.plant, opts.robot, opts.clips
  local self = setmetatable({}, Loop)
  self:init(o)
  local err
  self.model, self.wopt = wm.load(dir .. "/wm.ckpt")
  if not self.model then error("imitate: " .. tostring(self.wopt), 0) end
  self.pol, self.popt = wm.load_vae(dir .. "/policy.ckpt")
  if not self.pol then error("imitate: " .. tostring(self.popt), 0) end
  self.buf = wm.replay { nx = self.nx, nu = self.nu, capacity = self.cfg.capacity,
                         seed = self.cfg.seed }
  local ok
  ok, err = self.buf:load(dir .. "/replay.bin")
  check(ok, err)
  self.iter, self.samples, self.episodes = note.iter, note.samples, note.episodes
  self.history = note.history
  local st = { n = note.starts, clip = {}, frame = {}, s = {} }
  if note.starts > 0 then
    local a = check(A.load(dir .. "/starts.npy"))
    local flat = a:totable()
    for i, r in ipairs(flat) do
      st.clip[i], st.frame[i] = math.tointeger(r[1]), math.tointeger(r[2])
      local s = {}
      for j = 1, self.nx do s[j] = r[2 + j] end
      st.s[i] = s
    end
  end
  self.starts = st
  check_clips(self, dir, note)
  return self
end

return M
