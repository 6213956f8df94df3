-- finetune_spec.lua: spinal.finetune, method 2's fine-tuning on a "real" robot: the policy's
-- networks mirrored for the anchor reproduce the policy's actions; the anchor's gradient against
-- central finite differences; world-model batches mix the robot's and the simulator's windows in
-- the set proportion (wm_recent's share of the robot's from the last collection alone), and the
-- policy's start states the robot's and the pre-training's; collection on a MuJoCo quadruped stops at the robot-time budget exactly, through the HAL, and records the
-- pre-trained policy's actions on every visited state; one policy fine-tuning step with the anchor
-- moves the actions less than without it. The whole experiment (quick mode, and over UDP against
-- a bridge) is tests/integration/quadruped_finetune.sh.
local A = require "spinal.array"
local wm = require "spinal.wm"
local rng = require "spinal.rng"
local sp = require "spinal"
local motion = require "spinal.motion"
local imitate = require "spinal.imitate"
local finetune = require "spinal.finetune"

local SRC = os.getenv "SPINAL_SOURCE_DIR" or "."
local STAND = { 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8, 0, 0.9, -1.8 }

local function random_states(g, B, nj)
  local S = A.randn({ B, 13 + 2 * nj }, g)
  for b = 1, B do
    local q = S[b]:narrow(1, 4, 4)
    q:div_(q:norm())
  end
  return S
end

local function random_policy(dtype)
  local nj = 12
  local pol = wm.vae { nj = nj, nu = nj, nc = 7, lat = 4, hidden = 8, layers = 2, a_nom = STAND,
                       seed = 3, dtype = dtype }
  pol:set_params(A.randn({ pol.nparams }, rng.new(5)) * 0.3)
  return pol
end

describe("finetune anchor", function()
  it("mirrors the policy's networks: the same mean actions as pol:act", function()
    for _, dtype in ipairs { "f64", "f32" } do
      local pol = random_policy(dtype)
      local g = rng.new(6)
      local S, C = random_states(g, 5, 12), A.randn({ 5, 7 }, g)
      local m = finetune.mirror(pol, { hidden = 8, layers = 2, dtype = dtype })
      finetune.mirror_set(m, pol:params())
      local d = (pol:act(S, C) - finetune.mirror_act(m, S, C, A(STAND))):abs():max()
      assert.is_true(d < (dtype == "f64" and 1e-12 or 1e-5), dtype .. " differs by " .. d)
    end
  end)

  it("refuses an architecture that is not the policy's", function()
    local pol = random_policy "f64"
    assert.has_error(function() finetune.mirror(pol, { hidden = 16, layers = 2, dtype = "f64" }) end,
      "finetune: the policy has 1324 parameters; networks of hidden 16, layers 2 would have 3012 "
        .. "(the pre-training's pol_hidden, pol_layers)")
  end)

  it("has the gradient of lambda mean |pi(s, c) - a0|^2 / nu (central differences)", function()
    local pol = random_policy "f64"
    local g = rng.new(7)
    local S, C, A0 = random_states(g, 6, 12), A.randn({ 6, 7 }, g), A.randn({ 6, 12 }, g)
    local m = finetune.mirror(pol, { hidden = 8, layers = 2, dtype = "f64" })
    local p0 = pol:params()
    finetune.mirror_set(m, p0)
    local loss, grad = finetune.anchor_loss(m, S, C, A0, A(STAND), 0.7, true)
    -- the loss itself, from pol:act
    local d = pol:act(S, C) - A0
    assert.near(0.7 * (d * d):sum() / 72, loss, 1e-12)
    local h, worst, scale = 1e-6, 0, grad:abs():max()
    for i = 1, pol.nparams do
      local p = p0:copy()
      p[i] = p0[i] + h
      finetune.mirror_set(m, p)
      local lp = finetune.anchor_loss(m, S, C, A0, A(STAND), 0.7)
      p[i] = p0[i] - h
      finetune.mirror_set(m, p)
      local lm = finetune.anchor_loss(m, S, C, A0, A(STAND), 0.7)
      worst = math.max(worst, math.abs((lp - lm) / (2 * h) - grad[i]))
    end
    assert.is_true(worst < 1e-7 * scale, ("worst %.3g of %.3g"):format(worst, scale))
  end)
end)

-- a clip of the standing pose walking forward at v
local function walking_clip(v, n)
  local frames = {}
  for i = 1, n do
    local row = { v * (i - 1) * 0.02, 0, 0.285, 1, 0, 0, 0 }
    for j = 1, 12 do row[7 + j] = STAND[j] end
    frames[i] = row
  end
  return motion.clip { frames = A(frames), frame_duration = 0.02 }
end

