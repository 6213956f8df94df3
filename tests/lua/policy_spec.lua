-- policy_spec.lua: the spinal.policy binding: method 1's policies built from a task, a controller
-- and MLP sizes; the first policy is the nominal controller; act, jac and vjp agree with
-- finite differences; parameters are a live view; rollouts on a spinal.model; exploration;
-- lifecycle and argument errors saying expected vs given.
local A = require "spinal.array"
local M = require "spinal.model"
local T = require "spinal.task"
local ctrl = require "spinal.ctrl"
local P = require "spinal.policy"

local task = T.figure_eight { radius = 1.5, period = 5.5 }

local function car_policy(opts)
  opts = opts or {}
  return P.tracking { task = task, controller = ctrl.tracker "car",
                      hidden = opts.hidden or { 8, 8 }, seed = opts.seed or 1,
                      init_last = opts.init_last }
end

describe("spinal.policy tracking", function()
  it("has method 1's car layout: 6 features, 4 reference and 6 gain outputs", function()
    local pol = car_policy { hidden = { 64, 64 } }
    assert.are.equal(6, pol.nf)
    assert.are.equal(10, pol.nout)
    assert.are.equal(4, pol.nx)
    assert.are.equal(2, pol.nu)
    assert.are.equal(6 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10, pol.nparams)
    assert.are.equal(5.5, pol.period)
    assert.are.equal("tracking", pol.kind)
    assert.truthy(tostring(pol):find("policy tracking"))
  end)

  it("acts exactly as the bare tracker while the last layer is zero", function()
    local c = ctrl.tracker "car"
    local pol = P.tracking { task = task, controller = c, hidden = { 16 } }
    for _, t in ipairs { 0, 1.3, 4.9, 10.2 } do
      local x = { 0.3, -0.2, 1.5, t }
      local u, ub = pol:act(x, t), c:act(x, (task:eval(t)))
      assert.are.equal(ub[1], u[1])
      assert.are.equal(ub[2], u[2])
    end
  end)

  it("gives du/dx that matches central differences of act", function()
    local pol = car_policy { init_last = true, seed = 3 }
    local x, t, h = { 0.4, 0.9, 2.0, 1.2 }, 0.8, 1e-6
    local Px = pol:jac(x, t)
    assert.are.same({ 2, 4 }, Px.shape)
    for j = 1, 4 do
      local xp, xm = { table.unpack(x) }, { table.unpack(x) }
      xp[j], xm[j] = x[j] + h, x[j] - h
      local up, um = pol:act(xp, t), pol:act(xm, t)
      for i = 1, 2 do assert.is_near((up[i] - um[i]) / (2 * h), Px[i][j], 1e-6) end
    end
  end)

  it("gives Px' mu and Pt' mu from vjp, Pt matching differences in the parameters", function()
    local pol = car_policy { init_last = true, seed = 4 }
    local x, t, mu, h = { 0.4, 0.9, 2.0, 1.2 }, 0.8, { 0.7, -0.4 }, 1e-6
    local gx, gt = pol:vjp(x, t, mu)
    local Px = pol:jac(x, t)
    for j = 1, 4 do assert.is_near(Px[1][j] * mu[1] + Px[2][j] * mu[2], gx[j], 1e-12) end
    local theta = pol:params()
    for _, k in ipairs { 1, 17, 50, pol.nparams - 3, pol.nparams } do
      local keep = theta[k]
      theta[k] = keep + h
      local up = pol:act(x, t)
      theta[k] = keep - h
      local um = pol:act(x, t)
      theta[k] = keep
      local fd = (mu[1] * (up[1] - um[1]) + mu[2] * (up[2] - um[2])) / (2 * h)
      assert.is_near(fd, gt[k], 1e-6)
    end
  end)

  it("exposes its parameters as a live view that set_params also writes", function()
    local pol = car_policy()
    local theta = pol:params()
    assert.are.equal(pol.nparams, theta:numel())
    local x = { 0.4, 0.9, 2.0, 1.2 }
    local u0 = pol:act(x, 0.5)
    local new = A.full(pol.nparams, 0.05)
    pol:set_params(new)
    assert.are.equal(0.05, theta[1])
    local u1 = pol:act(x, 0.5)
    assert.is_true(u0[1] ~= u1[1] or u0[2] ~= u1[2])
  end)

  it("rolls out on a model, recording states, actions and times", function()
    local pol = car_policy { init_last = true }
    local m = M.new("car_drag", nil, { dt = 0.02 })
    local x0 = { 0, 0, 1, 1.57 }
    local traj = pol:rollout(m, x0, 50)
    assert.are.same({ 51, 4 }, traj.X.shape)
    assert.are.same({ 50, 2 }, traj.U.shape)
    assert.is_near(1.0, traj.t[51], 1e-12)
    local u = pol:act(traj.X[10], traj.t[10])
    assert.are.equal(u[1], traj.U[10][1])
    local xn = m:step(traj.X[10], traj.U[10])
    assert.are.equal(xn[3], traj.X[11][3])
    local shifted = pol:rollout(m, x0, 5, { t0 = 2 })
    assert.are.equal(2, shifted.t[1])
  end)

  it("samples around its mean with the exploration noise it is given", function()
    local pol = car_policy()
    local x = { 0.1, 0.1, 2, 1.5 }
    local mean = pol:act(x, 0)
    assert.are.equal(mean[1], pol:sample(x, 0)[1])  -- no noise yet
    pol:set_noise({ 0.1, 0.2 }, 7)
    local n, s = 2000, 0
    for _ = 1, n do s = s + (pol:sample(x, 0)[2] - mean[2]) ^ 2 end
    assert.is_near(0.2, math.sqrt(s / n), 0.02)
    assert.are.equal(0.2, pol:noise()[2])
  end)
end)

