-- live.lua: the REPL on the robot (`spinal repl ROBOT.lua [--hal URI]`): open the robot's plant,
-- start its real-time loop held in the safe state, bind robot/plant/loop/estop, and on the way
-- out send the safe command, stop the loop and save what was being recorded.
--
-- The C host (lua/host/repl.c, main.c) calls
--   live.open(path, uri)      -> session, or nil, message (nothing started on failure)
--   live.interrupt(second)    Ctrl-C at an empty prompt: e-stop (second == true: leaving)
--   live.close(reason)        the safe stop; returns the directory of a saved recording, if any
--   live.after_line()         after each line: announce a loop a fault stopped, save its recording
-- Everything else is Lua a user can call from the prompt (estop, switch; docs/cli.md, "The REPL
-- on the robot").
local M = {}

local host = require "spinal.host"

-- where a recording still open at exit is saved: <autosave>/<robot>-<YYYYmmdd-HHMMSS>
M.autosave = "runs/repl"

M.session = nil  -- { robot, plant, loop } of the current session

-- nice levels the REPL's own thread gives up once the loop runs (0: none)
M.nice = 10

-- a CPU for the control thread alone (nil: any), e.g. one kept free with isolcpus= on the robot
M.cpu = nil

local function fmt_vec(v, n)
  local out = {}
  for i = 1, n do out[i] = string.format("%g", v[i]) end
  return "{ " .. table.concat(out, ", ") .. " }"
end

-- a loop for robot over an open plant: its controller, reference and safety (not started)
function M.loop(robot, plant, opts)
  opts = opts or {}
  if not robot.controller then
    error(robot.file .. ": declares no controller; the live loop needs one", 2)
  end
  return require("spinal.loop").new(plant, {
    controller = robot.controller, reference = robot.reference, safety = robot.safety,
    rate = opts.rate or robot.rate, robot = robot.name, robot_file = robot.file,
    rt_priority = opts.rt_priority,
    cpu = opts.cpu,
  })
end

-- the banner: what is running, and how to drive and stop it (one screen)
function M.banner(s)
  local r, loop = s.robot, s.loop
  local lim = {}
  for i = 1, r.nu do
    lim[i] = string.format("%s [%g, %g]", r.action[i], r.safety.u_min[i], r.safety.u_max[i])
  end
  local lines = {
    string.format("spinal %s on the robot: %s (%s)", host.version, r.name, r.file),
    string.format("  robot  %s", r.doc or r.name),
    string.format("         state %s; action %s", table.concat(r.state, " "),
      table.concat(r.action, " ")),
    string.format("  plant  %s (%s)", s.uri, tostring(s.plant):gsub("^spinal%.hal%.plant ", "")),
    string.format("  loop   %g Hz real time, %s controller, HELD: %s", loop.rate,
      r.controller.name, r.safety.safe_controller
        and string.format("the safe controller (%s) acts", r.safety.safe_controller.name)
        or "sending the safe command " .. fmt_vec(r.safety.safe, r.nu)),
    string.format("  safety %s; watchdog %g s; on fault: %s", table.concat(lim, ", "),
      r.safety.watchdog or 0, r.safety.on_fault),
    "  globals robot, plant, loop, estop(), sleep(s), switch(policy or controller)",
    "    loop:resume()        the controller acts       loop:hold()      back to the safe command",
    "    loop:command{ " .. r.action[1] .. " = ... }  send a command every tick (missing actions 0)",
    "    estop() or Ctrl-C    e-stop, latched           loop:clear()     release it",
    "    loop:state()  loop:stats()  loop.faults        loop:set_gains{...}  :gains (named)",
    "    loop:record(5)  loop:save \"runs/try1\"         loop:telemetry{ port = 9871 }",
    "  Ctrl-D or :quit: safe command, loop stopped, recording saved.  :help for more",
  }
  local ll = s.plant.backend ~= "udp" and r.plants and r.plants[s.plant.backend]
  ll = ll and ll.lowlevel
  if ll and ll.kind == "gait" then  -- the walking controller takes a new gait while it walks
    table.insert(lines, #lines, "    plant:set_lowlevel{ gait = \"pace\" }  trot, pace or bound, "
      .. "while it walks (period =, duty = too)")
  end
  return table.concat(lines, "\n")
end

-- open a session: nil, message when the robot file or the plant is bad (nothing started)
function M.open(path, uri)
  local ok, robot = pcall(require("spinal.robot").load, path)
  if not ok then return nil, tostring(robot) end
  if not robot.controller then
    robot:close()
    return nil, path .. ": declares no controller; the REPL on the robot needs one"
  end
  -- a model written in Lua steps only in lockstep: say so before opening (not from deep inside)
  local scheme, cfg = robot:plant_config(uri)
  local info = scheme == "model" and require("spinal.model").info(cfg.model)
  if info and info.lua then
    robot:close()
    return nil, string.format("%s: the model plant runs '%s', a model written in Lua, which "
      .. "steps only in lockstep; the REPL's real-time loop needs a C model or the mujoco plant "
      .. "(--hal mujoco), or run it from a script with plant:rollout", path, cfg.model)
  end
  local plant, err = robot:open(uri)
  if not plant then
    robot:close()
    return nil, string.format("cannot open the %s plant: %s", uri or robot.default_plant, err)
  end
  -- `spinal repl ROBOT.lua cpu=3` pins the control thread to CPU 3
  local cpu = M.cpu
  local args = require("spinal").args
  if cpu == nil and math.type(args.cpu) == "integer" then cpu = args.cpu end
  local okl, loop = pcall(M.loop, robot, plant, { cpu = cpu })
  if okl then okl, err = pcall(loop.start, loop) else err = loop end
  if not okl then
    if type(loop) == "userdata" then loop:close() end
    plant:close()
    robot:close()
    return nil, (tostring(err):gsub("^[^:\n]*%.lua:%d+: ", ""))  -- no internal file position
  end
  -- the first held tick has gone out before the prompt appears
  local t0 = host.clock()
  while not loop:state() and host.clock() - t0 < 2 do host.sleep(0.002) end
  -- the prompt's thread yields to the control thread: a long command cannot crowd it out
  if M.nice and M.nice > 0 then host.lower_priority(M.nice) end
  local s = { robot = robot, plant = plant, loop = loop, ctrl = robot.controller,
              uri = uri or robot.default_plant,
              was_running = true, cpu = cpu }
  M.session = s
  _G.robot, _G.plant, _G.loop = robot, plant, loop
  _G.estop, _G.sleep, _G.switch = M.estop, host.sleep, M.switch
  M.install_commands()
  io.stdout:write(M.banner(s), "\n")
  io.stdout:flush()
  return s
end

-- switch(src): run another policy source: a spinal.policy or a spinal.ctrl (reference:
-- opts.reference or the robot's). The old loop stops (safe command; an open recording is saved
-- first), the new one starts HELD; the global loop is the new one.
function M.switch(src, opts)
  local s = M.session
  if not s then error("no live session", 2) end
  opts = opts or {}
  local is_policy = getmetatable(src) and getmetatable(src).__name == "spinal.policy"
  local cfg = { safety = s.robot.safety, rate = s.robot.rate, robot = s.robot.name,
                cpu = s.cpu, explore = opts.explore }
  if is_policy then cfg.policy = src else
    cfg.controller, cfg.reference = src, opts.reference or s.robot.reference
  end
  s.ctrl = not is_policy and src or nil
  local old = s.loop
  if old:recording().state ~= "idle" then M.after_line_save(s) end
  old:stop()
  old:close()
  s.loop = require("spinal.loop").new(s.plant, cfg)
  s.loop:start()
  _G.loop = s.loop
  return s.loop
end

-- save a running or finished recording of the session's loop to the autosave directory
function M.after_line_save(s)
  local dir = string.format("%s/%s-%s", M.autosave, s.robot.name, os.date "!%Y%m%d-%H%M%S")
  host.mkdir(M.autosave)
  local d, n = s.loop:save(dir, false)
  if d then io.stdout:write(string.format("recording saved: %s (%d ticks)\n", d, n)) end
  return d, n
end

-- the names loop:command accepts for action i: the action's own name, and the low-level
-- controller's command entry it drives in the mujoco plant (v -> vx, w -> wz for the quadruped)
local function command_names(robot)
  local names = {}
  for i, n in ipairs(robot.action) do names[n] = i end
  local mj = robot.plants.mujoco
  if mj and mj.lowlevel and mj.actuators then
    for i, targets in ipairs(mj.actuators) do
      for _, a in ipairs(targets) do
        if a.name and names[a.name] == nil then names[a.name] = i end
      end
    end
  end
  return names
end

-- loop:command { v = 0.5, w = 0.3 } (the robot's action names, or the low-level controller's:
-- vx, wz) or loop:command { 0.5, 0.3 }: send this command every tick, unfiltered by any
-- controller (the safety filter still clamps it); missing entries are 0. The first call switches
-- the session's loop to a command source (the old loop stops; see switch), later calls change the
-- command at the next tick. loop:hold() goes back to the safe command.
function M.command(loop, t)
  local s = M.session
  if not s or (loop ~= s.loop and loop ~= nil) then
    error("command: only the REPL's live loop takes commands (spinal repl ROBOT.lua)", 2)
  end
  local r = s.robot
  if type(t) ~= "table" then
    error(string.format("bad argument #1 to 'command' (expected a table of actions by name, "
      .. "e.g. { %s = 0.5 }, got %s)", r.action[1], type(t)), 2)
  end
  local names, u = command_names(r), {}
  for i = 1, r.nu do u[i] = 0 end
  for k, v in pairs(t) do
    local i = math.type(k) == "integer" and k or names[k]
    if not i or i < 1 or i > r.nu then
      local known = {}
      for n in pairs(names) do known[#known + 1] = n end
      table.sort(known)
      error(string.format("bad argument #1 to 'command' (unknown action %s (known: %s))",
        type(k) == "string" and "'" .. k .. "'" or tostring(k), table.concat(known, ", ")), 2)
    end
    if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
      error(string.format("bad argument #1 to 'command' (field '%s': expected a finite number, "
        .. "got %s)", tostring(k), tostring(v)), 2)
    end
    u[i] = v
  end
  -- the command source: u = u_ff - 0 (x - x_set), an LQR with a zero gain, clamped to the limits
  if not s.cmd_ctl then
    local rows = {}
    for i = 1, r.nu do
      rows[i] = {}
      for j = 1, r.nx do rows[i][j] = 0 end
    end
    s.cmd_ctl = require("spinal.ctrl").lqr(require("spinal.array").new(rows))
    s.cmd_ctl:set_limits(r.safety.u_min, r.safety.u_max)
  end
  local ref = {}
  for j = 1, r.nx do ref[j] = 0 end
  for i = 1, r.nu do ref[r.nx + i] = u[i] end
  if s.ctrl ~= s.cmd_ctl then
    M.switch(s.cmd_ctl, { reference = ref })
  else
    s.loop:set_reference(ref)
  end
  s.loop:resume()
  return s.loop
end
require("spinal.loop").methods.command = M.command

-- the global estop(): latch the e-stop now; the safe command goes out at the next tick
function M.estop()
  local s = M.session
  if not s or not s.loop then return nil, "no live loop" end
  s.loop:estop()
  io.stdout:write("E-STOP latched: the safe command goes out from the next tick",
    s.robot.safety.stop_on_fault and " and the loop stops" or "",
    ". loop:clear() releases it", s.robot.safety.stop_on_fault and ", loop:start() restarts" or "",
    ".\n")
  io.stdout:flush()
end

-- Ctrl-C at an empty prompt: the first e-stops; the host leaves at the second
function M.interrupt(second)
  if second then
    io.stdout:write("\nCtrl-C again: leaving (safe stop)\n")
    io.stdout:flush()
    return
  end
  io.stdout:write("\n")
  M.estop()
  io.stdout:write("(Ctrl-C again at the empty prompt leaves the REPL)\n")
  io.stdout:flush()
end

local function timestamp()
  return os.date "!%Y%m%d-%H%M%S"
end

-- the safe stop: hold (safe command), stop the loop, save an unfinished recording, close.
-- Returns the directory a recording was saved to, if any.
function M.close(reason)
  local s = M.session
  if not s then return nil end
  M.session = nil
  local loop, saved = s.loop, nil
  if loop then
    pcall(loop.hold, loop)
    local rec = loop:recording()
    if rec.state ~= "idle" then
      local dir = string.format("%s/%s-%s", M.autosave, s.robot.name, timestamp())
      host.mkdir(M.autosave)
      local d, n = loop:save(dir, false)
      if d then
        saved = d
        io.stdout:write(string.format("recording saved: %s (%d ticks)\n", d, n))
      else
        io.stderr:write("spinal: could not save the recording: ", tostring(n), "\n")
      end
    end
    loop:stop()
    local st = loop:stats()
    io.stdout:write(string.format("loop stopped%s: safe command sent; %d ticks, %d missed "
      .. "deadlines, %d faults\n", reason and " (" .. reason .. ")" or "", st.ticks, st.missed,
      loop.faults.count))
    loop:close()
  end
  if s.plant then s.plant:close() end
  if s.robot then s.robot:close() end
  io.stdout:flush()
  return saved
end

-- after each REPL line: if the loop stopped by itself (a fault with on_fault = "stop"), say why
-- and save a recording that was running, as on the way out
function M.after_line()
  local s = M.session
  if not s or not s.loop then return end
  local running = s.loop.running
  if s.was_running and not running then
    local f = s.loop.faults
    io.stdout:write(string.format("loop stopped by a fault: %s at t = %.3f s (%s); the safe "
      .. "command was sent\n", f.first, f.first_t or 0, f.why))
    if s.loop:recording().state ~= "idle" then M.after_line_save(s) end
    io.stdout:flush()
  end
  s.was_running = running
end

-- the remote REPL (lua/host/remote.c): a client connected (it gets the banner), a client left
function M.show_banner()
  if M.session then io.stdout:write(M.banner(M.session), "\n") io.stdout:flush() end
end

function M.client_left()
  local s = M.session
  if not s then return end
  pcall(s.loop.hold, s.loop)
  -- the hold takes effect at the next tick: say so once it has
  local t0 = host.clock()
  while s.loop.running and host.clock() - t0 < 1 do
    local st = s.loop:state()
    if st and st.held then break end
    host.sleep(0.002)
  end
  io.stderr:write("spinal repl: client left; the loop is held (safe command)\n")
  io.stderr:flush()
end

-- :status and :estop in the REPL, and completion of the loop's methods
function M.install_commands()
  local repl = require "spinal.repl"
  repl.commands.status = { "the live loop: state, flags, statistics", function()
    local s = M.session
    if not s then print "no live loop" return end
    local loop = s.loop
    print(tostring(loop))
    local st = loop:state()
    if st then
      print(string.format("  t %.3f s  k %d  flags: %s", st.t, st.k,
        st.flag_names == "" and "none" or st.flag_names))
      print("  x " .. repl.pretty(st.x) .. "\n  u " .. repl.pretty(st.u))
    end
    local stats = loop:stats()
    print(string.format("  %.1f Hz, jitter p50 %g us p99 %g us max %.0f us, %d missed, %d faults",
      stats.rate_actual, stats.jitter_us.p50, stats.jitter_us.p99, stats.jitter_us.max,
      stats.missed, loop.faults.count))
  end }
  repl.commands.estop = { "latch the e-stop (same as estop())", function() M.estop() end }
  repl.commands.gains = { "the loop's gains and reference, with their names", function()
    local s = M.session
    if not s or not s.ctrl then print "no live loop driven by a controller" return end
    local lines = repl.named_params(s.ctrl, s.loop:gains(), s.loop:reference(), s.robot.state,
      s.robot.action)
    print(table.concat(lines, "\n"))
  end }
  local methods = require("spinal.loop").methods
  table.insert(repl.completers, function(v, names)
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__name") == "spinal.loop" then
      for k in pairs(methods) do names[k] = true end
      for _, k in ipairs { "faults", "running", "rate", "nx", "nu", "robot", "x_names",
                           "u_names", "safe_command", "policy" } do names[k] = true end
    end
  end)
end

return M
