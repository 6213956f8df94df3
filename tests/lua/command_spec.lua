-- command_spec.lua: spinal.command and its binding (wm.command): a new network plays the prior,
-- training through a world model makes a frozen decoder follow velocity commands, files, the
-- gradient flags, the paths' geometry, and the errors a user sees.
local wm = require "spinal.wm"
local nn = require "spinal.nn"
local command = require "spinal.command"
local A = require "spinal.array"
local rng = require "spinal.rng"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

-- a floating trunk with one joint (nx = 15) whose forward speed and yaw rate follow the two
-- actions: v' = 0.8 v + 0.2 a1, wz' = 0.8 wz + 0.2 a2 (dt 0.05), poses integrated as the world
-- model integrates them (trapezoidal, about z)
local DT = 0.05
local function trunk(x, y, yaw, v, wz)
  local s = A.zeros(15)
  s[1], s[2], s[3] = x, y, 0.3
  s[4], s[7] = math.cos(yaw / 2), math.sin(yaw / 2)
  s[8], s[13] = v, wz
  return s
end
local function plant_step(s, a)
  local yaw = command.yaw_of(s)
  local v, wz = s[8], s[13]
  local v1, w1 = 0.8 * v + 0.2 * a[1], 0.8 * wz + 0.2 * a[2]
  local yaw1 = yaw + DT * (wz + w1) / 2
  local x = s[1] + DT / 2 * (math.cos(yaw) * v + math.cos(yaw1) * v1)
  local y = s[2] + DT / 2 * (math.sin(yaw) * v + math.sin(yaw1) * v1)
  return trunk(x, y, yaw1, v1, w1)
end

local function trained_world(seed)
  local m = wm.new { nj = 1, nu = 2, dt = DT, hidden = 32, layers = 2, seed = seed }
  local buf = wm.replay { nx = 15, nu = 2, capacity = 4000, seed = 1 }
  local g = rng.new(seed)
  local s = trunk(0, 0, 0, 0, 0)
  for t = 1, 3000 do
    local a = { 1.5 * g:normal(), 1.5 * g:normal() }
    local s1 = plant_step(s, a)
    buf:push(s, a, s1, t % 100 == 0)
    m:observe(s, a, s1)
    s = t % 100 == 0 and trunk(0, 0, 0, 0, 0) or s1
  end
  local opt = nn.adam { lr = 3e-3 }
  for _ = 1, 300 do
    local S, Aa = buf:sample(64, 8)
    m:train(S, Aa, opt)
  end
  return m
end

-- a VAE whose decoder maps latents to actions (random weights, as after some training)
local function vae(seed)
  local pol = wm.vae { nj = 1, nu = 2, nc = 1, lat = 4, hidden = 16, layers = 1, seed = seed }
  local g = rng.new(seed + 7)
  local p = pol:params()
  for i = 1, pol.nparams do p[i] = 0.5 * g:normal() end
  pol:set_params(p)
  return pol
end

