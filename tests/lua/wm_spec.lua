-- wm_spec.lua: the spinal.wm binding (lua/bind/wm.c): the world model's step, normalisers,
-- n-step loss and training step, files, the replay buffer, and the errors a user sees.
local wm = require "spinal.wm"
local nn = require "spinal.nn"
local array = require "spinal.array"

local function err(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

-- a fixed-base state with two joints (nx = 17)
local function state(q1, v1)
  local s = array.zeros(17)
  s[3], s[4], s[14], s[16] = 1, 1, q1, v1
  return s
end

describe("wm.new", function()
  it("starts as 'velocities stay as they are' and integrates the joints", function()
    local m = wm.new { nj = 2, nu = 1, dt = 0.1, hidden = 16, layers = 2, seed = 1 }
    assert.equal(17, m.nx)
    assert.equal("f32", m.dtype)
    local s1 = m:step(state(0.5, 2), { 0 })
    assert.near(0.7, s1[14], 1e-6)
    assert.near(2, s1[16], 1e-6)
    local B = m:step(array.stack { state(0, 1), state(1, 0) }, array.zeros(2, 1))
    assert.same({ 2, 17 }, B.shape)
    assert.same({ "position", "orientation", "velocity", "angular_velocity", "joints",
                  "joint_velocities" }, m.components)
  end)

  it("names bad options and shapes", function()
    assert.matches("field 'dt': expected a number > 0, got nil", err(wm.new, { nj = 2, nu = 1 }))
    assert.matches("unknown option 'weights.pos'; valid: position, orientation",
                   err(wm.new, { nj = 2, nu = 1, dt = 0.1, weights = { pos = 1 } }))
    local m = wm.new { nj = 2, nu = 1, dt = 0.1, hidden = 8, layers = 1 }
    assert.matches("bad argument #1 to 'step' %(expected states with 17 entries per row, got shape 16%)",
                   err(function() return m:step(array.zeros(16), { 0 }) end))
  end)

  it("changes its loss weights in place (fine-tuning one component harder) and keeps them in a file",
     function()
    local m = wm.new { nj = 2, nu = 1, dt = 0.1, hidden = 8, layers = 1, seed = 2,
                       weights = { joints = 2 } }
    assert.same({ position = 1, orientation = 4, velocity = 1, angular_velocity = 4, joints = 2,
                  joint_velocities = 1 }, m.weights)
    -- windows where the model is wrong in the joints and joint velocities
    local S = array.stack { array.stack { state(0, 1), state(0.2, 3) } }:reshape { 1, 2, 17 }
    local A = array.zeros(1, 1, 1)
    local loss, parts = m:loss(S, A)
    local function weighted(w)
      local sum = 0
      for k, v in pairs(parts) do sum = sum + w[k] * v end
      return sum
    end
    assert.near(weighted(m.weights), loss, 1e-12)
    assert.is_true(parts.joints > 0 and parts.joint_velocities > 0)
    assert.equal(m, m:set_weights { joint_velocities = 10, joints = 0 })
    assert.same({ position = 1, orientation = 4, velocity = 1, angular_velocity = 4, joints = 0,
                  joint_velocities = 10 }, m.weights)
    local loss2 = m:loss(S, A)
    assert.near(weighted(m.weights), loss2, 1e-12)
    assert.is_true(loss2 > loss)
    local path = os.tmpname()
    assert.is_true(m:save(path))
    assert.same(m.weights, wm.load(path).weights)
    os.remove(path)
    assert.matches("unknown option 'vel'; valid: position, orientation",
                   err(m.set_weights, m, { vel = 1 }))
    assert.matches("field 'velocity'", err(m.set_weights, m, { position = 2, velocity = -1 }))
    assert.equal(1, m.weights.position)  -- a refused table changes nothing
  end)
end)

describe("world-model training", function()
  it("lowers the n-step loss on replayed windows and saves with its normalisers", function()
    local m = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 32, layers = 2, seed = 3 }
    local buf = wm.replay { nx = 17, nu = 1, capacity = 2000, seed = 1 }
    -- a damped joint driven by the action: qdd = a - q - 0.5 qd
    local q, v = 0, 0
    for t = 1, 1200 do
      local a = math.sin(0.07 * t) + 0.5 * math.sin(0.31 * t)
      local s = state(q, v)
      v = v + 0.05 * (a - q - 0.5 * v)
      q = q + 0.05 * v
      local s1 = state(q, v)
      buf:push(s, { a }, s1, t % 200 == 0)
      m:observe(s, { a }, s1)
    end
    assert.equal(1200, m.samples)
    local S, A = buf:sample(64, 8)
    local before = m:loss(S, A)
    local opt = nn.adam { lr = 3e-3 }
    for _ = 1, 150 do
      local S2, A2 = buf:sample(64, 8)
      m:train(S2, A2, opt)
    end
    local after, parts, per = m:loss(S, A)
    assert.is_true(after < 0.3 * before)
    assert.same({ 8, 6 }, per.shape)
    assert.near(parts.joints, per:select(2, 5):mean(), 1e-12)
    local path = os.tmpname()
    assert.is_true(m:save(path, opt))
    local back, bopt = wm.load(path)
    assert.equal(after, (back:loss(S, A)))
    assert.equal(150, bopt.t)   -- the optimiser's state comes back: training resumes exactly
    assert.equal("adam", bopt.kind)
    os.remove(path)
  end)
end)

