-- gaitlib_spec.lua: spinal.gaitlib on the quick library (10 clips of 2 s recorded from the
-- quadruped's walking controller in MuJoCo, about a second; two of them change gait halfway
-- through, trot -> pace in training and pace -> trot held out): what it writes, the held-out split,
-- the clips' velocities against their commands, files that round-trip, ensure's reuse, the
-- clips where the robot fell, and the errors a user sees.
local gaitlib = require "spinal.gaitlib"
local motion = require "spinal.motion"
local json = require "spinal.json"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

local root = tmpdir()
local dir = root .. "/lib"
local lines = {}
local index = assert(gaitlib.build { out = dir, quick = true, seed = 1,
                                     log = function(l) lines[#lines + 1] = l end })

local function yaw(s)
  return math.atan(2 * (s[4] * s[7] + s[5] * s[6]), 1 - 2 * (s[6] * s[6] + s[7] * s[7]))
end

describe("gaitlib.build (quick)", function()
  it("writes every clip of the quick grid and an index with their settings", function()
    assert.same({ train = 6, test = 4, rejected = 0 }, index.counts)
    assert.equal(10, #index.clips)
    assert.equal(10, #lines)
    assert.matches("^gaitlib: %[1/10%] train trot: vx 0.50 vy 0.00 wz 0.00: 2 s, achieved vx 0.5",
      lines[1])
    assert.matches("^gaitlib: %[9/10%] train trot: vx 0.50 vy 0.00 wz 0.00 %-> pace vx 0.50 vy "
      .. "0.00 wz 0.00: 2 s, achieved vx 0.5", lines[9])
    local idx = assert(json.read(dir .. "/index.json"))
    assert.equal("spinal-gait-library", idx.format)
    assert.equal(gaitlib.VERSION, idx.version)
    assert.equal(50, idx.rate)
    assert.same({ "trot", "pace" }, idx.gaits)
    local kinds = {}
    for _, e in ipairs(idx.clips) do
      local f = assert(io.open(dir .. "/" .. e.file))
      f:close()
      assert.equal(101, e.frames)  -- 2 s at 50 Hz
      assert.equal(0.02, e.frame_duration)
      assert.equal(e.gait_to ~= json.null and "gait_transition"
        or e.command_to == json.null and "steady" or "transition", e.kind)
      kinds[e.kind] = (kinds[e.kind] or 0) + 1
    end
    assert.same({ steady = 6, transition = 2, gait_transition = 2 }, kinds)
    assert.equal("clips/trot_to_pace_vx+0.500_vy+0.000_wz+0.000.json", idx.clips[9].file)
    assert.equal("pace", idx.clips[9].gait_to)
    assert.equal(1, idx.clips[9].switch_s)
  end)

  it("holds out settings no training clip has", function()
    local lib = assert(gaitlib.load(dir))
    assert.equal(6, #lib.train)
    assert.equal(4, #lib.test)
    assert.equal(#lib.train, #lib.entries.train)
    local seen = {}
    local function key(e)
      return gaitlib.settings_key(e.gait, e.command, e.command_to ~= json.null and e.command_to
        or nil, e.gait_to ~= json.null and e.gait_to or nil)
    end
    for _, e in ipairs(lib.entries.train) do seen[key(e)] = true end
    local transitions = 0
    for _, e in ipairs(lib.entries.test) do
      assert.is_nil(seen[key(e)])
      if e.kind ~= "steady" then transitions = transitions + 1 end
    end
    assert.equal(2, transitions)
    -- the gait of a gait transition is part of its settings: pace -> trot is not trot -> pace
    assert.are_not.equal(gaitlib.settings_key("trot", { 0.5, 0, 0 }, nil, "pace"),
      gaitlib.settings_key("pace", { 0.5, 0, 0 }, nil, "trot"))
    assert.equal("trot vx 0.50 vy 0.00 wz 0.00 -> pace vx 0.50 vy 0.00 wz 0.00",
      gaitlib.settings_key("trot", { 0.5, 0, 0 }, nil, "pace"))
  end)

  it("records clips whose velocities follow the commands", function()
    local lib = assert(gaitlib.load(dir))
    for _, split in ipairs { "train", "test" } do
      for i, clip in ipairs(lib[split]) do
        local e = lib.entries[split][i]
        assert.equal(12, clip.nj)
        assert.near(0.02, clip.frame_duration, 1e-15)
        local S = clip:states()
        local n = S.shape[1]
        -- the clip starts at the origin facing +x, standing
        assert.near(0, S[1][1], 1e-12)
        assert.near(0, S[1][2], 1e-12)
        assert.near(0, yaw(S[1]), 1e-12)
        assert.is_true(S[1][3] > 0.25 and S[1][3] < 0.32)
        -- mean body-frame velocity (vx, vy, wz) against the command, before the switch and
        -- from 1 s after it (the walking controller's rate limit: 2 m/s^2)
        local function mean(cols, i0, i1)
          local m = {}
          for j, c in ipairs(cols) do
            local s = 0
            for r = i0, i1 do s = s + S[r][c] end
            m[j] = s / (i1 - i0 + 1)
          end
          return m
        end
        local to = e.command_to ~= json.null and e.command_to or nil
        if e.kind == "gait_transition" then to = to or e.command end
        local half = to and 51 or n
        local got = mean({ 8, 9, 13 }, 1, half)
        for j = 1, 3 do assert.near(e.command[j], got[j], 0.05) end
        if to then
          got = mean({ 8, 9, 13 }, half + 50, n)
          -- (a gait change sways the trunk sideways for a while: 0.08 m/s in the quick clips)
          local tol = e.kind == "gait_transition" and 0.15 or 0.1
          for j = 1, 3 do assert.near(to[j], got[j], tol) end
        end
        -- the clip's velocities (from its poses) agree with MuJoCo's measured ones: what 50 Hz
        -- frames resolve of the trunk's motion (the pace rocks it: 0.17-0.32 in these clips)
        local pace = e.gait == "pace" or e.gait_to == "pace"
        assert.is_true(e.velocity_rms_vs_mujoco < (pace and 0.4 or 0.1))
      end
    end
  end)

  it("writes clip files that round-trip exactly", function()
    local lib = assert(gaitlib.load(dir))
    local a = lib.train[1]
    local path = root .. "/copy.json"
    assert.is_true(a:save(path))
    local b = assert(motion.load(path))
    local Fa, Fb = a:frames(), b:frames()
    assert.same(Fa.shape, Fb.shape)
    for i = 1, Fa.shape[1] do
      for k = 1, 19 do assert.equal(Fa[i][k], Fb[i][k]) end
    end
  end)
end)

describe("gaitlib.ensure", function()
  it("reuses a library with the same settings and rebuilds one with other settings", function()
    local lib = assert(gaitlib.ensure(dir, { quick = true, seed = 1 }))
    assert.is_nil(lib.built)
    assert.equal(6, #lib.train)
    local first = lib.train[1]:frames()
    -- (short clips: what differs is where they start)
    local short = { quick = true, seed = 2, seconds = 0.2, warmup = 0.5 }
    local other = assert(gaitlib.ensure(dir, short))
    assert.is_true(other.built)
    assert.equal(2, other.index.seed)
    -- another seed starts the clips at other gait phases
    local F, differ = other.train[1]:frames(), false
    for k = 8, 19 do differ = differ or math.abs(F[1][k] - first[1][k]) > 1e-3 end
    assert.is_true(differ)
    assert.is_nil(assert(gaitlib.ensure(dir, short)).built)
  end)
end)

describe("gaitlib.ensure by processes at once", function()
  it("builds once while the others wait, and takes over a lock whose builder died", function()
    local bin = assert(os.getenv "SPINAL_BIN", "SPINAL_BIN is not set")
    local shared, out = root .. "/shared", root .. "/other.txt"
    local script = ("local lib = assert(require('spinal.gaitlib').ensure(%q, { quick = true, "
      .. "seconds = 0.2, warmup = 0.1 })) "
      .. "local f = io.open(%q, 'w') f:write(tostring(lib.built), ' ', #lib.train, ' ', "
      .. "#lib.test) f:close()"):format(shared, out .. ".part")
    assert(os.execute(("'%s' -e \"%s\" >/dev/null 2>&1 && mv '%s.part' '%s' &"):format(bin,
      script:gsub('"', '\\"'), out, out)))
    local lib = assert(gaitlib.ensure(shared, { quick = true, seconds = 0.2, warmup = 0.1 }))
    assert.equal(6, #lib.train)
    local other
    for _ = 1, 300 do  -- up to 30 s for the other process
      local f = io.open(out)
      if f then
        other = f:read "a"
        f:close()
        break
      end
      os.execute "sleep 0.1"
    end
    assert.is_not_nil(other)
    local built_other, ntrain, ntest = other:match "^(%S+) (%d+) (%d+)$"
    assert.same({ "6", "4" }, { ntrain, ntest })
    -- exactly one of the two built it
    assert.is_true((lib.built == true) ~= (built_other == "true"))
    assert.is_nil(io.open(shared .. ".lock/pid"))
    -- a lock left by a process that is gone does not stop the next build
    local stale = root .. "/stale"
    assert(os.execute(("mkdir -p '%s.lock' && echo 999999999 > '%s.lock/pid'"):format(stale,
      stale)))
    local s = assert(gaitlib.ensure(stale, { quick = true, seconds = 0.2, warmup = 0.1,
                                             wait = 5 }))
    assert.is_true(s.built)
  end)
end)

describe("gaitlib errors", function()
  it("skips clips where the robot fell and lists them", function()
    -- a trunk 'fallen' below 0.3 m: the standing robot (0.28 m) counts as fallen at once
    local idx = assert(gaitlib.build { out = root .. "/fell", fall_height = 0.3, seconds = 0.1,
      warmup = 0.1, grid = { { gait = "trot", command = { 0.5, 0, 0 }, split = "train" } } })
    assert.same({ train = 0, test = 0, rejected = 1 }, idx.counts)
    assert.equal("fell at 0.02 s", idx.rejected[1].reason)
    local lib = assert(gaitlib.load(root .. "/fell"))
    assert.equal(0, #lib.train)
  end)

  it("names the directory, field and option", function()
    local _, err = gaitlib.load(root .. "/none")
    assert.equal("gaitlib.load: " .. root .. "/none: no gait library here (no index.json; build "
      .. "one with gaitlib.build or experiments/make_gait_library.lua)", err)
    _, err = gaitlib.build { out = root .. "/x", speed = 1 }
    assert.equal("gaitlib.build: unknown option 'speed'", err)
    _, err = gaitlib.build { out = root .. "/x", quick = "yes" }
    assert.equal("gaitlib.build: field 'quick': expected a boolean, got string", err)
    _, err = gaitlib.build { out = root .. "/x", grid = { { gait = "gallop", command = { 0, 0, 0 },
      split = "train" } } }
    assert.equal("gaitlib.build: field 'grid': clip 1: field 'gait': expected trot, pace or bound, "
      .. "got gallop", err)
    _, err = gaitlib.ensure(dir, { grid = {} })
    assert.matches("gaitlib.ensure: field 'grid'", err)
    -- a failed build leaves no lock behind
    _, err = gaitlib.ensure(root .. "/norobot", { quick = true, robot = "robots/none.lua" })
    assert.equal("gaitlib.build: field 'robot': robots/none.lua not found (looked in the working "
      .. "directory, the running script's project and spinal's source tree)", err)
    assert.is_nil(io.open(root .. "/norobot.lock/pid"))
  end)
end)

describe("gaitlib.named", function()
  it("names each clip by its file without directory or extension, keeping the entries asked for",
    function()
      local lib = { train = { "c1", "c2", "c3" },
                    entries = { train = { { file = "clips/trot_vx+0.500.json", gait = "trot" },
                                          { file = "pace_a.json", gait = "pace", kind = "steady" },
                                          { gait = "trot" } } } }
      local all = gaitlib.named(lib, "train")
      assert.same({ "trot_vx+0.500", "pace_a", "clip3" }, { all[1].name, all[2].name, all[3].name })
      assert.equal("c2", all[2].clip)
      assert.equal("steady", all[2].kind)
      local trot = gaitlib.named(lib, "train", function(e) return e.gait == "trot" end)
      assert.equal(2, #trot)
      assert.same({ "c1", "c3" }, { trot[1].clip, trot[2].clip })
    end)
end)
