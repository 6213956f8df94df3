-- residual_demo.lua: learn what an approximate car model gets wrong, from a minute of data.
--
-- The "real" car is the robot file's plant (robots/rc_car.lua's `model` section by default:
-- docs/methods.md's simulated car car_drag, dv/dt = 11.25 u1 - 0.55 v|v|,
-- dphi/dt = (6.5 u2 + 0.1) v, RK4; or plant=mujoco, or a robot behind `spinal bridge` at
-- plant=udp://HOST:PORT); the approximate model is the same structure with every parameter
-- halved (gamma = 0.5, Euler), the mismatch method 1 is built to tolerate. We drive the plant
-- through the HAL at its rate under random commands (a random walk in throttle and steering,
-- within the robot's limits) and record its transitions, then train a small MLP on the residual
--   x_real[k+1] - x_model[k+1] = g(v, u1, u2)
-- so that model + g predicts the real car. The table at the end compares the one-step prediction
-- error of the model alone and of model + learned residual on held-out data.
--
--   spinal experiments/residual_demo.lua [seconds=60] [iters=1500] [hidden=32] [lr=0.003] [seed=1]
--                                        [robot=robots/rc_car.lua] [plant=model]
local sp = require "spinal"
local A = require "spinal.array"
local M = require "spinal.model"
local nn = require "spinal.nn"

local cfg = sp.settings {
  seconds = 60,       -- seconds of real-car data (train 80 %, test 20 %)
  rate = 50,          -- Hz: the plant's control rate (checked)
  gamma = 0.5,        -- model parameters = gamma x real parameters
  iters = 1500,       -- Adam steps
  batch = 256,
  hidden = 32,
  lr = 3e-3,
  seed = 1,
  robot = "robots/rc_car.lua",
  plant = "model",    -- the robot file's plant section, or a HAL address (udp://host:port)
}

local robot = sp.robot.load(sp.run.resolve(cfg.robot))
sp.run.require_robot(robot, { state = { "px", "py", "v", "phi" },
                              action = { "throttle", "steer" } }, "residual_demo")
local plant = sp.run.open_plant(robot, cfg.plant, "residual_demo")
if plant.rate ~= cfg.rate then
  error(("residual_demo: rate=%g: the plant (%s) runs at %g Hz"):format(cfg.rate,
    tostring(cfg.plant), plant.rate), 0)
end
local defaults = M.new("car_drag", nil, { dt = 1 / cfg.rate }).params
local scaled = {}
for k, v in pairs(defaults) do scaled[k] = cfg.gamma * v end
local model = M.new("car_drag", scaled, { dt = 1 / cfg.rate })

-- 1. record the plant's transitions under random commands (a random walk in speed and steering,
-- clamped to the robot's action limits; the car's drag bounds its speed)
local rng = require("spinal.rng").new(cfg.seed, 0)
local n = math.floor(cfg.seconds * cfg.rate)
local inputs = A.zeros(n, 3)     -- (v, throttle, steer)
local targets = A.zeros(n, 2)    -- residual in (v, phi) after one step
local lo, hi = robot.limits.action_min, robot.limits.action_max
local function wrap(a) return (a + math.pi) % (2 * math.pi) - math.pi end  -- a heading difference
if plant.can_reset then plant:reset { 0, 0, 1, 0 } end  -- a robot over udp starts where it is
plant:activate()
local x = plant:read()
local u = A { 0, 0 }
for k = 1, n do
  u[1] = math.max(lo[1], math.min(hi[1], u[1] + 0.15 * rng:normal()))
  u[2] = math.max(lo[2], math.min(hi[2], u[2] + 0.2 * rng:normal()))
  plant:write(u)
  local xr, xm = plant:read(), model:step(x, u)
  inputs[k] = { x[3], u[1], u[2] }
  targets[k] = { xr[3] - xm[3], wrap(xr[4] - xm[4]) }
  x = xr
end
plant:write(robot.safety.safe)
plant:deactivate()

-- 2. normalise, split into train and test
local ntrain = math.floor(0.8 * n)
local function rows(a, first, count) return a:narrow(1, first, count) end
local xin_mean, xin_std = inputs:mean(1), ((inputs - inputs:mean(1)) ^ 2):mean(1):sqrt()
local t_std = (targets ^ 2):mean(1):sqrt()
local X = (inputs - xin_mean) / xin_std
local T = targets / t_std
local Xtr, Ttr = rows(X, 1, ntrain), rows(T, 1, ntrain)
local Xte, Tte = rows(X, ntrain + 1, n - ntrain), rows(T, ntrain + 1, n - ntrain)

-- 3. fit the residual
local net = nn.mlp { sizes = { 3, cfg.hidden, cfg.hidden, 2 }, act = "tanh", seed = cfg.seed,
                     batch = cfg.batch }
local opt = nn.adam { lr = cfg.lr }
local progress = sp.progress { total = cfg.iters, label = "fit residual" }
local pick = require("spinal.rng").new(cfg.seed, 1)
local xb, tb = A.zeros(cfg.batch, 3), A.zeros(cfg.batch, 2)
local loss = 0
for it = 1, cfg.iters do
  for b = 1, cfg.batch do
    local i = pick:integer(ntrain)
    xb[b] = Xtr[i]
    tb[b] = Ttr[i]
  end
  local d = net:forward(xb) - tb
  loss = (d * d):mean()
  net:zero_grad()
  net:backward(d * (2 / d:numel()))
  opt:step(net)
  progress:update(it, { loss = loss })
end
progress:done()

-- 4. one-step prediction error on held-out data, in physical units
local function rms(a) return math.sqrt((a * a):mean()) end
local resid = Tte * t_std                          -- what the model alone gets wrong
local learned = net:forward(Xte) * t_std            -- what the network predicts it gets wrong
local after = resid - learned
local function col(a, j) return a:select(2, j) end
print()
print(("one-step prediction error on %d held-out transitions (%.0f s of data at %d Hz)")
  :format(n - ntrain, cfg.seconds, cfg.rate))
print(("  %-24s %14s %14s"):format("", "speed (m/s)", "heading (rad)"))
print(("  %-24s %14.5f %14.5f"):format("model (gamma = " .. cfg.gamma .. ")", rms(col(resid, 1)),
  rms(col(resid, 2))))
print(("  %-24s %14.5f %14.5f"):format("model + learned residual", rms(col(after, 1)),
  rms(col(after, 2))))
print(("  %-24s %14.1fx %13.1fx"):format("reduction", rms(col(resid, 1)) / rms(col(after, 1)),
  rms(col(resid, 2)) / rms(col(after, 2))))
