-- command_train.lua: the command network's pre-training on the simulator (spinal.command_train;
-- docs/method2.md, "Command following"): h(z | s, command) over an imitation-trained VAE's frozen
-- decoder, fitted first to the VAE posterior's latents on the imitation's recorded states (the
-- warm start), then `rounds` rounds of: collect transitions on the plant with h following random
-- courses of the training range (into the imitation's replay buffer), train the world model, train
-- h through it (no RL). experiments/quadruped_command.lua runs it and evaluates h;
-- experiments/quadruped_finetune.lua runs it when it has no h to fine-tune.
--
--   local ctrain = require "spinal.command_train"
--   local C, info = ctrain.train(L, lib, { plant = sim, seed = 1, settings = cfg })
--   -- L: an spinal.imitate loop on `plant` (trained or loaded; its world model and replay buffer
--   -- are trained further, so save it afterwards: L:save(dir) next to C:save(file))
--
-- settings: the keys of ctrain.defaults (missing ones take them; ctrain.quick: the quick mode's).
-- info: command_samples (the transitions h's collection added), seconds.
local A = require "spinal.array"
local command = require "spinal.command"
local rng = require "spinal.rng"
local progress = require "spinal.progress"
local has_host, host = pcall(require, "spinal.host")
local function now() return has_host and host.clock() or os.time() end

local M = {}

M.defaults = {
  hidden = 128, layers = 2, lr = 1e-3, beta = 0.003, horizon = 48, batch = 64, noise = 1,
  clock_period = 0.3,     -- s: h's gait clock (the library's walking controller's period; 0: none)
  fit_samples = 30000, fit_epochs = 40, fit_cross = 0.15,   -- the warm start (fit_samples=0: none)
  fit_cross_frame = 1,    -- the other clip's frame of a crossed pair (0: a random one)
  fit_cross_match = true, -- instead: the other clip's frame nearest the state in gait phase
  rounds = 10, h_iters = 100, collect = 1000, wm_iters = 40, course_seconds = 3,
  act_noise = 0.03,
  backward = 0.5,         -- share of the nonzero vx commands drawn backward (command.ranges)
}
-- the quick mode (tests: seconds)
M.quick = { hidden = 32, fit_samples = 2000, fit_epochs = 2, rounds = 2, h_iters = 15,
            collect = 300, wm_iters = 10, batch = 32, horizon = 8 }

-- where a collection episode starts: a random frame of a random training clip of L (g draws the
-- clip, then the frame), with h's gait clock at its phase (phase_of: command.gait_phases').
-- Returns the world-model state, the phase and the clip and frame indices
function M.random_start(g, L, phase_of)
  local ci = g:integer(#L.refs)
  local fi = g:integer(math.max(1, L.refs[ci].n - 2))
  return L.refs[ci].frames[fi], phase_of(ci, fi), ci, fi
end

-- train h on L (an imitate loop on o.plant) with the gait library lib (gaitlib's: its training
-- entries label the warm start's states with their clips' achieved velocities). o: plant, seed,
-- settings (M.defaults' keys), log (function(row) per round, optional), label (the progress bar's
-- and printed lines' prefix). Returns h (spinal.command) and { command_samples, seconds }.
function M.train(L, lib, o)
  assert(type(o) == "table" and o.plant, "command_train.train: expected { plant = ..., ... }")
  local cfg = {}
  for k, v in pairs(M.defaults) do cfg[k] = v end
  for k, v in pairs(o.settings or {}) do if M.defaults[k] ~= nil then cfg[k] = v end end
  local who = o.label or "command_train"
  local plant, seed = o.plant, o.seed or 1
  local t0 = now()
  local dt, nj = L.cfg.dt, L.nj

  local clock = cfg.clock_period > 0 and command.clock(cfg.clock_period, dt) or 0
  local C = command.new { model = L.model, pol = L.pol, hidden = cfg.hidden, layers = cfg.layers,
                          lr = cfg.lr, beta = cfg.beta, seed = seed, clock = clock }
  local g = rng.new(seed, 77)
  local ranges = {}                               -- the training range, command.ranges
  for k, v in pairs(command.ranges) do ranges[k] = v end
  ranges.backward = cfg.backward

  -- the gait clock's phase of a library frame (command.gait_phases: phase 0 where the
  -- front-right knee is most bent in the clip's first period)
  local period_frames = cfg.clock_period > 0 and math.floor(cfg.clock_period / dt + 0.5) or 1
  local phase_of, phase0 = command.gait_phases(L.refs, clock)

  local starts, phases = {}, {}                   -- start states for h's training, their phases
  for i = 1, math.min(L.starts.n, L.cfg.capacity) do
    starts[#starts + 1] = L.starts.s[i]
    phases[#starts] = phase_of(L.starts.clip[i], L.starts.frame[i])
  end
  local function with_phase(row, phase)
    if clock > 0 then row[command.NK + 1] = phase end
    return row
  end

  -- the warm start: h fitted to the VAE posterior's latents (minus the prior's) on the recorded
  -- states of the imitation's training, each labelled with a clip's achieved velocity as a
  -- command (the gait library's clips are the walking controller following a command: steady
  -- clips throughout, transitions (of command or gait) before the switch and from 1 s after it)
  -- and with its frame's clock phase. A fraction fit_cross of the states is paired with another
  -- steady clip's frame instead of their own (fit_cross_match: the frame of the same phase; else
  -- fit_cross_frame): the latent the posterior gives to start that clip's motion from this
  -- state, which the recorded pairs alone never show
  local function label(ci, fi)
    local e = lib.entries.train[ci]
    local t = (fi - 1) * dt
    if e.kind == "steady" or t < e.switch_s then return e.achieved end
    if t >= e.switch_s + 1 then return e.achieved_to end
  end
  -- the frame of clip ci nearest state s in gait phase, so that the clip's conditioning (its
  -- frames a moment ahead) continues the legs' present motion: with a clock, the frame of the same
  -- phase (phase: the state's); without, the frame (within its first match_frames) nearest in
  -- joint angles and (scaled) joint velocities
  local match_frames, qd_scale = 100, 0.05
  local function phase_match(ci, s, phase)
    local ref, best, fi = L.refs[ci], math.huge, 1
    if clock > 0 then
      local f = phase0[ci] + math.floor(phase / clock + 0.5) % period_frames
      while f > ref.n do f = f - period_frames end
      return math.max(1, f)
    end
    for f = 1, math.min(ref.n, match_frames) do
      local r, d = ref.frames[f], 0
      for j = 14, 13 + nj do d = d + (s[j] - r[j]) ^ 2 end
      for j = 14 + nj, 13 + 2 * nj do d = d + (qd_scale * (s[j] - r[j])) ^ 2 end
      if d < best then best, fi = d, f end
    end
    return fi
  end
  local function warm_start()
    local st = L.starts
    local have = math.min(st.n, L.cfg.capacity)
    local steady = {}
    for i, e in ipairs(lib.entries.train) do
      if e.kind == "steady" then steady[#steady + 1] = i end
    end
    local order = {}
    for i = 1, have do order[i] = i end
    for i = have, 2, -1 do
      local j = g:integer(i)
      order[i], order[j] = order[j], order[i]
    end
    local S, K, Cc = {}, {}, {}
    for _, i in ipairs(order) do
      if #S >= cfg.fit_samples then break end
      local ci, fi = st.clip[i], st.frame[i]
      local phase = phase_of(ci, fi)
      if g:uniform() < cfg.fit_cross then
        ci = steady[g:integer(#steady)]
        if cfg.fit_cross_match then fi = phase_match(ci, st.s[i], phase)
        else fi = cfg.fit_cross_frame > 0 and cfg.fit_cross_frame or g:integer(L.refs[ci].n) end
      end
      local v = label(ci, fi)
      if v then
        local m = #S + 1
        S[m], K[m], Cc[m] = st.s[i], with_phase(command.velocity(v[1], v[2], v[3]), phase),
          L.refs[ci].cond[fi]
      end
    end
    if #S == 0 then return 0 / 0, 0 end
    S, K, Cc = A(S), A(K), A(Cc)
    local mq, mp = L.pol:latent(S, Cc)
    return C:fit(S, K, mq - mp, { epochs = cfg.fit_epochs }), S.shape[1]
  end
  if cfg.fit_samples > 0 then
    local t1 = now()
    local mse, n = warm_start()
    print(("%s: warm start on %d labelled states: latent error %.4f (%.0f s)")
      :format(who, n, mse, now() - t1))
  end

  local function fell(s) return L:fell(s) end

  -- collect n transitions on the plant with h following random courses of the training range,
  -- each episode from a training clip's reference state
  local command_samples = 0
  local function collect(n)
    local got, falls = 0, 0
    while got < n do
      local x0, phase = M.random_start(g, L, phase_of)
      local steps = math.min(n - got, math.floor(cfg.course_seconds / dt + 0.5))
      local row = command.random_course(g, x0, steps, dt, ranges)
      local done, down = C:run(plant, {
        steps = steps, x0 = x0, row = row, g = g, noise = cfg.noise, act_noise = cfg.act_noise,
        lo = L.lo, hi = L.hi, fell = fell, phase = phase,
        on_step = function(_, s, a, s1, k, last)
          L.buf:push(s, a, s1, last)
          L.model:observe(A(s), A(a), A(s1))
          starts[#starts + 1] = s
          phases[#starts] = k[command.NK + 1] or 0
        end })
      got = got + done
      if down then falls = falls + 1 end
    end
    command_samples = command_samples + got
    return falls
  end

  local bar = progress { total = cfg.rounds, label = "command" }
  local samples0 = L.samples
  for r = 1, cfg.rounds do
    local cfalls = cfg.collect > 0 and collect(cfg.collect) or 0
    local wl = 0
    for _ = 1, cfg.wm_iters do
      local S, Aw = L.buf:sample(L.cfg.wm_batch, L.cfg.wm_steps)
      if S then wl = L.model:train(S, Aw, L.wopt) end
    end
    local loss, parts = 0, {}
    for _ = 1, cfg.h_iters do
      local S0, K = command.batch(g, starts, cfg.batch, cfg.horizon, dt, ranges,
                                  { clock = clock, phases = phases })
      local eps = cfg.noise > 0 and A.randn({ cfg.batch, cfg.horizon, C.h.lat }, g):mul(cfg.noise)
        or nil
      loss, parts = C:train(S0, K, eps)
    end
    if o.log then
      local row = { round = r, samples = samples0 + command_samples, collect_falls = cfalls,
                    wm_loss = wl, h_loss = loss }
      for k, v in pairs(parts) do row["h_" .. k] = v end
      o.log(row)
    end
    bar:update(r, { h = loss, vel = parts.velocity, pose = parts.pose, falls = cfalls })
  end
  bar:done()
  return C, { command_samples = command_samples, seconds = now() - t0 }
end

return M
