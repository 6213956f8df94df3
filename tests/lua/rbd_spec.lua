-- rbd_spec.lua: the spinal.rbd binding (lua/bind/rbd.c): trees from Lua descriptions and MJCF,
-- their algorithms, errors naming the body and field, and trees as spinal.model instances.
local rbd = require "spinal.rbd"
local src = os.getenv("SPINAL_SOURCE_DIR") or "."

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- a point mass m at distance l below a hinge about y: ml^2 qdd = tau - m g l sin(q)
local function pendulum(mass, len)
  return rbd.tree {
    gravity = { 0, 0, -9.81 },
    bodies = {
      { name = "arm", parent = "world",
        joint = { type = "revolute", axis = { 0, 1, 0 }, pos = { 0, 0, 0 } },
        mass = mass, com = { 0, 0, -len }, inertia = { 0, 0, 0 } },
    },
  }
end

describe("spinal.rbd", function()
  it("builds a pendulum from a Lua description whose dynamics are the textbook ones", function()
    local t = pendulum(2, 0.5)
    assert.equal(1, t.nq)
    assert.equal(1, t.nv)
    assert.equal(1, t.nu)
    for _, q in ipairs { -1, 0.3, 2 } do
      local qdd = t:aba({ q }, { 0.7 }, { 1.5 })[1]
      local want = (1.5 - 2 * 9.81 * 0.5 * math.sin(q)) / (2 * 0.25)
      assert.is_true(math.abs(qdd - want) < 1e-12)
      assert.is_true(math.abs(t:crba({ q })[1][1] - 0.5) < 1e-12)
    end
  end)

  it("builds free-floating bodies whose base falls with gravity", function()
    local t = rbd.tree {
      gravity = { 0, 0, -9.81 },
      bodies = {
        { name = "base", joint = { type = "free" }, mass = 2, inertia = { 0.1, 0.2, 0.3 } },
        { name = "arm", parent = "base", pos = { 0.2, 0, 0 },
          joint = { type = "revolute", axis = { 0, 0, 1 } }, mass = 0.5, com = { 0.1, 0, 0 },
          inertia = { 0.001, 0.001, 0.001 } },
      },
    }
    assert.equal(8, t.nq)
    assert.equal(7, t.nv)
    assert.equal(1, t.nu)
    local q = t:neutral()
    local qdd = t:aba(q, { 0, 0, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0, 0 })
    assert.is_true(math.abs(qdd[3] + 9.81) < 1e-12)
    assert.is_true(math.abs(qdd[1]) < 1e-12 and math.abs(qdd[7]) < 1e-12)
    assert.truthy(error_of(rbd.tree, { gravity = { 0, 0 }, bodies = { { name = "a" } } })
      :find("gravity must be a list of 3 numbers", 1, true))
  end)

  it("names the body and field in description errors", function()
    local err = error_of(rbd.tree, { bodies = {
      { name = "thigh", joint = { type = "revolute", axis = { 0, 1, 0 } }, mass = 1 },
      { name = "shin", parent = "thigh", joint = { type = "revolute", axis = { 0, 1, 0 } },
        mass = 1, inertia = { 1, 1, 1, 2, 0, 0 } },
    } })
    assert.truthy(err:find("bodies[2] ('shin'): inertia must be symmetric positive", 1, true))
    err = error_of(rbd.tree, { bodies = { { name = "a", parent = "nowhere" } } })
    assert.truthy(err:find("bodies[1] ('a'): parent 'nowhere' is not an earlier body", 1, true))
    err = error_of(rbd.tree, { bodies = { { name = "a", joint = { type = "hinge" } } } })
    assert.truthy(err:find("joint.type must be one of", 1, true))
    err = error_of(rbd.tree, { bodies = { { name = "a", mass = "heavy" } } })
    assert.truthy(err:find("bodies[1] ('a'): mass must be a number, got string", 1, true))
  end)

  it("imports MJCF through MuJoCo and reports a missing file as nil, message", function()
    local t = assert(rbd.load_mjcf(src .. "/robots/arm3.xml"))
    assert.equal(3, t.nv)
    assert.equal(3, t.nu)
    assert.same({ "turret", "upper_arm", "forearm" }, { t.links[2], t.links[3], t.links[4] })
    local t2, msg = rbd.load_mjcf(src .. "/robots/missing.xml")
    assert.is_nil(t2)
    assert.truthy(msg:find("missing.xml", 1, true))
  end)

  it("has named parameters that change the dynamics", function()
    local t = pendulum(2, 0.5)
    assert.equal(2, t.params["arm.mass"])
    t:set_param("arm.mass", 4)
    assert.equal(4, t:get_param("arm.mass"))
    assert.is_true(math.abs(t:crba({ 0 })[1][1] - 1.0) < 1e-12)
    assert.truthy(error_of(t.set_param, t, "arm.mas", 1):find("expected a parameter name", 1, true))
    assert.truthy(error_of(t.set_param, t, "arm.mass", -1):find(">= 0", 1, true))
  end)

  it("returns derivatives that match finite differences of aba", function()
    local t = assert(rbd.load_mjcf(src .. "/robots/arm3.xml"))
    local q, v, tau = { 0.3, -0.5, 0.8 }, { 0.2, 0.1, -0.4 }, { 1, -2, 0.5 }
    local _, dq, dv, _, dp = t:aba_derivatives(q, v, tau)
    assert.same({ 3, #t.param_names }, dp.shape)
    local h = 1e-6
    for j = 1, 3 do
      local qp, qm = { q[1], q[2], q[3] }, { q[1], q[2], q[3] }
      qp[j], qm[j] = q[j] + h, q[j] - h
      local a, b = t:aba(qp, v, tau), t:aba(qm, v, tau)
      for i = 1, 3 do assert.is_true(math.abs(dq[i][j] - (a[i] - b[i]) / (2 * h)) < 1e-5) end
      local vp, vm = { v[1], v[2], v[3] }, { v[1], v[2], v[3] }
      vp[j], vm[j] = v[j] + h, v[j] - h
      a, b = t:aba(q, vp, tau), t:aba(q, vm, tau)
      for i = 1, 3 do assert.is_true(math.abs(dv[i][j] - (a[i] - b[i]) / (2 * h)) < 1e-5) end
    end
  end)

  it("becomes a spinal.model with the tree's sizes and exact step Jacobians", function()
    local t = assert(rbd.load_mjcf(src .. "/robots/cartpole.xml"))
    local m = t:model { dt = 0.01 }
    assert.equal(4, m.nx)
    assert.equal(1, m.nu)
    assert.equal("rk4", m.integrator)
    local x, u = { 0.1, 0.2, 0.3, -0.1 }, { 0.5 }
    local A, B = m:jac(x, u)
    local h = 1e-6
    for j = 1, 4 do
      local xp, xm = { table.unpack(x) }, { table.unpack(x) }
      xp[j], xm[j] = x[j] + h, x[j] - h
      local a, b = m:step(xp, u), m:step(xm, u)
      for i = 1, 4 do assert.is_true(math.abs(A[i][j] - (a[i] - b[i]) / (2 * h)) < 1e-6) end
    end
    local s = t:model { dt = 0.01, scheme = "semi_implicit" }
    assert.is_true(s.discrete)
    local q, v = s:step(x, u), nil
    assert.equal(4, #q:totable())
    local qn, vn = t:step({ 0.1, 0.2 }, { 0.3, -0.1 }, u, 0.01)
    assert.is_true(math.abs(qn[1] - q[1]) < 1e-14 and math.abs(vn[2] - q[4]) < 1e-14)
    assert.is_nil(v)
    -- a quadruped (free base) cannot use the flat semi-implicit class
    local quad = assert(rbd.load_mjcf(src .. "/robots/quadruped_tree.xml"))
    assert.equal(37, quad:model().nx)
    assert.truthy(error_of(quad.model, quad, { scheme = "semi_implicit" }):find("continuous", 1,
                                                                                 true))
  end)

  it("gives the model the tree's named parameters, with exact parameter Jacobians", function()
    local t = assert(rbd.load_mjcf(src .. "/robots/cartpole.xml"))
    local m = t:model { dt = 0.01 }
    local n = 0
    for _ in pairs(t.params) do n = n + 1 end
    assert.equal(n, m.np)
    local x, u = { 0.1, 0.2, 0.3, -0.1 }, { 0.5 }
    local _, _, P = m:jac(x, u)
    local j
    for k, name in ipairs(m.p_names) do if name == "pole.mass" then j = k end end
    local p0, h = m.params["pole.mass"], 1e-6
    m:set_param("pole.mass", p0 + h)
    local a = m:step(x, u)
    m:set_param("pole.mass", p0 - h)
    local b = m:step(x, u)
    m:set_param("pole.mass", p0)
    for i = 1, 4 do assert.is_true(math.abs(P[i][j] - (a[i] - b[i]) / (2 * h)) < 1e-6) end
    assert.is_true(math.abs(a[4] - b[4]) > 1e-9)
  end)

  it("registers a tree as a model class that spinal.model makes by name", function()
    local M = require "spinal.model"
    local t = assert(rbd.load_mjcf(src .. "/robots/arm3.xml"))
    t:register("spec_arm3_tree")
    local m = M.new("spec_arm3_tree", { ["forearm.mass"] = 1.0 }, { dt = 0.01 })
    assert.equal(6, m.nx)
    assert.equal(3, m.nu)
    assert.equal(1.0, m.params["forearm.mass"])
    local xn = m:step({ 0, 0.5, 0, 0, 0, 0 }, { 0, 0, 0 })
    assert.is_true(xn[5] ~= 0)  -- gravity pulls the pitched arm
    assert.truthy(error_of(t.register, t, "spec_arm3_tree"):find("already registered", 1, true))
  end)

  it("serves a robot file whose LQR, designed on a wrong tree, balances the true one", function()
    local robot = require("spinal.robot").load(src .. "/robots/cartpole_rbd.lua")
    assert.equal("cartpole_rbd", robot.model.name)
    local plant = assert(robot:open "model")
    local opts = { steps = 500, x0 = { 0.1, 0.15, 0, 0 },
                   policy = { K = robot.controller:gains():reshape { 1, 4 } } }
    for k, v in pairs(robot.safety) do opts[k] = v end
    local tr = plant:rollout(opts)
    for j = 1, 4 do assert.is_true(math.abs(tr.x[tr.n][j]) < 1e-2) end
    plant:close()
  end)

  it("keeps its tree alive while a model made from it lives", function()
    local m
    do
      local t = pendulum(1, 1)
      m = t:model { dt = 0.01 }
    end
    collectgarbage()
    collectgarbage()
    local xn = m:step({ 0.5, 0 }, { 0 })
    assert.is_true(xn[2] < 0)
  end)
end)
