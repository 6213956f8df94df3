-- bench_model_lua.lua: how much slower a model written in Lua (spinal.model.define, Jacobians
-- by forward-mode autodiff) is than the same model in C.
-- Run: build/spinal bench/bench_model_lua.lua
-- Prints JSON: seconds per m:jac call (RK4 step and A, B, P, from Lua: both include the
-- binding's array handling) and per feedback gradient over 200 steps (the engine calls the
-- model's step VJP from C), for car_drag and its Lua re-implementation.
local M = require "spinal.model"
local am = require("spinal.autodiff").math
local ctrl = require "spinal.ctrl"
local P = require "spinal.policy"
local G = require "spinal.grad"
local T = require "spinal.task"
local C = require "spinal.cost"

M.define {
  name = "bench_lua_car_drag",
  x = { "px", "py", "v", "phi" }, u = { "throttle", "steer" }, p = { "k_a", "c_d", "k_s", "b_s" },
  defaults = { k_a = 11.25, c_d = 0.55, k_s = 6.5, b_s = 0.1 },
  f = function(x, u, p)
    local v = x[3]
    return { v * am.cos(x[4]), v * am.sin(x[4]), p.k_a * u[1] - p.c_d * v * am.abs(v),
             (p.k_s * u[2] + p.b_s) * v }
  end,
}

local function per_call(fn, min_seconds)
  local n, t0 = 0, os.clock()
  repeat
    fn()
    n = n + 1
  until os.clock() - t0 >= min_seconds
  return (os.clock() - t0) / n
end

local ml = M.new("bench_lua_car_drag", nil, { dt = 0.02 })
local mc = M.new("car_drag", nil, { dt = 0.02 })
local x, u = { 0.1, -0.1, 2.0, 1.5 }, { 0.3, -0.2 }
local jl = per_call(function() ml:jac(x, u) end, 0.5)
local jc = per_call(function() mc:jac(x, u) end, 0.5)

local task = T.figure_eight { radius = 1.5, period = 5.5 }
local pol = P.tracking { task = task, controller = ctrl.tracker "car", hidden = { 6, 6 }, seed = 1,
                         init_last = true }
local tr = pol:rollout(mc, x, 200)
local opts = { cost = C.car { nx = 4, nu = 2 }, task = task }
local fl = per_call(function() G.feedback(pol, ml, tr, opts) end, 0.5)
local fc = per_call(function() G.feedback(pol, mc, tr, opts) end, 0.5)

print(string.format('{"name": "model_lua_vs_c_car_drag", "jac_c_s": %.3g, "jac_lua_s": %.3g, "jac_ratio": %.1f, '
  .. '"feedback200_c_s": %.3g, "feedback200_lua_s": %.3g, "feedback_ratio": %.1f}',
  jc, jl, jl / jc, fc, fl, fl / fc))
