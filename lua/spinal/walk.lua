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
--   local plant, ix, names, mass = W.measuring_plant(robot, "mujoco", "run/walk.xml", who)
--   local rec, traj = W.walk(plant, ix, segs, 100, { foot_radius = 0.02 })
--   W.experiment("quadruped_walk", cfg)       -- the whole report: run directory, plots, table
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
-- fall_height (m), g, distance_step (s, 0.25: the distance walked is summed over chords this far
-- apart, not sample to sample, so position noise does not lengthen it). Returns { segments = {...}, mean_abs_error = {vx, vy, wz}, falls, fell_at,
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
  -- distance: chords between samples at least distance_step s apart along each stretch that
  -- translates, so sensor noise on the position (noise=...) does not add its own path length
  local step, anchor, last = opts.distance_step or 0.25, nil, nil
  local function chord(a, b)
    local dx, dy = rec.pos[b][1] - rec.pos[a][1], rec.pos[b][2] - rec.pos[a][2]
    return math.sqrt(dx * dx + dy * dy)
  end
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
      anchor = anchor or k - 1
      last = k
      if t - rec.t[anchor] >= step then distance, anchor = distance + chord(anchor, k), k end
    elseif anchor then
      distance, anchor = distance + chord(anchor, last), nil
    end
  end
  if anchor and last > anchor then distance = distance + chord(anchor, last) end
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

-- ---- the experiment (experiments/quadruped_walk.lua) ---------------------------------------------

-- the robot's MuJoCo plant, measuring: its MJCF plus the report's sensors (written to mjcf_path),
-- its state plus the trunk's velocity, position and the sensors, commanded in the walking
-- controller's (vx, vy, wz) whatever subset the robot file's action drives. tweak(scheme, cfg)
-- may change the configuration first (the perturbations). Returns plant, ix (state indices:
-- vx vy wz x y z, and per foot / motor lists), names (x_names, u_names, feet, actuators) and the
-- MJCF's total mass (kg).
function M.measuring_plant(robot, where, mjcf_path, who, tweak)
  local run_lib = require "spinal.run"
  local scheme, pcfg = robot:plant_config(where)
  if not scheme then error(("%s: plant=%s: %s"):format(who, where, tostring(pcfg)), 0) end
  if scheme ~= "mujoco" then
    error(("%s: plant=%s is a %s plant: the report measures the MuJoCo robot's trunk, feet and "
      .. "motors (plant=mujoco)"):format(who, where, scheme), 0)
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
  run_lib.write_file(mjcf_path, M.measuring_mjcf(xml, { feet = feet, actuators = actuators,
                                                        joints = joints }))
  pcfg.mjcf = mjcf_path
  local function add(name, src)
    pcfg.state[#pcfg.state + 1] = src
    pcfg.x_names[#pcfg.x_names + 1] = name
    return #pcfg.state
  end
  local function sensor(name, index) return { source = "sensor", name = name, index = index } end
  local ix = {
    vx = add("walk_vx", { source = "body_vel", name = "trunk", index = 1 }),
    vy = add("walk_vy", { source = "body_vel", name = "trunk", index = 2 }),
    wz = add("walk_wz", { source = "body_angvel", name = "trunk", index = 3 }),
    x = add("walk_x", { source = "body_pos", name = "trunk", index = 1 }),
    y = add("walk_y", { source = "body_pos", name = "trunk", index = 2 }),
    z = add("walk_z", { source = "body_pos", name = "trunk", index = 3 }),
    foot_z = {}, foot_v = {}, foot_w = {}, frc = {}, qd = {}, qpos = {},
  }
  -- MuJoCo's configuration (the free joint, then the joints in motor order, which is qpos's
  -- layout for a legged robot whose every joint has a motor): what `spinal render` draws
  local free = xml:match '<freejoint%s+name="([^"]+)"'
  if free then
    for i = 1, 7 do
      ix.qpos[i] = add(("walk_qpos_%s%d"):format(free, i),
                       { source = "qpos", name = free, index = i })
    end
    for _, j in ipairs(joints) do
      ix.qpos[#ix.qpos + 1] = add("walk_qpos_" .. j, { source = "qpos", name = j })
    end
  end
  for j, s in ipairs(feet) do
    ix.foot_z[j] = add("walk_z_" .. s, sensor("walk_pos_" .. s, 3))
    ix.foot_v[j], ix.foot_w[j] = {}, {}
    for c = 1, 2 do
      ix.foot_v[j][c] = add(("walk_v%d_%s"):format(c, s), sensor("walk_vel_" .. s, c))
      ix.foot_w[j][c] = add(("walk_w%d_%s"):format(c, s), sensor("walk_ang_" .. s, c))
    end
  end
  for k, a in ipairs(actuators) do
    ix.frc[k] = add("walk_tau_" .. a, sensor("walk_frc_" .. a, 1))
    ix.qd[k] = add("walk_qd_" .. joints[k], sensor("walk_qd_" .. joints[k], 1))
  end
  pcfg.actuators = { { { name = "vx" } }, { { name = "vy" } }, { { name = "wz" } } }
  pcfg.u_names = { "vx", "vy", "wz" }
  pcfg.u_min, pcfg.u_max = { -2, -1, -2 }, { 2, 1, 2 }
  if tweak then tweak(scheme, pcfg) end
  local plant, err = require("spinal.hal").open(scheme, pcfg)
  if not plant then error(("%s: plant=%s: %s"):format(who, where, tostring(err)), 0) end
  local tree = assert(require("spinal.rbd").load_mjcf(mjcf_path))
  local mass = 0
  for _, name in ipairs(tree.param_names) do
    if name:match "%.mass$" then mass = mass + tree:get_param(name) end
  end
  local names = { x_names = pcfg.x_names, u_names = pcfg.u_names, feet = feet,
                  actuators = actuators, mjcf = mjcf_path }
  return plant, ix, names, mass
end

-- a path made absolute against the working directory (the shell's $PWD), so a recording names
-- its model file from anywhere
function M.absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local pwd = os.getenv "PWD"
  if not pwd or pwd == "" then return path end
  return pwd .. "/" .. path:gsub("^%./", "")
end

-- walk the schedule on a measuring plant at `rate` Hz (opts.foot_radius, opts.progress = a
-- spinal.progress, opts.mjcf = the model file): the record W.metrics reads and the trajectory
-- { X, U, t, qpos, mjcf } as arrays (qpos: MuJoCo's configuration per sample, for `spinal render`,
-- when the plant reports it: ix.qpos)
function M.walk(plant, ix, segs, rate, opts)
  local A = require "spinal.array"
  plant:reset()
  plant:activate()
  local steps = math.floor(M.duration(segs) * rate + 0.5)
  local nx, r = plant.nx, opts.foot_radius or 0.02
  local rec = { t = {}, seg = {}, cmd = {}, vel = {}, pz = {}, pos = {}, power = {}, feet = {} }
  local X, U, T = A.zeros(steps, nx), A.zeros(steps, 3), A.zeros(steps)
  local nq = ix.qpos and #ix.qpos or 0
  local Q = nq > 0 and A.zeros(steps, nq) or nil
  local _, t0 = plant:read()
  for k = 1, steps do
    local cmd, i = M.command(segs, (k - 1) / rate)
    plant:write(cmd)
    local x, t = plant:read()
    t = t - t0
    rec.t[k], rec.seg[k], rec.cmd[k] = t, i, cmd
    rec.vel[k] = { x[ix.vx], x[ix.vy], x[ix.wz] }
    rec.pz[k], rec.pos[k] = x[ix.z], { x[ix.x], x[ix.y] }
    local p = 0
    for j = 1, #ix.frc do p = p + math.abs(x[ix.frc[j]] * x[ix.qd[j]]) end
    rec.power[k] = p
    -- the contact point's horizontal velocity: the foot centre's plus w x (0, 0, -radius)
    local fs = {}
    for j = 1, #ix.foot_z do
      local v, w = ix.foot_v[j], ix.foot_w[j]
      local sx, sy = x[v[1]] - r * x[w[2]], x[v[2]] + r * x[w[1]]
      fs[j] = { z = x[ix.foot_z[j]], speed = math.sqrt(sx * sx + sy * sy) }
    end
    rec.feet[k] = fs
    for c = 1, nx do X[k][c] = x[c] end
    for c = 1, 3 do U[k][c] = cmd[c] end
    for c = 1, nq do Q[k][c] = x[ix.qpos[c]] end
    T[k] = t
    if opts.progress and k % rate == 0 then opts.progress:update(k) end
  end
  return rec, { X = X, U = U, t = T, qpos = Q, mjcf = Q and opts.mjcf or nil }, steps
end

-- the whole report: the measuring plant, the walk, segments.csv, summary.json, plots, the table
function M.experiment(who, cfg)
  local sp = require "spinal"
  local perturb = require "spinal.perturb"
  local run_lib = require "spinal.run"
  local segs = M.schedule(cfg.schedule, cfg.hold)
  local robot = require("spinal.robot").load(run_lib.resolve(cfg.robot))
  local used = perturb.used(cfg)
  local run = sp.run.start { name = who, settings = cfg }
  local plant, ix, names, mass = M.measuring_plant(robot, cfg.plant, run:path "walk.xml", who,
    function(scheme, pcfg)
      pcfg.rate, pcfg.seed = cfg.rate, cfg.seed
      local tweak = perturb.tweak(used, who, cfg.plant)
      if tweak then tweak(scheme, pcfg) end
    end)
  mass = mass + cfg.payload
  local progress = sp.progress { total = math.floor(M.duration(segs) * cfg.rate + 0.5),
                                 label = who }
  local rec, traj = M.walk(plant, ix, segs, cfg.rate, { foot_radius = cfg.foot_radius,
                                                         progress = progress,
                                                         mjcf = M.absolute(names.mjcf) })
  progress:done()
  plant:close()
  local rep = M.metrics(rec, segs, { settle = cfg.settle, mass = mass,
                                     fall_height = cfg.fall_height,
                                     contact_margin = cfg.contact_margin,
                                     foot_radius = cfg.foot_radius })
  run:save_traj("walk", traj, { states = names.x_names, actions = names.u_names })
  M.report(who, cfg, run, rec, rep, mass, used)
  run:close()
  return run, rep
end

-- segments.csv, summary.json, the plots and the printed table of a walk
function M.report(who, cfg, run, rec, rep, mass, used)
  local perturb = require "spinal.perturb"
  local run_lib = require "spinal.run"
  local json = require "spinal.json"
  local nan3 = { 0 / 0, 0 / 0, 0 / 0 }
  local labels, err = {}, { {}, {}, {} }
  local rows = { "segment,label,seconds,ramp,cmd_vx,cmd_vy,cmd_wz,vx,vy,wz,err_vx,err_vy,err_wz\n" }
  for i, s in ipairs(rep.segments) do
    labels[i] = s.label
    local c, a, e = s.cmd or nan3, s.achieved or nan3, s.abs_error or nan3
    for j = 1, 3 do err[j][i] = e[j] == e[j] and e[j] or json.null end
    rows[#rows + 1] = ('%d,"%s",%g,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n'):format(i,
      s.label, s.seconds, tostring(s.ramp), c[1], c[2], c[3], a[1], a[2], a[3], e[1], e[2], e[3])
  end
  run_lib.write_file(run:path "segments.csv", rows)

  local function finite(v) return v == v and v or json.null end
  local summary = {
    plant = cfg.plant, robot = cfg.robot, schedule = cfg.schedule, hold = cfg.hold,
    settle = cfg.settle, rate = cfg.rate, seed = cfg.seed, seconds = M.duration(M.schedule(
      cfg.schedule, cfg.hold)),
    mean_abs_error_vx = finite(rep.mean_abs_error[1]),
    mean_abs_error_vy = finite(rep.mean_abs_error[2]),
    mean_abs_error_wz = finite(rep.mean_abs_error[3]),
    commands_scored = rep.scored,
    falls = rep.falls, fell_at_s = rep.fell_at or json.null,
    slip_speed_mps = finite(rep.slip_speed), slip_share = finite(rep.slip_share),
    cost_of_transport = finite(rep.cost_of_transport), energy_j = finite(rep.energy_j),
    distance_m = rep.distance_m, mass_kg = mass,
    segment_labels = labels,
    segment_error_vx = err[1], segment_error_vy = err[2], segment_error_wz = err[3],
    perturbations = {},
  }
  for _, p in ipairs(perturb.list) do summary[p.name] = cfg[p.name] end
  for name in pairs(used) do summary.perturbations[#summary.perturbations + 1] = name end
  table.sort(summary.perturbations)
  run:summary(summary)

  -- commanded vs achieved
  local tl, cl, al = {}, { {}, {}, {} }, { {}, {}, {} }
  for k = 1, #rec.t do
    tl[k] = rec.t[k]
    for j = 1, 3 do cl[j][k], al[j][k] = rec.cmd[k][j], rec.vel[k][j] end
  end
  local plots = {}
  for j, name in ipairs { "vx", "vy", "wz" } do
    plots[#plots + 1] = run:plot { file = ("velocity_%s.png"):format(name),
      title = ("quadruped: commanded vs achieved %s"):format(name), xlabel = "time (s)",
      ylabel = ("%s (%s)"):format(name, j == 3 and "rad/s" or "m/s"), width = 1000,
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
end

return M
