-- observer_spec.lua: spinal.observer, the world-model observer between a robot's sensors and the
-- policy: the noise estimate from recorded walking data (the base's pose, fourth differences within
-- episodes) finds the readings' std and ignores the jumps between episodes; the gain blends by
-- variances; an observer of gain 1 passes the readings exactly; with gain < 1 on a robot its model
-- predicts, the estimate is nearer the true state than the readings, stays a unit quaternion, and
-- its bias term removes the offset a model that is a little off leaves; bad options are refused
-- naming them.
local A = require "spinal.array"
local wm = require "spinal.wm"
local rng = require "spinal.rng"
local observer = require "spinal.observer"

-- episodes of a smoothly moving base (50 Hz; pose entries 1..7 a 2 Hz sine each) with white noise
-- of std sigma on every entry; episode e starts `jump` away from where the last one ended
local function recorded(g, sigma, episodes, len, jump)
  jump = jump or 0
  local S, ep = {}, {}
  for e = 1, episodes do
    for t = 1, len do
      local s = {}
      for i = 1, 13 do
        s[i] = 0.3 * math.sin(2 * math.pi * 2 * t * 0.02 + i) + e * jump + sigma * g:normal()
      end
      S[#S + 1], ep[#ep + 1] = s, e
    end
  end
  return S, ep
end

describe("observer.noise_std", function()
  it("finds the readings' std from the pose's fourth differences", function()
    for _, sigma in ipairs { 0.004, 0.01 } do
      local est, n = observer.noise_std(recorded(rng.new(3), sigma, 4, 300))
      assert.is_true(n > 1000, "windows " .. n)
      assert.is_true(math.abs(est - sigma) < 0.1 * sigma, ("%g estimated %g"):format(sigma, est))
    end
    local est = observer.noise_std(recorded(rng.new(3), 0, 4, 300))
    assert.is_true(est < 5e-4, "a smooth walk without noise: " .. est)
  end)

  it("takes no window across two episodes", function()
    -- 8-tick episodes a metre apart: 4 windows inside each, 4 across each boundary
    local est, n = observer.noise_std(recorded(rng.new(4), 0, 50, 8, 1.0))
    assert.are.equal(50 * 4, n)
    assert.is_true(est < 5e-4, "the jumps between episodes counted: " .. est)
  end)

  it("is nil without a window, and refuses what is not recorded data", function()
    local S, ep = recorded(rng.new(5), 0.01, 3, 4)
    local est, n = observer.noise_std(S, ep)
    assert.is_nil(est)
    assert.are.equal(0, n)
    assert.has_error(function() observer.noise_std(S, { 1, 2 }) end,
      "observer.noise_std: expected recorded states S and their episodes ep (lists of the same "
        .. "length)")
  end)
end)

describe("observer.gain", function()
  it("blends a prediction and a reading by their variances", function()
    assert.are.equal(1, observer.gain(0))
    assert.are.equal(0.5, observer.gain(0.02, 0.02))
    local k = observer.gain(0.01)
    assert.is_true(math.abs(k - 0.0065 ^ 2 / (0.0065 ^ 2 + 1e-4)) < 1e-15 and k > 0.29 and k < 0.31)
    assert.is_true(observer.gain(0.004) > k)
    assert.has_error(function() observer.gain(-1) end, "observer.gain: sigma=-1: expected a std >= 0")
    assert.has_error(function() observer.gain(0.01, 0) end,
      "observer.gain: model_std=0: expected a std > 0")
  end)
end)

-- a robot with one joint the model predicts: its base moves at a constant world velocity (plus a
-- steady acceleration `acc` along x the model does not know), level, the joint still; reads give
-- the true state plus noise of std sigma on every entry (the plant's layout: p, q, qj, v_world,
-- w, qd)
local function fake_plant(g, sigma, acc)
  local dt = 0.02
  local p = { t = 0, written = {} }
  function p.truth_wm()
    local t = p.t * dt
    local vx = 0.5 + acc * t
    return { 0.5 * t + acc * t * t / 2, 0.1 * t, 0.3, 1, 0, 0, 0, vx, 0.1, 0, 0, 0, 0, 0.2, 0 }
  end
  function p:reset() self.t = 0 end
  function p:write(a) self.written[#self.written + 1] = a[1]; self.t = self.t + 1 end
  function p:read()
    local s = self.truth_wm()
    -- plant layout (identity orientation: world and body velocities agree)
    local x = { s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[14], s[8], s[9], s[10], s[11], s[12],
                s[13], s[15] }
    for i = 1, #x do x[i] = x[i] + sigma * g:normal() end
    return x
  end
  p.backend = "fake"
  return p
end

-- drive `ticks` ticks through the (wrapped) plant; the estimates' RMS error against the truth on
-- the linear velocity (world-model layout 8..10) and position (1..3), and the mean x velocity
-- error over the last half
local function drive(plant, inner, ticks)
  local imitate = require "spinal.imitate"
  plant:reset()
  local ev, ep, mean, nm, qn = 0, 0, 0, 0, 0
  for t = 1, ticks do
    local s = imitate.to_wm(plant:read(), 1)
    local tr = inner.truth_wm()
    for i = 8, 10 do ev = ev + (s[i] - tr[i]) ^ 2 / (3 * ticks) end
    for i = 1, 3 do ep = ep + (s[i] - tr[i]) ^ 2 / (3 * ticks) end
    if t > ticks // 2 then mean, nm = mean + s[8] - tr[8], nm + 1 end
    qn = math.max(qn, math.abs(s[4] ^ 2 + s[5] ^ 2 + s[6] ^ 2 + s[7] ^ 2 - 1))
    plant:write { 0 }
  end
  return math.sqrt(ev), math.sqrt(ep), mean / nm, qn
end

describe("observer on a robot", function()
  -- a fresh model predicts "the velocities stay as they are" (its last layer is zero), the poses
  -- integrated: exactly this robot without acceleration
  local function model() return wm.new { nj = 1, nu = 1, dt = 0.02, hidden = 8, layers = 1, seed = 2 } end

  it("passes every reading as it is with gain 1", function()
    local g1, g2 = rng.new(7), rng.new(7)
    local raw, inner = fake_plant(g1, 0.01, 0), fake_plant(g2, 0.01, 0)
    local p = observer.new(model(), { nj = 1, gain = 1 }):wrap(inner)
    for _ = 1, 20 do
      local a, b = raw:read(), p:read()
      assert.are.same(a, b)
      raw:write { 0.1 }
      p:write { 0.1 }
    end
    assert.are.equal(20, #inner.written)
    assert.are.equal("fake", p.backend)
  end)

  it("is nearer the true state than the readings, on unit quaternions", function()
    local sigma = 0.01
    local inner = fake_plant(rng.new(8), sigma, 0)
    local ev1, ep1 = drive(inner, inner, 400)
    -- (the velocity read is rotated into the body by the noisy orientation too: a little more)
    assert.is_true(ev1 > 0.9 * sigma and math.abs(ep1 - sigma) < 0.15 * sigma,
      ("the readings: velocity %g, position %g"):format(ev1, ep1))
    local k = observer.gain(sigma)
    local p = observer.new(model(), { nj = 1, gain = k }):wrap(fake_plant(rng.new(8), sigma, 0))
    local ev, ep, _, qn = drive(p, p.inner, 400)
    assert.is_true(ev < 0.7 * sigma, ("velocity %g of the readings' %g"):format(ev, sigma))
    assert.is_true(ep < 0.7 * sigma, ("position %g of the readings' %g"):format(ep, sigma))
    assert.is_true(qn < 1e-12, "the orientation's norm is off by " .. qn)
  end)

  it("keeps the readings' mean where the model is off (the bias estimate)", function()
    -- 0.5 m/s^2 the model does not predict: 0.01 m/s a tick
    local function offset(bias)
      local p = observer.new(model(), { nj = 1, gain = 0.3, bias = bias })
        :wrap(fake_plant(rng.new(9), 0.01, 0.5))
      local _, _, mean = drive(p, p.inner, 400)
      return math.abs(mean)
    end
    local without, with = offset(0), offset(0.02)
    assert.is_true(without > 0.015, "without the bias estimate the lag is " .. without)
    assert.is_true(with < 0.2 * without, ("with it %g, without %g"):format(with, without))
  end)

  it("forgets its estimate when the robot is reset", function()
    local inner = fake_plant(rng.new(10), 0, 0)
    local p = observer.new(model(), { nj = 1, gain = 0.3 }):wrap(inner)
    drive(p, inner, 10)
    p:reset()  -- the robot moved while nobody read it: after a reset the reading is taken
    inner.t = 500
    local s = require("spinal.imitate").to_wm(p:read(), 1)
    assert.is_true(math.abs(s[1] - inner.truth_wm()[1]) < 1e-12)
  end)

  it("refuses bad options naming them", function()
    local m = model()
    assert.has_error(function() observer.new(m, { nj = 1, gain = 0 }) end,
      "observer.new: gain pose=0: expected a number in (0, 1] (1: the reading as is)")
    assert.has_error(function() observer.new(m, { nj = 1, gain = { speed = 0.5 } }) end,
      "observer.new: gain.speed: no such group (pose, velocity, angular_velocity, joints, "
        .. "joint_velocities)")
    assert.has_error(function() observer.new(m, { nj = 1, bias = 1 }) end,
      "observer.new: bias=1: expected a rate in [0, 1) (0: no bias estimate)")
    assert.has_error(function() observer.new(m, { nj = 2 }) end,
      "observer.new: nj=2: the world model's states have 15 entries, not 17")
    assert.has_error(function() observer.new({}, { nj = 1 }) end,
      "observer.new: expected a world model (spinal.wm) as the first argument")
    local o = observer.new(m, { nj = 1, gain = 0.5 })
    assert.has_error(function() o:update { 1, 2, 3 } end,
      "observer: a reading of 3 entries, the world model's states have 15")
  end)
end)
