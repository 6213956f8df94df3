-- command.lua: method 2's command following (spinal.command; docs/method2.md, "Command
-- following"): a high-level network h(z | s, command) drives the FROZEN motor decoder of a VAE
-- policy trained by spinal.imitate, so the robot follows body-velocity commands and paths; h is
-- trained by backpropagation through the world model (wm.command, engine/wm/command.h), no RL.
--
--   local command = require "spinal.command"
--   local C = command.new { model = L.model, pol = L.pol, seed = 1 }      -- h, its optimiser
--   local a = C:act(s, command.velocity(0.5, 0, 0.3))                    -- PD targets on a state
--   local loss, parts = C:train(S0, K, eps)                              -- one batch, one step
--   C:save(path) ; local C2 = command.load(path, { model = L.model, pol = L.pol })
--
-- A command row is { vx, vy, wz, gx, gy, gyaw, wp } (wm.command's): the body-frame velocity and yaw
-- rate to follow and a target pose in the world weighted by wp (0: a velocity command). A path
-- (command.path, .circle, .figure8, .line) is a target moving along a curve at a speed: its row at
-- tick i is the curve's velocity in the target's frame (speed, 0, curvature x speed) and the
-- target's pose at tick i + 1 (where the robot should be after the tick), the same in training
-- (inside the world model) and on the plant. States are the world model's layout
-- ([p, q, v_body, w_body, qj, qd]; imitate.to_wm converts the plant's).
--
-- A gait clock (command.new { clock = command.clock(period, dt) }): h also sees the phase of a
-- clock that advances by `clock` rad per tick, the 8th entry of its command rows (h.nk = 8).
-- Cmd:run keeps the clock on the plant (opts.phase: its phase at the start) and command.batch
-- in training (opts.phases: each start state's phase); a network without one takes rows of 7.
local A = require "spinal.array"
local wm = require "spinal.wm"
local nn = require "spinal.nn"

local M = {}
local Cmd = {}
Cmd.__index = Cmd
M.Command = Cmd

M.NK = 7

M.defaults = {
  hidden = 128, layers = 2, act = "elu", lr = 1e-3, beta = 0.01, gamma = 0.95, seed = 1, clock = 0,
  weights = { velocity = 1, yaw_rate = 0.5, position = 1, heading = 0.5, up = 1 },
}

local function option(opts, k)
  if opts[k] ~= nil then return opts[k] end
  return M.defaults[k]
end

-- opts: model (wm.new's world model), pol (wm.vae's policy, its decoder frozen), and hidden,
-- layers, act, lr, beta, gamma, seed, weights = { velocity, yaw_rate, position,
-- heading, up }, clock (the gait clock's phase step per tick in rad, 0: none; command.clock)
function M.new(opts)
  assert(type(opts) == "table" and opts.model and opts.pol,
    "command.new: expected { model = world model, pol = VAE policy, ... }")
  local self = setmetatable({ model = opts.model, pol = opts.pol }, Cmd)
  local w = {}
  for k, v in pairs(M.defaults.weights) do w[k] = v end
  for k, v in pairs(opts.weights or {}) do w[k] = v end
  self.h = wm.command { vae = opts.pol, hidden = option(opts, "hidden"),
                        layers = option(opts, "layers"), act = option(opts, "act"),
                        beta = option(opts, "beta"), gamma = option(opts, "gamma"),
                        clock = option(opts, "clock"), seed = option(opts, "seed"), weights = w }
  self.opt = nn.adam { lr = option(opts, "lr"), clip = 1 }
  self.nx = 13 + 2 * self.h.nj
  return self
end

-- the phase step per tick of a gait clock of `period` seconds ticked every dt seconds
function M.clock(period, dt)
  return 2 * math.pi * dt / period
end

-- the gait clock's phase of frame fi of reference ci (refs: imitate.reference's, frames in the
-- world-model layout) for a clock of `clock` rad per tick: the library's walking controller steps
-- every leg once per gait period, so phase 0 is where the front-right knee is most bent (that
-- leg's swing) in the clip's first period, and the phase advances `clock` a frame. h is trained
-- and run with this convention: started from a clip frame at another phase it steps out of time
-- with the legs it sees. Returns phase_of(ci, fi) (always 0 without a clock) and phase0, the
-- frame of phase 0 of every clip.
function M.gait_phases(refs, clock)
  local phase0 = {}
  if not clock or clock <= 0 then
    for ci in ipairs(refs) do phase0[ci] = 1 end
    return function() return 0 end, phase0
  end
  local period = math.max(1, math.floor(2 * math.pi / clock + 0.5))
  local knee = 13 + 3                             -- FR_knee's angle in a world-model state
  for ci, ref in ipairs(refs) do
    local best, fb = math.huge, 1
    for f = 1, math.min(ref.n, period) do
      if ref.frames[f][knee] < best then best, fb = ref.frames[f][knee], f end
    end
    phase0[ci] = fb
  end
  return function(ci, fi) return clock * (fi - phase0[ci]) end, phase0
end

-- the network's actions a (array (nu) or (batch, nu)) and latents z for world-model states s and
-- command rows k (a Lua table or array of h.nk, or (batch, h.nk)); eps: latent noise (nil: the
-- mean); ap: the previous actions, for a network that sees them (Cmd:with_prev_action; nil: the
-- VAE's nominal action)
function Cmd:act(s, k, eps, ap)
  return self.h:act(self.pol, A(s), A(k), eps, ap and self.h.prev_action and A(ap) or nil)
end

-- h widened to also see the action the robot held before each tick (its weights on it zero: it
-- acts exactly as before until trained), with a fresh optimiser at the same rate: for fine-tuning
-- on a robot whose actuation lags, where the action still being applied is part of the state.
-- In place; returns self.
function Cmd:with_prev_action()
  self.h = self.h:with_prev_action(self.pol.nu)
  self.opt = nn.adam { lr = self.opt.lr, clip = 1 }
  return self
end

-- the loss through the world model without a step: S0 (B, nx) start states, K (B, H, 7) the
-- command of each step, eps (B, H, lat) or nil
function Cmd:loss(S0, K, eps)
  return self.h:loss(self.model, self.pol, S0, K, eps)
end

-- one batch: zero h's gradients, the loss through the world model, backward, one Adam step
function Cmd:train(S0, K, eps)
  return self.h:train(self.model, self.pol, S0, K, eps, self.opt)
end

-- fit h's output to targets E (N, lat) of its latent residual (z - mu_p) on states S (N, nx) and
-- command rows K (N, 7) by least squares, in place: a warm start before training through the world
-- model (e.g. E = the VAE posterior's mean minus the prior's on recorded states of clips whose
-- achieved velocity is the command: command following distilled from imitation). Rows are used in
-- the given order, in minibatches (shuffle them first). opts: epochs = 5, batch = 256, lr = 1e-3.
-- Returns the mean squared error of the last epoch.
function Cmd:fit(S, K, E, opts)
  opts = opts or {}
  local h = self.h
  local X = h:features(S, K)
  local N, B = X.shape[1], math.min(opts.batch or 256, X.shape[1])
  local sizes = { h.nin }
  for l = 1, h.layers do sizes[l + 1] = h.hidden end
  sizes[#sizes + 1] = h.lat
  local net = nn.mlp { sizes = sizes, act = h.activation, dtype = h.dtype, batch = B }
  net:set_params(h:params())
  local opt = nn.adam { lr = opts.lr or 1e-3, clip = 1 }
  local mse = 0
  for _ = 1, opts.epochs or 5 do
    mse = 0
    local n = 0
    for i = 1, N - B + 1, B do
      local x, t = X:narrow(1, i, B), E:narrow(1, i, B)
      local d = net:forward(x) - t
      mse = mse + (d * d):mean()
      n = n + 1
      net:zero_grad()
      net:backward(d * (2 / (B * h.lat)))
      opt:step(net)
    end
    mse = mse / n
  end
  h:set_params(net:params())
  return mse
end

-- fold a per-axis affine map of the velocity command into h's first layer: afterwards h acts on a
-- row k as it acted before on the row whose first three entries (vx, vy, wz: a velocity command's,
-- a path's feed-forward velocity) are (k[i] - offset[i]) / scale[i]; the rest of the row, the
-- state and the gait clock unchanged. A robot measured to walk at scale * c + offset when h was
-- told c then walks at the commanded c (finetune's command calibration). scale > 0.
function Cmd:remap(scale, offset)
  local h = self.h
  local nin, hidden, nf = h.nin, h.hidden, 10 + 2 * h.nj
  for i = 1, 3 do
    if not (type(scale[i]) == "number" and scale[i] > 0 and type(offset[i]) == "number") then
      error(("command.remap: scale[%d] = %s, offset[%d] = %s: expected a scale > 0 and a number")
        :format(i, tostring(scale[i]), i, tostring(offset[i])), 2)
    end
  end
  local p = h:params():totable()
  for r = 0, hidden - 1 do
    local shift = 0
    for i = 1, 3 do
      local w = r * nin + nf + i   -- W_1 (hidden x nin, row-major) before b_1, 1-based
      p[w] = p[w] / scale[i]
      shift = shift + p[w] * offset[i]
    end
    p[hidden * nin + r + 1] = p[hidden * nin + r + 1] - shift
  end
  h:set_params(A(p))
end

-- h with its optimiser's state in one file
function Cmd:save(path)
  return self.h:save(path, self.opt)
end

-- a command network from a file: opts.model, opts.pol as command.new's
function M.load(path, opts)
  assert(type(opts) == "table" and opts.model and opts.pol,
    "command.load: expected (path, { model =, pol = })")
  local h, opt = wm.load_command(path)
  if not h then return nil, opt end
  if h.lat ~= opts.pol.lat or h.nj ~= opts.pol.nj then
    return nil, ("%s: a command network for latent %d and %d joints, the policy has %d and %d")
      :format(path, h.lat, h.nj, opts.pol.lat, opts.pol.nj)
  end
  local self = setmetatable({ model = opts.model, pol = opts.pol, h = h }, Cmd)
  self.opt = opt or nn.adam { lr = M.defaults.lr, clip = 1 }
  self.nx = 13 + 2 * h.nj
  return self
end

-- ---- on the plant ----------------------------------------------------------------------------

-- drive a plant with h tick by tick through the HAL, exactly as on a robot (read, act, write):
-- opts.steps ticks (50 Hz for the quadruped), opts.row(i, s) the command row of tick i (1-based)
-- at world-model state s, opts.x0 a world-model state to reset the plant to (nil, or a plant that
-- cannot reset: start where the robot is, stood up first if it lies fallen,
-- imitate.start_in_place), opts.lo / opts.hi per-action clamps, opts.noise (latent noise scale,
-- default 0) and opts.act_noise (Gaussian noise on the actions, default 0) drawn from opts.g (a
-- spinal.rng), opts.fell(s) -> true ends the run, opts.on_step(i, s, a, s1, row, last) sees
-- every transition. With a gait clock, opts.phase is its phase at the first tick (default 0) and
-- the phase of tick i is appended to the row (on_step sees rows of 8). A network that sees the
-- previous action is given the one written at the tick before (at the first, opts.prev; nil: the
-- VAE's nominal action). Plant states are converted with imitate.to_wm / to_plant. Returns ticks
-- done, fell, the clock's phase after the last tick.
function Cmd:run(plant, opts)
  local imitate = require "spinal.imitate"
  local nj, lat = self.h.nj, self.h.lat
  local s
  if plant.can_reset == false then
    s = imitate.start_in_place(plant, opts.fell, nj)
  else
    if opts.x0 then plant:reset(imitate.to_plant(opts.x0, nj)) end
    s = imitate.read(plant, nj)
  end
  local g, noise, act_noise = opts.g, opts.noise or 0, opts.act_noise or 0
  local clock, phase = self.h.clock, opts.phase or 0
  local prev = opts.prev
  for i = 1, opts.steps do
    local row = opts.row(i, s)
    if clock > 0 and #row == M.NK then
      local r = {}
      for j = 1, M.NK do r[j] = row[j] end
      r[M.NK + 1] = phase
      row = r
    end
    phase = phase + clock
    local eps
    if noise > 0 then
      local e = {}
      for j = 1, lat do e[j] = noise * g:normal() end
      eps = A(e)
    end
    local at = self:act(s, row, eps, prev)
    local a = {}
    for j = 1, #at do
      local x = at[j]
      if act_noise > 0 then x = x + act_noise * g:normal() end
      if opts.lo then x = math.max(opts.lo[j], math.min(opts.hi[j], x)) end
      a[j] = x
    end
    plant:write(a)
    prev = a
    local s1 = imitate.read(plant, nj)
    local down = opts.fell and opts.fell(s1) or false
    local last = down or i == opts.steps
    if opts.on_step then opts.on_step(i, s, a, s1, row, last) end
    s = s1
    if down then return i, true, phase end
  end
  return opts.steps, false, phase
end

-- ---- commands -------------------------------------------------------------------------------

-- a body-velocity command row (no target pose)
function M.velocity(vx, vy, wz)
  return { vx, vy, wz, 0, 0, 0, 0 }
end

local function yaw_of(s)
  local w, x, y, z = s[4], s[5], s[6], s[7]
  return math.atan(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
end
M.yaw_of = yaw_of

local Path = {}
Path.__index = Path
M.Path = Path

-- a path from segments of constant curvature, sampled at dt: segments = { { seconds =, speed =,
-- curvature = (1/m, positive: left) }, ... }, starting at pose (x, y, yaw) = opts.start or (0, 0,
-- 0); opts.loop = true: the path repeats (a circuit). The target moves along it at the segments'
-- speeds: path.x[i], .y[i], .yaw[i] at tick i - 1; .v[i], .w[i] the target's speed and turn rate
-- on the tick from i - 1 to i.
function M.path(segments, opts)
  opts = opts or {}
  local dt = opts.dt or 0.02
  local st = opts.start or { 0, 0, 0 }
  local self = setmetatable({ dt = dt, x = { st[1] }, y = { st[2] }, yaw = { st[3] }, v = {},
                              w = {}, loop = opts.loop or false, name = opts.name }, Path)
  for _, seg in ipairs(segments) do
    local n = math.max(1, math.floor(seg.seconds / dt + 0.5))
    for _ = 1, n do
      local i = #self.x
      local th, v, w = self.yaw[i], seg.speed, seg.speed * (seg.curvature or 0)
      -- exact on an arc: the chord at the mean heading
      local dth = w * dt
      local chord = math.abs(dth) > 1e-12 and 2 * v / w * math.sin(dth / 2) or v * dt
      self.x[i + 1] = self.x[i] + chord * math.cos(th + dth / 2)
      self.y[i + 1] = self.y[i] + chord * math.sin(th + dth / 2)
      self.yaw[i + 1] = th + dth
      self.v[i], self.w[i] = v, w
    end
  end
  self.n = #self.x
  return self
end

-- the speed nearest v at which a loop of radius r takes a whole number of ticks, and that time
local function lap(r, v, dt)
  local n = math.max(1, math.floor(2 * math.pi * r / (v * dt) + 0.5))
  return 2 * math.pi * r / (n * dt), n * dt
end

-- a circle of radius r driven at speed (dir = 1: counter-clockwise, -1: clockwise), laps times
-- (the speed rounded so that a lap is a whole number of ticks)
function M.circle(o)
  local r, dir = o.radius, o.dir or 1
  local v, T = lap(r, o.speed, o.dt or 0.02)
  return M.path({ { seconds = T * (o.laps or 1), speed = v, curvature = dir / r } },
    { dt = o.dt, start = o.start, loop = true, name = o.name or ("circle r=%g"):format(r) })
end

-- a figure-eight of two tangent circles of radius r: a left loop, then a right loop
function M.figure8(o)
  local r = o.radius
  local v, T = lap(r, o.speed, o.dt or 0.02)
  local segs = {}
  for _ = 1, o.laps or 1 do
    segs[#segs + 1] = { seconds = T, speed = v, curvature = 1 / r }
    segs[#segs + 1] = { seconds = T, speed = v, curvature = -1 / r }
  end
  return M.path(segs, { dt = o.dt, start = o.start, loop = true,
                        name = o.name or ("figure-eight r=%g"):format(r) })
end

-- a straight line at speed for seconds
function M.line(o)
  return M.path({ { seconds = o.seconds, speed = o.speed, curvature = 0 } },
    { dt = o.dt, start = o.start, name = o.name or "line" })
end

-- the command row of tick i (1-based: the tick from path time (i - 1) dt to i dt) with pose
-- weight wp (default 1); past the end the target stops at the last pose
function Path:row(i, wp)
  local n = self.n
  local j = math.min(i, n - 1)
  local t = math.min(i + 1, n)
  local v, w = self.v[j], self.w[j]
  if i >= n then v, w = 0, 0 end
  return { v, 0, w, self.x[t], self.y[t], self.yaw[t], wp or 1 }
end

-- rows of ticks i0 .. i0 + H - 1 as a Lua list
function Path:rows(i0, H, wp)
  local out = {}
  for k = 1, H do out[k] = self:row(i0 + k - 1, wp) end
  return out
end

-- the distance from (px, py) to the path's polyline (the nearest point on it)
function Path:distance(px, py)
  local best = math.huge
  for i = 1, self.n - 1 do
    local ax, ay, bx, by = self.x[i], self.y[i], self.x[i + 1], self.y[i + 1]
    local dx, dy = bx - ax, by - ay
    local L2 = dx * dx + dy * dy
    local t = L2 > 0 and math.max(0, math.min(1, ((px - ax) * dx + (py - ay) * dy) / L2)) or 0
    local ex, ey = ax + t * dx - px, ay + t * dy - py
    local d = ex * ex + ey * ey
    if d < best then best = d end
  end
  return math.sqrt(best)
end

-- ---- training commands -----------------------------------------------------------------------

-- the range of commands h is trained on (command.batch): velocities uniform in [lo, hi] (each zero
-- with probability `zero`), or (a fraction `paths` of the rows) a path from the start state's pose
-- moved by up to `offset` m and `yaw_offset` rad: an arc at a speed in `speed` with a radius drawn
-- from `radii` (math.huge: straight), turning either way; with probability `switch` the command
-- changes at a random tick of the window (another velocity; the path's turn reverses, as at a
-- figure-eight's crossing). `backward` is the share of the nonzero vx drawn from the backward part
-- of the range, [vx[1], 0) (the rest from [0, vx[2]]; nil: uniform over the whole range): paths
-- all go forward, so uniform draws leave walking backwards one window in eight
M.ranges = {
  vx = { -0.3, 0.6 }, vy = { -0.2, 0.2 }, wz = { -0.6, 0.6 }, zero = 0.25, backward = 0.5,
  paths = 0.5, speed = { 0.25, 0.6 }, radii = { 0.7, 1.2, 2, 3.5, math.huge },
  offset = 0.15, yaw_offset = 0.25, switch = 0.2,
}

local function uniform(g, r)
  return r[1] + (r[2] - r[1]) * g:uniform()
end

-- a velocity command { vx, vy, wz } drawn from ranges r (M.ranges' velocity part; nil: M.ranges)
function M.random_velocity(g, r)
  r = r or M.ranges
  local v = {}
  for i, k in ipairs { "vx", "vy", "wz" } do
    if g:uniform() < r.zero then
      v[i] = 0
    elseif k == "vx" and r.backward and r.vx[1] < 0 and r.vx[2] > 0 then
      v[i] = (g:uniform() < r.backward and r.vx[1] or r.vx[2]) * g:uniform()
    else
      v[i] = uniform(g, r[k])
    end
  end
  return v
end

local function check_ranges(r, fn)
  local b = r.backward
  if b ~= nil and (type(b) ~= "number" or not (b >= 0 and b <= 1)) then
    error(("%s: ranges.backward: expected a share in [0, 1] (or nil: uniform), got %s")
      :format(fn, tostring(b)), 3)
  end
end

-- H command rows (a Lua list) for a window starting at world-model state s, drawn from ranges r
function M.random_rows(g, s, H, dt, r)
  r = r or M.ranges
  check_ranges(r, "command.random_rows")
  local cut = g:uniform() < r.switch and g:integer(H) or H + 1
  if g:uniform() < r.paths then
    local R = r.radii[g:integer(#r.radii)]
    local kappa = R == math.huge and 0 or (g:uniform() < 0.5 and -1 or 1) / R
    local speed = uniform(g, r.speed)
    local segs = { { seconds = (cut - 1) * dt, speed = speed, curvature = kappa } }
    if cut <= H then segs[2] = { seconds = (H - cut + 2) * dt, speed = speed, curvature = -kappa } end
    if cut == 1 then table.remove(segs, 1) end
    local start = { s[1] + r.offset * (2 * g:uniform() - 1), s[2] + r.offset * (2 * g:uniform() - 1),
                    yaw_of(s) + r.yaw_offset * (2 * g:uniform() - 1) }
    return M.path(segs, { dt = dt, start = start }):rows(1, H, 1)
  end
  local v1, v2 = M.random_velocity(g, r), M.random_velocity(g, r)
  local rows = {}
  for k = 1, H do
    local v = k < cut and v1 or v2
    rows[k] = M.velocity(v[1], v[2], v[3])
  end
  return rows
end

-- a course of `steps` ticks for collecting data on the plant from world-model state s0, drawn from
-- ranges r like command.random_rows: velocity commands held 1 to 2 s each, or (a fraction
-- r.paths) a path from s0's pose of arcs 1 to 2 s long. Returns row(i, s) for Cmd:run.
function M.random_course(g, s0, steps, dt, r)
  r = r or M.ranges
  check_ranges(r, "command.random_course")
  local rows = {}
  if g:uniform() < r.paths then
    local segs, t = {}, 0
    local speed = uniform(g, r.speed)
    while t < steps * dt + dt do
      local R = r.radii[g:integer(#r.radii)]
      local len = 1 + g:uniform()
      segs[#segs + 1] = { seconds = len, speed = speed,
                          curvature = R == math.huge and 0 or (g:uniform() < 0.5 and -1 or 1) / R }
      t = t + len
    end
    local path = M.path(segs, { dt = dt, start = { s0[1], s0[2], yaw_of(s0) } })
    rows = path:rows(1, steps, 1)
  else
    local i = 1
    while i <= steps do
      local v = M.random_velocity(g, r)
      local n = math.floor((1 + g:uniform()) / dt + 0.5)
      for k = i, math.min(steps, i + n - 1) do rows[k] = M.velocity(v[1], v[2], v[3]) end
      i = i + n
    end
  end
  return function(i) return rows[i] end
end

-- a training batch: B start states drawn from starts (a list of world-model states as Lua tables)
-- with their command rows: S0 (B, nx), K (B, H, 7); for a network with a gait clock, opts.clock
-- (its phase step, h.clock) and opts.phases (the phase of each start state, parallel to starts):
-- K (B, H, 8), the clock's phase last; with opts.aprev (the action the robot held before each
-- start, parallel to starts: a world model with history) also P0 (B, nu), those of the batch
function M.batch(g, starts, B, H, dt, r, opts)
  local clock = opts and opts.clock or 0
  local aprev = opts and opts.aprev
  check_ranges(r or M.ranges, "command.batch")
  local S0, K, P0 = {}, {}, {}
  for b = 1, B do
    local i = g:integer(#starts)
    local s = starts[i]
    S0[b] = s
    K[b] = M.random_rows(g, s, H, dt, r)
    if clock > 0 then
      local phase = opts.phases[i]
      for k = 1, H do K[b][k][M.NK + 1] = phase + (k - 1) * clock end
    end
    if aprev then P0[b] = aprev[i] end
  end
  if aprev then return A(S0), A(K), A(P0) end
  return A(S0), A(K)
end

return M