describe("finetune on a MuJoCo quadruped", function()
  local robot, plant, L
  setup(function()
    robot = sp.robot.load(SRC .. "/robots/quadruped_joint.lua")
    plant = assert(sp.hal.open(robot, "mujoco"))
    plant:activate()
    L = imitate.new { plant = plant, robot = robot, clips = { walking_clip(0.2, 60) }, seed = 1,
                      wm_hidden = 16, wm_layers = 1, pol_hidden = 16, pol_layers = 1, lat = 4,
                      wm_batch = 8, pol_batch = 8, horizon = 4, bootstrap = false }
    -- a policy that does something (random networks) and the "simulator's" data for mixing
    L.pol:set_params(A.randn({ L.pol.nparams }, rng.new(2)) * 0.05)
  end)

  it("collects exactly the robot-time budget through the plant and records the pre-trained actions",
    function()
      local F = finetune.new(L, { real_seconds = 1.5, episode_steps = 20, seed = 3 })
      local c = F:collect()
      assert.equal(75, F.ticks)
      assert.equal(1.5, c.seconds)
      assert.equal(75, F.recS.shape[1])
      assert.is_true(c.episodes >= 4)  -- episodes of at most 20 ticks
      -- a second call has nothing left to spend
      F:collect()
      assert.equal(75, F.ticks)
      -- the anchor's targets are the pre-trained policy's mean actions on the recorded states
      local d = (L.pol:act(F.recS, F.recC) - F.recA0):abs():max()
      assert.equal(0, d)
      assert.equal(0, F:action_shift())
    end)

  it("scores a noisy robot on its state without the noise when asked (evaluate's truth)", function()
    plant:perturb { noise = 0.02 }
    local ok, err = pcall(function()
      plant:seed(5)
      local heard = L:evaluate(L.refs[1], { seconds = 0.6 })
      plant:seed(5)
      local seen = L:evaluate(L.refs[1], { seconds = 0.6, truth = true })
      -- the same run (the same noise draws), scored two ways
      assert.same(heard.X:totable(), seen.X:totable())
      assert.is_true(math.abs(seen.velocity_error - heard.velocity_error) > 1e-4)
      assert.is_true(math.abs(seen.joint_error - heard.joint_error) > 1e-4)
    end)
    plant:perturb()
    assert(ok, err)
    -- without noise the two are one
    local heard = L:evaluate(L.refs[1], { seconds = 0.6 })
    local seen = L:evaluate(L.refs[1], { seconds = 0.6, truth = true })
    assert.equal(heard.velocity_error, seen.velocity_error)
    assert.equal(heard.joint_error, seen.joint_error)
  end)

  it("mixes the robot's and the simulator's windows in world-model batches as set", function()
    -- the simulator's buffer: states at height 9, the robot's at their real height (< 1)
    local sim = wm.replay { nx = L.nx, nu = L.nu, capacity = 100, seed = 1 }
    for k = 1, 40 do
      local s = {}
      for j = 1, L.nx do s[j] = 0 end
      s[3], s[4] = 9, 1
      sim:push(s, STAND, s, k % 20 == 0)
    end
    local keep = L.buf
    L.buf = sim
    for _, mix in ipairs { 0, 0.25, 1 } do
      local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, mix = mix, wm_batch = 16,
                                  seed = 4 })
      F:collect()
      local S = F:wm_batch(4)
      assert.same({ 16, 5, L.nx }, S.shape)
      local nsim = 0
      for b = 1, 16 do
        if S:get(b, 1, 3) == 9 then nsim = nsim + 1 end
      end
      assert.equal(math.floor(16 * mix + 0.5), nsim)
    end
    L.buf = keep
  end)

  it("draws wm_recent's share of the robot's windows from the last collection alone, and measures "
     .. "the model there", function()
    local F = finetune.new(L, { real_seconds = 2, episode_steps = 25, mix = 0.25, wm_batch = 16,
                                wm_recent = 0.5, seed = 4 })
    F:collect(1)
    F:collect(0.5)
    -- every tick in the robot's data, the last collection's alone in the recent ones
    assert.equal(75, F.real.size)
    assert.equal(25, F.recent.size)
    local v, q = F:wm_recent_error(4, 8)
    assert.is_true(v > 0 and q > 0)
    assert.is_nil(F:wm_recent_error(30))  -- no window of 30 steps in 25 ticks
    -- the last collection's stand-in at height 9: 6 of the 12 robot windows (mix: 4 simulator's)
    local sim, marked = wm.replay { nx = L.nx, nu = L.nu, capacity = 100, seed = 1 },
      wm.replay { nx = L.nx, nu = L.nu, capacity = 100, seed = 2 }
    for k = 1, 40 do
      local s, t = {}, {}
      for j = 1, L.nx do s[j], t[j] = 0, 0 end
      s[3], s[4], t[3], t[4] = 9, 1, 7, 1
      sim:push(t, STAND, t, k % 20 == 0)
      marked:push(s, STAND, s, k % 20 == 0)
    end
    local keep = L.buf
    L.buf, F.recent = sim, marked
    local S = F:wm_batch(4)
    local n = { [9] = 0, [7] = 0 }
    for b = 1, 16 do
      local h = S:get(b, 1, 3)
      if n[h] then n[h] = n[h] + 1 end
    end
    assert.same({ [9] = 6, [7] = 4 }, n)
    -- a last collection without a window that long: every robot window from all the data
    F.recent = wm.replay { nx = L.nx, nu = L.nu, capacity = 10, seed = 3 }
    S = F:wm_batch(4)
    n = 0
    for b = 1, 16 do if S:get(b, 1, 3) < 1 then n = n + 1 end end
    assert.equal(12, n)
    L.buf = keep
    local ok, err = pcall(finetune.new, L, { wm_recent = 1.5 })
    assert.is_false(ok)
    assert.matches("wm_recent=1.5: expected a share of the robot's windows in [0, 1]", err, 1, true)
  end)

  it("fits the world model with its velocity weight at wm_velocity (0: its own), on windows of "
     .. "wm_steps applications", function()
    local keep, p0 = L.model.weights, L.model:params()
    finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 6 })
    assert.same(keep, L.model.weights)
    local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 6, wm_velocity = 32,
                                wm_steps = 3, wm_iters = 2, wm_batch = 4, mix = 0 })
    assert.equal(32, L.model.weights.velocity)
    assert.equal(keep.orientation, L.model.weights.orientation)
    F:collect()
    local seen, batch = {}, F.wm_batch
    F.wm_batch = function(self, n)
      seen[#seen + 1] = n
      return batch(self, n)
    end
    local loss, parts = F:train_wm()
    assert.same({ 3, 3 }, seen)
    local sum = 0
    for k, v in pairs(parts) do sum = sum + L.model.weights[k] * v end
    assert.near(sum, loss, 1e-9 * loss)
    L.model:set_weights(keep)
    L.model:set_params(p0)
    L.wopt:reset()
  end)

  it("draws the policy's start states from the pre-training's in the share start_mix", function()
    -- the pre-training's start states at height 9, the robot's at their real height (< 1)
    local keep = L.starts
    local st = { n = 30, clip = {}, frame = {}, s = {} }
    for k = 1, 30 do
      local s = {}
      for j = 1, L.nx do s[j] = 0 end
      s[3], s[4] = 9, 1
      st.clip[k], st.frame[k], st.s[k] = 1, k, s
    end
    L.starts = st
    for _, share in ipairs { 0, 0.25, 1 } do
      local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, start_mix = share,
                                  pol_batch = 16, horizon = 4, seed = 4 })
      F:collect()
      local S0, C, R = F:policy_batch(F:rng(2))
      assert.same({ 16, L.nx }, S0.shape)
      assert.same({ 16, 4 }, { C.shape[1], C.shape[2] })
      assert.same({ 16, 4 }, { R.shape[1], R.shape[2] })
      local nsim = 0
      for b = 1, 16 do
        if S0:get(b, 3) == 9 then nsim = nsim + 1 end
      end
      assert.equal(math.floor(16 * share + 0.5), nsim)
    end
    L.starts = keep
  end)

  it("keeps the actions closer to the pre-trained ones with the anchor than without", function()
    local p0 = L.pol:params()
    local shifts = {}
    for _, lambda in ipairs { 0, 100 } do
      L.pol:set_params(p0)
      L.popt:reset()
      local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 5, anchor = lambda,
                                  pol_iters = 5, pol_lr = 1e-2, pol_batch = 8, horizon = 4,
                                  anchor_batch = 32 })
      F:collect()
      F:train_policy()
      shifts[#shifts + 1] = F:action_shift()
    end
    L.pol:set_params(p0)
    assert.is_true(shifts[1] > 0)
    assert.is_true(shifts[2] < 0.5 * shifts[1], ("%.4g vs %.4g"):format(shifts[2], shifts[1]))
  end)

  it("fine-tunes a command network h and the decoder: the budget, the recorded pre-trained "
    .. "actions, only h and the decoder move, the anchor pulls the actions back", function()
    local command = require "spinal.command"
    local p0 = L.pol:params()
    local ratio = {}
    -- the untrained world model ignores the action (its last layer is zero), so the tracking loss
    -- gives h and the decoder no gradient: only the anchor and h's prior term act
    for _, lambda in ipairs { 0, 100 } do
      L.pol:set_params(p0)
      local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
      C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
      local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 6, anchor = lambda,
                                  decoder = true, pol_iters = 20, pol_lr = 1e-3, pol_batch = 8,
                                  horizon = 4, anchor_batch = 32 })
      F:init_command(C)
      local c = F:collect_command(nil, { L.refs[1].frames[1] })
      assert.equal(50, F.ticks)
      assert.equal(1, c.seconds)
      assert.same({ 50, 7 }, F.recK.shape)
      assert.equal(0, (C:act(F.recS, F.recK) - F.recA0):abs():max())
      -- h moved away from the pre-trained one: the anchor brings its actions back
      C.h:set_params(C.h:params() + A.randn({ C.h.nparams }, rng.new(4)) * 0.1)
      local before = F:action_shift()
      F:train_command()
      ratio[#ratio + 1] = F:action_shift() / before
      -- the prior and encoder stay the pre-trained ones: only h and the decoder move
      local n = L.pol.nparams - F.m.dec.nparams
      assert.equal(0, (L.pol:params():narrow(1, 1, n) - p0:narrow(1, 1, n)):abs():max())
    end
    L.pol:set_params(p0)
    assert.is_true(ratio[2] < 0.4, ("with the anchor the shift went x%.3g"):format(ratio[2]))
    assert.is_true(ratio[2] < 0.75 * ratio[1], ("x%.3g with, x%.3g without"):format(ratio[2],
      ratio[1]))
  end)

  it("keeps h near where the round began with round_anchor (a trust region per round)", function()
    local command = require "spinal.command"
    local moved = {}
    -- (the test's small random decoder barely turns h's weights into actions: the anchor on the
    -- actions needs a large lambda to hold h's weights against its prior term)
    for _, lambda in ipairs { 0, 1e6 } do
      local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
      C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
      local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 6, anchor = 0,
                                  round_anchor = lambda, pol_iters = 60, pol_lr = 1e-3,
                                  pol_batch = 8, horizon = 4, anchor_batch = 32 })
      F:init_command(C)
      F:collect_command(nil, { L.refs[1].frames[1] })
      -- an earlier round moved h: this round starts from there, not from the pre-trained h
      C.h:set_params(C.h:params() + A.randn({ C.h.nparams }, rng.new(4)) * 0.1)
      local start = C:act(F.recS, F.recK)
      F:train_command()
      moved[#moved + 1] = (C:act(F.recS, F.recK) - start):abs():sum() / start:numel()
      -- the pre-trained h's anchor is off (anchor = 0): h stays far from it either way
      assert.is_true(F:action_shift() > 0)
    end
    assert.is_true(moved[1] > 0)
    assert.is_true(moved[2] < 0.1 * moved[1], ("moved %.3g with, %.3g without"):format(moved[2],
      moved[1]))
  end)

  it("measures the robot's sensor noise standing still and trains h with it (sensor_noise)",
    function()
      local command = require "spinal.command"
      local x0 = L.refs[1].frames[1]
      local function round(noise, sensor_noise)
        plant:perturb { noise = noise }
        local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
        C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
        local F = finetune.new(L, { real_seconds = 5, episode_steps = 25, seed = 6, anchor = 1,
                                    pol_iters = 2, pol_lr = 1e-2, pol_batch = 8, horizon = 4,
                                    anchor_batch = 32, sensor_noise = sensor_noise })
        F:init_command(C)
        local sigma = F:measure_noise(4, x0):totable()
        assert.equal(200, F.ticks)          -- counted in the budget
        assert.equal(0, #F.rec.S)           -- not recorded as the model's data
        F:collect_command(1, { x0 })
        F:train_command()
        plant:perturb { noise = 0 }
        return sigma, C.h:params()
      end
      -- 0.02 on every entry the plant reports: the pose's and the joint angles' mean std within a
      -- fifth (100 changes of each entry); the velocities' at least nine tenths of it (the
      -- low-level controller reads the noisy joint angles too, so the robot itself trembles); a
      -- robot without noise shows a twentieth of it at most
      local function mean(t, a, b)
        local m = 0
        for i = a, b do m = m + t[i] / (b - a + 1) end
        return m
      end
      local nj = L.nj
      local noisy, h_measured = round(0.02, -1)
      local pose, angles = mean(noisy, 1, 7), mean(noisy, 14, 13 + nj)
      local base_v, joint_v = mean(noisy, 8, 13), mean(noisy, 14 + nj, 13 + 2 * nj)
      assert.is_true(math.abs(pose - 0.02) < 0.004 and math.abs(angles - 0.02) < 0.004,
        ("pose %.4f joint angles %.4f"):format(pose, angles))
      assert.is_true(base_v > 0.018 and joint_v > 0.018,
        ("base velocities %.4f joint velocities %.4f"):format(base_v, joint_v))
      local quiet, h_none = round(0, 0)
      for i = 1, #quiet do
        assert.is_true(quiet[i] < 0.001, ("entry %d: %.4f"):format(i, quiet[i]))
      end
      -- trained with the noise measured, or a std given for every entry, h learns otherwise
      local _, h_fixed = round(0, 0.02)
      assert.is_true((h_fixed - h_none):abs():max() > 0)
      assert.is_true((h_measured - h_none):abs():max() > 0)
      -- -1 without a measurement, or another negative value, is refused
      local F = finetune.new(L, { real_seconds = 1, sensor_noise = -1, pol_iters = 1 })
      F:init_command(command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1 })
      local ok, e = pcall(F.train_command, F)
      assert.is_false(ok)
      assert.matches("sensor_noise=-1 trains h with the noise F:measure_noise measured", e, 1, true)
      ok, e = pcall(finetune.new, L, { sensor_noise = -0.5 })
      assert.is_false(ok)
      assert.matches("sensor_noise=-0.5: expected a std >= 0 or -1", e, 1, true)
    end)

  it("ends a round on the mean of h's last batches with h_average (tail averaging)", function()
    local command = require "spinal.command"
    -- the same round three ways: 1 batch, 2 batches, 2 batches averaged over both; every batch
    -- draws the same rows (train_command's generator starts afresh each call), so the averaged h
    -- is the mean of the first two's
    local function round(iters, share)
      local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
      C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
      local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 6, anchor = 1,
                                  round_anchor = 1, pol_iters = iters, pol_lr = 1e-2,
                                  pol_batch = 8, horizon = 4, anchor_batch = 32,
                                  h_average = share })
      F:init_command(C)
      F:collect_command(nil, { L.refs[1].frames[1] })
      F:train_command()
      return C.h:params()
    end
    local one, two, avg = round(1, 0), round(2, 0), round(2, 1)
    assert.is_true((two - one):abs():max() > 1e-4, "the second batch moved h")
    local want = (one + two) * 0.5
    -- (h's float32 parameters: the mean is rounded to them)
    assert.is_true((avg - want):abs():max() < 1e-6, ("%.3g"):format((avg - want):abs():max()))
    -- a share of half of 2 batches is the last one: the same as none
    assert.equal(0, (round(2, 0.5) - two):abs():max())
    local ok, err = pcall(finetune.new, L, { h_average = 1.5 })
    assert.is_false(ok)
    assert.matches("h_average=1.5: expected a share of the batches in [0, 1]", err, 1, true)
  end)

  it("calibrates h's commands on the robot: whole holds inside the budget, each hold's mean "
    .. "velocity after its first quarter, the fitted lines folded into h", function()
    local command = require "spinal.command"
    local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
    C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.5)
    local F = finetune.new(L, { real_seconds = 2, episode_steps = 25, seed = 6,
                                calibrate_hold = 0.2 })
    F:init_command(C)
    F:collect_command(1, { L.refs[1].frames[1] })
    assert.equal(50, F.ticks)
    -- every transition the calibration sees, and h as it was before
    local seen, run0 = {}, C.run
    function C.run(self, pl, o)
      local f = o.on_step
      local ep = {}
      seen[#seen + 1] = ep
      o.on_step = function(i, s, a, s1, k, last)
        ep[i] = { s1 = s1, k = k }
        f(i, s, a, s1, k, last)
      end
      return run0(self, pl, o)
    end
    local hp = C.h:params()
    local cal = F:calibrate_command(0.9, { L.refs[1].frames[1] })
    C.run = nil
    -- holds of 10 ticks: 0.9 s of budget is 4 whole holds (45 ticks), none started past it
    local ticks = 0
    for _, ep in ipairs(seen) do ticks = ticks + #ep end
    assert.equal(ticks, F.ticks - 50)
    assert.is_true(ticks <= 45)
    assert.near(ticks * 0.02, cal.seconds, 1e-12)
    -- each hold: one command, measured over its last 8 ticks (the body velocity, the yaw rate)
    local k = 0
    for _, ep in ipairs(seen) do
      for h0 = 0, #ep - 10, 10 do
        k = k + 1
        local q, m = cal.points[k], { 0, 0, 0 }
        for i = h0 + 1, h0 + 10 do
          for j = 1, 3 do assert.equal(q.c[j], ep[i].k[j]) end
          if i > h0 + 2 then
            local s1 = ep[i].s1
            m[1], m[2], m[3] = m[1] + s1[8] / 8, m[2] + s1[9] / 8, m[3] + s1[13] / 8
          end
        end
        for j = 1, 3 do assert.near(m[j], q.m[j], 1e-12) end
        -- straight holds (wz = 0) alternate with turns (vy = 0)
        assert.equal(0, k % 2 == 1 and q.c[3] or q.c[2])
      end
    end
    assert.equal(k, cal.holds)
    -- the lines fitted to those points are the ones folded into h
    local scale, offset = finetune.fit_calibration(cal.points)
    assert.same(scale, cal.scale)
    assert.same(offset, cal.offset)
    local now = C.h:params()
    C.h:set_params(hp)
    local K0 = {}
    for i = 1, F.recK.shape[1] do
      local r = F.recK[i]:totable()
      for j = 1, 3 do r[j] = (r[j] - offset[j]) / scale[j] end
      K0[i] = r
    end
    local want = C:act(F.recS, A(K0))
    C.h:set_params(now)
    if cal.holds >= 3 then
      assert.is_true((C:act(F.recS, F.recK) - want):abs():max() < 1e-5)
    else
      assert.equal(0, (now - hp):abs():max())
    end
  end)

  it("fine-tunes a command network h with a gait clock (quadruped_command's default): rows carry "
    .. "the clock's phase, the anchor and h's training see it, h and the decoder move", function()
    local command = require "spinal.command"
    local p0 = L.pol:params()
    local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4,
                            clock = command.clock(0.3, L.cfg.dt) }
    C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
    local hp0 = C.h:params()
    local F = finetune.new(L, { real_seconds = 1, episode_steps = 25, seed = 6, anchor = 100,
                                decoder = true, pol_iters = 5, pol_lr = 1e-3, pol_batch = 8,
                                horizon = 4, anchor_batch = 32 })
    F:init_command(C)
    F:collect_command(nil, { L.refs[1].frames[1] })
    assert.equal(50, F.ticks)
    assert.same({ 50, 8 }, F.recK.shape)
    assert.same({ 50, 10 }, F.recC.shape)
    -- the recorded pre-trained actions are h's on the recorded rows, phase included
    assert.equal(0, (C:act(F.recS, F.recK) - F.recA0):abs():max())
    -- each start state keeps the clock's phase it was visited at: 0 at an episode's first tick,
    -- then C.h.clock more a tick
    assert.equal(0, F.starts.phase[1])
    assert.equal(0, F.starts.phase[26])
    assert.near(24 * C.h.clock, F.starts.phase[25], 1e-12)
    for i = 1, 50 do assert.equal(F.recK[i][8], F.starts.phase[i]) end
    -- an episode's clock starts at the phase given with its start state
    F.budget = 75
    F:collect_command(nil, { L.refs[1].frames[1] }, { 1.25 })
    assert.equal(1.25, F.starts.phase[51])
    assert.near(1.25 + 24 * C.h.clock, F.starts.phase[75], 1e-12)
    -- the anchor's mirror of h over its 10 command features gives h's actions (f32)
    local d = (finetune.mirror_act(F.m, F.recS, F.recC, F.a_nom) - F.recA0):abs():max()
    assert.is_true(d < 1e-4, "the mirror differs by " .. d)
    F:train_command()
    assert.is_true((C.h:params() - hp0):abs():max() > 0, "h did not move")
    local n = L.pol.nparams - F.m.dec.nparams
    assert.equal(0, (L.pol:params():narrow(1, 1, n) - p0:narrow(1, 1, n)):abs():max())
    assert.is_true((L.pol:params() - p0):abs():max() > 0, "the decoder did not move")
    -- decoder = false: h alone moves, the whole VAE stays the pre-trained one
    L.pol:set_params(p0)
    C.h:set_params(hp0)
    F.cfg.decoder = false
    F:train_command()
    assert.is_true((C.h:params() - hp0):abs():max() > 0, "h did not move")
    assert.equal(0, (L.pol:params() - p0):abs():max())
    L.pol:set_params(p0)
  end)

  it("replays the robot's recorded windows with the world model corrected along them (correction)",
    function()
    local command = require "spinal.command"
    local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4,
                            clock = command.clock(0.3, L.cfg.dt) }
    -- (the untrained world model ignores actions: h's prior term is what moves it here)
    C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
    local hp0 = C.h:params()
    local F = finetune.new(L, { real_seconds = 1.2, episode_steps = 20, seed = 8, correction = 1,
                                pol_iters = 2, pol_batch = 6, horizon = 5, anchor = 0 })
    F:init_command(C)
    F:collect_command(nil, { L.refs[1].frames[1] })
    local S0, K, R, at = F:corrected_windows(rng.new(1), 12, 5)
    assert.same({ 12, 5, L.nx }, R.shape)
    assert.same({ 12, 5, 8 }, K.shape)
    local rec = F.rec
    for b = 1, 12 do
      local i = at[b]
      -- inside one episode (of at most 20 ticks)
      assert.equal(rec.ep[i], rec.ep[i + 4])
      assert.same(rec.S[i], S0[b]:totable())
      for k = 1, 5 do
        assert.same(rec.K[i + k - 1], K[b][k]:totable())
        -- the model's prediction from the recorded state and action plus the correction is the
        -- recorded next state (all but the quaternion, which the correction leaves alone)
        local s1 = L.model:step(A(rec.S[i + k - 1]), A(rec.A[i + k - 1])) + R[b][k]
        for j = 1, L.nx do
          if j < 4 or j > 7 then assert.near(rec.S1[i + k - 1][j], s1[j], 1e-9) end
        end
        if k < 5 then assert.same(rec.S1[i + k - 1], rec.S[i + k]) end
      end
    end
    -- a later round's data are windows too
    F.budget = 90
    F:collect_command(nil, { L.refs[1].frames[1] })
    local late, g2 = false, rng.new(2)
    for _ = 1, 20 do
      local _, _, _, at2 = F:corrected_windows(g2, 4, 5)
      for _, i in ipairs(at2) do late = late or i > 60 end
    end
    assert.is_true(late, "no window from the second collection")
    -- h trains on them (all rows: correction = 1), with the correction passed to its loss: the
    -- same rows without it give another loss
    local lc = C.h:loss(L.model, L.pol, S0, K, nil, nil, R)
    local lp = C.h:loss(L.model, L.pol, S0, K)
    assert.is_true(math.abs(lc - lp) > 1e-9)
    F:train_command()
    assert.is_true((C.h:params() - hp0):abs():max() > 0, "h did not move")
    -- windows longer than any episode: a clear error naming the settings
    F.cfg.horizon = 30
    local ok, err = pcall(F.train_command, F)
    assert.is_false(ok)
    assert.matches("correction=1 needs recorded episodes of horizon=30 steps", err, 1, true)
    C.h:set_params(hp0)
  end)

  it("collects and trains h on command.ranges, or with `paths` set on that share of paths",
    function()
    local command = require "spinal.command"
    local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
    local hp0 = C.h:params()
    local F = finetune.new(L, { real_seconds = 2, episode_steps = 10, seed = 7 })
    assert.equal(command.ranges, F:command_ranges())
    for _, share in ipairs { 0, 1 } do
      F = finetune.new(L, { real_seconds = 2, episode_steps = 10, seed = 7, paths = share,
                            pol_iters = 2, pol_batch = 4, horizon = 3, anchor = 0 })
      F:init_command(C)
      local r = F:command_ranges()
      assert.equal(share, r.paths)
      assert.equal(command.ranges.vx, r.vx)
      F:collect_command(nil, { L.refs[1].frames[1] })
      assert.equal(10, F.episodes)
      -- a path's rows weigh the target pose (wp = 1), a velocity command's do not
      for i = 1, F.recK.shape[1] do assert.equal(share, F.recK[i][7]) end
      -- and h's batches draw the same: record the rows command.batch gives train_command
      local batch, seen = command.batch, {}
      command.batch = function(...)
        local S0, K = batch(...)
        seen[#seen + 1] = K
        return S0, K
      end
      local ok, err = pcall(F.train_command, F)
      command.batch = batch
      assert(ok, err)
      assert.equal(2, #seen)
      for _, K in ipairs(seen) do
        for b = 1, 4 do assert.equal(share, K[b][1][7]) end
      end
    end
    assert.equal(0.5, command.ranges.paths)
    C.h:set_params(hp0)
  end)

  it("with prev_action widens the world model to see the previous action: the same predictions, "
    .. "windows and h's starts carrying the action the robot held, h trained through it", function()
    local command = require "spinal.command"
    local model, wopt = L.model, L.wopt
    local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
    C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
    local hp0 = C.h:params()
    local F = finetune.new(L, { real_seconds = 1.2, episode_steps = 20, seed = 8, correction = 0.5,
                                prev_action = true, pol_iters = 2, pol_batch = 6, horizon = 5,
                                anchor = 0, wm_iters = 2, wm_batch = 8, mix = 0 })
    local ok, err = pcall(function()
      assert.are_not.equal(model, L.model)
      assert.equal(1, L.model.history)
      assert.equal(1, F.real.history)
      assert.equal(1, L.buf.history)  -- the simulator's windows for mixing too
      local s = A(L.refs[1].frames[1])
      local a = A.randn({ L.nu }, rng.new(5))
      local junk = A.randn({ L.nu }, rng.new(6))
      assert.equal(0, (model:step(s, a) - L.model:step(s, A.cat({ a, junk }, 1))):abs():max())
      F:init_command(C)
      assert.equal(L.model, C.model)
      F:collect_command(nil, { L.refs[1].frames[1] })
      -- each recorded row's previous action: the one before in its episode, its own at the start
      local rec, st = F.rec, F.starts
      for i = 1, #rec.S do
        local want = (i > 1 and rec.ep[i - 1] == rec.ep[i]) and rec.A[i - 1] or rec.A[i]
        assert.same(want, rec.P[i])
        assert.same(want, st.aprev[i])
      end
      -- the corrected windows land on the recorded states through [a, a_prev]
      local S0, _, R, at, P0 = F:corrected_windows(rng.new(1), 6, 5)
      assert.same({ 6, L.nu }, P0.shape)
      for b = 1, 6 do
        local i = at[b]
        assert.same(rec.P[i], P0[b]:totable())
        local s1 = L.model:step(A(rec.S[i]), A.cat({ A(rec.A[i]), A(rec.P[i]) }, 1)) + R[b][1]
        assert.near(rec.S1[i][8], s1[8], 1e-9)
      end
      assert.same(rec.S[at[1]], S0[1]:totable())
      -- the world model trains on [a, a_prev] windows and h through it from the actions the
      -- robot held
      F:train_wm()
      local seen, real = {}, C.h
      C.h = setmetatable({}, { __index = function(_, k)
        local v = real[k]
        if type(v) ~= "function" then return v end
        return function(_, ...)
          if k == "grad" then seen[#seen + 1] = select(8, ...) end
          return v(real, ...)
        end
      end })
      local ok2, err2 = pcall(F.train_command, F)
      C.h = real
      assert(ok2, err2)
      assert.equal(2, #seen)
      for _, P in ipairs(seen) do assert.same({ 6, L.nu }, P.shape) end
      assert.is_true((C.h:params() - hp0):abs():max() > 0, "h did not move")
    end)
    L.model, L.wopt = model, wopt
    L.buf:set_history(0)
    C.h:set_params(hp0)
    assert(ok, err)
  end)

  it("with h_prev_action widens h to see the action the robot held (the nominal one at an "
    .. "episode's start), on the robot, in its anchor rows and its batches", function()
    local command = require "spinal.command"
    local C = command.new { model = L.model, pol = L.pol, hidden = 8, layers = 1, seed = 4 }
    C.h:set_params(A.randn({ C.h.nparams }, rng.new(3)) * 0.05)
    local nin = C.h.nin
    local F = finetune.new(L, { real_seconds = 0.8, episode_steps = 20, seed = 9,
                                h_prev_action = true, pol_iters = 2, pol_batch = 6, horizon = 5,
                                round_anchor = 1, wm_iters = 2, wm_batch = 8, mix = 0 })
    F:init_command(C)
    assert.is_true(C.h.prev_action)
    assert.equal(nin + L.nu, C.h.nin)
    F:collect_command(nil, { L.refs[1].frames[1] })
    local rec = F.rec
    assert.is_true(#rec.S == 40 and rec.ep[1] ~= rec.ep[40])
    for i = 1, #rec.S do
      local want = (i > 1 and rec.ep[i - 1] == rec.ep[i]) and rec.A[i - 1] or L.a_nom
      assert.same(want, rec.P[i])
      assert.same(want, F.starts.aprev[i])
    end
    -- the anchor's rows: h's inputs end with the previous action; the pre-trained h's actions
    local nc = F.recC.shape[2]
    assert.same(F.recP:totable(), F.recC:narrow(2, nc - L.nu + 1, L.nu):contiguous():totable())
    assert.equal(0, F:action_shift())
    F:train_command()
    assert.is_true(F:action_shift() > 0)
  end)
end)

describe("the command calibration's fit (finetune.fit_calibration)", function()
  it("recovers each axis's line, vx and vy from straight holds only, and clamps", function()
    local g = rng.new(11)
    local pts = {}
    for i = 1, 12 do
      local c = { g:uniform(-0.3, 0.6), g:uniform(-0.2, 0.2), i % 2 == 0 and g:uniform(-0.6, 0.6) or 0 }
      if c[3] ~= 0 then c[2] = 0 end
      -- a turn moves the trunk sideways (0.2 wz): the vy line must not see it
      pts[i] = { c = c, m = { 0.9 * c[1] + 0.03, 0.7 * c[2] - 0.02 + 0.2 * c[3], 1.1 * c[3] - 0.01 } }
    end
    local scale, offset = finetune.fit_calibration(pts, 0)
    local want_s, want_o = { 0.9, 0.7, 1.1 }, { 0.03, -0.02, -0.01 }
    for ax = 1, 3 do
      assert.near(want_s[ax], scale[ax], 1e-9)
      assert.near(want_o[ax], offset[ax], 1e-9)
    end
    -- the ridge holds the scale between the measured one and 1
    scale = finetune.fit_calibration(pts)
    assert.is_true(scale[2] > 0.7 and scale[2] < 1 and scale[3] > 1 and scale[3] < 1.1)
    -- clamped: a robot that barely answers, far off; an axis without points keeps the identity
    local far = { { c = { 0.5, 0, 0.3 }, m = { 0, 0, 0.05 + 0.3 } },
                  { c = { -0.5, 0, -0.3 }, m = { 0, 0, 0.3 - 0.03 } } }
    scale, offset = finetune.fit_calibration(far, 0)
    assert.same({ 1, 1 }, { scale[1], scale[2] })
    assert.same({ 0, 0 }, { offset[1], offset[2] })
    assert.equal(0.5, scale[3])
    assert.equal(0.15, offset[3])
  end)
end)

describe("finetune with a command network h", function()
  local command = require "spinal.command"

  it("mirrors h over the decoder: the same actions as C:act, and the anchor's gradient in h's and "
    .. "the decoder's parameters (central differences)", function()
    -- without a gait clock (rows of 7, 8 command features), with one (rows of 8, 10 features),
    -- and with one and the previous action (h_prev_action: 12 more inputs, last)
    for _, v in ipairs { { 0, false }, { 0.4, false }, { 0.4, true } } do
      local clock, prev = v[1], v[2]
      local pol = random_policy "f64"
      local model = wm.new { nj = 12, nu = 12, dt = 0.02, hidden = 8, layers = 1, seed = 1 }
      local C = command.new { model = model, pol = pol, hidden = 6, layers = 1, seed = 2 }
      C.h = wm.command { vae = pol, hidden = 6, layers = 1, dtype = "f64", seed = 2, clock = clock,
                         prev_action = prev }
      local hp = A.randn({ C.h.nparams }, rng.new(9)) * 0.3
      C.h:set_params(hp)
      local g = rng.new(8)
      local S = random_states(g, 5, 12)
      local K = A.randn({ 5, C.h.nk }, g)
      local P = prev and A.randn({ 5, 12 }, g) * 0.3 or nil
      local nc = (clock > 0 and 10 or 8) + (prev and 12 or 0)
      assert.equal(C.h.nin, 10 + 2 * 12 + nc)
      local m = finetune.mirror(pol, { hidden = 8, layers = 2, dtype = "f64",
                                       high = { nin = nc, hidden = 6, layers = 1,
                                                nparams = C.h.nparams } })
      local p0 = pol:params()
      finetune.mirror_set(m, p0, hp)
      local U = finetune.command_features(S, K)
      if prev then U = A.cat({ U, P }, 2) end
      assert.same({ 5, nc }, U.shape)
      local d = (C:act(S, K, nil, P) - finetune.mirror_act(m, S, U, A(STAND))):abs():max()
      assert.is_true(d < 1e-12, "differs by " .. d)
      local A0 = A.randn({ 5, 12 }, g)
      local _, grad = finetune.anchor_loss(m, S, U, A0, A(STAND), 0.5, true)
      local n1, nh = m.prior.nparams, C.h.nparams
      local h, worst, scale = 1e-6, 0, grad:abs():max()
      local function at(hv, pv)
        finetune.mirror_set(m, pv, hv)
        return finetune.anchor_loss(m, S, U, A0, A(STAND), 0.5)
      end
      for i = 1, nh do
        local hv = hp:copy()
        hv[i] = hp[i] + h
        local lp = at(hv, p0)
        hv[i] = hp[i] - h
        local lm = at(hv, p0)
        worst = math.max(worst, math.abs((lp - lm) / (2 * h) - grad[n1 + i]))
      end
      local nd = m.dec.nparams
      for i = pol.nparams - nd + 1, pol.nparams do
        local pv = p0:copy()
        pv[i] = p0[i] + h
        local lp = at(hp, pv)
        pv[i] = p0[i] - h
        local lm = at(hp, pv)
        worst = math.max(worst, math.abs((lp - lm) / (2 * h) - grad[n1 + nh + i - (pol.nparams - nd)]))
      end
      assert.is_true(worst < 1e-7 * scale, ("worst %.3g of %.3g"):format(worst, scale))
    end
  end)

  it("refuses to mirror a clocked h as one without a clock, naming both parameter counts", function()
    local pol = random_policy "f64"
    local model = wm.new { nj = 12, nu = 12, dt = 0.02, hidden = 8, layers = 1, seed = 1 }
    local C = command.new { model = model, pol = pol, hidden = 6, layers = 1, seed = 2, clock = 0.4 }
    assert.has_error(function()
      finetune.mirror(pol, { hidden = 8, layers = 2, high = { nin = 8, hidden = 6, layers = 1,
                                                              nparams = C.h.nparams } })
    end, ("finetune: the command network has %d parameters; hidden 6, layers 1 would have %d")
      :format(C.h.nparams, C.h.nparams - 2 * 6))
  end)
end)
