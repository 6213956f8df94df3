-- quadruped_walk.lua: how well the MuJoCo quadruped's walking controller follows velocity
-- commands (docs/quadruped.md): a schedule of body-velocity commands (vx forward, vy left, wz
-- yaw rate; steps and ramps: forward 0 to 1 m/s, lateral +-0.3 m/s, yaw rates up to 1 rad/s,
-- turning while walking) sent through the HAL to robots/quadruped.lua's MuJoCo plant, whose gait
-- controller runs inside the plant at the physics rate.
--
--   spinal experiments/quadruped_walk.lua [hold=5] [settle=1] [rate=100] [schedule=default]
--                                         [plant=mujoco] [seed=1] [out=DIR] [quick=true]
--                                         [payload=KG] [friction=X] [motor=X] ... [push=NS]
-- hold: seconds per step command (ramps take two); settle: seconds of each step left out of its
-- error (the controller's transient); rate: Hz at which commands are sent and the robot measured
-- (the gait controller runs at the physics rate whatever it is). quick=true is the CTest budget
-- (hold=1.5 unless given). The "real" perturbations (payload= ... push_time=, as
-- quadruped_figure8.lua) are copied into the plant's `perturb` table.
--
-- The report measures what the robot file's state does not carry: the run directory gets
-- walk.xml, the robot's MJCF plus sensors (per foot its position and velocities, per motor its
-- force, per joint its velocity; sensors do not change the dynamics), and the plant simulates it.
-- Writes runs/quadruped_walk/<time>/ (or out=DIR): settings.json, walk.xml, walk_{X,U,t}.npy and
-- walk.json (commanded and measured, per sample), segments.csv (per command: mean command, mean
-- achieved, mean absolute error), velocity_vx.png, velocity_vy.png, velocity_wz.png (commanded vs
-- achieved) and summary.json: mean_abs_error_vx/_vy/_wz (m/s, m/s, rad/s: the mean over commands
-- of each command's mean absolute error), falls (0 or 1), fell_at_s, slip_speed_mps (mean sliding
-- speed of feet in contact), slip_share (contact samples sliding faster than 0.1 m/s),
-- cost_of_transport (sum |torque x joint speed| dt / (m g distance) while translating),
-- energy_j, distance_m, mass_kg, seconds, and per command the lists segment_labels,
-- segment_error_vx/_vy/_wz, plus every perturbation's value and `perturbations`.
local sp = require "spinal"
local W = require "spinal.walk"
local perturb = require "spinal.perturb"
local run_lib = require "spinal.run"
local robot_lib = require "spinal.robot"
local json = require "spinal.json"
local A = require "spinal.array"

local cfg = sp.settings(perturb.defaults {
  schedule = "default",
  hold = 5.0,           -- s per step command (ramps take two)
  settle = 1.0,         -- s of each step left out of its error
  rate = 100,           -- Hz: commands sent and the robot measured
  seed = 1,             -- the plant's noise streams (noise= perturbation)
  robot = "robots/quadruped.lua",
  plant = "mujoco",     -- the robot file's MuJoCo plant section
  out = "",
  quick = false,        -- the CTest budget: hold=1.5
  fall_height = 0.15,   -- m: a trunk below this height has fallen
  contact_margin = 0.0, -- m: a foot whose centre is below radius + this touches the ground
  foot_radius = 0.02,   -- m: the feet's spheres (robots/quadruped.xml)
})
if cfg.quick and sp.args.hold == nil then cfg.hold = 1.5 end
local who = "quadruped_walk"
local segs = W.schedule(cfg.schedule, cfg.hold)

