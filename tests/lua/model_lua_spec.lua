-- model_lua_spec.lua: models written in Lua (spinal.model.define, lua/bind/model_lua.c): the
-- same step and exact Jacobians as the C models they re-implement, usable by everything built
-- on spinal.model (LQR design, policies, the feedback gradient, the model plant in lockstep),
-- errors raised with the model's name and line, shapes and redefinition checked.
local M = require "spinal.model"
local A = require "spinal.array"
local ctrl = require "spinal.ctrl"
local P = require "spinal.policy"
local G = require "spinal.grad"
local T = require "spinal.task"
local C = require "spinal.cost"
local hal = require "spinal.hal"
local am = require("spinal.autodiff").math
local rng = require "spinal.rng"

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- largest |a - b| relative to max(1, |b|) over two arrays of the same shape
local function maxrel(a, b)
  local worst = 0
  local fa, fb = a:reshape(a:numel()), b:reshape(b:numel())
  for i = 1, fb:numel() do
    local d = math.abs(fa[i] - fb[i]) / math.max(1, math.abs(fb[i]))
    if d > worst then worst = d end
  end
  return worst
end

M.define {
  name = "lua_unicycle_accel",
  doc = "unicycle_accel written in Lua (test)",
  x = { "px", "py", "v", "phi" }, u = { "throttle", "steer" }, p = { "k_a", "k_s" },
  defaults = { k_a = 1, k_s = 1 },
  f = function(x, u, p)
    return { x[3] * am.cos(x[4]), x[3] * am.sin(x[4]), p.k_a * u[1], p.k_s * x[3] * u[2] }
  end,
}

M.define {
  name = "lua_car_drag",
  x = { "px", "py", "v", "phi" }, u = { "throttle", "steer" }, p = { "k_a", "c_d", "k_s", "b_s" },
  defaults = { k_a = 11.25, c_d = 0.55, k_s = 6.5, b_s = 0.1 },
  f = function(x, u, p)
    local v = x[3]
    return { v * am.cos(x[4]), v * am.sin(x[4]), p.k_a * u[1] - p.c_d * v * am.abs(v),
             (p.k_s * u[2] + p.b_s) * v }
  end,
}

M.define {
  name = "lua_pendulum",
  x = { "theta", "omega" }, u = { "tau" }, p = { "m", "l", "g", "b" },
  defaults = { m = 1, l = 1, g = 9.81, b = 0 },
  f = function(x, u, p)
    local I = p.m * p.l * p.l
    return { x[2], (u[1] - p.b * x[2]) / I + p.g / p.l * am.sin(x[1]) }
  end,
}