describe("command network", function()
  it("plays the prior's mean when new, and names bad options", function()
    local pol = vae(1)
    local m = wm.new { nj = 1, nu = 2, dt = DT, hidden = 8, layers = 1 }
    local C = command.new { model = m, pol = pol, seed = 1 }
    assert.equal(4, C.h.lat)
    assert.equal(7, C.h.nk)
    local s = trunk(0.3, -0.2, 0.4, 0.1, 0.2)
    local a, z = C:act(s, command.velocity(0.5, 0, 0.3))
    local ap = pol:act(s)
    assert.near(ap[1], a[1], 1e-12)
    assert.near(ap[2], a[2], 1e-12)
    assert.equal(4, #z)
    assert.matches("field 'lat': expected an integer", err(wm.command, { nj = 1 }))
    assert.matches("unknown option 'weights.speed'; valid: velocity, yaw_rate",
                   err(wm.command, { vae = pol, weights = { speed = 1 } }))
    local other = wm.vae { nj = 1, nu = 2, nc = 1, lat = 3 }
    assert.matches("expected a VAE policy with 1 joints and latent size 4, got 1 and 3",
                   err(function() return C.h:act(other, s, command.velocity(0, 0, 0)) end))
    assert.matches("expected commands with 7 entries per row, got shape 6",
                   err(function() return C.h:act(pol, s, { 0, 0, 0, 0, 0, 0 }) end))
    assert.matches("cannot set field 'lat' of a command network %(only beta%)",
                   err(function() C.h.lat = 3 end))
  end)

  it("learns through the world model to make the frozen decoder follow velocity commands",
    function()
      local m = trained_world(2)
      local pol = vae(3)
      local before_dec = pol:params()
      local C = command.new { model = m, pol = pol, hidden = 32, lr = 3e-3, seed = 1,
                              beta = 0.001 }
      local g = rng.new(4)
      local B, H = 48, 12
      local S0, K = A.zeros(B, 15), A.zeros(B, H, 7)
      for b = 1, B do
        local s = trunk(g:normal(), g:normal(), g:normal(), 0.3 * g:normal(), 0.3 * g:normal())
        for j = 1, 15 do S0[b][j] = s[j] end
        local vx, wz = 0.8 * g:uniform() - 0.4, g:uniform() - 0.5
        for k = 1, H do K[b][k][1], K[b][k][3] = vx, wz end
      end
      local _, p0 = C:loss(S0, K)
      for _ = 1, 300 do C:train(S0, K) end
      local _, p1 = C:loss(S0, K)
      assert.is_true(p1.velocity < 0.4 * p0.velocity)
      assert.is_true(p1.prior > 0)
      -- the decoder is untouched
      assert.same(before_dec:totable(), pol:params():totable())
      -- on the plant itself (not the model), a command is followed after a few ticks
      local s = trunk(0, 0, 0, 0, 0)
      for _ = 1, 40 do s = plant_step(s, C:act(s, command.velocity(0.3, 0, -0.2))) end
      assert.near(0.3, s[8], 0.1)
      assert.near(-0.2, s[13], 0.1)
      -- a file restores it and its optimiser
      local path = os.tmpname()
      assert.is_true(C:save(path))
      local back = assert(command.load(path, { model = m, pol = pol }))
      assert.equal((C:loss(S0, K)), (back:loss(S0, K)))
      assert.equal(300, back.opt.t)
      local none, msg = command.load(path, { model = m, pol = wm.vae { nj = 1, nu = 2, nc = 1,
                                                                       lat = 5 } })
      assert.is_nil(none)
      assert.matches("a command network for latent 4 and 1 joints, the policy has 5 and 1", msg)
      os.remove(path)
      none, msg = wm.load_command(path)
      assert.is_nil(none)
      assert.matches("cannot open: No such file or directory", msg)
    end)

  -- a random world model whose predictions the actions move, a VAE, h, and 2 starts walking 3
  -- steps at 0.5 m/s
  local function rollout_rig()
    local m = wm.new { nj = 1, nu = 2, dt = DT, hidden = 8, layers = 1, seed = 1 }
    local gm = rng.new(9)
    local p = m:params()
    for i = 1, m.nparams do p[i] = 0.3 * gm:normal() end
    m:set_params(p)
    local pol = vae(5)
    local C = command.new { model = m, pol = pol, hidden = 8, seed = 2 }
    local S0, K = A.zeros(2, 15), A.zeros(2, 3, 7)
    for b = 1, 2 do
      local s = trunk(0, 0, 0.1 * b, 0.1, 0)
      for j = 1, 15 do S0[b][j] = s[j] end
      for k = 1, 3 do K[b][k][1] = 0.5 end
    end
    return m, pol, C, S0, K
  end

  it("accumulates the decoder's gradients only when asked", function()
    local m, pol, C, S0, K = rollout_rig()
    pol:set_grads(A.zeros(pol.nparams))
    C.h:grad(m, pol, S0, K, nil, "net")
    assert.equal(0, pol:grads():abs():max())
    assert.is_true(C.h:grads():abs():max() > 0)
    local hg = C.h:grads():totable()
    C.h:grad(m, pol, S0, K, nil, "decoder")
    assert.same(hg, C.h:grads():totable())        -- h's gradients left as they were
    assert.is_true(pol:grads():abs():max() > 0)
    assert.matches("invalid option 'all'", err(function() return C.h:grad(m, pol, S0, K, nil, "all") end))
  end)

  it("rolls out with sensor noise on the states the policy sees, of the rollout's shape", function()
    local m, pol, C, S0, K = rollout_rig()
    C.h:set_params(A.randn({ C.h.nparams }, rng.new(4)) * 0.3)
    local plain = C.h:loss(m, pol, S0, K)
    -- no noise and zero noise are the same rollout; noise moves it (the model steps the true
    -- state, the policy acts on the noisy one: engine/wm/command.h)
    assert.equal(plain, (C.h:loss(m, pol, S0, K, nil, nil, nil, nil, A.zeros(2, 3, 15))))
    local N = A.randn({ 2, 3, 15 }, rng.new(5)) * 0.05
    local noisy = C.h:grad(m, pol, S0, K, nil, "net", nil, nil, N)
    assert.is_true(math.abs(noisy - plain) > 1e-6)
    assert.equal(noisy, (C.h:loss(m, pol, S0, K, nil, nil, nil, nil, N)))
    assert.matches("bad argument #9 .*expected 2 rows and 3 steps in the sensor noise, got 2 and 2",
      err(function() return C.h:loss(m, pol, S0, K, nil, nil, nil, nil, A.zeros(2, 2, 15)) end))
    assert.matches("sensor noise %(batch, H, nx%)",
      err(function() return C.h:loss(m, pol, S0, K, nil, nil, nil, nil, A.zeros(2, 3, 14)) end))
  end)
end)

describe("a command network that sees the previous action", function()
  it("acts as before when widened, ends its inputs with it, and learns to use it", function()
    local m = trained_world(5):with_history()
    local pol = vae(6)
    local C = command.new { model = m, pol = pol, hidden = 16, lr = 3e-3, seed = 2 }
    local g = rng.new(7)
    local p = C.h:params()
    for i = 1, C.h.nparams do p[i] = 0.3 * g:normal() end
    C.h:set_params(p)
    local B, H = 16, 6
    local S, K, P = A.zeros(B, 15), A.zeros(B, 7), A.zeros(B, 2)
    for b = 1, B do
      local s = trunk(g:normal(), g:normal(), g:normal(), 0.3 * g:normal(), 0.3 * g:normal())
      for j = 1, 15 do S[b][j] = s[j] end
      K[b][1], K[b][3] = 0.3 * g:normal(), 0.3 * g:normal()
      P[b][1], P[b][2] = g:normal(), g:normal()
    end
    local a0 = C:act(S, K)
    local nin = C.h.nin
    assert.is_false(C.h.prev_action)
    C:with_prev_action()
    assert.is_true(C.h.prev_action)
    assert.equal(nin + 2, C.h.nin)
    assert.same(a0:totable(), C:act(S, K, nil, P):totable())
    local X = C.h:features(S, K, P)
    assert.same(P:totable(), X:narrow(2, nin + 1, 2):contiguous():totable())
    assert.matches("already sees the previous action",
                   err(function() return C.h:with_prev_action(2) end))
    assert.matches("field 'prev_action': true needs vae",
                   err(wm.command, { nj = 1, lat = 4, prev_action = true }))
    assert.is_true(wm.command { nj = 1, lat = 4, prev_action = 2 }.prev_action)
    -- trained through the model with the previous actions before the starts, its actions come
    -- to depend on them
    local S0, KK = A.zeros(B, 15), A.zeros(B, H, 7)
    for b = 1, B do
      for j = 1, 15 do S0[b][j] = S[b][j] end
      for k = 1, H do KK[b][k][1], KK[b][k][3] = K[b][1], K[b][3] end
    end
    for _ = 1, 20 do
      C.h:grad(m, pol, S0, KK, nil, "net", nil, P)
      C.h:apply(C.opt)
    end
    local with, without = C:act(S, K, nil, P), C:act(S, K)
    assert.is_true((with - without):abs():max() > 1e-4)
  end)
end)

describe("the warm start (command.fit)", function()
  it("fits h's latent residual to targets, so act's latent is the prior's mean plus them", function()
    local pol = vae(6)
    local m = wm.new { nj = 1, nu = 2, dt = DT, hidden = 8, layers = 1 }
    local C = command.new { model = m, pol = pol, hidden = 32, seed = 3 }
    assert.equal(C.h.nin, C.h:features(trunk(0, 0, 0, 0, 0), command.velocity(0, 0, 0)).shape[1])
    local g = rng.new(7)
    local N = 1024
    local S, K, E = {}, {}, {}
    for i = 1, N do
      local vx, wz = g:uniform(-0.5, 0.5), g:uniform(-0.5, 0.5)
      S[i] = trunk(g:normal(), g:normal(), g:normal(), g:normal() * 0.3, 0):totable()
      K[i] = command.velocity(vx, 0, wz)
      E[i] = { vx, -wz, vx + wz, 0.5 }    -- the latent residual wanted for each command
    end
    S, K, E = A(S), A(K), A(E)
    local mse = C:fit(S, K, E, { epochs = 40, batch = 128, lr = 3e-3 })
    assert.is_true(mse < 0.01 * (E * E):mean())
    local s = trunk(0.2, 0.1, 0.3, 0, 0)
    local _, z = C:act(s, command.velocity(0.4, 0, -0.2))
    local _, mp = pol:latent(s)
    local want = { 0.4, 0.2, 0.2, 0.5 }
    for j = 1, 4 do assert.near(mp[j] + want[j], z[j], 0.05) end
  end)
end)

describe("a gait clock", function()
  it("is the 8th entry of h's rows: kept by run on the plant and drawn by batch from the starts' phases",
    function()
    local pol = vae(8)
    local m = wm.new { nj = 1, nu = 2, dt = DT, hidden = 8, layers = 1 }
    local step = command.clock(0.3, 0.02)
    assert.near(2 * math.pi / 15, step, 1e-15)
    local C = command.new { model = m, pol = pol, hidden = 8, seed = 4, clock = step }
    assert.equal(8, C.h.nk)
    assert.equal(step, C.h.clock)
    assert.equal(7, command.new({ model = m, pol = pol, hidden = 8 }).h.nk)
    -- a row without the phase is refused, with the phase it acts
    local s = trunk(0, 0, 0, 0, 0)
    assert.matches("bad argument #3 to .act. %(expected commands with 8 entries per row, got shape 7%)",
      err(function() return C:act(s, command.velocity(0.3, 0, 0)) end))
    local a0 = C:act(s, { 0.3, 0, 0, 0, 0, 0, 0, 0 })
    assert.equal(2, a0.shape[1])
    -- on a plant: the clock starts at opts.phase and advances by one step per tick
    local plant = { state = trunk(0, 0, 0, 0, 0):totable() }
    function plant.reset() end
    function plant.read(self)
      local imitate = require "spinal.imitate"
      return imitate.to_plant(self.state, 1)
    end
    function plant.write() end
    local seen = {}
    local n, fell, phase = C:run(plant, { steps = 4, row = function() return command.velocity(0.3, 0, 0) end,
      phase = 1, on_step = function(i, _, _, _, row) seen[i] = row[8] end })
    assert.equal(4, n)
    assert.is_false(fell)
    for i = 1, 4 do assert.near(1 + (i - 1) * step, seen[i], 1e-12) end
    assert.near(1 + 4 * step, phase, 1e-12)
    -- in training: each start's phase, advancing along the window
    local starts, phases = {}, {}
    for i = 1, 5 do
      starts[i] = trunk(i, 0, 0, 0, 0):totable()
      phases[i] = 10 * i
    end
    local S0, K = command.batch(rng.new(3), starts, 6, 3, DT, nil, { clock = step, phases = phases })
    assert.same({ 6, 3, 8 }, K.shape)
    for b = 1, 6 do
      for k = 1, 3 do assert.near(10 * S0[b][1] + (k - 1) * step, K[b][k][8], 1e-12) end
    end
    assert.same({ 6, 3, 7 }, select(2, command.batch(rng.new(3), starts, 6, 3, DT)).shape)
  end)
  it("put phase 0 where the front-right knee is most bent in a clip's first period, then the "
    .. "clock's step a frame; 0 without a clock", function()
    local clock = 2 * math.pi / 4      -- a period of 4 frames
    local function ref(knees)
      local frames = {}
      for f, q in ipairs(knees) do
        local s = {}
        for j = 1, 37 do s[j] = 0 end
        s[16] = q
        frames[f] = s
      end
      return { n = #frames, frames = frames }
    end
    local phase_of, phase0 = command.gait_phases({ ref { -1, -1.5, -1.2, -1, -1.9, -1.5 },
                                                   ref { -2, -1, -1, -1 } }, clock)
    assert.same({ 2, 1 }, phase0)
    assert.near(0, phase_of(1, 2), 1e-15)     -- frame 5 is more bent but outside the first period
    assert.near(-clock, phase_of(1, 1), 1e-15)
    assert.near(3 * clock, phase_of(1, 5), 1e-15)
    assert.near(0, phase_of(2, 1), 1e-15)
    assert.near(2 * clock, phase_of(2, 3), 1e-15)
    assert.equal(0, command.gait_phases({ ref { -1, -2 } }, 0)(1, 2))
  end)
end)

describe("training commands", function()
  local function shares(backward)
    local r = {}
    for k, v in pairs(command.ranges) do r[k] = v end
    r.paths, r.switch, r.zero, r.backward = 0, 0, 0, backward
    local g, s, n, neg, sum, lo, hi = rng.new(7), trunk(0, 0, 0, 0, 0):totable(), 4000, 0, 0, 0, 0
    for _ = 1, n do
      local vx = command.random_rows(g, s, 1, DT, r)[1][1]
      if vx < 0 then neg, sum = neg + 1, sum + vx end
      lo, hi = math.min(lo, vx), math.max(hi, vx)
    end
    return neg / n, neg > 0 and sum / neg or 0, lo, hi
  end
  it("draw the share `backward` of vx from the backward part of the range", function()
    local share, mean, lo, hi = shares(0.5)
    assert.near(0.5, share, 0.03)
    assert.near(command.ranges.vx[1] / 2, mean, 0.01)
    assert.is_true(lo >= command.ranges.vx[1] and hi <= command.ranges.vx[2])
    assert.equal(0, (shares(0)))
    -- nil: uniform over the range, a third of it backward
    assert.near(0.3 / 0.9, (shares(nil)), 0.03)
    assert.near(0.5, command.ranges.backward, 0)
  end)
  it("refuse a share outside [0, 1]", function()
    local r = {}
    for k, v in pairs(command.ranges) do r[k] = v end
    r.backward = 1.5
    local s = trunk(0, 0, 0, 0, 0):totable()
    assert.matches("command.batch: ranges.backward: expected a share in %[0, 1%] %(or nil: uniform%), got 1.5",
      err(command.batch, rng.new(1), { s }, 2, 3, DT, r))
    assert.matches("command.random_course: ranges.backward: expected a share in %[0, 1%] %(or nil: uniform%), got 1.5",
      err(command.random_course, rng.new(1), s, 10, DT, r))
    r.backward = "half"
    assert.matches("command.random_rows: ranges.backward: expected a share in %[0, 1%] %(or nil: uniform%), got half",
      err(command.random_rows, rng.new(1), s, 3, DT, r))
  end)
end)

describe("a command calibration folded into h (C:remap)", function()
  it("makes h act on a row as it acted on the row whose velocity is (k - offset) / scale", function()
    local pol = vae(9)
    local m = wm.new { nj = 1, nu = 2, dt = DT, hidden = 8, layers = 1 }
    for _, clock in ipairs { 0, command.clock(0.3, 0.02) } do
      local C = command.new { model = m, pol = pol, hidden = 16, layers = 2, seed = 5, clock = clock }
      C.h:set_params(A.randn({ C.h.nparams }, rng.new(6)) * 0.3)
      local scale, offset = { 0.8, 1.3, 0.6 }, { 0.05, -0.02, 0.1 }
      local g = rng.new(8)
      -- velocity rows and path rows (a target pose, wp = 1), the clock's phase last when it has one
      local S, K, K0 = {}, {}, {}
      for i = 1, 6 do
        S[i] = trunk(g:normal(), g:normal(), g:normal(), 0.3 * g:normal(), 0.2 * g:normal()):totable()
        local k = { g:uniform(-0.3, 0.6), g:uniform(-0.2, 0.2), g:uniform(-0.6, 0.6), 0, 0, 0, 0 }
        if i > 3 then k[4], k[5], k[6], k[7] = g:normal(), g:normal(), g:normal(), 1 end
        if clock > 0 then k[8] = g:uniform(0, 2 * math.pi) end
        local k0 = {}
        for j, v in ipairs(k) do k0[j] = j <= 3 and (v - offset[j]) / scale[j] or v end
        K[i], K0[i] = k, k0
      end
      S, K, K0 = A(S), A(K), A(K0)
      local want, zw = C:act(S, K0)
      local before = C:act(S, K)
      C:remap(scale, offset)
      local got, zg = C:act(S, K)
      -- (h computes in float32: the folded weights are rounded to it)
      assert.is_true((got - want):abs():max() < 1e-5, "actions")
      assert.is_true((zg - zw):abs():max() < 1e-5, "latents")
      -- and the calibration changed what h does (the test would pass on an h blind to commands)
      assert.is_true((got - before):abs():max() > 1e-3)
    end
    local C = command.new { model = m, pol = pol, hidden = 8, seed = 5 }
    assert.matches("command.remap: scale%[2%] = 0, offset%[2%] = 0: expected a scale > 0 and a number",
      err(function() C:remap({ 1, 0, 1 }, { 0, 0, 0 }) end))
    assert.matches("offset%[3%] = nil", err(function() C:remap({ 1, 1, 1 }, { 0, 0 }) end))
  end)
end)

describe("paths", function()
  it("close a circle after one lap at its radius and speed", function()
    local c = command.circle { radius = 1.5, speed = 0.5, dt = 0.02 }
    assert.near(0, c.x[c.n], 1e-6)
    assert.near(0, c.y[c.n], 1e-6)
    assert.near(2 * math.pi, c.yaw[c.n], 1e-6)
    local mid = math.floor(c.n / 2) + 1  -- half a lap: across the circle
    assert.near(0, c.x[mid], 1e-2)
    assert.near(3, c.y[mid], 1e-2)
    local row = c:row(1)
    assert.near(0.5, row[1], 1e-3)              -- rounded to a whole number of ticks a lap
    assert.equal(0, row[2])
    assert.near(row[1] / 1.5, row[3], 1e-12)
    assert.equal(c.x[2], row[4])
    assert.equal(1, row[7])
    assert.near(0.5, c:distance(0, 0.5), 1e-3)   -- inside the circle (centre (0, 1.5)), 0.5 m off
  end)

  it("draw a figure-eight through its start twice, a left loop then a right loop", function()
    local f = command.figure8 { radius = 1, speed = 0.4, dt = 0.02 }
    local half = math.floor((f.n - 1) / 2) + 1
    assert.near(0, f.x[half], 1e-3)
    assert.near(0, f.y[half], 1e-3)
    assert.near(0, f.x[f.n], 1e-3)
    assert.near(0, f.y[f.n], 1e-3)
    assert.is_true(f.y[math.floor(half / 2)] > 1.9)        -- the left loop is on +y
    assert.is_true(f.y[half + math.floor(half / 2)] < -1.9) -- the right loop on -y
    -- past the end the target stops
    local last = f:row(f.n + 5)
    assert.same({ 0, 0, 0 }, { last[1], last[2], last[3] })
  end)
end)