describe("spinal.policy tracking variants", function()
  it("leaves out outputs whose scale is zero", function()
    local pol = P.tracking { task = task, controller = ctrl.tracker "car", hidden = { 4 },
                             ref_scale = { 0.5, 0.5, 0, 0 }, gain_scale = 0 }
    assert.are.equal(2, pol.nout)
    assert.has_error(function()
      P.tracking { task = task, controller = ctrl.tracker "car", ref_scale = 0, gain_scale = 0 }
    end, "bad argument #1 to 'tracking' (expected at least one nonzero scale in ref_scale or "
      .. "gain_scale, got none)")
  end)

  it("builds the quadruped's policy on state features and acts as its tracker", function()
    local c = ctrl.tracker "quadruped"
    local pol = P.tracking { task = task, controller = c, hidden = { 8 } }
    assert.are.equal(3 + 2, pol.nf)
    local x = { 0.2, 0.1, 1.0 }
    local u, ub = pol:act(x, 2.0), c:act(x, (task:eval(2.0)))
    assert.are.equal(ub[1], u[1])
    assert.are.equal(ub[2], u[2])
  end)
end)

describe("spinal.policy lqr and open_loop", function()
  local pend = M.new("double_pendulum", nil, { dt = 0.01 })
  local K = { { 10, 5, 3, 1 }, { 2, 8, 1, 2 } }

  it("acts exactly as the bare LQR about its set point while the last layer is zero", function()
    local c = ctrl.lqr(K)
    local pol = P.lqr { controller = c, x_set = { 0.1, 0, 0, 0 }, period = 3, hidden = { 8 } }
    assert.are.equal(4 + 8, pol.nout)
    local x = { 0.3, -0.2, 0.1, 0 }
    local u, ub = pol:act(x, 0.5), c:act(x, { 0.1, 0, 0, 0, 0, 0 })
    assert.are.equal(ub[1], u[1])
    assert.are.equal(ub[2], u[2])
  end)

  it("builds an open-loop policy whose phase features ignore the state", function()
    local pol = P.open_loop { nx = 4, nu = 2, u_ff = { 0.1, -0.1 }, features = "phase", period = 3,
                              hidden = { 8 }, init_last = true }
    assert.are.equal(2, pol.nf)
    local Px = pol:jac({ 1, 2, 3, 4 }, 0.7)
    for i = 1, 2 do for j = 1, 4 do assert.are.equal(0, Px[i][j]) end end
    local traj = pol:rollout(pend, { 0.1, 0, 0, 0 }, 10)
    assert.are.same({ 11, 4 }, traj.X.shape)
  end)
end)