describe("spinal.model.define", function()
  it("matches the C models' step and Jacobians A, B, P for Euler and RK4", function()
    local r = rng.new(7)
    local pairs_ = { { "lua_unicycle_accel", "unicycle_accel", { k_a = 0.8, k_s = 1.3 } },
                     { "lua_car_drag", "car_drag", { c_d = 0.3, b_s = -0.05 } } }
    for _, pr in ipairs(pairs_) do
      for _, integ in ipairs { "euler", "rk4" } do
        local opts = { dt = 0.05, integrator = integ, substeps = 2 }
        local ml, mc = M.new(pr[1], pr[3], opts), M.new(pr[2], pr[3], opts)
        for _ = 1, 5 do
          local x = { r:normal(), r:normal(), 2 * r:normal(), r:normal() }
          local u = { r:normal(), r:normal() }
          assert.is_true(maxrel(ml:step(x, u), mc:step(x, u)) < 1e-12)
          local A1, B1, P1, x1 = ml:jac(x, u)
          local A2, B2, P2, x2 = mc:jac(x, u)
          assert.is_true(maxrel(x1, x2) < 1e-12)
          assert.is_true(maxrel(A1, A2) < 1e-12, pr[1] .. " A " .. integ)
          assert.is_true(maxrel(B1, B2) < 1e-12, pr[1] .. " B " .. integ)
          assert.is_true(maxrel(P1, P2) < 1e-12, pr[1] .. " P " .. integ)
          local g = { r:normal(), r:normal(), r:normal(), r:normal() }
          local gx1, gu1, gp1 = ml:vjp(x, u, g)
          local gx2, gu2, gp2 = mc:vjp(x, u, g)
          assert.is_true(maxrel(gx1, gx2) < 1e-12 and maxrel(gu1, gu2) < 1e-12 and
                         maxrel(gp1, gp2) < 1e-12)
          local fx1, fu1, fp1 = ml:f_jac(x, u)
          local fx2, fu2, fp2 = mc:f_jac(x, u)
          assert.is_true(maxrel(fx1, fx2) < 1e-12 and maxrel(fu1, fu2) < 1e-12 and
                         maxrel(fp1, fp2) < 1e-12)
        end
      end
    end
  end)

  it("is a registered model: listed, described, named parameters and defaults", function()
    local info = M.info("lua_car_drag")
    assert.equal(4, info.nx)
    assert.equal(2, info.nu)
    assert.same({ "k_a", "c_d", "k_s", "b_s" }, info.p_names)
    assert.equal(0.55, info.defaults.c_d)
    assert.is_true(info.lua)
    assert.is_false(M.info("car_drag").lua)
    assert.equal("unicycle_accel written in Lua (test)", M.new("lua_unicycle_accel").doc)
    local found = false
    for _, n in ipairs(M.list()) do found = found or n == "lua_pendulum" end
    assert.is_true(found)
  end)

  it("gives the same LQR gain as the C pendulum", function()
    local Q, R = A.eye(2) * 10, A.eye(1)
    local ml = M.new("lua_pendulum", { l = 0.7, b = 0.1 }, { dt = 0.02 })
    local mc = M.new("pendulum", { l = 0.7, b = 0.1 }, { dt = 0.02 })
    local A1, B1 = ml:jac({ 0, 0 }, 0)
    local A2, B2 = mc:jac({ 0, 0 }, 0)
    local K1 = ctrl.lqr_gain(A1, B1, Q, R, "discrete")
    local K2 = ctrl.lqr_gain(A2, B2, Q, R, "discrete")
    assert.is_true(maxrel(K1, K2) < 1e-10)
    local fx, fu = ml:f_jac({ 0, 0 }, 0)
    assert.is_true(maxrel(ctrl.lqr_gain(fx, fu, Q, R, "continuous"), K2) > 0)  -- it designs
  end)

  it("gives the same feedback gradient and policy rollout as the C model", function()
    local task = T.figure_eight { radius = 1.5, period = 5.5 }
    local cost = C.car { nx = 4, nu = 2 }
    local x0 = { 0.1, -0.1, 2.0, 1.5 }
    local ml = M.new("lua_car_drag", nil, { dt = 0.02 })
    local mc = M.new("car_drag", nil, { dt = 0.02 })
    for seed = 1, 2 do
      local pol = P.tracking { task = task, controller = ctrl.tracker "car", hidden = { 6, 6 },
                               seed = seed, init_last = true }
      local tl, tc = pol:rollout(ml, x0, 40), pol:rollout(mc, x0, 40)
      assert.is_true(maxrel(tl.X, tc.X) < 1e-10)
      local opts = { cost = cost, task = task }
      local gl, Jl = G.feedback(pol, ml, tc, opts)
      local gc, Jc = G.feedback(pol, mc, tc, opts)
      assert.is_near(Jc, Jl, 1e-12 * math.abs(Jc))
      assert.is_true((gl - gc):norm() <= 1e-10 * gc:norm())
    end
  end)

  it("steps a model plant in lockstep; real-time rollouts, live loops and bridges refuse it", function()
    local p <close> = assert(hal.open("model", { model = "lua_unicycle_accel", rate = 50,
                                                 x0 = { 0, 0, 1, 0 } }))
    local q <close> = assert(hal.open("model", { model = "unicycle_accel", rate = 50,
                                                 x0 = { 0, 0, 1, 0 } }))
    local pol = { K = { { 0, 0, 1, 0 }, { 0, 0, 0, 0 } }, x_ref = { 0, 0, 2, 0 }, u_ff = { 0, 0 } }
    local a = p:rollout { steps = 50, policy = pol }
    local b = q:rollout { steps = 50, policy = pol }
    assert.is_true(maxrel(a.x, b.x) < 1e-12)
    assert.matches("bad argument #1 to 'rollout' (field 'realtime': expected false for a model "
      .. "plant of 'lua_unicycle_accel', a model written in Lua",
      error_of(function() return p:rollout { steps = 5, policy = pol, realtime = true } end), 1, true)
    assert.matches("a model written in Lua",
      error_of(hal.bridge, p, { listen = "127.0.0.1:0" }), 1, true)
    assert.matches("model plant of 'lua_unicycle_accel', a model written in Lua",
      error_of(require("spinal.loop").new, p, { controller = ctrl.tracker "car" }), 1, true)
  end)

  it("raises an error in f with the model's name and line, and the next call works", function()
    local fail = false
    M.define {
      name = "lua_flaky", x = { "a", "b" }, u = { "c" },
      f = function(x, u)
        if fail then return { x[1] + nil, 0 } end
        return { x[2], u[1] }
      end,
    }
    local m = M.new("lua_flaky")
    fail = true
    local err = error_of(m.step, m, { 1, 2 }, 3)
    assert.matches("lua_flaky.f: .*model_lua_spec.lua:%d+: attempt to perform arithmetic", err)
    assert.matches("lua_flaky.f:", error_of(m.jac, m, { 1, 2 }, 3), 1, true)
    assert.matches("lua_flaky.f:", error_of(m.vjp, m, { 1, 2 }, 3, { 1, 1 }), 1, true)
    assert.matches("lua_flaky.f:", error_of(m.f, m, { 1, 2 }, 3), 1, true)
    fail = false
    local xn = m:step({ 1, 2 }, 3)
    assert.is_true(math.abs(xn[1] - (1 + 2 * 0.01 + 3 * 0.01 ^ 2 / 2)) < 1e-12)
    -- through another binding: a policy rollout and the feedback gradient
    local K = A.zeros(1, 2)
    local pol = P.lqr { controller = ctrl.lqr(K), period = 1, hidden = { 3 }, seed = 1,
                        init_last = true }
    local tr = pol:rollout(m, { 0.1, 0 }, 5)
    fail = true
    assert.matches("lua_flaky.f:", error_of(pol.rollout, pol, m, { 0.1, 0 }, 5), 1, true)
    local quad = C.new { nx = 2, nu = 1 }:action { weight = 1 }
    assert.matches("lua_flaky.f:", error_of(G.feedback, pol, m, tr, { cost = quad }), 1, true)
    fail = false
    assert.is_number(select(2, G.feedback(pol, m, tr, { cost = quad })))
  end)

  -- the error is raised after the rollout's loop, safety filter and trajectory exist: they belong
  -- to a userdata made first, so nothing leaks (make test-asan checks leaks on this path)
  it("raises a Lua model's error from a plant rollout, and the next rollout works", function()
    local fail = false
    M.define {
      name = "lua_flaky_plant", x = { "a", "b" }, u = { "c" },
      f = function(x, u)
        if fail then return { x[1] + nil, 0 } end
        return { x[2], u[1] }
      end,
    }
    local p <close> = assert(hal.open("model", { model = "lua_flaky_plant", rate = 50 }))
    local pol = { K = { { 1, 1 } } }
    fail = true
    assert.matches("lua_flaky_plant.f: .*model_lua_spec.lua:%d+: attempt to perform arithmetic",
      error_of(function() local tr = p:rollout { steps = 20, policy = pol } return tr end))
    fail = false
    local tr = p:rollout { steps = 20, policy = pol }
    assert.equal(20, tr.n)
  end)

  it("says when f returns the wrong shape or uses math on duals", function()
    M.define { name = "lua_short", x = { "a", "b", "c", "d" }, u = { "e" },
               f = function(x) return { x[1], x[2], x[3] } end }
    local m = M.new("lua_short")
    assert.matches("lua_short.f returned 3 values, expected 4",
      error_of(m.step, m, { 1, 2, 3, 4 }, 0), 1, true)
    M.define { name = "lua_scalar", x = { "a" }, f = function(x) return x[1] end }
    local s = M.new("lua_scalar")
    assert.matches("lua_scalar.f returned number, expected a table of 1 numbers",
      error_of(s.step, s, { 1 }, {}), 1, true)
    M.define { name = "lua_mathsin", x = { "a" }, f = function(x) return { math.sin(x[1]) } end }
    local t = M.new("lua_mathsin")
    assert.is_true(math.abs(t:step({ 0.5 }, {})[1] - 0.5) > 0)  -- values work on numbers
    assert.matches("use spinal.autodiff.math", error_of(t.jac, t, { 0.5 }, {}), 1, true)
  end)

  it("checks the definition, naming the field", function()
    local f = function(x) return { x[1] } end
    local function define_error(def)
      return error_of(function() local c = M.define(def) return c end)
    end
    assert.matches("bad argument #1 to 'define' (field 'x': expected a list of names, got nil)",
      define_error { name = "lua_d1", f = f }, 1, true)
    assert.matches("(field 'f': expected a function f(x, u, p), got nil)",
      define_error { name = "lua_d1", x = { "a" } }, 1, true)
    assert.matches("(field 'defaults.k': expected a number",
      define_error { name = "lua_d1", x = { "a" }, p = { "k" }, f = f }, 1, true)
    assert.matches("(field 'defaults.z': not a parameter listed in p)",
      define_error { name = "lua_d1", x = { "a" }, p = { "k" }, defaults = { k = 1, z = 2 },
                     f = f }, 1, true)
    assert.matches("(unknown option 'params'; valid: name, doc, x, u, p, defaults, f, discrete, "
      .. "replace)", define_error { name = "lua_d1", x = { "a" }, params = {}, f = f }, 1, true)
    assert.matches("(field 'x': lists 'a' twice)",
      define_error { name = "lua_d1", x = { "a", "a" }, f = f }, 1, true)
    assert.matches("(field 'discrete': expected a boolean, got number)",
      define_error { name = "lua_d1", x = { "a" }, f = f, discrete = 1 }, 1, true)
    assert.is_nil(M.info("lua_d1"))
  end)

  it("refuses to redefine a name unless replace = true, which keeps the shape", function()
    local f1 = function(x) return { -x[1] } end
    local f2 = function(x) return { -2 * x[1] } end
    M.define { name = "lua_again", x = { "a" }, f = f1, discrete = true }
    local m = M.new("lua_again")
    assert.equal(-3, m:step({ 3 }, {})[1])
    assert.matches("model 'lua_again' is already defined; pass replace = true",
      error_of(M.define, { name = "lua_again", x = { "a" }, f = f2 }), 1, true)
    assert.matches("a built-in C model",
      error_of(M.define, { name = "pendulum", x = { "a" }, f = f2, replace = true }), 1, true)
    assert.matches("must keep its states, actions and parameters",
      error_of(M.define, { name = "lua_again", x = { "b" }, f = f2, replace = true }), 1, true)
    M.define { name = "lua_again", x = { "a" }, f = f2, discrete = true, replace = true }
    assert.equal(-6, m:step({ 3 }, {})[1])  -- existing instances use the new function
  end)
end)

