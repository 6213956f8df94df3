-- walk.lua: a legged robot's velocity-tracking report (spinal.walk), what
-- experiments/quadruped_walk.lua runs: a schedule of body-velocity commands (steps and ramps)
-- sent to the robot's walking controller through the HAL, and how well the robot followed them.
--
--   local W = require "spinal.walk"
--   local segs = W.schedule("default", 5)     -- { { label, from = {vx, vy, wz}, to, seconds,
--                                             --     ramp }, ... }; 5 s per step
--   local cmd, i = W.command(segs, t)          -- the command at time t and its segment
--   local rep = W.metrics(rec, segs, { settle = 1, mass = 12.7, foot_radius = 0.02 })
--   W.measuring_mjcf(xml, { feet = {...}, actuators = {...}, joints = {...} })  -- + sensors
--
-- The measurement. Achieved body velocity: the trunk's linear velocity in its own frame (forward
-- vx, left vy) and its angular velocity about its own z axis (wz), what the walking controller is
-- commanded in. Per segment: the mean command and the mean achieved velocity, and the mean
-- absolute error |cmd - achieved| per component over the segment (a step's first `settle`
-- seconds, the controller's transient, are left out; a ramp is scored whole, its lag included).
-- Falls: the trunk lower than fall_height. Foot slip: the mean horizontal speed of the contact
-- point of the feet in contact (a foot whose sphere's centre is lower than radius +
-- contact_margin, default 0: MuJoCo's soft contacts let a foot on the ground sink a few mm, a foot
-- in the air is above its radius; the contact point's velocity is v + w x (0, 0, -radius),
-- so a foot rolling on the ground does not count as slipping) and the share of contact samples
-- that slide faster than 0.1 m/s. Cost of transport: the mechanical energy the motors spent, sum
-- over joints of |torque x joint speed| integrated, over m g x distance walked (the trunk's
-- horizontal path), over the samples whose command translates (vx or vy nonzero: turning on the
-- spot spends energy without distance).
local M = {}

-- the named schedules: lists of { label, from, to, n } where n counts `hold` periods; a
-- segment is a step when from == to (or to is absent) and a ramp otherwise
local SCHEDULES = {
  default = {
    { "stand", { 0, 0, 0 } },
    { "ramp vx 0 -> 1", { 0, 0, 0 }, { 1, 0, 0 }, 2 },
    { "vx 1.0", { 1, 0, 0 } },
    { "vx 0.75", { 0.75, 0, 0 } },
    { "vx 0.5", { 0.5, 0, 0 } },
    { "vx 0.25", { 0.25, 0, 0 } },
    { "stop", { 0, 0, 0 } },
    { "vy +0.3", { 0, 0.3, 0 } },
    { "vy -0.3", { 0, -0.3, 0 } },
    { "wz +0.5", { 0, 0, 0.5 } },
    { "wz -0.5", { 0, 0, -0.5 } },
    { "wz +1.0", { 0, 0, 1 } },
    { "wz -1.0", { 0, 0, -1 } },
    { "vx 0.5 wz +0.5", { 0.5, 0, 0.5 } },
    { "vx 0.5 wz -1.0", { 0.5, 0, -1 } },
    { "vx 1.0 wz +0.5", { 1, 0, 0.5 } },
    { "vx 0.5 vy 0.3", { 0.5, 0.3, 0 } },
    { "ramp wz -1 -> 1 at vx 0.5", { 0.5, 0, -1 }, { 0.5, 0, 1 }, 2 },
    { "ramp vx 1 -> 0", { 1, 0, 0 }, { 0, 0, 0 }, 2 },
    { "stop", { 0, 0, 0 } },
  },
}

M.schedules = {}
for k in pairs(SCHEDULES) do M.schedules[#M.schedules + 1] = k end
table.sort(M.schedules)

-- the segments of a named schedule with `hold` seconds per step
function M.schedule(name, hold)
  local spec = SCHEDULES[name]
  if not spec then
    error(("walk: unknown schedule '%s' (valid: %s)"):format(tostring(name),
      table.concat(M.schedules, ", ")), 0)
  end
  local segs, t = {}, 0
  for _, s in ipairs(spec) do
    local to = s[3] or s[2]
    local seg = { label = s[1], from = s[2], to = to, seconds = (s[4] or 1) * hold, t0 = t,
                  ramp = s[3] ~= nil }
    t = t + seg.seconds
    seg.t1 = t
    segs[#segs + 1] = seg
  end
  return segs
end

-- the schedule's length in seconds
function M.duration(segs)
  return segs[#segs].t1
end

-- the command at time t (a list of 3) and the index of its segment; after the end, the last
-- segment's final command
function M.command(segs, t)
  for i, s in ipairs(segs) do
    if t < s.t1 or i == #segs then
      local a = s.ramp and math.min(math.max((t - s.t0) / s.seconds, 0), 1) or 0
      local c = {}
      for j = 1, 3 do c[j] = s.from[j] + a * (s.to[j] - s.from[j]) end
      return c, i
    end
  end
end

-- the metrics of a recorded walk. rec: per sample k (lists, all of length n): t, seg (segment
-- index), cmd (list of 3), vel (achieved, list of 3), pz (trunk height), pos ({x, y}); optional
-- power (sum over joints of |torque x joint speed|, W), feet (list of { z = height of the foot
-- centre, speed = the horizontal speed of its contact point }). opts: settle (s), mass (kg), foot_radius, contact_margin (m),
-- fall_height (m), g. Returns { segments = {...}, mean_abs_error = {vx, vy, wz}, falls, fell_at,
-- slip_speed, slip_share, cost_of_transport, energy_j, distance_m }.
function M.metrics(rec, segs, opts)
  opts = opts or {}
  local settle = opts.settle or 1
  local radius, margin = opts.foot_radius or 0.02, opts.contact_margin or 0
  local g, fall_height = opts.g or 9.81, opts.fall_height or 0.15
  local n = #rec.t
  local per = {}
  for i, s in ipairs(segs) do
    per[i] = { label = s.label, ramp = s.ramp, from = s.from, to = s.to, seconds = s.seconds,
               n = 0, cmd = { 0, 0, 0 }, achieved = { 0, 0, 0 }, abs_error = { 0, 0, 0 } }
  end
  local fell_at
  local slip_n, slip_sum, slip_fast = 0, 0, 0
  local energy, distance = 0, 0
  for k = 1, n do
    local i, t = rec.seg[k], rec.t[k]
    local s, p = segs[i], per[i]
    if not fell_at and rec.pz[k] < fall_height then fell_at = t end
    if not fell_at and (s.ramp or t - s.t0 >= settle) then
      p.n = p.n + 1
      for j = 1, 3 do
        p.cmd[j] = p.cmd[j] + rec.cmd[k][j]
        p.achieved[j] = p.achieved[j] + rec.vel[k][j]
        p.abs_error[j] = p.abs_error[j] + math.abs(rec.cmd[k][j] - rec.vel[k][j])
      end
    end
    if not fell_at and rec.feet then
      for _, f in ipairs(rec.feet[k]) do
        if f.z < radius + margin then
          slip_n, slip_sum = slip_n + 1, slip_sum + f.speed
          if f.speed > 0.1 then slip_fast = slip_fast + 1 end
        end
      end
    end
    -- energy and distance over the samples that translate (vx or vy commanded), until a fall
    local moving = rec.cmd[k][1] ~= 0 or rec.cmd[k][2] ~= 0
    if not fell_at and k > 1 and moving then
      local dt = t - rec.t[k - 1]
      if rec.power then energy = energy + rec.power[k] * dt end
      local dx, dy = rec.pos[k][1] - rec.pos[k - 1][1], rec.pos[k][2] - rec.pos[k - 1][2]
      distance = distance + math.sqrt(dx * dx + dy * dy)
    end
  end
  local total, count = { 0, 0, 0 }, 0
  for _, p in ipairs(per) do
    if p.n > 0 then
      for j = 1, 3 do
        p.cmd[j], p.achieved[j] = p.cmd[j] / p.n, p.achieved[j] / p.n
        p.abs_error[j] = p.abs_error[j] / p.n
        total[j] = total[j] + p.abs_error[j]
      end
      count = count + 1
    else
      p.cmd, p.achieved, p.abs_error = nil, nil, nil  -- not scored (the robot had fallen)
    end
  end
  for j = 1, 3 do total[j] = count > 0 and total[j] / count or 0 / 0 end
  local cot = 0 / 0
  if rec.power and opts.mass and distance > 0 then cot = energy / (opts.mass * g * distance) end
  return {
    segments = per,
    scored = count,
    mean_abs_error = total,
    falls = fell_at and 1 or 0,
    fell_at = fell_at,
    slip_speed = slip_n > 0 and slip_sum / slip_n or 0 / 0,
    slip_share = slip_n > 0 and slip_fast / slip_n or 0 / 0,
    cost_of_transport = cot,
    energy_j = rec.power and energy or 0 / 0,
    distance_m = distance,
  }
end

-- the robot's MJCF text with sensors added for the report (they measure, they do not change the
-- dynamics): per foot site its position and linear and angular velocity (world frame), per
-- actuator its force, per joint its velocity. names: { feet = { site names }, actuators = { names }, joints = { names } }. Sensors
-- are named walk_<kind>_<name>. Raises when the text has no closing </mujoco>.
function M.measuring_mjcf(xml, names)
  local lines = { "  <sensor>" }
  for _, f in ipairs(names.feet or {}) do
    lines[#lines + 1] = ('    <framepos name="walk_pos_%s" objtype="site" objname="%s"/>')
      :format(f, f)
    lines[#lines + 1] = ('    <framelinvel name="walk_vel_%s" objtype="site" objname="%s"/>')
      :format(f, f)
    lines[#lines + 1] = ('    <frameangvel name="walk_ang_%s" objtype="site" objname="%s"/>')
      :format(f, f)
  end
  for _, a in ipairs(names.actuators or {}) do
    lines[#lines + 1] = ('    <actuatorfrc name="walk_frc_%s" actuator="%s"/>'):format(a, a)
  end
  for _, j in ipairs(names.joints or {}) do
    lines[#lines + 1] = ('    <jointvel name="walk_qd_%s" joint="%s"/>'):format(j, j)
  end
  lines[#lines + 1] = "  </sensor>"
  local head, tail = xml:match "^(.*)(</mujoco>%s*)$"
  if not head then error("walk: the MJCF has no closing </mujoco>", 0) end
  return head .. table.concat(lines, "\n") .. "\n" .. tail
end

return M