describe("spinal.policy errors", function()
  it("names a missing controller", function()
    assert.has_error(function() P.tracking { task = task } end,
      "bad argument #1 to 'tracking' (field 'controller': expected an open spinal.ctrl, got nil)")
  end)

  it("refuses unknown options and says which are valid", function()
    local ok, err = pcall(function()
      local p = P.tracking { task = task, controller = ctrl.tracker "car", hiden = {} }
      return p
    end)
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #1 to 'tracking' (unknown option 'hiden'; valid: task, "
                           .. "controller, hidden,", 1, true))
  end)

  -- the same mistake reads the same on a controller and a policy: Lua does not count self
  it("says expected vs given for a state of the wrong length", function()
    local pol = car_policy()
    assert.has_error(function() pol:act({ 1, 2, 3 }, 0) end,
      "bad argument #1 to 'act' (expected a state of length 4, got 3)")
    assert.has_error(function() ctrl.tracker("car"):act({ 1, 2, 3 }) end,
      "bad argument #1 to 'act' (expected a state of length 4, got 3)")
  end)

  it("refuses a model of other sizes for a rollout", function()
    local pol = car_policy()
    local m = M.new("unicycle_vel", nil, { dt = 0.02 })
    local ok, err = pcall(pol.rollout, pol, m, { 0, 0, 0 }, 10)
    assert.is_false(ok)
    assert.truthy(err:find(
      "expected a model with nx = 4, nu = 2 (the policy's), got nx = 3, nu = 2", 1, true))
  end)

  it("refuses negative exploration noise", function()
    local pol = car_policy()
    local ok, err = pcall(pol.set_noise, pol, { -1, 0.1 })
    assert.is_false(ok)
    assert.truthy(err:find("expected standard deviations >= 0", 1, true))
  end)

  it("errors on use after close", function()
    local pol = car_policy()
    pol:close()
    assert.error_matches(function() pol:act({ 0, 0, 0, 0 }, 0) end,
      "calling 'act' on bad self (expected a spinal.policy, got a closed policy)", nil, true)
    assert.are.equal("policy (closed)", tostring(pol))
  end)
end)

describe("spinal.policy save and load", function()
  local function tmpfile()
    local p = os.tmpname()
    os.remove(p)
    return p
  end

  it("rebuilds an lqr or open-loop policy that acts exactly as the saved one", function()
    local nn = require "spinal.nn"
    local K = A { { 1, 0.5, 0, 0 }, { 0, 1, 0.2, 0 } }
    local lqr = P.lqr { controller = ctrl.lqr(K), x_set = { 0.1, 0, 0, 0 }, u_ff = { 0.3, 0 },
                        period = 3, hidden = { 8 }, seed = 4, init_last = true }
    local open = P.open_loop { nx = 4, nu = 2, u_ff = { 0.1, 0.2 }, period = 3, hidden = { 8 },
                               seed = 5, init_last = true }
    for _, pol in ipairs { lqr, open } do
      local path = tmpfile()
      local opt = nn.adam { lr = 1e-2 }
      opt:step(pol:params(), pol:params() * 0 + 1)
      assert.is_true(pol:save(path, opt, "n"))
      local back, note = assert(P.load(path, { controller = pol.kind == "lqr" and ctrl.lqr(K)
                                                             or nil }))
      assert.are.equal("n", note)
      assert.are.equal(pol.kind, back.kind)
      local x = { 0.2, -0.1, 0.3, 0.05 }
      assert.are.equal(0, (pol:act(x, 1.1) - back:act(x, 1.1)):abs():max())
      os.remove(path)
    end
  end)

  it("says what a closed-loop file needs and refuses another policy's file", function()
    local path = tmpfile()
    local pol = car_policy()
    assert(pol:save(path))
    local small = require("spinal.nn").adam { lr = 1e-2 }
    small:step(A.zeros(3), A.ones(3))
    assert.has_error(function() pol:save(path, small) end,
      ("bad argument #2 to 'save' (expected an optimiser for %d f64 parameters, got one for "
        .. "3 f64 parameters)"):format(pol.nparams))
    assert.has_error(function() P.load(path) end,
      ("bad argument #2 to 'load' (field 'controller': %s holds a tracking policy: expected "
        .. "its controller (nx 4, nu 2, 6 reference entries, 6 gains), got nil)"):format(path))
    assert.has_error(function() P.load(path, { controller = ctrl.lqr(A { { 1, 0, 0, 0 } }) }) end,
      ("bad argument #2 to 'load' (field 'controller': expected a controller with nx 4, nu 2, 6 "
        .. "reference entries and 6 gains (%s's), got 4, 1, 5, 4)"):format(path))
    assert.has_error(function() P.load(path, { controler = 1 }) end,
      "bad argument #2 to 'load' (unknown option 'controler'; valid: controller, task)")
    local other = P.tracking { task = T.figure_eight { radius = 1.5, period = 4 },
                               controller = ctrl.tracker "car", hidden = { 8, 8 } }
    local before = other:params()[1]
    local ok, err = other:load(path)
    assert.is_nil(ok)
    assert.are.equal(path .. ": period is 5.5 in the file, 4 in the policy", err)
    assert.are.equal(before, other:params()[1])
    local missing, merr = P.load(path .. ".none")
    assert.is_nil(missing)
    assert.matches("cannot open", merr)
    os.remove(path)
  end)
end)