describe("a Lua model that never returns", function()
  it("is stopped after 50 million instructions in one call, naming the model and the line",
    function()
    M.define { name = "lua_forever", x = { "a" }, discrete = true, replace = true,
               f = function(x)
                 while x do end
               end }
    local m = M.new("lua_forever")
    local t0 = os.clock()
    local msg = error_of(function() return m:step({ 1 }, {}) end)
    assert.matches("lua_forever.f: .*model_lua_spec.lua:%d+: ran more than 50 million Lua "
      .. "instructions in one call %(an endless loop%?%)", msg)
    assert.is_true(os.clock() - t0 < 30)
    -- the limit is per call: the next call of another model runs normally
    M.define { name = "lua_quick", x = { "a" }, discrete = true, replace = true,
               f = function(x) return { 2 * x[1] } end }
    assert.equal(6, M.new("lua_quick"):step({ 3 }, {})[1])
  end)
end)

describe("a robot file with a model written in Lua", function()
  it("designs its LQR on the Lua model and balances its model plant in lockstep", function()
    local robot = require "spinal.robot"
    for _ = 1, 2 do  -- loading again replaces the definition (replace = true in the file)
      local r = robot.load "tests/lua/fixtures/lua_pendulum_robot.lua"
      assert.equal("fixture_lua_pendulum", r.model.name)
      local c = M.new("pendulum", { l = 0.9 }, { dt = 0.01 })
      local A2, B2 = c:jac({ 0, 0 }, 0)
      local K = ctrl.lqr_gain(A2, B2, { { 10, 0 }, { 0, 1 } }, A.eye(1), "discrete")
      assert.is_true(maxrel(r.controller:gains():reshape { 1, 2 }, K) < 1e-10)
      local plant = assert(r:open "model")
      local tr = plant:rollout { steps = 300, policy = { K = K, x_ref = { 0, 0 }, u_ff = { 0 } } }
      assert.near(0.3, tr.x[1][1], 1e-12)
      assert.is_true(math.abs(tr.x[301][1]) < 1e-2)
      plant:close()
      r:close()
    end
  end)

  it("is refused by the REPL on the robot in one line naming the file and the model", function()
    local S = require "support"
    local out, err, code = S.run "repl tests/lua/fixtures/lua_pendulum_robot.lua"
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("tests/lua/fixtures/lua_pendulum_robot.lua: the model plant runs "
      .. "'fixture_lua_pendulum', a model written in Lua, which steps only in lockstep; the REPL's "
      .. "real-time loop needs a C model or the mujoco plant (--hal mujoco), or run it from a "
      .. "script with plant:rollout\n", err)
    S.cleanup()
  end)
end)
