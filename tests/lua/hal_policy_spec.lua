-- hal_policy_spec.lua: rollouts of a spinal.policy through the HAL (plant:rollout(policy, opts)):
-- the policy acts in C inside the lockstep loop, and the recorded trajectory is what the gradient
-- estimators consume, equal to a rollout of the same policy on the same engine model.
local hal = require "spinal.hal"
local M = require "spinal.model"
local T = require "spinal.task"
local C = require "spinal.cost"
local P = require "spinal.policy"
local G = require "spinal.grad"
local ctrl = require "spinal.ctrl"
local robot_lib = require "spinal.robot"

local task = T.figure_eight { radius = 1.5, period = 5.5 }

local function car_plant(seed)
  return assert(hal.open("model", { model = "car_drag", rate = 50, integrator = "euler",
                                    seed = seed }))
end

local function policy(seed)
  return P.tracking { task = task, controller = ctrl.tracker "car", hidden = { 8, 8 },
                      seed = seed, init_last = true }
end

describe("plant:rollout with a spinal.policy", function()
  it("records the same trajectory as the policy's rollout on the same model", function()
    for seed = 1, 3 do
      local pol = policy(seed)
      local x0 = { 0.1 * seed, -0.2, 1.0, 0.3 * seed }
      local tr = car_plant(seed):rollout(pol, { steps = 200, x0 = x0, seed = seed })
      local ref = pol:rollout(M.new("car_drag", nil, { dt = 0.02, integrator = "euler" }), x0, 200)
      assert.are.equal(200, tr.n)
      assert.are.equal(201, tr.X.shape[1])
      assert.are.equal(200, tr.U.shape[1])
      assert.is_near(4.0, tr.data_seconds, 1e-12)
      assert.is_true((tr.X - ref.X):norm() < 1e-9 * ref.X:norm())
      assert.is_true((tr.U - ref.U):norm() < 1e-9 * ref.U:norm())
      assert.is_true((tr.t - ref.t):norm() < 1e-12)
    end
  end)

  it("gives the estimators a trajectory they accept, with the same gradient", function()
    local pol = policy(4)
    local x0 = { 0, 0, 1, 0.5 }
    local model = M.new("car_drag", nil, { dt = 0.02, integrator = "euler" })
    local opts = { cost = C.car { nx = 4, nu = 2 }, skip = 20 }
    local g1, J1 = G.feedback(pol, model, car_plant(1):rollout(pol, { steps = 100, x0 = x0 }), opts)
    local g2, J2 = G.feedback(pol, model, pol:rollout(model, x0, 100), opts)
    assert.is_near(J2, J1, 1e-9 * J2)
    assert.is_true((g1 - g2):norm() < 1e-8 * g2:norm())
  end)

  it("runs in seconds of plant time", function()
    local tr = car_plant(1):rollout(policy(1), { seconds = 1.5, x0 = { 0, 0, 1, 0 } })
    assert.are.equal(75, tr.n)
    assert.is_near(1.5, tr.data_seconds, 1e-12)
  end)

  it("refuses a policy of other sizes, saying both", function()
    local K = ctrl.lqr(require("spinal.array").zeros(2, 4))
    local pend = P.lqr { controller = K, period = 1, hidden = { 4 } }
    local plant = assert(hal.open("model", { model = "unicycle_vel", rate = 10 }))
    local ok, err = pcall(plant.rollout, plant, pend, { steps = 5 })
    assert.is_false(ok)
    assert.matches("expected a policy with nx = 3, nu = 2 %(the plant's%), got nx = 4, nu = 2", err)
  end)

  it("opens a robot's plant through hal.open(robot, backend)", function()
    local robot = robot_lib.load "robots/rc_car.lua"
    local plant = assert(hal.open(robot, "model"))
    assert.are.equal("rc_car", plant.robot)
    local pol = P.tracking { task = task, controller = robot.controller, hidden = { 8 } }
    local tr = plant:rollout(pol, { steps = 50, x0 = { 0, 0, 0, 0.78 } })
    assert.are.equal(51, tr.X.shape[1])
  end)
end)

describe("plant:rollout with a spinal.ctrl", function()
  local A = require "spinal.array"
  local pend = M.new("double_pendulum", nil, { dt = 0.01 })
  local Am, Bm = pend:jac({ 0, 0, 0, 0 }, { 0, 0 })
  local K = ctrl.lqr_gain(Am, Bm, A.eye(4) * 50, A.eye(2), "discrete")

  it("runs the controller alone in the loop, as the nominal policy over it does", function()
    for seed = 1, 3 do
      local c = ctrl.lqr(K)
      local plant = assert(hal.open("model", { model = "double_pendulum", rate = 100,
                                               integrator = "rk4" }))
      local x0 = { 0.1 * seed, -0.05 * seed, 0, 0.02 }
      local tr = plant:rollout(c, { steps = 150, x0 = x0, r = { 0, 0, 0, 0, 0, 0 } })
      local pol = P.lqr { controller = c, period = 1.5, hidden = { 4 }, seed = seed }
      local ref = pol:rollout(pend, x0, 150)
      assert.are.equal(151, tr.X.shape[1])
      assert.is_true((tr.X - ref.X):norm() < 1e-9 * ref.X:norm())
      assert.is_true(math.abs(tr.X[151][1]) < 0.3 * math.abs(x0[1]))  -- it stabilises upright
    end
  end)

  it("asks for the controller's reference, saying how long it is", function()
    local plant = assert(hal.open("model", { model = "double_pendulum", rate = 100 }))
    local ok, err = pcall(plant.rollout, plant, ctrl.lqr(K), { steps = 5 })
    assert.is_false(ok)
    assert.matches("field 'r': expected the controller's reference %(6 numbers%), got nil", err)
  end)
end)
