-- perturb.lua: the "real" variants of a simulated robot as experiment settings (spinal.perturb).
--
-- A learning experiment on the MuJoCo quadruped takes the robot's named perturbations from its
-- command line (`spinal experiments/quadruped_figure8.lua payload=2 friction=0.6`) and copies
-- them by name into the plant configuration's `perturb` table, which the MuJoCo backend applies
-- (docs/quadruped.md lists what each does). A perturbation at its neutral value is left out, so
-- the defaults are the unperturbed robot and any plant runs them.
--
--   local perturb = require "spinal.perturb"
--   local cfg = sp.settings(perturb.defaults { iters = 10, ... })  -- ranges: spinal.settings
--   local used = perturb.used(cfg)             -- { payload = 2 }: the non-neutral ones
--   run_lib.open_plant(robot, cfg.plant, who, perturb.tweak(used, who, cfg.plant))
local M = {}

-- every perturbation: its neutral value (the unperturbed robot) and unit (its range as a setting is
-- spinal.settings.RANGES[name])
M.list = {
  { name = "payload", neutral = 0.0, doc = "kg on the trunk" },
  { name = "payload_x", neutral = 0.0, doc = "m, the payload's offset forward of the trunk's centre" },
  { name = "payload_y", neutral = 0.0, doc = "m, the payload's offset to the left" },
  { name = "friction", neutral = 1.0, doc = "x foot friction" },
  { name = "motor", neutral = 1.0, doc = "x motor strength" },
  { name = "pd", neutral = 1.0, doc = "x joint PD gains" },
  { name = "damping", neutral = 1.0, doc = "x joint damping" },
  { name = "frictionloss", neutral = 0.0, doc = "N m of dry friction added to every joint" },
  { name = "latency", neutral = 0.0, doc = "s of action latency" },
  { name = "noise", neutral = 0.0, doc = "std of the noise on the measured state" },
  { name = "push", neutral = 0.0, doc = "N s, a lateral impulse on the trunk at push_time" },
  { name = "push_time", neutral = 10.0, doc = "s into each rollout (only with push)" },
}

M.by_name = {}
for _, p in ipairs(M.list) do M.by_name[p.name] = p end

-- defaults (an experiment's settings table) with every perturbation at its neutral value
function M.defaults(t)
  for _, p in ipairs(M.list) do
    if t[p.name] == nil then t[p.name] = p.neutral end
  end
  return t
end

-- the perturbations a configuration asks for: { name = value } of those not at their neutral
-- value (push_time goes with push)
function M.used(cfg)
  local used = {}
  for _, p in ipairs(M.list) do
    local v = cfg[p.name]
    if v ~= nil and v ~= p.neutral and p.name ~= "push_time" then used[p.name] = v end
  end
  if used.push then used.push_time = cfg.push_time or M.by_name.push_time.neutral end
  return used
end

-- the names of a used table, sorted, as "payload=2 friction=0.6"
local function describe(used)
  local items = {}
  for k, v in pairs(used) do items[#items + 1] = ("%s=%.10g"):format(k, v) end
  table.sort(items)
  return table.concat(items, " ")
end
M.describe = describe

-- a tweak for spinal.run.open_plant: copies `used` into the plant configuration's `perturb`
-- table; a plant that has no such perturbations (anything but the MuJoCo backend) is refused with
-- "WHO: payload=2 needs a plant with the robot's perturbations (plant=mujoco); plant=WHERE is a
-- SCHEME plant". nil when nothing is used.
function M.tweak(used, who, where)
  if not used or next(used) == nil then return nil end
  return function(scheme, cfg)
    if scheme ~= "mujoco" then
      error(("%s: %s needs a plant with the robot's perturbations (plant=mujoco); plant=%s is "
        .. "a %s plant"):format(who, describe(used), tostring(where), scheme), 0)
    end
    cfg.perturb = cfg.perturb or {}
    for k, v in pairs(used) do cfg.perturb[k] = v end
  end
end

return M