-- the robot's MuJoCo plant, measuring: its MJCF plus sensors, its state plus the trunk's
-- velocity and height and the sensors, commanded in (vx, vy, wz)
local robot = robot_lib.load(run_lib.resolve(cfg.robot))
local scheme, pcfg = robot:plant_config(cfg.plant)
if not scheme then error(("%s: plant=%s: %s"):format(who, cfg.plant, tostring(pcfg)), 0) end
if scheme ~= "mujoco" then
  error(("%s: plant=%s is a %s plant: the report measures the MuJoCo robot's trunk, feet and "
    .. "motors (plant=mujoco)"):format(who, cfg.plant, scheme), 0)
end
local f = assert(io.open(pcfg.mjcf, "r"))
local xml = f:read "a"
f:close()
local feet, actuators, joints = {}, {}, {}
for site in xml:gmatch '<site%s+name="([%w_]*foot[%w_]*)"' do feet[#feet + 1] = site end
for name, joint in xml:gmatch '<%a+%s+name="([^"]+)"%s+joint="([^"]+)"' do
  actuators[#actuators + 1], joints[#joints + 1] = name, joint
end
if #feet == 0 or #actuators == 0 then
  error(("%s: %s: expected foot sites (named *foot*) and actuators on joints, found %d and %d")
    :format(who, pcfg.mjcf, #feet, #actuators), 0)
end

local run = sp.run.start { name = who, settings = cfg }
local mjcf = run:path "walk.xml"
run_lib.write_file(mjcf, W.measuring_mjcf(xml, { feet = feet, actuators = actuators,
                                                 joints = joints }))
pcfg.mjcf = mjcf
pcfg.rate = cfg.rate
pcfg.seed = cfg.seed
local base = #pcfg.state
local function add(name, src)
  pcfg.state[#pcfg.state + 1] = src
  pcfg.x_names[#pcfg.x_names + 1] = name
  return #pcfg.state
end
local ix = {
  vx = add("walk_vx", { source = "body_vel", name = "trunk", index = 1 }),
  vy = add("walk_vy", { source = "body_vel", name = "trunk", index = 2 }),
  wz = add("walk_wz", { source = "body_angvel", name = "trunk", index = 3 }),
  x = add("walk_x", { source = "body_pos", name = "trunk", index = 1 }),
  y = add("walk_y", { source = "body_pos", name = "trunk", index = 2 }),
  z = add("walk_z", { source = "body_pos", name = "trunk", index = 3 }),
  foot_z = {}, foot_v = {}, foot_w = {}, frc = {}, qd = {},
}
for _, s in ipairs(feet) do
  ix.foot_z[#ix.foot_z + 1] = add("walk_z_" .. s, { source = "sensor", name = "walk_pos_" .. s,
                                                    index = 3 })
  local v, w = {}, {}
  for c = 1, 2 do
    v[c] = add(("walk_v%d_%s"):format(c, s), { source = "sensor", name = "walk_vel_" .. s,
                                              index = c })
    w[c] = add(("walk_w%d_%s"):format(c, s), { source = "sensor", name = "walk_ang_" .. s,
                                              index = c })
  end
  ix.foot_v[#ix.foot_v + 1], ix.foot_w[#ix.foot_w + 1] = v, w
end
for k, a in ipairs(actuators) do
  ix.frc[k] = add("walk_tau_" .. a, { source = "sensor", name = "walk_frc_" .. a, index = 1 })
  ix.qd[k] = add("walk_qd_" .. joints[k], { source = "sensor", name = "walk_qd_" .. joints[k],
                                            index = 1 })
end
-- the gait controller's three commands, whatever subset the robot file's action drives
pcfg.actuators = { { { name = "vx" } }, { { name = "vy" } }, { { name = "wz" } } }
pcfg.u_names = { "vx", "vy", "wz" }
pcfg.u_min, pcfg.u_max = { -2, -1, -2 }, { 2, 1, 2 }
local used = perturb.used(cfg)
local tweak = perturb.tweak(used, who, cfg.plant)
if tweak then tweak(scheme, pcfg) end
local plant, err = require("spinal.hal").open(scheme, pcfg)
if not plant then error(("%s: plant=%s: %s"):format(who, cfg.plant, tostring(err)), 0) end

-- total mass for the cost of transport: the MJCF's bodies plus the payload
local tree = assert(require("spinal.rbd").load_mjcf(pcfg.mjcf))
local mass = cfg.payload
for _, name in ipairs(tree.param_names) do
  if name:match "%.mass$" then mass = mass + tree:get_param(name) end
end

-- walk the schedule
plant:reset()
plant:activate()
local seconds = W.duration(segs)
local steps = math.floor(seconds * cfg.rate + 0.5)
local rec = { t = {}, seg = {}, cmd = {}, vel = {}, pz = {}, pos = {}, power = {}, feet = {} }
local X, U, Tt = A.zeros(steps, #pcfg.state), A.zeros(steps, 3), A.zeros(steps)
local progress = sp.progress { total = steps, label = who }
local x0, t0 = plant:read()
for k = 1, steps do
  local tc = (k - 1) / cfg.rate
  local cmd, i = W.command(segs, tc)
  plant:write(cmd)
  local x, t = plant:read()
  t = t - t0
  rec.t[k], rec.seg[k], rec.cmd[k] = t, i, cmd
  rec.vel[k] = { x[ix.vx], x[ix.vy], x[ix.wz] }
  rec.pz[k], rec.pos[k] = x[ix.z], { x[ix.x], x[ix.y] }
  local p = 0
  for j = 1, #actuators do p = p + math.abs(x[ix.frc[j]] * x[ix.qd[j]]) end
  rec.power[k] = p
  local fs = {}
  -- the contact point's horizontal velocity: the foot centre's plus w x (0, 0, -radius)
  for j = 1, #feet do
    local v, w, r = ix.foot_v[j], ix.foot_w[j], cfg.foot_radius
    local sx, sy = x[v[1]] - r * x[w[2]], x[v[2]] + r * x[w[1]]
    fs[j] = { z = x[ix.foot_z[j]], speed = math.sqrt(sx * sx + sy * sy) }
  end
  rec.feet[k] = fs
  for c = 1, #pcfg.state do X[k][c] = x[c] end
  for c = 1, 3 do U[k][c] = cmd[c] end
  Tt[k] = t
  if k % cfg.rate == 0 then progress:update(k) end
end
progress:done()
plant:close()
local _ = x0

local rep = W.metrics(rec, segs, { settle = cfg.settle, mass = mass, fall_height = cfg.fall_height,
                                   contact_margin = cfg.contact_margin,
                                   foot_radius = cfg.foot_radius })
run:save_traj("walk", { X = X, U = U, t = Tt },
  { states = pcfg.x_names, actions = pcfg.u_names })

-- per command
local labels, ex, ey, ew = {}, {}, {}, {}
local rows = { "segment,label,seconds,ramp,cmd_vx,cmd_vy,cmd_wz,vx,vy,wz,err_vx,err_vy,err_wz\n" }
for i, s in ipairs(rep.segments) do
  labels[i] = s.label
  local e = s.abs_error or { 0 / 0, 0 / 0, 0 / 0 }
  ex[i], ey[i], ew[i] = e[1], e[2], e[3]
  local c, a = s.cmd or { 0 / 0, 0 / 0, 0 / 0 }, s.achieved or { 0 / 0, 0 / 0, 0 / 0 }
  rows[#rows + 1] = ('%d,"%s",%g,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n'):format(i,
    s.label, s.seconds, tostring(s.ramp), c[1], c[2], c[3], a[1], a[2], a[3], e[1], e[2], e[3])
end
run_lib.write_file(run:path "segments.csv", rows)

local function finite(v) return v == v and v or json.null end
local summary = {
  plant = cfg.plant, robot = cfg.robot, schedule = cfg.schedule, hold = cfg.hold,
  settle = cfg.settle, rate = cfg.rate, seed = cfg.seed, seconds = seconds,
  mean_abs_error_vx = finite(rep.mean_abs_error[1]),
  mean_abs_error_vy = finite(rep.mean_abs_error[2]),
  mean_abs_error_wz = finite(rep.mean_abs_error[3]),
  commands_scored = rep.scored,
  falls = rep.falls, fell_at_s = rep.fell_at or json.null,
  slip_speed_mps = finite(rep.slip_speed), slip_share = finite(rep.slip_share),
  cost_of_transport = finite(rep.cost_of_transport), energy_j = finite(rep.energy_j),
  distance_m = rep.distance_m, mass_kg = mass,
  segment_labels = labels,
  segment_error_vx = ex, segment_error_vy = ey, segment_error_wz = ew,
  perturbations = {},
}
for _, p in ipairs(perturb.list) do summary[p.name] = cfg[p.name] end
for name in pairs(used) do summary.perturbations[#summary.perturbations + 1] = name end
table.sort(summary.perturbations)
for k, v in pairs(summary) do
  if type(v) == "table" then
    for i, x in ipairs(v) do if x ~= x then v[i] = json.null end end
  end
  summary[k] = v
end
run:summary(summary)

-- commanded vs achieved
local tl, cl, al = {}, { {}, {}, {} }, { {}, {}, {} }
for k = 1, #rec.t do
  tl[k] = rec.t[k]
  for j = 1, 3 do cl[j][k], al[j][k] = rec.cmd[k][j], rec.vel[k][j] end
end
local plots = {}
for j, name in ipairs { "vx", "vy", "wz" } do
  local unit = j == 3 and "rad/s" or "m/s"
  plots[#plots + 1] = run:plot { file = ("velocity_%s.png"):format(name),
    title = ("quadruped: commanded vs achieved %s"):format(name), xlabel = "time (s)",
    ylabel = ("%s (%s)"):format(name, unit), width = 1000,
    series = { { x = tl, y = al[j], label = "achieved", style = "lines" },
               { x = tl, y = cl[j], label = "commanded", style = "lines" } } }
end

-- the table
print()
print(("quadruped walk on the %s plant (%s), %g s per step, %g s settle, %d Hz; seed %d%s")
  :format(cfg.plant, cfg.robot, cfg.hold, cfg.settle, cfg.rate, cfg.seed,
    next(used) and "; " .. perturb.describe(used) or ""))
print(("  %-28s %20s %20s %20s"):format("command", "vx cmd/got/err", "vy cmd/got/err",
  "wz cmd/got/err"))
for _, s in ipairs(rep.segments) do
  if s.cmd then
    local cells = {}
    for j = 1, 3 do
      cells[j] = ("%6.2f %6.2f %6.3f"):format(s.cmd[j], s.achieved[j], s.abs_error[j])
    end
    print(("  %-28s %20s %20s %20s"):format(s.label, cells[1], cells[2], cells[3]))
  else
    print(("  %-28s %s"):format(s.label, "not scored (the robot had fallen)"))
  end
end
print(("  mean absolute error: vx %.3f m/s, vy %.3f m/s, wz %.3f rad/s")
  :format(rep.mean_abs_error[1], rep.mean_abs_error[2], rep.mean_abs_error[3]))
print(("  falls %d%s; foot slip %.3f m/s (%.1f %% of contact samples > 0.1 m/s); cost of "
  .. "transport %.2f (%.0f J over %.1f m, %.2f kg)"):format(rep.falls,
  rep.fell_at and (" (at %.1f s)"):format(rep.fell_at) or "", rep.slip_speed,
  100 * rep.slip_share, rep.cost_of_transport, rep.energy_j, rep.distance_m, mass))
print("run: " .. run.dir)
for i, p in ipairs(plots) do print((i == 1 and "plots: " or "       ") .. p) end
if rep.falls > 0 then
  io.stderr:write(("%s: warning: the robot fell at %.1f s; the commands after it are not "
    .. "scored\n"):format(who, rep.fell_at))
end
run:close()