describe("a world model that sees the previous action (history = 1)", function()
  it("takes [a, a_prev], learns a lagged actuator the plain model cannot, and is widened exactly",
     function()
    -- a joint driven half by this tick's action and half by the last one (latency of half a tick)
    local g = require("spinal.rng").new(4, 0)
    local buf = wm.replay { nx = 17, nu = 1, capacity = 3000, seed = 2, history = 1 }
    local q, v, prev = 0, 0, 0
    for t = 1, 2400 do
      local a = 2 * g:uniform() - 1
      local s = state(q, v)
      v = v + 0.05 * (20 * (0.5 * a + 0.5 * prev) - q - 0.5 * v)
      q = q + 0.05 * v
      buf:push(s, { a }, state(q, v), t % 300 == 0)
      prev = t % 300 == 0 and 0 or a
    end
    assert.equal(1, buf.history)
    local S, Aw = buf:sample(256, 4)
    assert.same({ 256, 4, 2 }, Aw.shape)
    for b = 1, 256 do
      for k = 2, 4 do assert.equal(Aw[b][k - 1][1], Aw[b][k][2]) end  -- a_k-1 is the step before's
    end
    local plain = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 32, layers = 2, seed = 5 }
    local hist = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 32, layers = 2, seed = 5,
                          history = 1 }
    assert.equal(1, hist.history)
    assert.equal(2, hist.na)
    assert.matches("expected actions and the actions before %(%[a, a_prev%], history = 1%) with 2 "
                   .. "entries per row", err(function() return hist:step(state(0, 0), { 0 }) end))
    -- both models on the same windows: the plain one sees only a_k
    local function first(A3) return A3:narrow(3, 1, 1) end
    local T, Tw = buf:sample(4096, 1)
    plain:observe(T:select(2, 1), first(Tw):select(2, 1), T:select(2, 2))
    hist:observe(T:select(2, 1), Tw:select(2, 1), T:select(2, 2))
    local popt, hopt = nn.adam { lr = 3e-3 }, nn.adam { lr = 3e-3 }
    for _ = 1, 200 do
      local S2, A2 = buf:sample(64, 4)
      plain:train(S2, first(A2), popt)
      hist:train(S2, A2, hopt)
    end
    local lp, pp = plain:loss(S, first(Aw))
    local lh, ph = hist:loss(S, Aw)
    assert.is_true(ph.joint_velocities < 0.5 * pp.joint_velocities)
    assert.is_true(lh < lp)
    -- the plain model widened: the same predictions whatever the previous action, then trainable
    local wide = plain:with_history()
    assert.equal(1, wide.history)
    assert.equal(0, plain.history)
    local s = S:select(2, 1)
    local a = first(Aw):select(2, 1)
    local junk = array.randn({ 256, 1 }, require("spinal.rng").new(9, 0))
    assert.equal(0, (plain:step(s, a) - wide:step(s, array.cat({ a, junk }, 2))):abs():max())
    assert.matches("already sees the previous action", err(wide.with_history, wide))
    -- the VAE's tracking rollouts carry no previous action: refused with a reason
    local pol = wm.vae { nj = 2, nu = 1, nc = 3, lat = 2, hidden = 8, layers = 1, seed = 1 }
    assert.matches("expected a world model without history",
                   err(pol.loss, pol, wide, array.stack { state(0, 0) },
                       array.zeros(1, 2, 3), array.zeros(1, 2, 17)))
  end)
end)

