-- optimiser.lua: method 1's learning step, whatever the optimiser (spinal.optimiser), shared by
-- the method-1 experiments (car_figure8, car_mujoco, mismatch_sweep, arm_reach,
-- pendulum_feedback): one step per trajectory recorded on the plant, no other plant data.
--
--   local O = require "spinal.optimiser"
--   local step = O.new("gn", pol, model, objective, { radius = 0.05, radius_max = 0.2 })
--   local J, grad_norm, info = step(traj, last)  -- updates pol's parameters in place; last: the
--                                                -- run's last step (gn: a cautious one, see gn)
--   pol:save(path, opt, note)  -- with `local step, opt = O.new(...)`: the optimiser's state too
--
-- kinds: "gn" (spinal.gn: Gauss-Newton with a trust region on the RMS action change, radius =
-- its initial size, radius_max its largest, subspace the Krylov dimension; info is the step's
-- table), "adam" and "sgd" (the feedback gradient, spinal.grad, and a first-order step of rate
-- lr). o.optimiser = the optimiser made already (a spinal.nn adam/sgd, or a spinal.gn for "gn"),
-- e.g. one restored from a checkpoint by pol:load(path, opt). objective: G.feedback's options
-- (cost, terminal, task, skip, scale, segment). Returns the step function and the optimiser whose
-- state a checkpoint holds (pol:save(path, opt, note) / pol:load(path, opt) take either kind).
local M = {}

M.kinds = { "gn", "adam", "sgd" }

function M.new(kind, pol, model, objective, o)
  o = o or {}
  if kind == "gn" then
    local opt = o.optimiser or M.gn(pol, model, o)
    return function(traj, last)
      local info = opt:step(traj, objective, last and { last = true } or nil)
      return info.J, info.grad_norm, info
    end, opt
  end
  local nn, G = require "spinal.nn", require "spinal.grad"
  local opt = o.optimiser
  if opt then
    if kind ~= "adam" and kind ~= "sgd" then
      error(("unknown optimiser '%s' (expected gn, adam or sgd)"):format(tostring(kind)), 0)
    end
  elseif kind == "adam" then
    opt = nn.adam { lr = o.lr or 3e-3 }
  elseif kind == "sgd" then
    opt = nn.sgd { lr = o.lr or 3e-3 }
  else
    error(("unknown optimiser '%s' (expected gn, adam or sgd)"):format(tostring(kind)), 0)
  end
  local theta = pol:params()
  return function(traj)
    local g, J = G.feedback(pol, model, traj, objective)
    opt:step(theta, g)
    return J, g:norm()
  end, opt
end

-- the Gauss-Newton optimiser M.new("gn", ...) makes from the same options (radius, radius_max,
-- subspace, max_decrease, fit: the model's parameters fitted to each rollout), to make one before
-- a checkpoint is loaded into it
function M.gn(pol, model, o)
  o = o or {}
  return require("spinal.gn").new(pol, model, { radius = o.radius, subspace = o.subspace,
                                                radius_max = o.radius_max,
                                                max_decrease = o.max_decrease, fit = o.fit })
end

return M
