-- gn_spec.lua: the spinal.gn binding (Gauss-Newton with a trust region on the action change,
-- engine/grad/gauss_newton.c) and spinal.optimiser: the gradient is G.feedback's; G v is
-- symmetric and positive semi-definite; with a perfect model the quadratic model predicts the
-- plant's cost change of a small step; the step stays within its radius and lowers the plant's
-- cost; GN.fit recovers the parameters a model gets wrong from one rollout, and fit = true steps
-- on the fitted model; every
-- method-1 optimiser kind is selectable; errors say what was expected.
local M = require "spinal.model"
local T = require "spinal.task"
local C = require "spinal.cost"
local ctrl = require "spinal.ctrl"
local P = require "spinal.policy"
local G = require "spinal.grad"
local GN = require "spinal.gn"
local O = require "spinal.optimiser"

local task = T.figure_eight { radius = 1.5, period = 5.5 }
local cost = C.car { nx = 4, nu = 2 }
local x0 = { 0.1, -0.1, 2.0, 1.5 }

local function car_policy(seed)
  return P.tracking { task = task, controller = ctrl.tracker "car", hidden = { 6, 6 },
                      seed = seed, init_last = true }
end

local function half_model()
  return M.new("car_drag", { k_a = 11.25 * 0.5, c_d = 0.55 * 0.5, k_s = 6.5 * 0.5,
                             b_s = 0.1 * 0.5 }, { dt = 0.02 })
end

local function dot(a, b)
  local s = 0
  for i = 1, a:numel() do s = s + a[i] * b[i] end
  return s
end

local function random_vector(n, seed)
  local v, s = {}, seed
  for i = 1, n do
    s = (s * 1103515245 + 12345) % 2147483648
    v[i] = s / 2147483648 - 0.5
  end
  return v
end