describe("wm.replay", function()
  it("samples n-step windows and says when there are none", function()
    local buf = wm.replay { nx = 17, nu = 1, capacity = 50 }
    for t = 1, 30 do buf:push(state(t, 0), { t }, state(t + 1, 0), t % 10 == 0) end
    assert.equal(30, buf.size)
    local S, A = buf:sample(5, 4)
    assert.same({ 5, 5, 17 }, S.shape)
    assert.same({ 5, 4, 1 }, A.shape)
    assert.equal(S[1][2][14], A[1][2][1])
    local none, msg = buf:sample(1, 11)
    assert.is_nil(none)
    assert.equal("sample: no window of 11 steps in 30 transitions (episodes too short?)", msg)
    local path = os.tmpname()
    assert.is_true(buf:save(path))
    local S1, A1 = buf:sample(3, 4)
    local copy = wm.replay { nx = 17, nu = 1, capacity = 50 }
    assert.is_true(copy:load(path))   -- entries and the generator: the same draws follow
    local S2, A2 = copy:sample(3, 4)
    assert.equal(0, (S1 - S2):abs():max())
    assert.equal(0, (A1 - A2):abs():max())
    os.remove(path)
    assert.matches("bad argument #1 to 'push' %(expected a state of length 17, got 3%)",
                   err(function() buf:push({ 1, 2, 3 }, { 1 }, state(0, 0)) end))
  end)
end)

describe("wm.vae", function()
  it("starts at its nominal action and learns to track references through a world model", function()
    local m = wm.new { nj = 2, nu = 2, dt = 0.05, hidden = 32, layers = 2, seed = 3 }
    local buf = wm.replay { nx = 17, nu = 2, capacity = 4000, seed = 1 }
    local g = require("spinal.rng").new(1)
    local q, v = 0, 0
    for t = 1, 3000 do   -- the damped joint again, driven by the first action only
      local a = 2 * g:normal()
      local s = state(q, v)
      v = v + 0.05 * (a - q - 0.5 * v)
      q = q + 0.05 * v
      buf:push(s, { a, 0 }, state(q, v), t % 200 == 0)
      m:observe(s, { a, 0 }, state(q, v))
    end
    local opt = nn.adam { lr = 3e-3 }
    for _ = 1, 300 do
      local S, A = buf:sample(64, 8)
      m:train(S, A, opt)
    end
    local pol = wm.vae { nj = 2, nu = 2, nc = 1, lat = 4, hidden = 32, seed = 1,
                         a_nom = { 0.1, -0.1 } }
    assert.equal("vae policy: 2 joints, 2 actions, latent 4, conditioning 1 (5098 parameters)",
                 tostring(pol))
    local a0 = pol:act(state(0, 0), { 0.3 })
    assert.near(0.1, a0[1], 1e-7)
    assert.near(-0.1, a0[2], 1e-7)
    -- targets -0.45 .. 0.45 for the first joint, 10 steps, the encoder told the target
    local B, H = 32, 10
    local S0, C, R = array.zeros(B, 17), array.zeros(B, H, 1), array.zeros(B, H, 17)
    for b = 1, B do
      S0[b][3], S0[b][4] = 1, 1
      local target = (b % 4) * 0.3 - 0.45
      for k = 1, H do
        C[b][k][1] = target
        R[b][k][3], R[b][k][4], R[b][k][14] = 1, 1, target
      end
    end
    local popt = nn.adam { lr = 3e-3 }
    local before = pol:loss(m, S0, C, R)
    for _ = 1, 200 do pol:train(m, S0, C, R, nil, popt) end
    local after, parts = pol:loss(m, S0, C, R)
    assert.is_true(after < 0.7 * before)
    assert.near(after, parts.tracking + parts.action + parts.kl, 1e-9)
    local path = os.tmpname()
    assert.is_true(pol:save(path, popt))
    local back, bopt = wm.load_vae(path)
    assert.equal(after, (back:loss(m, S0, C, R)))
    assert.equal(200, bopt.t)
    local none, msg = wm.load_vae(path .. ".missing")
    assert.is_nil(none)
    assert.matches("%.missing: cannot open: No such file or directory", msg)
    os.remove(path)
    assert.matches("expected a world model with 2 joints and 2 actions, got 2 and 1",
                   err(function() return pol:loss(wm.new { nj = 2, nu = 1, dt = 0.1 }, S0, C, R) end))
  end)
end)

