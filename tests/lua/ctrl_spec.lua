-- ctrl_spec.lua: the spinal.ctrl binding: controllers act/jac/vjp on arrays and tables, limits,
-- lifecycle, argument errors, and LQR design on matrices.
local ctrl = require "spinal.ctrl"

local x0 = { 0.1, -0.2, 0.8, 0.3 }
local r0 = { 0.4, 0.1, 1.0, 0.2, 0.3, -0.1 }
local K0 = { 0.45, 0.45, 0.35, 0.35, 0.5, 0.5 }

local function copy(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  return c
end

-- central differences of act wrt the vector at position which (1 = x, 2 = r, 3 = K)
local function fd(c, which, i, h)
  local args = { copy(x0), copy(r0), copy(K0) }
  args[which][i] = args[which][i] + h
  local up = c:act(args[1], args[2], args[3])
  args[which][i] = args[which][i] - 2 * h
  local um = c:act(args[1], args[2], args[3])
  return { (up[1] - um[1]) / (2 * h), (up[2] - um[2]) / (2 * h) }
end

describe("spinal.ctrl tracker", function()
  it("computes the car tracker's throttle and steer", function()
    local c = ctrl.tracker "car"
    local u = c:act({ 0, 0, 0.5, 0.1 }, { 0.2, 0.1, 1.0, 0, 0, 0 })
    local xs, ys = 1.0 + 0.45 * 0.2, 0.45 * 0.1
    assert.is_near(0.35 * (math.sqrt(xs * xs + ys * ys) - 0.5), u[1], 1e-14)
    assert.is_near(0.35 * (math.atan(ys, xs) - 0.1), u[2], 1e-14)
    assert.are.equal(4, c.nx)
    assert.are.equal(2, c.nu)
    assert.are.equal("tracker_car", c.name)
  end)

  it("gives Jacobians that match central differences of act", function()
    local c = ctrl.tracker "car"
    local Dx, Dr, DK = c:jac(x0, r0, K0)
    assert.are.same({ 2, 4 }, Dx.shape)
    for which, D in ipairs { Dx, Dr, DK } do
      local n = D.shape[2]
      for j = 1, n do
        local col = fd(c, which, j, 1e-6)
        assert.is_near(col[1], D[1][j], 1e-7)
        assert.is_near(col[2], D[2][j], 1e-7)
      end
    end
  end)

  it("gives a VJP equal to the transposed Jacobian times g", function()
    local c = ctrl.tracker "quadruped"
    local x = { 0.1, -0.2, 0.3 }
    local Dx, Dr, DK = c:jac(x, r0, K0)
    local gx, gr, gK = c:vjp(x, r0, K0, { 0.7, -1.3 })
    for j = 1, 3 do assert.is_near(0.7 * Dx[1][j] - 1.3 * Dx[2][j], gx[j], 1e-12) end
    for j = 1, 6 do assert.is_near(0.7 * Dr[1][j] - 1.3 * Dr[2][j], gr[j], 1e-12) end
    for j = 1, 6 do assert.is_near(0.7 * DK[1][j] - 1.3 * DK[2][j], gK[j], 1e-12) end
  end)

  it("clamps to its limits and reports saturated channels", function()
    local c = ctrl.tracker "car"
    local lo, hi = c:limits()
    assert.are.same({ -0.75, -1 }, lo:totable())
    assert.are.same({ 0.75, 1 }, hi:totable())
    local u = c:act({ 0, 0, 0, 3 }, { 10, 0, 5, 0, 0, 0 })
    assert.are.same({ 0.75, -1 }, u:totable())
    assert.are.same({ true, true }, c:saturated())
    c:set_limits(-2, nil)
    local u2 = c:act({ 0, 0, 0, 3 }, { 10, 0, 5, 0, 0, 0 })
    assert.is_true(u2[1] > 0.75)
  end)

  it("uses its own gains when none are given, and set_gains changes them", function()
    local c = ctrl.tracker "car"
    assert.are.same({ 0.45, 0.45, 0.35, 0.35, 0, 0 }, c:gains():totable())
    c:set_gains(K0)
    assert.are.same(c:act(x0, r0, K0):totable(), c:act(x0, r0):totable())
  end)

  it("names its gain and reference blocks, and takes gains back by name", function()
    local pd = ctrl.pd(2, { 1, 2 }, { 3, 4 })
    assert.are.same({ { name = "kp", size = 2, kind = "action" },
                      { name = "kd", size = 2, kind = "action" } }, pd.gain_blocks)
    assert.are.same({ "q_d", "qdot_d", "u_ff" }, pd.ref_names)
    local K, named = pd:gains()
    assert.are.same({ 1, 2, 3, 4 }, K:totable())
    assert.are.same({ kp = { 1, 2 }, kd = { 3, 4 } }, named)
    pd:set_gains { kd = 0.5 }                 -- one number: the whole block
    assert.are.same({ 1, 2, 0.5, 0.5 }, pd:gains():totable())
    local lqr = ctrl.lqr(require "spinal.array" { { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ { name = "K", size = 6, kind = "matrix" } }, lqr.gain_blocks)
    local _, nk = lqr:gains()
    nk.K[2][3] = 60
    lqr:set_gains(nk)
    assert.are.same({ 1, 2, 3, 4, 5, 60 }, lqr:gains():totable())
    assert.has_error(function() pd:set_gains { kq = 1 } end,
      "bad argument #1 to 'set_gains' (unknown gain 'kq' for a pd controller (its gains: kp, kd))")
    assert.has_error(function() pd:set_gains { kp = { 1, 2, 3 } } end,
      "bad argument #1 to 'set_gains' (field 'kp': expected a vector of length 2, got length 3)")
  end)

  it("names the argument and the expected length in errors", function()
    local c = ctrl.tracker "car"
    assert.has_error(function() c:act({ 1, 2, 3 }, r0) end,
      "bad argument #1 to 'act' (expected a state of length 4, got 3)")
    assert.has_error(function() c:act(x0, { 1 }) end,
      "bad argument #2 to 'act' (expected a reference of length 6, got 1)")
    assert.error_matches(function() c:vjp(x0, r0, nil) end,
      "bad argument #4 to 'vjp' (expected an action gradient of length 2, got nil)", nil, true)
    assert.error_matches(function() local b = ctrl.tracker "boat" return b end,
      "bad argument #1 to 'tracker' (invalid option 'boat')", nil, true)
  end)

  it("refuses calls after close, and closes with <close>", function()
    local c = ctrl.tracker "car"
    c:close()
    assert.error_matches(function() c:act(x0, r0) end,
      "calling 'act' on bad self (controller is closed)", nil, true)
    assert.matches("closed", tostring(c))
    do
      local d <close> = ctrl.tracker "quadruped"
      assert.are.equal(3, d.nx)
    end
  end)
end)

describe("spinal.ctrl names", function()
  it("lists the gain and reference blocks its class names", function()
    local t, p, l = ctrl.tracker "car", ctrl.pd(3), ctrl.lqr { { 1, 2 } }
    assert.are.same({ "kx", "ky", "kv", "kphi", "ka", "kw" }, t.gain_names)
    assert.are.same({ "x_d", "y_d", "xdot_d", "ydot_d", "xddot_d", "yddot_d" }, t.ref_names)
    assert.are.same({ "kp", "kd" }, p.gain_names)
    assert.are.same({ "q_d", "qdot_d", "u_ff" }, p.ref_names)
    assert.are.same({ "K" }, l.gain_names)
    assert.are.same({ "x_set", "u_ff" }, l.ref_names)
  end)
end)

describe("spinal.ctrl pd and lqr", function()
  it("computes PD with scalar gains broadcast to every joint", function()
    local c = ctrl.pd(2, 10, 1)
    local u = c:act({ 0.1, 0.2, 0, 0 }, { 0, 0, 1, 0, 0.5, 0 })
    assert.is_near(0.5 - 1 + 1, u[1], 1e-14)
    assert.is_near(-2, u[2], 1e-14)
  end)

  it("designs a discrete LQR gain whose closed loop is stable", function()
    local dt = 0.01
    local A = { { 1, dt }, { dt, 1 } }  -- unstable
    local B = { { 0 }, { dt } }
    local K = ctrl.lqr_gain(A, B, { { 1, 0 }, { 0, 1 } }, { { 1 } })
    assert.are.same({ 1, 2 }, K.shape)
    local rho = ctrl.closed_loop(A, B, K)
    assert.is_true(rho < 1)
    local c = ctrl.lqr(K)
    assert.are.equal(3, c.nr)
    local u = c:act({ 0.1, 0 }, { 0, 0, 0.5 })
    assert.is_near(0.5 - K[1][1] * 0.1, u[1], 1e-14)
  end)

  it("returns nil and a message when no stabilising solution exists", function()
    local X, msg = ctrl.dare({ { 2, 0 }, { 0, 0.5 } }, { { 0 }, { 1 } }, { { 1, 0 }, { 0, 1 } },
      { { 1 } })
    assert.is_nil(X)
    assert.matches("dare", msg)
  end)

  it("rejects a non-square weight with the expected shape in the message", function()
    assert.has_error(function()
      ctrl.care({ { 0, 1 }, { 0, 0 } }, { { 0 }, { 1 } }, { { 1, 0, 0 }, { 0, 1, 0 } }, { { 1 } })
    end, "bad argument #3 to 'care' (expected Q of shape (2, 2), got shape (2, 3))")
  end)

  it("computes TV-LQR gains of shape (T, nu, nx)", function()
    local A, B = {}, {}
    for k = 1, 300 do
      A[k] = { { 1, 0.1 }, { 0, 1 } }
      B[k] = { { 0 }, { 0.1 } }
    end
    local I = { { 1, 0 }, { 0, 1 } }
    local Ks = ctrl.tvlqr(A, B, I, { { 1 } }, I)
    assert.are.same({ 300, 1, 2 }, Ks.shape)
    local Kinf = ctrl.lqr_gain(A[1], B[1], I, { { 1 } })
    assert.is_near(Kinf[1][1], Ks[1][1][1], 1e-6)
  end)
end)
