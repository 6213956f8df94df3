-- finetune.lua: method 2's fine-tuning on a "real" robot (spinal.finetune; docs/method2.md,
-- "Fine-tuning"): a pre-trained world model and policy, at most `real_seconds` of data collected on
-- the robot with the pre-trained policy (its latent and action noise are the exploration, counted
-- in the budget), the world model fine-tuned on those data (mixed with the simulator's or not),
-- then the policy fine-tuned through the corrected world model with a regulariser that keeps its
-- actions close to the pre-trained policy's on the states the robot visited:
--   anchor loss = lambda * mean over recorded rows of |pi(s, c) - pi_0(s, c)|^2 / nu
-- (pi: the policy's mean action, pi_0: the pre-trained one's, fixed; s, c: a recorded state and
-- what the robot was asked to do there).
--
--   local finetune = require "spinal.finetune"
--   local L = imitate.load(ckpt, { plant = real_plant, robot = robot, clips = train })
--   local F = finetune.new(L, { real_seconds = 120, mix = 0.5, anchor = 1 })
--   F:collect()                 -- through the HAL on L.plant, tick by tick, as on hardware
--   F:train_wm() ; F:train_policy()
--   local shift = F:action_shift()
--
-- The policy is the imitation policy of spinal.imitate (the VAE's posterior tracking gait clips:
-- F:collect, F:train_policy), or a command network h over its decoder (spinal.command:
-- F:init_command(C), F:collect_command, F:train_command: h moves, with decoder = true the VAE's
-- decoder too, the prior and encoder never; F:calibrate_command, a per-axis command calibration
-- measured on the robot with what is left of the budget, folded into h); the budget, the
-- world-model mixing, the anchor and the action shift are shared.
local A = require "spinal.array"
local nn = require "spinal.nn"
local rng = require "spinal.rng"
local imitate = require "spinal.imitate"

local M = {}
local F = {}
F.__index = F
M.Finetune = F

M.defaults = {
  seed = 1,
  real_seconds = 120,   -- robot time available, s (every tick counts, exploration included)
  act_noise = 0.05,     -- rad on the targets while collecting (the pre-trained latent noise too)
  episode_steps = 250,  -- longest episode on the robot (ticks)
  mix = 0.5,            -- share of simulator windows in each world-model batch (0: real only)
  wm_recent = 0.0,      -- share of the robot's windows in each world-model batch drawn from the
                        -- last collection alone (the walk the policy has now; 0: all alike)
  wm_iters = 400, wm_lr = 3e-4, wm_batch = 128,
  wm_steps = 0,         -- applications of the world model per window (0: the pre-training's)
  wm_velocity = 0,      -- the world model's velocity loss weight while fine-tuning (0: its own)
  paths = -1.0,         -- with h: the share of paths in collection and batches (-1: command.ranges')
  pol_iters = 300, pol_lr = 3e-4, pol_batch = 128, horizon = 24,
  anchor = 1.0,         -- lambda of the action-distance regulariser (0: none)
  start_mix = 0.5,      -- share of the policy's start states from the pre-training's (0: robot's)
  anchor_batch = 256,
  decoder = false,      -- with a command network: fine-tune the VAE's decoder too (false: h only)
  decoder_lr = 3e-4,    -- its optimiser's rate (a fresh Adam: every weight moves about this a step)
  latent_noise = 1.0,   -- with a command network: h's latent noise while collecting (its scale)
  correction = 0.0,     -- with h: share of its batch rows that replay the robot's recorded windows
                        -- (their commands, the model corrected along them: F:corrected_windows)
  round_anchor = 0.0,   -- with h: lambda of a second anchor, to h as it was when this round's
                        -- training began (a trust region per round; 0: none)
  calibrate_hold = 4,   -- with h: seconds each command is held in F:calibrate_command
  prev_action = false,  -- with h: the world model also sees the action before (a pre-trained one
                        -- is widened, model:with_history(), predicting as before until trained)
  h_prev_action = false, -- h also sees the action before (widened, Cmd:with_prev_action: acting as
                        -- before until trained; an episode's first tick sees the nominal action)
  h_average = 0.0,      -- with h: the share of each round's last batches whose h are averaged into
                        -- the h the round ends with (tail averaging; 0: the last batch's h)
  sensor_noise = 0.0,   -- with h: std of the noise on the states h and the decoder see in h's
                        -- rollouts through the model (0: none; -1: each entry's, as
                        -- F:measure_noise measured it on the robot)
}

local function merged(opts)
  local c = {}
  for k, v in pairs(M.defaults) do c[k] = v end
  for k, v in pairs(opts or {}) do
    if M.defaults[k] ~= nil then c[k] = v end
  end
  return c
end

-- ---- the policy's networks as nn.mlp mirrors (for the anchor's gradient) ---------------------

-- the VAE's features f(s) = [p_z, R(q)^T e_z, v, w, qj, qd] of rows of world-model states
local function features(S, nj)
  local B = S.shape[1]
  local rows = S:totable()
  local out = {}
  for b = 1, B do
    local s = rows[b]
    local u1, u2, u3 = imitate.qrot(s[4], s[5], s[6], s[7], 0, 0, 1, true)
    local r = { s[3], u1, u2, u3 }
    for j = 8, 13 + 2 * nj do r[#r + 1] = s[j] end
    out[b] = r
  end
  return A(out)
end
M.features = features

-- three nn.mlp networks with the policy's architecture holding its parameters: prior (nf -> lat),
-- the high-level network (nf + nc -> lat: the VAE's encoder, or with arch.high = { nin =, hidden =,
-- layers = } a command network h over nf + nin inputs) and decoder (nf + lat -> nu); for the VAE
-- alone, in the order of the policy's flat vector
local function mirror(pol, arch)
  local nf = 10 + 2 * pol.nj
  local function net(nin, nout, hidden, layers)
    local sizes = { nin }
    for _ = 1, layers or arch.layers do sizes[#sizes + 1] = hidden or arch.hidden end
    sizes[#sizes + 1] = nout
    return nn.mlp { sizes = sizes, act = arch.act or "elu", dtype = arch.dtype or "f32",
                    batch = arch.batch or 64 }
  end
  local hi = arch.high
  local m = { nf = nf, prior = net(nf, pol.lat),
              enc = hi and net(nf + hi.nin, pol.lat, hi.hidden, hi.layers) or net(nf + pol.nc, pol.lat),
              dec = net(nf + pol.lat, pol.nu), nj = pol.nj, lat = pol.lat, nu = pol.nu }
  local n = m.prior.nparams + m.dec.nparams + (hi and 0 or m.enc.nparams)
  if not hi and n ~= pol.nparams then
    error(("finetune: the policy has %d parameters; networks of hidden %d, layers %d would have "
      .. "%d (the pre-training's pol_hidden, pol_layers)"):format(pol.nparams, arch.hidden,
      arch.layers, n), 2)
  end
  if hi and hi.nparams and m.enc.nparams ~= hi.nparams then
    error(("finetune: the command network has %d parameters; hidden %d, layers %d would have %d")
      :format(hi.nparams, hi.hidden, hi.layers, m.enc.nparams), 2)
  end
  m.ws = { prior = m.prior:workspace(), enc = m.enc:workspace(), dec = m.dec:workspace() }
  return m
end
M.mirror = mirror

-- p: the VAE's flat parameters; hp (with a command network): h's, the VAE's encoder skipped
local function mirror_set(m, p, hp)
  local n1, n2 = m.prior.nparams, p:numel() - m.prior.nparams - m.dec.nparams
  m.prior:set_params(p:narrow(1, 1, n1))
  m.enc:set_params(hp or p:narrow(1, n1 + 1, n2))
  m.dec:set_params(p:narrow(1, n1 + n2 + 1, m.dec.nparams))
end
M.mirror_set = mirror_set

-- the mean action (posterior with conditioning C) of rows S through the mirror: (B, nu), keeping
-- the forward passes for mirror_backward
local function mirror_act(m, S, C, a_nom)
  local f = features(S, m.nj)
  local mp = m.prior:forward(f, m.ws.prior)
  local e = m.enc:forward(A.cat({ f, C }, 2), m.ws.enc)
  local z = mp + e
  local a = m.dec:forward(A.cat({ f, z }, 2), m.ws.dec)
  return a + a_nom
end
M.mirror_act = mirror_act

-- dloss/dparams (the policy's flat layout) of the last mirror_act for dloss/da = gA
local function mirror_backward(m, gA)
  m.prior:zero_grad()
  m.enc:zero_grad()
  m.dec:zero_grad()
  local gx = m.dec:backward(gA, m.ws.dec)
  local gz = gx:narrow(2, m.nf + 1, m.lat):contiguous()
  m.enc:backward(gz, m.ws.enc)
  m.prior:backward(gz, m.ws.prior)
  return A.cat({ m.prior:grads(), m.enc:grads(), m.dec:grads() }, 1)
end
M.mirror_backward = mirror_backward

-- the anchor loss lambda * mean_rows |a - a0|^2 / nu on rows S, C against a0 and its gradient in
-- the policy's flat layout (grad = false: the loss only)
function M.anchor_loss(m, S, C, A0, a_nom, lambda, grad)
  local a = mirror_act(m, S, C, a_nom)
  local d = a - A0
  local B, nu = d.shape[1], d.shape[2]
  local loss = lambda * (d * d):sum() / (B * nu)
  if not grad then return loss end
  return loss, mirror_backward(m, d * (2 * lambda / (B * nu)))
end

-- ---- fine-tuning -----------------------------------------------------------------------------

-- L: a spinal.imitate loop holding the pre-trained world model and policy, whose plant is the
-- robot to fine-tune on (its replay buffer is the simulator's data for mixing); opts: M.defaults
function M.new(L, opts)
  local self = setmetatable({}, F)
  self.L = L
  self.cfg = merged(opts)
  local c = self.cfg
  if type(c.h_average) ~= "number" or not (c.h_average >= 0 and c.h_average <= 1) then
    error(("finetune: h_average=%s: expected a share of the batches in [0, 1]")
      :format(tostring(c.h_average)), 2)
  end
  if type(c.wm_recent) ~= "number" or not (c.wm_recent >= 0 and c.wm_recent <= 1) then
    error(("finetune: wm_recent=%s: expected a share of the robot's windows in [0, 1]")
      :format(tostring(c.wm_recent)), 2)
  end
  if type(c.sensor_noise) ~= "number" or not (c.sensor_noise >= 0 or c.sensor_noise == -1) then
    error(("finetune: sensor_noise=%s: expected a std >= 0 or -1 (each entry's, measured on the "
      .. "robot)"):format(tostring(c.sensor_noise)), 2)
  end
  self.dt = L.cfg.dt
  self.budget = math.floor(c.real_seconds / self.dt + 1e-9)
  if c.prev_action and L.model.history == 0 then
    L.model = L.model:with_history()
    L.wopt = nn.adam { lr = c.wm_lr, clip = 1 }  -- imitate's; the old moments fit the old model
  end
  -- windows' actions as the model takes them (with history: [a, a_prev], from the same entries)
  self.history = L.model.history
  if L.buf then L.buf:set_history(self.history) end
  self.real = require("spinal.wm").replay { nx = L.nx, nu = L.nu, capacity = self.budget + 1,
                                              seed = c.seed + 77, history = self.history }
  -- the last collection's transitions again (cleared as each collection starts; its own
  -- generator, so sampling it leaves every other draw as it was): wm_recent's windows and
  -- F:wm_recent_error's
  self.recent = require("spinal.wm").replay { nx = L.nx, nu = L.nu,
                                                capacity = self.budget + 1, seed = c.seed + 78,
                                                history = self.history }
  self.starts = { n = 0, clip = {}, frame = {}, s = {} }
  self.ticks, self.episodes, self.falls = 0, 0, 0
  self.fall_seconds = {}  -- F:collect_command: the length of each episode that ended in a fall
  self.rec = { S = {}, C = {} }   -- every recorded state and its conditioning (the anchor's rows)
  self.m = mirror(L.pol, { hidden = L.cfg.pol_hidden, layers = L.cfg.pol_layers,
                           batch = math.max(c.anchor_batch, 1) })
  self.a_nom = A(L.a_nom)
  self.p0 = L.pol:params()
  mirror_set(self.m, self.p0)
  L.wopt.lr = c.wm_lr
  if c.wm_velocity > 0 then L.model:set_weights { velocity = c.wm_velocity } end
  L.popt.lr = c.pol_lr
  return self
end

-- a generator for one purpose: every draw is reproducible from the seed
function F:rng(purpose)
  self.draws = (self.draws or 0) + 1
  return rng.new(self.cfg.seed, 1000 + 16 * self.draws + purpose)
end

-- collect on the robot until the budget of ticks is spent (or `seconds` more of it): episodes of
-- the pre-trained (current) policy from random training-clip frames, posterior with latent noise
-- and act_noise on the targets, through the HAL as imitate's collection
function F:collect(seconds)
  local L, c = self.L, self.cfg
  local limit = self.budget
  if seconds then limit = math.min(limit, self.ticks + math.floor(seconds / self.dt + 1e-9)) end
  local g = rng.new(c.seed, 1100 + self.episodes)
  local keep = L.cfg.act_noise
  L.cfg.act_noise = c.act_noise
  local S, Aa, S1 = {}, {}, {}
  self.recent:clear()
  while self.ticks < limit do
    local ci = g:integer(#L.refs)
    local ref = L.refs[ci]
    local i0 = g:integer(math.max(1, ref.n - 2))
    local steps = math.max(1, math.min(c.episode_steps, limit - self.ticks, ref.n - i0))
    local n, down = L:episode(ref, i0, steps, "policy", g, function(_, s, a, s1, _, last, i)
      self.real:push(s, a, s1, last)
      self.recent:push(s, a, s1, last)
      local m = #S + 1
      S[m], Aa[m], S1[m] = s, a, s1
      local st = self.starts
      st.n = st.n + 1
      st.clip[st.n], st.frame[st.n], st.s[st.n] = ci, i, s
      self.rec.S[#self.rec.S + 1] = s
      self.rec.C[#self.rec.C + 1] = ref.cond[math.min(ref.n, i)]
    end)
    self.ticks = self.ticks + n
    self.episodes = self.episodes + 1
    if down then self.falls = self.falls + 1 end
  end
  L.cfg.act_noise = keep
  self.recS, self.recC = A(self.rec.S), A(self.rec.C)
  -- the pre-trained policy's actions on every recorded row (fixed: the anchor's targets)
  local cur = L.pol:params()
  L.pol:set_params(self.p0)
  self.recA0 = L.pol:act(self.recS, self.recC)
  L.pol:set_params(cur)
  return { seconds = self.ticks * self.dt, episodes = self.episodes, falls = self.falls,
           transitions = #S }
end

function F:seconds() return self.ticks * self.dt end

-- one world-model batch: round(wm_batch * (1 - mix)) windows of the robot's data and the rest of
-- the simulator's (the pre-training's replay buffer)
function F:wm_batch(n)
  local c, L = self.cfg, self.L
  local nreal = math.floor(c.wm_batch * (1 - c.mix) + 0.5)
  local nsim = c.wm_batch - nreal
  local parts_s, parts_a = {}, {}
  -- of the robot's, round(nreal * wm_recent) from the last collection (where it holds no window
  -- of n steps, a collection of falls, from all the robot's data)
  local nrec = math.floor(nreal * c.wm_recent + 0.5)
  if nrec > 0 then
    local S, Aa = self.recent:sample(nrec, n)
    if S then
      parts_s[#parts_s + 1], parts_a[#parts_a + 1] = S, Aa
      nreal = nreal - nrec
    end
  end
  if nreal > 0 then
    local S, Aa = self.real:sample(nreal, n)
    if not S then error("finetune: " .. tostring(Aa), 0) end
    parts_s[#parts_s + 1], parts_a[#parts_a + 1] = S, Aa
  end
  if nsim > 0 then
    local S, Aa = L.buf:sample(nsim, n)
    if not S then error("finetune: mix=" .. c.mix .. " needs simulator data: " .. tostring(Aa), 0) end
    parts_s[#parts_s + 1], parts_a[#parts_a + 1] = S, Aa
  end
  if #parts_s == 1 then return parts_s[1], parts_a[1] end
  return A.cat(parts_s, 1), A.cat(parts_a, 1)
end

-- the applications of the world model in each fine-tuning window (wm_steps, 0: the pre-training's)
function F:wm_window()
  return self.cfg.wm_steps > 0 and self.cfg.wm_steps or self.L.cfg.wm_steps
end

-- the world model's loss on windows of the robot's data (buf: another buffer of it; no step): the
-- error it starts from and ends at; returns loss, per-component parts, the error against horizon
function F:wm_eval(B, n, buf)
  local S, Aa = (buf or self.real):sample(B or 256, n or self.L.cfg.wm_steps)
  if not S then return nil end
  return self.L.model:loss(S, Aa)
end

-- the world model's errors after n applications (default: F:wm_window()) on windows of the last
-- collection alone, the walk the policy has now: before F:train_wm, how far the model h was last
-- trained through is off where h took the robot (its exploitation); after, how well it fits
-- there. Returns the velocity (m/s) and joint (rad) errors, mean |error| per coordinate (wm.loss's
-- per-step rows), or nil when the collection holds no window of n steps.
function F:wm_recent_error(n, B)
  n = n or self:wm_window()
  local _, _, per = self:wm_eval(B or 128, n, self.recent)
  if not per then return nil end
  return per:get(n, 3), per:get(n, 5)
end

function F:train_wm()
  local L, c = self.L, self.cfg
  local loss, parts
  local n = self:wm_window()
  for _ = 1, c.wm_iters do
    local S, Aa = self:wm_batch(n)
    loss, parts = L.model:train(S, Aa, L.wopt)
  end
  return loss, parts
end

-- the anchor's rows of one batch: recorded states, their conditioning and pre-trained actions
function F:anchor_rows(g, B, targets)
  local n = self.recS.shape[1]
  local S, C, A0 = {}, {}, {}
  targets = targets or self.recA0
  for b = 1, B do
    local i = g:integer(n)
    S[b], C[b], A0[b] = self.recS[i], self.recC[i], targets[i]
  end
  return A.stack(S), A.stack(C), A.stack(A0)
end

-- one policy batch of start states, conditioning and references: round(pol_batch * start_mix)
-- of the pre-training's start states (every training clip, the simulator's states) and the rest of
-- the robot's
function F:policy_batch(g)
  local L, c = self.L, self.cfg
  local proxy = { starts = self.starts, nx = L.nx, refs = L.refs,
                  cfg = { capacity = self.starts.n } }
  local nsim = math.floor(c.pol_batch * c.start_mix + 0.5)
  if L.starts.n == 0 then nsim = 0 end
  if nsim == 0 then return imitate.Loop.policy_batch(proxy, g, c.pol_batch, c.horizon) end
  local S1, C1, R1 = imitate.Loop.policy_batch(L, g, nsim, c.horizon)
  if nsim == c.pol_batch then return S1, C1, R1 end
  local S0, C0, R0 = imitate.Loop.policy_batch(proxy, g, c.pol_batch - nsim, c.horizon)
  return A.cat({ S0, S1 }, 1), A.cat({ C0, C1 }, 1), A.cat({ R0, R1 }, 1)
end

-- pol_iters batches: the tracking loss from start states (the robot's, a share start_mix of the
-- pre-training's) through the corrected world model plus the anchor on recorded rows, one
-- optimiser step on their sum
function F:train_policy()
  local L, c = self.L, self.cfg
  local g = self:rng(2)
  local loss, parts, aloss = 0, nil, 0
  for _ = 1, c.pol_iters do
    local S0, C, R = self:policy_batch(g)
    local eps = A.randn({ c.pol_batch, c.horizon, L.cfg.lat }, g)
    loss, parts = L.pol:grad(L.model, S0, C, R, eps)
    if c.anchor > 0 then
      mirror_set(self.m, L.pol:params())
      local aS, aC, aA0 = self:anchor_rows(g, c.anchor_batch)
      local ga
      aloss, ga = M.anchor_loss(self.m, aS, aC, aA0, self.a_nom, c.anchor, true)
      L.pol:set_grads(L.pol:grads() + ga)
    end
    L.pol:apply(L.popt)
  end
  return loss, parts, aloss
end

-- how far the policy's mean actions moved from the pre-trained ones on the recorded rows: mean
-- absolute difference (rad, over rows and joints) and its root mean square
function F:action_shift()
  local a
  if self.C then a = self.C:act(self.recS, self.recK, nil, self.recP)
  else a = self.L.pol:act(self.recS, self.recC) end
  local d = a - self.recA0
  local n = d:numel()
  return d:abs():sum() / n, math.sqrt((d * d):sum() / n)
end

-- held-out evaluation on the robot (posterior mean, no noise) from each reference's first frame:
-- velocity error (mean norm of the horizontal body-velocity error to the clip's), path error (the
-- horizontal distance to the clip after `seconds` or at the fall), joint error, falls
function F:evaluate(refs, seconds)
  local ve, pe, je, falls, per = 0, 0, 0, 0, {}
  for i, ref in ipairs(refs) do
    local r = self.L:evaluate(ref, { seconds = seconds })
    ve, pe, je = ve + r.velocity_error, pe + r.position_error, je + r.joint_error
    if r.fell then falls = falls + 1 end
    per[i] = { name = r.name, velocity_error = r.velocity_error, position_error = r.position_error,
               joint_error = r.joint_error, fell = r.fell, seconds = r.seconds }
  end
  local n = #refs
  return { velocity_error = ve / n, path_error = pe / n, joint_error = je / n, falls = falls,
           per_clip = per }
end

-- ---- the command policy (spinal.command's h over the VAE's decoder) ---------------------------

-- the command features u(s, k) h sees besides f(s) (engine/wm/command.c's): rows of states S and
-- command rows K (B, 7) -> (B, 8); with a gait clock, rows K (B, 8) whose last entry is the clock's
-- phase -> (B, 10), the phase's sine and cosine last
function M.command_features(S, K)
  local out = {}
  local Sr, Kr = S:totable(), K:totable()
  for b = 1, #Sr do
    local s, k = Sr[b], Kr[b]
    local w, x, y, z = s[4], s[5], s[6], s[7]
    local yaw = math.atan(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    local c, sn, wp = math.cos(yaw), math.sin(yaw), k[7]
    local dx, dy, e = k[4] - s[1], k[5] - s[2], k[6] - yaw
    out[b] = { k[1], k[2], k[3], wp, wp * (c * dx + sn * dy), wp * (-sn * dx + c * dy),
               wp * math.sin(e), wp * (math.cos(e) - 1) }
    if #k > 7 then
      out[b][9], out[b][10] = math.sin(k[8]), math.cos(k[8])
    end
  end
  return A(out)
end

-- with a command network C (spinal.command over L.pol, with or without a gait clock): the
-- anchor's mirror of h takes h's own architecture (C.h.nin, hidden, layers)
function F:init_command(C)
  local L = self.L
  if self.cfg.h_prev_action and not C.h.prev_action then C:with_prev_action() end
  self.C = C
  C.model = L.model  -- the model h is trained through (widened when prev_action)
  local nf = 10 + 2 * L.pol.nj
  self.m = mirror(L.pol, { hidden = L.cfg.pol_hidden, layers = L.cfg.pol_layers,
                           batch = math.max(self.cfg.anchor_batch, 1),
                           high = { nin = C.h.nin - nf, hidden = C.h.hidden, layers = C.h.layers,
                                    nparams = C.h.nparams } })
  self.hp0 = C.h:params()
  mirror_set(self.m, self.p0, self.hp0)
  self.dopt = nn.adam { lr = self.cfg.decoder_lr, clip = 1 }  -- the decoder's (fresh: zero moments)
  C.opt.lr = self.cfg.pol_lr
  self.rec.K, self.rec.A, self.rec.S1, self.rec.ep, self.rec.P = {}, {}, {}, {}, {}
  self.starts.aprev = {}
end

-- the command ranges of collection and h's batches: command.ranges with cfg.paths's share of paths
function F:command_ranges()
  local command = require "spinal.command"
  if self.cfg.paths < 0 then return command.ranges end
  local r = {}
  for k, v in pairs(command.ranges) do r[k] = v end
  r.paths = self.cfg.paths
  return r
end

-- collection with h: courses of random commands (spinal.command.random_course) from x0s (world-model
-- states; nil: where the robot stands), h's gait clock starting each at phases[j] for x0s[j] (nil:
-- phase 0)
function F:collect_command(seconds, x0s, phases)
  local L, c, C = self.L, self.cfg, self.C
  local command = require "spinal.command"
  local limit = self.budget
  if seconds then limit = math.min(limit, self.ticks + math.floor(seconds / self.dt + 1e-9)) end
  local g = rng.new(c.seed, 1200 + self.episodes)
  self.starts.phase = self.starts.phase or {}
  self.recent:clear()
  while self.ticks < limit do
    local j = x0s and g:integer(#x0s) or nil
    local x0 = j and x0s[j] or nil
    local steps = math.max(1, math.min(c.episode_steps, limit - self.ticks))
    local s0 = x0 or imitate.read(L.plant, L.nj)
    local row = command.random_course(g, s0, steps, self.dt, self:command_ranges())
    -- the action before this tick's; at an episode's first, its own (the model's convention), or
    -- for h that sees it the nominal action h was given there (the model's too, to agree)
    local prev = C.h.prev_action and L.a_nom or nil
    local n, down = C:run(L.plant, { steps = steps, x0 = x0, row = row, lo = L.lo, hi = L.hi,
      phase = j and phases and phases[j] or 0,
      noise = c.latent_noise, act_noise = c.act_noise, g = g,
      fell = function(s) return L:fell(s) end,
      on_step = function(_, s, a, s1, k, last)
        self.real:push(s, a, s1, last)
        self.recent:push(s, a, s1, last)
        self.starts.n = self.starts.n + 1
        self.starts.s[self.starts.n] = s
        self.starts.phase[self.starts.n] = k[8] or 0  -- the gait clock's phase at s (0: none)
        self.starts.aprev[self.starts.n] = prev or a
        local rec, m = self.rec, #self.rec.S + 1
        rec.S[m], rec.K[m], rec.A[m], rec.S1[m], rec.ep[m] = s, k, a, s1, self.episodes
        rec.P[m] = prev or a
        prev = a
      end })
    self.ticks = self.ticks + n
    self.episodes = self.episodes + 1
    if down then
      self.falls = self.falls + 1
      self.fall_seconds[#self.fall_seconds + 1] = n * self.dt  -- how long the episode lasted
    end
  end
  self.recS, self.recK = A(self.rec.S), A(self.rec.K)
  self.recC = M.command_features(self.recS, self.recK)
  if C.h.prev_action then  -- h's inputs end with the action the robot held before each row
    self.recP = A(self.rec.P)
    self.recC = A.cat({ self.recC, self.recP }, 2)
  end
  local cur, hcur = L.pol:params(), C.h:params()
  L.pol:set_params(self.p0)
  C.h:set_params(self.hp0)
  self.recA0 = C:act(self.recS, self.recK, nil, self.recP)
  L.pol:set_params(cur)
  C.h:set_params(hcur)
  return { seconds = self.ticks * self.dt, episodes = self.episodes, falls = self.falls }
end

-- The command calibration's fit: points { { c = {vx, vy, wz} commanded, m = measured }, ... } ->
-- scale, offset (3 each) of the lines measured = scale * commanded + offset, one per axis, by
-- least squares with a ridge of weight `lambda` (0.05) holding scale near 1, scale clamped to
-- [0.5, 2] and |offset| to 0.15. vx and vy are fitted on the straight points (wz commanded 0: a
-- turn moves the body sideways at the trunk's origin, which a sideways command does not undo),
-- wz on all; an axis without points keeps scale 1, offset 0.
function M.fit_calibration(points, lambda)
  lambda = lambda or 0.05
  local scale, offset = { 1, 1, 1 }, { 0, 0, 0 }
  for ax = 1, 3 do
    local n, sc, scc, sm, scm = 0, 0, 0, 0, 0
    for _, q in ipairs(points) do
      if ax == 3 or q.c[3] == 0 then
        local x, y = q.c[ax], q.m[ax]
        n, sc, scc, sm, scm = n + 1, sc + x, scc + x * x, sm + y, scm + x * y
      end
    end
    if n > 0 then
      -- [scc + lambda, sc; sc, n] [a; b] = [scm + lambda; sm], det >= lambda n > 0
      local det = (scc + lambda) * n - sc * sc
      local a = math.max(0.5, math.min(2, ((scm + lambda) * n - sc * sm) / det))
      scale[ax], offset[ax] = a, math.max(-0.15, math.min(0.15, (sm - a * sc) / n))
    end
  end
  return scale, offset
end

-- The command calibration (with h, after the last round): the fine-tuned h walks on the robot,
-- without noise, courses of velocity commands drawn from command.ranges, each held calibrate_hold
-- seconds, straight holds (wz = 0) alternating with turns (vy = 0), for `seconds` more of the
-- budget (whole holds only; a course from x0s[j] with its clock at phases[j], nil: where the robot
-- stands). Each hold's mean body velocity and yaw rate after its first quarter is measured
-- against its command, the lines of M.fit_calibration are fitted and folded into h's first layer
-- (command.remap): h asked for c then commands what made the robot walk at c. The world model
-- never sees these ticks: they are the robot's answer to the fine-tuned h, which no model had.
-- Returns { holds = n, scale = {3}, offset = {3}, falls = n, seconds = s, points = { {c =, m =} } }
-- (the holds finished on the robot's feet); with fewer than 3, h is left as it is (scale 1,
-- offset 0).
function F:calibrate_command(seconds, x0s, phases)
  local L, c, C = self.L, self.cfg, self.C
  local command = require "spinal.command"
  local limit = math.min(self.budget, self.ticks + math.floor(seconds / self.dt + 1e-9))
  local hold = math.max(4, math.floor(c.calibrate_hold / self.dt + 0.5))
  local settle = hold // 4
  local g = rng.new(c.seed, 1300)
  local ranges, pts, falls, t0 = self:command_ranges(), {}, 0, self.ticks
  while limit - self.ticks >= hold do
    local nh = (limit - self.ticks) // hold
    local cmds, sums = {}, {}
    for k = 1, nh do
      local v = command.random_velocity(g, ranges)
      if (#pts + k) % 2 == 1 then v[3] = 0 else v[2] = 0 end
      cmds[k], sums[k] = v, { 0, 0, 0, 0 }
    end
    local j = x0s and g:integer(#x0s) or nil
    local n, down = C:run(L.plant, { steps = nh * hold, x0 = j and x0s[j] or nil,
      phase = j and phases and phases[j] or 0, lo = L.lo, hi = L.hi,
      row = function(i) return command.velocity(table.unpack(cmds[(i - 1) // hold + 1])) end,
      fell = function(s) return L:fell(s) end,
      on_step = function(i, _, _, s1)
        local m = sums[(i - 1) // hold + 1]
        if (i - 1) % hold >= settle then
          m[1], m[2], m[3], m[4] = m[1] + s1[8], m[2] + s1[9], m[3] + s1[13], m[4] + 1
        end
      end })
    self.ticks = self.ticks + n
    self.episodes = self.episodes + 1
    for k = 1, down and (n - 1) // hold or nh do
      local m = sums[k]
      pts[#pts + 1] = { c = cmds[k], m = { m[1] / m[4], m[2] / m[4], m[3] / m[4] } }
    end
    if down then falls, self.falls = falls + 1, self.falls + 1 end
  end
  local scale, offset = { 1, 1, 1 }, { 0, 0, 0 }
  if #pts >= 3 then
    scale, offset = M.fit_calibration(pts)
    C:remap(scale, offset)
  end
  return { holds = #pts, scale = scale, offset = offset, falls = falls, points = pts,
           seconds = (self.ticks - t0) * self.dt }
end

-- n windows of H steps of the robot's recorded courses (one episode each) for h's loss: their
-- start states S0 (n, nx), their commands K (n, H, h.nk) and the world model's correction along
-- them R (n, H, nx), R[k] = s_k+1 - W(s_k, a_k) on the recorded transitions (on-policy model
-- correction, engine/wm/command.h sp_command_loss_corrected): with the recorded actions each
-- corrected step lands on the recorded state (all but the orientation), so h learns from how the
-- robot moved where it was and from the model only how that changes when h acts otherwise. Also
-- returns each window's first recorded row (a Lua list) and the actions before the windows P0 (n,
-- nu) (a world model with history takes them). nil when no recorded episode holds H steps.
function F:corrected_windows(g, n, H)
  local rec = self.rec
  -- the first rows of every window inside one episode (a few thousand comparisons: found each
  -- call, so every round's recording is in)
  local w = {}
  for i = 1, #rec.S - H + 1 do
    if rec.ep[i] == rec.ep[i + H - 1] then w[#w + 1] = i end
  end
  if #w == 0 then return nil end
  local S0, K, S, Aa, S1, at, P0 = {}, {}, {}, {}, {}, {}, {}
  local hist = self.history == 1
  for b = 1, n do
    local i = w[g:integer(#w)]
    at[b] = i
    S0[b], P0[b] = rec.S[i], rec.P[i]
    local rows = {}
    for k = 0, H - 1 do
      rows[k + 1] = rec.K[i + k]
      local m = #S + 1
      S[m], S1[m] = rec.S[i + k], rec.S1[i + k]
      -- the model's action input: with history [a, a_prev]
      Aa[m] = hist and A.cat({ A(rec.A[i + k]), A(rec.P[i + k]) }, 1) or rec.A[i + k]
    end
    K[b] = rows
  end
  local R = A(S1) - self.L.model:step(A(S), hist and A.stack(Aa) or A(Aa))
  return A(S0), A(K), R:reshape(n, H, -1), at, A(P0)
end

-- the robot's sensor noise, measured: it stands still, holding the nominal pose (L.a_nom), for
-- `seconds` of the budget through the HAL, from x0 with its velocities zeroed (nil: where it
-- stands; over udp it is rearmed there); the true state settles, so in the second half a tick's
-- change of each entry is the difference of two draws of its noise: the std of those changes over
-- sqrt(2). (Read off a walk instead, the stride's own changes from tick to tick swamp the noise on
-- the velocities.) Not recorded as data for the model. Sets and returns self.sigma (an array (nx)).
function F:measure_noise(seconds, x0)
  local L = self.L
  local imitate = require "spinal.imitate"
  local n = math.min(self.budget - self.ticks, math.floor(seconds / self.dt + 1e-9))
  if n < 8 then
    error(("finetune: measuring the sensor noise needs at least 8 ticks of the budget standing, "
      .. "got %d (%g s)"):format(n, seconds), 2)
  end
  if x0 and L.plant.can_reset ~= false then
    local s = {}
    for i = 1, #x0 do s[i] = x0[i] end
    for i = 8, 13 do s[i] = 0 end
    for i = 14 + L.nj, 13 + 2 * L.nj do s[i] = 0 end
    L.plant:reset(imitate.to_plant(s, L.nj))
  elseif L.plant.can_reset == false then
    imitate.start_in_place(L.plant, function(s) return L:fell(s) end, L.nj)
  end
  local S = {}
  for t = 1, n do
    L.plant:write(L.a_nom)
    S[t] = imitate.read(L.plant, L.nj)
    if L:fell(S[t]) then
      self.ticks = self.ticks + t
      error(("finetune: the robot fell standing still after %.2f s, measuring its sensor noise")
        :format(t * self.dt), 2)
    end
  end
  self.ticks = self.ticks + n
  local half = n // 2
  local sigma = {}
  for i = 1, L.nx do
    local sum, sq, m = 0, 0, 0
    for t = half + 1, n do
      local d = S[t][i] - S[t - 1][i]
      sum, sq, m = sum + d, sq + d * d, m + 1
    end
    local var = math.max(0, (sq - sum * sum / m) / (m - 1))
    sigma[i] = math.sqrt(var / 2)
  end
  self.sigma = A(sigma)
  return self.sigma
end

-- pol_iters batches of h's loss through the corrected world model from the robot's states (random
-- commands, command.batch; a share `correction` of the rows the robot's recorded windows with the
-- model corrected along them, F:corrected_windows), gradients into h and the decoder (decoder =
-- false: h alone), plus the anchor
function F:train_command()
  local L, c, C = self.L, self.cfg, self.C
  local command = require "spinal.command"
  local g = self:rng(3)
  local n1 = self.m.prior.nparams
  local nd = self.m.dec.nparams
  local np = L.pol.nparams
  local loss, parts, aloss = 0, nil, 0
  local recAr = c.round_anchor > 0 and C:act(self.recS, self.recK, nil, self.recP) or nil  -- h at
                                                                              -- the round's start
  -- h_average: the mean of h over the round's last batches (Polyak-Ruppert tail averaging: the
  -- last batch's h carries that batch's noise; the mean of many is a steadier step)
  local tail = c.h_average > 0 and math.max(1, math.floor(c.pol_iters * c.h_average + 0.5)) or 0
  local hsum, nsum = nil, 0
  -- the sensor noise h's rollouts see (sensor_noise: a std for every entry, or -1 measured)
  local sigma = c.sensor_noise > 0 and A.full({ L.nx }, c.sensor_noise) or nil
  if c.sensor_noise < 0 then
    sigma = self.sigma
    if not sigma then
      error("finetune: sensor_noise=-1 trains h with the noise F:measure_noise measured: measure "
        .. "it first", 2)
    end
  end
  for it = 1, c.pol_iters do
    -- with a gait clock, each start's phase is the one it was recorded at on the robot
    local ncor = math.floor(c.pol_batch * c.correction + 0.5)
    local S0, K, R, P0
    if ncor < c.pol_batch then
      S0, K, P0 = command.batch(g, self.starts.s, c.pol_batch - ncor, c.horizon, self.dt,
                                self:command_ranges(),
                                { clock = C.h.clock, phases = self.starts.phase,
                                  aprev = self.starts.aprev })
    end
    if ncor > 0 then
      local S0c, Kc, Rc, _, P0c = self:corrected_windows(g, ncor, c.horizon)
      if not S0c then
        error(("finetune: correction=%g needs recorded episodes of horizon=%d steps on the "
          .. "robot (episode_steps=%d)"):format(c.correction, c.horizon, c.episode_steps), 0)
      end
      if S0 then
        S0, K, P0 = A.cat({ S0, S0c }, 1), A.cat({ K, Kc }, 1), A.cat({ P0, P0c }, 1)
        R = A.cat({ A.zeros(c.pol_batch - ncor, c.horizon, L.nx), Rc }, 1)
      else
        S0, K, R, P0 = S0c, Kc, Rc, P0c
      end
    end
    local eps = A.randn({ c.pol_batch, c.horizon, L.cfg.lat }, g)
    -- the VAE's gradient only when its decoder moves (h alone: "net" leaves it untouched)
    if c.decoder then L.pol:set_grads(A.zeros(np)) end
    -- (P0, the actions the robot held before the starts, for a model with history or h that
    -- sees them)
    local N = sigma and A.randn({ c.pol_batch, c.horizon, L.nx }, g):mul(sigma) or nil
    loss, parts = C.h:grad(L.model, L.pol, S0, K, eps, c.decoder and "both" or "net", R,
                           (self.history == 1 or C.h.prev_action) and P0 or nil, N)
    local hg = C.h:grads()
    local dec = c.decoder and L.pol:grads():narrow(1, np - nd + 1, nd) or nil
    -- the anchors: to the pre-trained h, then to h at the round's start (the trust region)
    if c.anchor > 0 or recAr then mirror_set(self.m, L.pol:params(), C.h:params()) end
    for _, an in ipairs { { c.anchor, nil }, { recAr and c.round_anchor or 0, recAr } } do
      if an[1] > 0 then
        local aS, aC, aT = self:anchor_rows(g, c.anchor_batch, an[2])
        local l, ga = M.anchor_loss(self.m, aS, aC, aT, self.a_nom, an[1], true)
        if not an[2] then aloss = l end
        hg = hg + ga:narrow(1, n1 + 1, C.h.nparams)
        if dec then dec:add_(ga:narrow(1, n1 + C.h.nparams + 1, nd)) end
      end
    end
    C.h:set_grads(hg)
    C.h:apply(C.opt)
    if it > c.pol_iters - tail then
      hsum = hsum and hsum:add_(C.h:params()) or C.h:params()
      nsum = nsum + 1
    end
    if dec then
      -- only the decoder moves in the VAE: the prior and encoder's gradients are zero
      local only = A.zeros(np)
      only:narrow(1, np - nd + 1, nd):copy_(dec)
      L.pol:set_grads(only)
      L.pol:apply(self.dopt)
    end
  end
  if nsum > 1 then C.h:set_params(hsum * (1 / nsum)) end
  return loss, parts, aloss
end

-- save the fine-tuned world model and policy (with their optimisers) and the robot's data
function F:save(dir)
  local L = self.L
  local function check(ok, err) if not ok then error("finetune: " .. tostring(err), 0) end end
  check(L.model:save(dir .. "/wm.ckpt", L.wopt))
  check(L.pol:save(dir .. "/policy.ckpt", L.popt))
  check(self.real:save(dir .. "/real.bin"))
end

return M