describe("the split training step (grad, then apply)", function()
  -- the same values, bit for bit
  local function same(x, y)
    assert.equal(x:numel(), y:numel())
    for i = 1, x:numel() do
      if x[i] ~= y[i] then error(("differ at %d: %.17g vs %.17g"):format(i, x[i], y[i]), 2) end
    end
  end
  -- a few windows of the damped joint and reference states for a policy
  local function data(nu)
    local buf = wm.replay { nx = 17, nu = nu, capacity = 500, seed = 2 }
    local g = require("spinal.rng").new(4)
    local q, v = 0, 0
    for t = 1, 400 do
      local a = g:normal()
      local s = state(q, v)
      v = v + 0.05 * (a - q - 0.5 * v)
      q = q + 0.05 * v
      local act = nu == 1 and { a } or { a, 0 }
      buf:push(s, act, state(q, v), t % 100 == 0)
    end
    return buf
  end

  it("gives the world model the same bits as train, and apply steps with set_grads' gradients",
     function()
    local buf = data(1)
    local S, A = buf:sample(16, 4)
    local a = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 8, layers = 2, seed = 5 }
    local b = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 8, layers = 2, seed = 5 }
    local oa, ob = nn.adam { lr = 1e-2 }, nn.adam { lr = 1e-2 }
    for _ = 1, 3 do
      local la, pa = a:train(S, A, oa)
      local lb, pb = b:grad(S, A)
      same(a:grads(), b:grads())
      assert.is_true(b:apply(ob) == b)
      assert.equal(la, lb)
      assert.same(pa, pb)
      same(a:params(), b:params())
    end
    -- grad leaves the parameters alone; apply steps with whatever set_grads put there
    local p = b:params()
    local g = b:grads()
    b:grad(S, A)
    same(p, b:params())
    local sgd = nn.sgd { lr = 0.5 }
    b:set_grads(g * 0 + 1)
    same(b:grads(), g * 0 + 1)
    b:apply(sgd)
    local moved = b:params() - p
    for i = 1, moved:numel() do assert.near(-0.5, moved[i], 1e-6) end   -- float32 parameters
    assert.matches("bad argument #1 to 'set_grads' %(expected a gradient vector of length %d+",
                   err(function() return b:set_grads(array.zeros(3)) end))
  end)

  it("copies the normalisers' statistics from one model to another (a rank to the others)",
     function()
    local buf = data(1)
    local S, A = buf:sample(16, 4)
    local a = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 8, layers = 2, seed = 5 }
    local b = wm.new { nj = 2, nu = 1, dt = 0.05, hidden = 8, layers = 2, seed = 5 }
    for i = 1, 16 do a:observe(S[i]:narrow(1, 1, 4), A[i], S[i]:narrow(1, 2, 4)) end
    assert.equal(64, a.samples)
    assert.is_true(a:loss(S, A) ~= b:loss(S, A))   -- other normalisers, another prediction
    local st = a:normalizers()
    assert.equal(3 + 2 * (14 + 1 + 8), st:numel())  -- count, mean, m2 of nf, nu and nd
    assert.is_true(b:set_normalizers(st) == b)
    assert.equal(64, b.samples)
    assert.equal(a:loss(S, A), b:loss(S, A))
    same(st, b:normalizers())
    assert.matches("bad argument #1 to 'set_normalizers' %(expected normaliser statistics of "
                   .. "length 49, got 3%)", err(function() return b:set_normalizers({ 1, 2, 3 }) end))
    st[1] = -1
    assert.matches("counts >= 0, got %-1", err(function() return b:set_normalizers(st) end))
  end)

  it("gives the VAE policy the same bits as train; set_params and set_grads write the vector",
     function()
    local m = wm.new { nj = 2, nu = 2, dt = 0.05, hidden = 8, layers = 1, seed = 3 }
    local B, H = 8, 5
    local S0, C, R = array.zeros(B, 17), array.zeros(B, H, 1), array.zeros(B, H, 17)
    for i = 1, B do
      S0[i][4] = 1
      for k = 1, H do
        C[i][k][1] = 0.1 * i
        R[i][k][4], R[i][k][14] = 1, 0.1 * i
      end
    end
    local eps = array.randn({ B, H, 3 }, require("spinal.rng").new(9))
    local mk = function()
      return wm.vae { nj = 2, nu = 2, nc = 1, lat = 3, hidden = 8, layers = 1, seed = 7 }
    end
    local a, b = mk(), mk()
    local oa, ob = nn.adam { lr = 1e-2 }, nn.adam { lr = 1e-2 }
    for _ = 1, 3 do
      local la, pa = a:train(m, S0, C, R, eps, oa)
      local lb, pb = b:grad(m, S0, C, R, eps)
      same(a:grads(), b:grads())
      b:apply(ob)
      assert.equal(la, lb)
      assert.same(pa, pb)
      same(a:params(), b:params())
    end
    local p = a:params()
    b:set_params(p * 0 + 0.25)
    same(p * 0 + 0.25, b:params())
    b:set_grads(p * 0 - 2)
    same(p * 0 - 2, b:grads())
    assert.matches("bad argument #1 to 'set_params' %(expected a parameter vector of length %d+",
                   err(function() return b:set_params(array.zeros(2)) end))
  end)