describe("spinal.gn", function()
  it("builds the feedback gradient and a symmetric positive semi-definite product", function()
    local plant = M.new("car_drag", nil, { dt = 0.02 })
    local model = half_model()
    local pol = car_policy(1)
    local opts = { cost = cost, task = task, skip = 10 }
    local traj = pol:rollout(plant, x0, 150)
    local opt = GN.new(pol, model)
    local g, J = opt:build(traj, opts)
    local gf, Jf = G.feedback(pol, model, traj, opts)
    assert.is_near(Jf, J, 1e-9 * Jf)
    assert.is_true((g - gf):norm() <= 1e-12 * gf:norm())
    local a = random_vector(pol.nparams, 1)
    local b = random_vector(pol.nparams, 2)
    local Ga, w = opt:gvp(a)
    local Gb = opt:gvp(b)
    assert.are.same({ 150, 2 }, { w.shape[1], w.shape[2] })
    local aGb, bGa = 0, 0
    for i = 1, pol.nparams do aGb, bGa = aGb + a[i] * Gb[i], bGa + b[i] * Ga[i] end
    assert.is_near(aGb, bGa, 1e-9 * math.abs(aGb))
    local aGa = 0
    for i = 1, pol.nparams do aGa = aGa + a[i] * Ga[i] end
    assert.is_true(aGa > 0)
    assert.is_true(dot(opt:dvp(a), opt:dvp(a)) > 0)
  end)

  it("predicts the plant's cost change of a small step when the model is the plant", function()
    local plant = M.new("car_drag", nil, { dt = 0.02 })
    local pol = car_policy(2)
    local opts = { cost = cost, task = task, skip = 10 }
    local opt = GN.new(pol, plant)
    local traj = pol:rollout(plant, x0, 200)
    local _, J0 = opt:build(traj, opts)
    local d, info = opt:solve(0.002)
    local theta = pol:params()
    for i = 1, pol.nparams do theta[i] = theta[i] + d[i] end
    local J1 = G.objective(pol:rollout(plant, x0, 200), opts)
    local rel = math.abs((J0 - J1) - info.pred) / info.pred
    assert.is_true(info.pred > 0 and rel < 0.05, ("relative difference %g"):format(rel))
  end)

  it("steps within its radius and lowers the plant's cost", function()
    local plant = M.new("car_drag", nil, { dt = 0.02 })
    local model = half_model()
    local pol = car_policy(4)
    local opts = { cost = cost, task = task, skip = 10 }
    local opt = GN.new(pol, model, { radius = 0.02 })
    local traj = pol:rollout(plant, x0, 200)
    local J0 = G.objective(traj, opts)
    local info = opt:step(traj, opts)
    assert.is_true(info.accepted)
    assert.is_near(J0, info.J, 1e-9 * J0)
    assert.is_true(info.dact <= 0.02 * (1 + 1e-8) and info.pred > 0)
    local J1 = G.objective(pol:rollout(plant, x0, 200), opts)
    assert.is_true(J1 < J0)
    local info2 = opt:step(pol:rollout(plant, x0, 200), opts)
    assert.is_near(J1, info2.J, 1e-9 * J1)
    assert.is_near((J0 - J1) / info.pred, info2.rho, 1e-9)
    local d, s = opt:solve(math.huge)
    assert.are.equal(pol.nparams, d:numel())
    assert.are.equal(0, s.lambda)
  end)

  it("is one of the method-1 optimisers selectable by name", function()
    local plant = M.new("car_drag", nil, { dt = 0.02 })
    local opts = { cost = cost, task = task, skip = 10 }
    for _, kind in ipairs(O.kinds) do
      local pol = car_policy(5)
      local step = O.new(kind, pol, half_model(), opts, { lr = 1e-3, radius = 0.02 })
      local before = pol:params():clone()
      local J = step(pol:rollout(plant, x0, 100))
      assert.is_true(J > 0)
      assert.is_true((pol:params() - before):norm() > 0, kind)
    end
    assert.has_error(function() O.new("lbfgs", car_policy(1), half_model(), opts) end,
      "unknown optimiser 'lbfgs' (expected gn, adam or sgd)")
  end)

  it("saves its trust-region state with the policy and continues from it after pol:load",
    function()
    local plant = M.new("car_drag", nil, { dt = 0.02 })
    local opts = { cost = cost, task = task, skip = 10 }
    local path = os.tmpname()
    local pol = car_policy(3)
    local a = GN.new(pol, half_model(), { radius = 0.05 })
    a:step(pol:rollout(plant, x0, 150), opts)
    assert(pol:save(path, a, "progress"))
    -- the note comes back whole, with or without the optimiser
    local pol2 = car_policy(9)
    local b = GN.new(pol2, half_model(), { radius = 0.05 })
    assert.are.equal("progress", pol2:load(path, b))
    assert.are.equal("progress", car_policy(9):load(path))
    assert.are.equal(b:radius(), a:radius())
    -- both continue identically from the next rollout
    local traj = pol:rollout(plant, x0, 150)
    local ia, ib = a:step(traj, opts), b:step(traj, opts)
    assert.are.same(ia, ib)
    assert.are.equal(0, (pol:params() - pol2:params()):abs():max())
    -- a checkpoint made with another optimiser, or for another subspace, changes nothing
    local nn = require "spinal.nn"
    assert(pol:save(path, nn.adam { lr = 1e-3 }))
    local before = pol2:params():clone()
    local ok, err = pol2:load(path, b)
    assert.is_nil(ok)
    assert.are.equal(path .. ": holds no Gauss-Newton optimiser state (saved with another "
      .. "optimiser)", err)
    assert(pol:save(path, a))
    ok, err = pol2:load(path, GN.new(pol2, half_model(), { subspace = 5 }))
    assert.is_nil(ok)
    assert.are.equal(path .. ": Gauss-Newton state with subspace 30, the optimiser has subspace 5",
      err)
    assert.are.equal(0, (pol2:params() - before):abs():max())
    os.remove(path)
  end)

  it("fits the model's parameters to a rollout and, with fit = true, steps on the fitted model",
    function()
    local plant = M.new("car_drag", nil, { dt = 0.02 })
    local model = half_model()
    local pol = car_policy(4)
    local opts = { cost = cost, task = task, skip = 10 }
    local traj = pol:rollout(plant, x0, 200)
    -- the halved model's parameters come back as the plant's (same integrator: exactly)
    local p, before, after = GN.fit(model, traj)
    local truth = { 11.25, 0.55, 6.5, 0.1 }
    for j = 1, 4 do assert.is_near(truth[j], p[j], 1e-6 * truth[j]) end
    assert.is_true(before > 0.1 and after < 1e-6 * before)
    assert.are.equal(11.25 * 0.5, model.params.k_a)  -- the model is not changed
    -- the optimiser with fit: its gradient is the plant's (the fitted model is the plant)
    local opt = GN.new(pol, model, { fit = true })
    assert.is_nil(opt:fitted())
    local g = opt:build(traj, opts)
    local gp = G.feedback(pol, plant, traj, opts)
    assert.is_true((g - gp):norm() <= 1e-6 * gp:norm())
    local q, b2, a2 = opt:fitted()
    assert.are.equal(0, (q - p):abs():max())
    assert.are.equal(before, b2)
    assert.are.equal(after, a2)
    assert.is_nil(GN.new(pol, model):fitted())
    -- the experiments' optimiser passes it on
    local step, o = O.new("gn", pol, model, opts, { radius = 0.02, fit = true })
    step(traj)
    assert.is_not_nil(o:fitted())
  end)

  it("says what was expected", function()
    local pol = car_policy(1)
    assert.has_error(function() GN.new(pol, M.new("pendulum", nil, { dt = 0.02 })) end,
      "bad argument #2 to 'new' (expected a model with nx = 4, nu = 2 (the policy's), got nx = 2,"
      .. " nu = 1)")
    assert.has_error(function() GN.new(pol, half_model(), { radius = -1 }) end,
      "bad argument #3 to 'new' (field 'radius': expected a number > 0, got -1)")
    assert.has_error(function() GN.new(pol, half_model(), { radius_min = 2, radius_max = 1 }) end,
      "bad argument #3 to 'new' (field 'radius_min': expected a number <= radius_max "
        .. "(1.0), got 2.0)")
    assert.has_error(function() GN.new(pol, half_model(), { fit = 1 }) end,
      "bad argument #3 to 'new' (field 'fit': expected a boolean, got number)")
    assert.has_error(function() GN.fit(half_model(), { X = {}, U = {}, t = {} }) end,
      "bad argument #2 to 'fit' (expected a trajectory with X = an array, got table)")
    local short = pol:rollout(half_model(), x0, 5)
    assert.has_error(function() GN.fit(half_model(), short, -1) end,
      "bad argument #3 to 'fit' (expected iters >= 0, got -1)")
    local opt = GN.new(pol, half_model())
    assert.has_error(function() opt:gvp({}) end,
      "gvp: call build (or step) with a trajectory first")
    opt:build(pol:rollout(half_model(), x0, 20), { cost = cost, task = task })
    assert.has_error(function() opt:gvp({ 1, 2 }) end,
      ("bad argument #1 to 'gvp' (expected v of length %d, got 2)"):format(pol.nparams))
    local traj = pol:rollout(half_model(), x0, 20)
    assert.has_error(function() opt:step(traj, { cost = cost, task = task }, { lats = true }) end,
      "bad argument #3 to 'step' (unknown option 'lats'; valid: last)")
    assert.is_true(opt:step(traj, { cost = cost, task = task }, { last = true }).J > 0)
    assert.matches("^gn %(", tostring(opt))
    opt:close()
    assert.are.equal("gn (closed)", tostring(opt))
  end)
end)
