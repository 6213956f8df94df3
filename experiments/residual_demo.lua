-- residual_demo.lua: learn what an approximate car model gets wrong, from a minute of data.
--
-- The "real" car is docs/methods.md's simulated car (car_drag: dv/dt = 11.25 u1 - 0.55 v|v|,
-- dphi/dt = (6.5 u2 + 0.1) v); the approximate model is the same structure with every parameter
-- halved (gamma = 0.5), the mismatch method 1 is built to tolerate. We record transitions of the
-- real car at 50 Hz under random commands, then train a small MLP on the residual
--   x_real[k+1] - x_model[k+1] = g(v, u1, u2)
-- so that model + g predicts the real car. The table at the end compares the one-step prediction
-- error of the model alone and of model + learned residual on held-out data.
--
--   spinal experiments/residual_demo.lua [seconds=60] [iters=1500] [hidden=32] [lr=0.003] [seed=1]
local sp = require "spinal"
local A = require "spinal.array"
local M = require "spinal.model"
local nn = require "spinal.nn"

local cfg = sp.settings {
  seconds = 60,       -- seconds of real-car data (train 80 %, test 20 %)
  rate = 50,          -- Hz
  gamma = 0.5,        -- model parameters = gamma x real parameters
  iters = 1500,       -- Adam steps
  batch = 256,
  hidden = 32,
  lr = 3e-3,
  seed = 1,
}

local real = M.new("car_drag", nil, { dt = 1 / cfg.rate })
local defaults = real.params
local scaled = {}
for k, v in pairs(defaults) do scaled[k] = cfg.gamma * v end
local model = M.new("car_drag", scaled, { dt = 1 / cfg.rate })

-- 1. record real transitions under random commands (a random walk in speed and steering)
local rng = require("spinal.rng").new(cfg.seed, 0)
local n = math.floor(cfg.seconds * cfg.rate)
local inputs = A.zeros(n, 3)     -- (v, throttle, steer)
local targets = A.zeros(n, 2)    -- residual in (v, phi) after one step
local x = A { 0, 0, 1, 0 }
local u = A { 0, 0 }
for k = 1, n do
  u[1] = math.max(-0.75, math.min(0.75, u[1] + 0.15 * rng:normal()))
  u[2] = math.max(-1, math.min(1, u[2] + 0.2 * rng:normal()))
  local xr, xm = real:step(x, u), model:step(x, u)
  inputs[k] = { x[3], u[1], u[2] }
  targets[k] = { xr[3] - xm[3], xr[4] - xm[4] }
  x = xr
  if math.abs(x[3]) > 4 then x[3] = 1 end   -- keep the speed in the car's working range
end

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