end)

describe("workspaces", function()
  -- windows of B rows over n steps of a standing state (nx = 17, nu = 1)
  local function windows(B, n)
    local S = array.zeros(B, n + 1, 17)
    S:narrow(3, 3, 2):fill_(1)
    return S, array.zeros(B, n, 1)
  end
  local function shapes(net)
    local out = {}
    for i, w in ipairs(net:workspaces()) do out[i] = { w.rows, w.steps } end
    return out
  end

  it("keeps one per shape of call, not one of the most rows and the most steps", function()
    local m = wm.new { nj = 2, nu = 1, dt = 0.1, hidden = 8, layers = 1, seed = 1 }
    assert.same({ { 64, 8 } }, shapes(m))                -- wm.new's batch and horizon
    m:loss(windows(128, 48))                             -- training batches: within twice their
    assert.same({ { 128, 48 } }, shapes(m))              -- size, the first grows to them
    local l1 = m:loss(windows(2000, 8))                  -- an evaluation of many short windows:
    assert.same({ { 128, 48 }, { 2000, 8 } }, shapes(m)) -- its own, not 2000 x 48
    for _ = 1, 3 do                                      -- alternating: nothing remade
      m:loss(windows(128, 48))
      assert.equal(l1, m:loss(windows(2000, 8)))
      m:step(state(0, 0), { 0 })                         -- one row, one step: the smaller fits
    end
    assert.same({ { 128, 48 }, { 2000, 8 } }, shapes(m))
    m:loss(windows(2100, 8))                             -- growing data: rows by half at least
    assert.same({ { 128, 48 }, { 3000, 8 } }, shapes(m))
    m:loss(windows(2900, 8))
    assert.same({ { 128, 48 }, { 3000, 8 } }, shapes(m))
    m:loss(windows(128, 48))
    m:loss(windows(4, 600))                              -- a third shape neither covers cheaply:
    assert.same({ { 128, 48 }, { 4, 600 } }, shapes(m))  -- in place of the least recently used
    assert.same({ { 128, 48 }, { 4, 600 } }, shapes(m:with_history()))  -- a widened model: the same
  end)

  it("gives a command network's acting on many rows its own beside its training batches", function()
    local m = wm.new { nj = 2, nu = 2, dt = 0.05, hidden = 8, layers = 1, seed = 3 }
    local pol = wm.vae { nj = 2, nu = 2, nc = 1, lat = 4, hidden = 8, seed = 1 }
    local h = wm.command { vae = pol, hidden = 8, layers = 1, seed = 2 }
    assert.same({}, shapes(h))
    local command = require "spinal.command"
    local S0 = array.zeros(16, 17)
    S0:narrow(2, 3, 2):fill_(1)
    local K = array.zeros(16, 24, h.nk)
    h:grad(m, pol, S0, K, nil, "net")
    assert.same({ { 16, 24 } }, shapes(h))
    local S = array.zeros(500, 17)
    S:narrow(2, 3, 2):fill_(1)
    local a = h:act(pol, S, array.zeros(500, h.nk))     -- the anchor's rows: not 500 x 24
    assert.same({ 500, 2 }, a.shape)
    assert.same({ { 16, 24 }, { 500, 1 } }, shapes(h))
    h:grad(m, pol, S0, K, nil, "net")
    h:act(pol, S:narrow(1, 1, 1), command.velocity(0.2, 0, 0))
    assert.same({ { 16, 24 }, { 500, 1 } }, shapes(h))
    -- another VAE: the workspaces were made for the first; they are made anew
    local pol2 = wm.vae { nj = 2, nu = 2, nc = 1, lat = 4, hidden = 8, seed = 2 }
    h:act(pol2, S:narrow(1, 1, 1), command.velocity(0.2, 0, 0))
    assert.same({ { 1, 1 } }, shapes(h))
  end)
end)
