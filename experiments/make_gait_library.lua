-- make_gait_library.lua: method 2's reference motions (docs/api/gaitlib.md): clips recorded from
-- the MuJoCo quadruped's own walking controller (robots/quadruped.lua, the controller running
-- inside the plant every 1 ms) over a grid of gaits, forward speeds, lateral speeds, turn rates
-- and transitions between commands, at 50 Hz, with a held-out split.
--
--   spinal experiments/make_gait_library.lua [out=DIR] [quick=true] [seed=1] [seconds=S]
--
-- out: the library's directory (default runs/gait_library, or runs/gait_library_quick with
-- quick=true: what gaitlib.ensure() finds); quick: the CTest-sized grid (8 clips of 2 s);
-- seed: the warm-up jitter (the gait phase each clip starts at); seconds: the length of each clip
-- (default 10; quick 2). Writes DIR/clips/<name>.json (spinal's clip JSON) and DIR/index.json
-- (each clip's gait, commands, split, measured velocities; the clips skipped because the robot
-- fell, with when). Prints one line per clip and the counts.
local sp = require "spinal"
local gaitlib = require "spinal.gaitlib"

local cfg = sp.settings {
  out = "",
  quick = false,
  seed = 1,
  seconds = 0,  -- 0: the default (10 s; quick 2 s)
}
local out = cfg.out ~= "" and cfg.out or gaitlib.default_dir(cfg.quick)
local t0 = sp.host and sp.host.clock and sp.host.clock() or os.time()
local opts = { out = out, quick = cfg.quick, seed = cfg.seed, log = print }
if cfg.seconds > 0 then opts.seconds = cfg.seconds end
print(("gait library: %s grid, seed %d -> %s"):format(cfg.quick and "quick" or "full", cfg.seed,
  out))
local index, err = gaitlib.build(opts)
if not index then
  io.stderr:write("make_gait_library: " .. tostring(err) .. "\n")
  os.exit(1)
end
local wall = (sp.host and sp.host.clock and sp.host.clock() or os.time()) - t0
local c = index.counts
print(("gait library: %d training clips, %d held out, %d skipped (the robot fell), gaits %s; "
  .. "%.1f s wall"):format(c.train, c.test, c.rejected, table.concat(index.gaits, ", "), wall))
for _, r in ipairs(index.rejected) do
  print(("  skipped %s (%s): the robot %s"):format(r.name, r.split, r.reason))
end
for _, e in ipairs(index.excluded_gaits) do
  print(("  gait %s left out: %s"):format(e.gait, e.reason))
end
print("library: " .. out)
