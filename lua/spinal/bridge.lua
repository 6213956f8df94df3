-- bridge.lua: `spinal bridge`: serve a local plant over the HAL wire protocol (docs/protocol.md),
-- playing the robot's part for a host that opens udp://ADDR. The serving itself is C
-- (hal/bridge.c through spinal.hal.bridge); this file parses the command line, opens the plant
-- (from a robot file through spinal.robot, or a registered model by name), reports sessions and
-- watchdog trips on stderr and prints the link counters when it stops (Ctrl-C or --seconds).
-- Every command passes the robot file's safety filter on the bridge (limits, rate limits, NaN
-- guard), and the watchdog a host asks for is bounded by the robot file's safety.watchdog.
--
--   spinal bridge robots/rc_car.lua --listen 127.0.0.1:9870 --backend mujoco --realtime
--   spinal bridge --model unicycle_accel --rate 100 --listen 127.0.0.1:0 --watchdog 0.1
local hal = require "spinal.hal"
local host = require "spinal.host"

local M = {}

M.usage = [[
usage: spinal bridge [ROBOT.lua] --listen HOST:PORT [options]
  --listen HOST:PORT   address to serve on (port 0: any free port, printed at start)
  --backend NAME       plant to serve: model or mujoco (default: one with a low-level
                       controller, else the robot file's first)
  --realtime           step the plant at its rate (default: one step per command, lockstep)
  --reset-on-session   lockstep: each new session (a host's HELLO, its rearm) starts the
                       simulated robot from its initial state, as a person stands a fallen
                       robot up (a host over udp cannot reset it)
  --watchdog SECONDS   robot watchdog in force (default: the host's request, else 0.2,
                       at most the robot file's safety.watchdog, else 1)
  --rate HZ            control rate (default: the robot's or the model plant's, else 50)
  --model NAME         without a robot file: serve this registered model as a model plant
  --safe U1,U2,...     safe command (default: the robot file's, else zeros)
  --seconds SECONDS    stop after this long (default: until Ctrl-C)]]

local function numbers(text)
  local out = {}
  for item in text:gmatch "[^,]+" do
    local v = tonumber(item)
    if not v then return nil end
    out[#out + 1] = v
  end
  return out
end

-- the options from the argument list; nil, message on a usage error
function M.parse(args)
  local o = {}
  local flags = { ["--realtime"] = "realtime", ["--reset-on-session"] = "reset_on_session" }
  local values = { ["--listen"] = "listen", ["--backend"] = "backend", ["--watchdog"] = "watchdog",
                   ["--rate"] = "rate", ["--model"] = "model", ["--safe"] = "safe",
                   ["--seconds"] = "seconds" }
  local i = 1
  while i <= #args do
    local a = args[i]
    if flags[a] then
      o[flags[a]] = true
    elseif values[a] then
      local v = args[i + 1]
      if v == nil then return nil, "option " .. a .. " needs a value" end
      o[values[a]] = v
      i = i + 1
    elseif a:sub(1, 1) == "-" then
      return nil, "unknown option '" .. a .. "'"
    elseif o.robot == nil then
      o.robot = a
    else
      return nil, "unexpected argument '" .. a .. "' (one robot file at most)"
    end
    i = i + 1
  end
  if not o.listen then return nil, "--listen HOST:PORT is required" end
  for _, k in ipairs { "watchdog", "rate", "seconds" } do
    if o[k] then
      local v = tonumber(o[k])
      if not v or v < 0 or (k == "rate" and v == 0) then
        return nil, string.format("--%s: expected a number %s, got '%s'", k,
          k == "rate" and "> 0" or ">= 0", o[k])
      end
      o[k] = v
    end
  end
  if o.safe then
    local s = numbers(o.safe)
    if not s then return nil, "--safe: expected numbers separated by commas, got '" .. o.safe .. "'" end
    o.safe = s
  end
  if o.backend and o.backend ~= "model" and o.backend ~= "mujoco" then
    return nil, "--backend: expected model or mujoco, got '" .. o.backend .. "'"
  end
  if not o.robot and not o.model then
    return nil, "give a robot file, or --model NAME to serve a registered model"
  end
  if not o.robot and o.backend and o.backend ~= "model" then
    return nil, "--backend " .. o.backend .. " needs a robot file"
  end
  return o
end

-- the plant to serve and what the bridge says about the robot: plant, info | nil, message
function M.open_plant(o)
  if o.robot then
    local ok, robots = pcall(require, "spinal.robot")
    if not ok then
      return nil, "robot files need the spinal.robot module, which this build does not have; "
        .. "use --model NAME"
    end
    local ok2, robot = pcall(robots.load, o.robot)
    if not ok2 then return nil, tostring(robot) end
    -- by default a plant that runs the robot's own low-level controller (the quadruped's gait),
    -- else the first declared of model, mujoco
    local backend = o.backend
    for _, b in ipairs { "model", "mujoco" } do
      if not backend and robot.plants[b] and robot.plants[b].lowlevel then backend = b end
    end
    if not backend then
      for _, b in ipairs { "model", "mujoco" } do
        if robot.plants[b] then backend = b break end
      end
    end
    if not backend then return nil, o.robot .. " declares no model or mujoco plant to serve" end
    local scheme, cfg = robot:plant_config(backend)
    if not scheme then return nil, cfg end
    if o.rate then cfg.rate = o.rate end
    local ok3, plant, err = pcall(hal.open, scheme, cfg)
    if not ok3 or not plant then return nil, tostring(ok3 and err or plant) end
    local sf = robot.safety
    return plant, { name = robot.name, safe = o.safe or sf.safe, backend = scheme,
                    rate = o.rate or robot.rate, u_min = sf.u_min, u_max = sf.u_max,
                    rate_max = sf.rate_max, watchdog_max = sf.watchdog,
                    safe_controller = sf.safe_controller, safe_reference = sf.safe_reference }
  end
  local ok, plant, err = pcall(hal.open, "model", { model = o.model, rate = o.rate or 50 })
  if not ok or not plant then
    return nil, tostring(ok and err or plant):gsub("^bad argument #2 to '[%w.]+' %((.*)%)$", "%1")
  end
  return plant, { name = o.model, safe = o.safe, backend = "model", rate = o.rate or 50 }
end

local function drops(s)
  local out = {}
  for _, k in ipairs { "malformed", "crc", "version", "duplicate", "stale", "foreign",
                       "unexpected", "suspect" } do
    out[#out + 1] = string.format("%s %d", k, s.dropped[k])
  end
  return table.concat(out, ", ")
end

-- `spinal bridge ...`: returns the exit status
function M.main(args, out, err)
  out, err = out or io.stdout, err or io.stderr
  local o, msg = M.parse(args)
  if not o then
    err:write("spinal bridge: ", msg, "\n", M.usage, "\n")
    return 2
  end
  local plant, info = M.open_plant(o)
  if not plant then
    err:write("spinal bridge: ", info, "\n")
    return 1
  end
  if info.safe and #info.safe ~= plant.nu then
    err:write(string.format("spinal bridge: --safe: expected %d numbers, got %d\n", plant.nu,
      #info.safe))
    plant:close()
    return 2
  end
  local b, berr = hal.bridge(plant, { listen = o.listen, realtime = o.realtime,
    watchdog = o.watchdog, safe = info.safe, robot = info.name, rate = o.rate,
    u_min = info.u_min, u_max = info.u_max, rate_max = info.rate_max,
    watchdog_max = info.watchdog_max, safe_controller = info.safe_controller,
    safe_reference = info.safe_reference, reset_on_session = o.reset_on_session })
  if not b then
    err:write("spinal bridge: ", berr, "\n")
    plant:close()
    return 1
  end
  local listen_host = o.listen:match "^(.*):%d+$"
  out:write(string.format("spinal bridge: serving %s (%s plant, %d states, %d actions, %g Hz, %s) "
    .. "on %s:%d\n", info.name, info.backend, plant.nx, plant.nu, plant.rate,
    (o.realtime and "realtime" or "lockstep") .. (o.reset_on_session and ", reset on each session"
    or ""), listen_host, b.port))
  out:flush()

  -- serve; report sessions and watchdog trips as they happen
  local t_end = o.seconds and host.clock() + o.seconds
  local last = b:stats()
  local reported = { rejected = 0, limited = 0, t = 0 }
  while not host.interrupted() and not (t_end and host.clock() >= t_end) do
    b:wait(0.01)
    local s = b:stats()
    if s.sessions > last.sessions then
      local asked = ""
      if s.watchdog_asked > s.watchdog and not o.watchdog then
        asked = string.format("; the host asked for %g s, bounded by the robot's limit",
          s.watchdog_asked)
      end
      err:write(string.format("spinal bridge: session %d started (watchdog %g s%s)%s\n",
        s.sessions, s.watchdog, asked, s.resets > last.resets and ": the robot reset" or ""))
    end
    if s.goodbyes > last.goodbyes then
      err:write(string.format("spinal bridge: session %d ended by the host (goodbye): applying "
        .. "the safe command until the next session\n", s.sessions))
    end
    -- bad commands: said when they appear, then at most every 5 s, with the totals
    local now = host.clock()
    if (s.rejected > reported.rejected or s.limited > reported.limited) and now >= reported.t then
      err:write(string.format("spinal bridge: robot safety filter: %d non-finite commands "
        .. "replaced by the safe command, %d commands outside the limits clamped (so far)\n",
        s.rejected, s.limited))
      reported.rejected, reported.limited, reported.t = s.rejected, s.limited, now + 5
    end
    if s.watchdog_trips > last.watchdog_trips then
      local safe = {}
      for i = 1, plant.nu do safe[i] = string.format("%g", info.safe and info.safe[i] or 0) end
      err:write(string.format("spinal bridge: watchdog tripped after %.3f s without commands "
        .. "(limit %g s): applying the safe command (%s) until the host re-arms\n",
        s.last_trip_silence, s.watchdog, table.concat(safe, ", ")))
    end
    err:flush()
    last = s
  end

  -- Ctrl-C is how a bridge is meant to stop: a clean stop, exit status 0
  local why = host.interrupted() and "Ctrl-C" or "--seconds"
  if host.interrupted() then host.clear_interrupt() end
  local s = b:stats()
  err:write(string.format("spinal bridge: stopped (%s) after %d steps, %d commands (%d safe "
    .. "steps, %d watchdog trips, %d rejected, %d limited); received %d, accepted %d, dropped %d "
    .. "(%s), lost %d\n", why, s.steps, s.commands, s.safe_steps, s.watchdog_trips, s.rejected,
    s.limited, s.received, s.accepted, s.dropped_total, drops(s), s.lost))
  b:close()
  plant:close()
  return 0
end

return M
