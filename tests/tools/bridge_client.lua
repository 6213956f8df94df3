-- bridge_client.lua URI: the host side of tests/integration/bridge_faults.sh. Opens the udp plant
-- at URI (through the fault proxy), runs a real-time rollout at the robot's rate until its safety
-- watchdog stops it (the test kills the bridge), then checks the recorded trajectory and the link
-- counters. Prints "check NAME ok" per check and exits non-zero on the first failure.
local hal = require "spinal.hal"
local uri = assert(..., "usage: bridge_client.lua udp://HOST:PORT")

local function check(name, cond, detail)
  if not cond then error(string.format("check %s FAILED: %s", name, detail or ""), 0) end
  print(string.format("check %s ok%s", name, detail and (" (" .. detail .. ")") or ""))
  io.stdout:flush()
end

local FLAG_WATCHDOG, FLAG_SAFE, FLAG_DROPPED = 1 << 3, 1 << 6, 1 << 9
local PLANT_WATCHDOG, PLANT_SAFE_STOP = 1 << 16, 1 << 17

local plant = assert(hal.open(uri, { x_names = { "px", "py", "v", "phi" },
  u_names = { "throttle", "steer" }, rate = 100, timeout = 3, watchdog = 0.15 }))
print("client: connected to " .. tostring(plant))
io.stdout:flush()

-- drive forward and turn gently until something stops the loop (at most 10 s)
local tr = plant:rollout { seconds = 10, realtime = true, stop_on_fault = true,
  watchdog = 0.25, safe = { 0, 0 },
  policy = { K = { 0, 0, 0, 0, 0, 0, 0, 0 }, u_ff = { 0.5, 0.2 } } }
local s = plant:stats()
print(string.format("client: %d ticks; link received %d accepted %d dropped %d (crc %d, "
  .. "malformed %d, duplicate %d, stale %d), lost %d, rtt p50 %.0f us p99 %.0f us",
  tr.n, s.received, s.accepted, s.dropped_total, s.dropped.crc, s.dropped.malformed,
  s.dropped.duplicate, s.dropped.stale, s.lost, s.rtt_p50_us, s.rtt_p99_us))

-- the loop stopped itself on its safety watchdog, with the safe command in that tick
check("loop_stopped_early", tr.n > 100 and tr.n < 1000, tr.n .. " ticks")
local last = math.tointeger(tr.flags[tr.n])
check("stopped_by_safety_watchdog", last & FLAG_WATCHDOG ~= 0 and last & FLAG_SAFE ~= 0,
  string.format("last flags 0x%x", last))
check("safe_command_sent_last", tr.u[tr.n][1] == 0 and tr.u[tr.n][2] == 0)

-- every tick is in the log, in order; nothing lost
check("nothing_lost", tr.lost == 0)
local contiguous = true
for i = 1, tr.n do if tr.k[i] ~= i - 1 then contiguous = false end end
check("ticks_contiguous", contiguous)

-- every state that arrived was logged once: rows marked new differ from the previous new row
-- once the car moves (at rest, before the first command, states legitimately repeat), and there
-- are no more of them than states the link accepted
local new, repeated, prev = 0, 0, nil
local first_plant_wd
for i = 1, tr.n do
  local f = math.tointeger(tr.flags[i])
  if f & FLAG_DROPPED == 0 then
    new = new + 1
    local x = tr.x[i]
    if prev and x[3] ~= 0 and x[1] == prev[1] and x[2] == prev[2] then repeated = repeated + 1 end
    prev = { x[1], x[2] }
  end
  if f & PLANT_WATCHDOG ~= 0 and not first_plant_wd then first_plant_wd = i end
end
check("new_states_logged", new > 100 and new <= s.accepted, new .. " new of " .. s.accepted)
check("no_state_logged_twice_as_new", repeated == 0, repeated .. " repeats")

-- the robot's watchdog (commands blackholed) showed in the state flags, with its safe stop
check("robot_watchdog_reported", first_plant_wd ~= nil,
  first_plant_wd and ("from tick " .. first_plant_wd))
local f = math.tointeger(tr.flags[first_plant_wd])
check("robot_safe_stop_reported", f & PLANT_SAFE_STOP ~= 0)

-- the faults were seen and counted, never acted on
check("corrupted_dropped", s.dropped.crc + s.dropped.malformed > 0)
check("duplicates_dropped", s.dropped.duplicate > 0)
check("reordered_dropped", s.dropped.stale > 0)
check("counters_add_up", s.received == s.accepted + s.dropped_total)
plant:close()
print("client: done")
