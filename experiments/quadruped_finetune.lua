-- quadruped_finetune.lua: method 2's fine-tuning on a "real" robot (docs/method2.md,
-- "Fine-tuning"): a policy and world model pre-trained on the MuJoCo quadruped meet a robot they
-- never saw (the quadruped's named perturbations: payload, friction, motor strength, PD gains,
-- damping, latency, sensor noise, push); at most `real_seconds` (120) of data are collected on it
-- with the pre-trained policy, the world model is fine-tuned on them (mixed with the simulator's
-- data or not: mix=), then the policy through the corrected world model with a regulariser that
-- keeps its actions close to the pre-trained policy's on the states the robot visited
-- (spinal.finetune). Before and after, on the robot: velocity error, path error, falls.
--
--   spinal experiments/quadruped_finetune.lua [pretrained=DIR] [quick=true] [seed=1] [out=DIR]
--       [plant=mujoco|udp://HOST:PORT] [payload=3] [friction=0.6] [motor=0.8] [latency=0.01]
--       [pd=1] [damping=1] [frictionloss=0] [noise=0] [push=0] [payload_x=0] [payload_y=0]
--       [real_seconds=120] [mix=0.5] [anchor=1] [wm_iters=400] [pol_iters=150] [rounds=2]
--       [eval_seconds=10] [eval_clips=0] [library=DIR]
--
-- The default "real" robot is payload=3 friction=0.6 motor=0.8 latency=0.01 (a 3 kg payload,
-- slippery feet, weaker motors and 10 ms of actuation latency at once: each at the end of its
-- documented range); every perturbation can be set from the command line (docs/quadruped.md's
-- ranges) and `payload=0 friction=1 motor=1 latency=0` is the simulator itself. The pre-trained
-- inputs: pretrained=DIR is a quadruped_imitate run (its ckpt/: world model, VAE policy, the
-- simulator's replay buffer); without it one is trained here first on the unperturbed robot
-- (pre_samples simulator transitions; quick=true trains a tiny one in seconds).
--
-- The robot is driven through the HAL tick by tick exactly as hardware: plant=udp://HOST:PORT
-- runs the same collection and evaluation against `spinal bridge robots/quadruped_joint.lua`
-- (whose perturbations are the bridge's robot file's: the command-line ones are refused there).
--
-- The policy is the imitation policy (the VAE's posterior tracking the gait library's clips), so
-- "command following" is following a held-out clip's commanded body velocity and path:
-- velocity_error_*_mps is the mean norm of the horizontal body-velocity error to the clip's,
-- path_error_*_m the horizontal distance to the clip's root after eval_seconds (or at a fall),
-- both averaged over the held-out clips, each run from its first frame.
--
-- summary.json (flat): real_data_seconds, velocity_error_before_mps, velocity_error_after_mps,
-- velocity_error_ratio, path_error_before_m, path_error_after_m, falls_before, falls_after,
-- joint_error_before_rad, joint_error_after_rad, action_shift (mean |a - a_0| over the recorded
-- states and joints, rad), action_shift_rms, wm_real_error_before / _after (the world model's
-- joint error after 8 steps on the held-out robot transitions of the before-evaluation, rad),
-- every perturbation's value and `perturbations` ("payload=3 ..."), outside_documented_range
-- (those of them outside docs/quadruped.md's ranges, "" when none), seed, wall_seconds,
-- finetune_seconds, settings.
local sp = require "spinal"
local A = require "spinal.array"
local wm = require "spinal.wm"
local imitate = require "spinal.imitate"
local finetune = require "spinal.finetune"
local gaitlib = require "spinal.gaitlib"
local perturb = require "spinal.perturb"
local has_host, host = pcall(require, "spinal.host")
local function now() return has_host and host.clock() or os.time() end
local t_start = now()
local who = "quadruped_finetune"

-- the default "real" robot
local REAL = { payload = 3, friction = 0.6, motor = 0.8, latency = 0.01 }
local cfg = sp.settings(perturb.defaults {
  seed = 1,
  quick = false,
  out = "",
  plant = "mujoco",
  pretrained = "",     -- a quadruped_imitate run directory (its ckpt/)
  pre_samples = 60000, -- without pretrained: simulator transitions to pre-train on
  library = "",
  payload = REAL.payload, friction = REAL.friction, motor = REAL.motor, latency = REAL.latency,
  real_seconds = 120,
  rounds = 2,          -- collect / fine-tune rounds sharing real_seconds (then the tuned policy)
  mix = 0.5, anchor = 1.0, anchor_batch = 256, act_noise = 0.05, episode_steps = 250,
  wm_iters = 400, wm_lr = 3e-4, wm_batch = 128,
  pol_iters = 150, pol_lr = 1e-4, pol_batch = 128, horizon = 24,
  eval_seconds = 10,
  eval_clips = 0,      -- held-out clips to evaluate on (0: all)
})
local given = sp.args or {}
if cfg.quick then
  local q = { pre_samples = 1200, real_seconds = 16, wm_iters = 20, pol_iters = 3,
              anchor_batch = 32, pol_batch = 16, wm_batch = 32, horizon = 8, eval_seconds = 2,
              eval_clips = 3, episode_steps = 100 }
  for k, v in pairs(q) do
    if given[k] == nil then cfg[k] = v end
  end
end
if cfg.real_seconds > 120 then
  print(("%s: real_seconds=%g is more than the 2 minutes the method claims"):format(who,
    cfg.real_seconds))
end

-- the perturbations: those of the command line on a MuJoCo plant; a robot over udp is whatever
-- the bridge serves (the defaults are not sent there, explicit ones are refused by perturb.tweak)
local remote = tostring(cfg.plant):match "^udp://" ~= nil
if remote then
  for _, p in ipairs(perturb.list) do
    if given[p.name] == nil then cfg[p.name] = p.neutral end
  end
end
local used = perturb.used(cfg)
-- docs/quadruped.md's documented ranges: the plant accepts more, the results are claimed inside
local DOCUMENTED = { payload = { 0, 3 }, payload_x = { -0.1, 0.1 }, payload_y = { -0.1, 0.1 },
                     friction = { 0.6, 1.5 }, motor = { 0.8, 1.2 }, pd = { 0.8, 1.2 },
                     damping = { 0.5, 2 }, frictionloss = { 0, 0.3 }, latency = { 0, 0.01 },
                     noise = { 0, 0.01 } }
local outside = {}
for _, p in ipairs(perturb.list) do
  local r, v = DOCUMENTED[p.name], cfg[p.name]
  if r and (v < r[1] - 1e-12 or v > r[2] + 1e-12) then
    outside[#outside + 1] = ("%s=%.10g"):format(p.name, v)
    print(("%s: %s=%.10g is outside its documented range %g .. %g (docs/quadruped.md)"):format(who,
      p.name, v, r[1], r[2]))
  end
end

-- the clips
local lib, lerr
if cfg.library ~= "" then lib, lerr = gaitlib.load(cfg.library)
else lib, lerr = gaitlib.ensure(nil, { quick = cfg.quick }) end
if not lib then error(who .. ": " .. tostring(lerr), 0) end
local function pick(split)
  local out = {}
  for i, clip in ipairs(lib[split]) do
    local e = lib.entries[split][i]
    out[#out + 1] = { clip = clip, name = (e.file or ("clip" .. i)):gsub("^.*/", ""):gsub("%.%w+$", "") }
  end
  return out
end
local train, test = pick "train", pick "test"

local run = sp.run.start { name = who, settings = cfg }
local robot = sp.run.require_robot(sp.robot.load(sp.run.resolve "robots/quadruped_joint.lua"),
  { action = { "FR_abd" } }, who)

-- the pre-trained world model and policy
local ckpt
if cfg.pretrained ~= "" then
  ckpt = cfg.pretrained .. "/ckpt"
  local f = io.open(ckpt .. "/loop.json")
  if not f then
    error(("%s: pretrained=%s has no ckpt/loop.json (expected a quadruped_imitate run "
      .. "directory)"):format(who, cfg.pretrained), 0)
  end
  f:close()
else
  ckpt = run:path "ckpt"
  os.execute(("mkdir -p '%s'"):format(ckpt))
  local sim = sp.run.open_plant(robot, "mujoco", who)
  sim:activate()
  local o = { plant = sim, robot = robot, clips = train, seed = cfg.seed }
  if cfg.quick then
    for k, v in pairs { wm_hidden = 64, wm_layers = 2, pol_hidden = 64, lat = 16, wm_batch = 32,
                        pol_batch = 32, wm_iters = 30, pol_iters = 4, horizon = 8, collect = 600,
                        episode_steps = 100 } do o[k] = v end
  end
  local P = imitate.new(o)
  local iters = math.ceil(cfg.pre_samples / P.cfg.collect)
  print(("%s: pre-training on the simulator (%d samples), %s"):format(who, cfg.pre_samples, ckpt))
  local progress = sp.progress { total = iters, label = "pre-train" }
  while P.iter < iters do
    P:iterate()
    progress:update(P.iter)
  end
  progress:done()
  P:save(ckpt)
  sim:close()
end

-- the "real" robot
local plant = sp.run.open_plant(robot, cfg.plant, who, perturb.tweak(used, who, cfg.plant))
plant:activate()
local L = imitate.load(ckpt, { plant = plant, robot = robot, clips = train })
local refs = {}
local ntest = cfg.eval_clips > 0 and math.min(cfg.eval_clips, #test) or #test
for i = 1, ntest do
  refs[i] = imitate.reference(test[i].clip, L.cfg.dt, L.cfg.offsets, test[i].name)
end
local desc = next(used) and perturb.describe(used) or (remote and "(the bridge's robot)" or "none")
print(("%s: real robot %s (%s), %d held-out clips of %g s; pre-trained %s; run %s"):format(who,
  desc, cfg.plant, ntest, cfg.eval_seconds, ckpt, run.dir))

-- before: the pre-trained policy on the robot (its transitions are the world model's held-out
-- robot data)
local test_buf = wm.replay { nx = L.nx, nu = L.nu, capacity = 100000, seed = 7 }
local function evaluate(buf)
  local res = { velocity_error = 0, path_error = 0, joint_error = 0, falls = 0, per_clip = {} }
  for i, ref in ipairs(refs) do
    local r = L:evaluate(ref, { seconds = cfg.eval_seconds, test_buf = buf })
    res.velocity_error = res.velocity_error + r.velocity_error / #refs
    res.path_error = res.path_error + r.position_error / #refs
    res.joint_error = res.joint_error + r.joint_error / #refs
    if r.fell then res.falls = res.falls + 1 end
    res.per_clip[i] = r
  end
  return res
end
local function wm_error()
  local S, Aw = test_buf:sample(256, 8)
  if not S then return nil end
  local _, _, per = L.model:loss(S, Aw)
  return per[8][5]
end
local before = evaluate(test_buf)
local wm_before = wm_error()
print(("%s: before: velocity error %.3f m/s, path error %.2f m, joint error %.3f rad, falls %d; "
  .. "world model on the robot %.4f rad after 8 steps"):format(who, before.velocity_error,
  before.path_error, before.joint_error, before.falls, wm_before or 0 / 0))

-- fine-tuning
local t_ft = now()
local F = finetune.new(L, cfg)
local rows = {}
for r = 1, cfg.rounds do
  local col = F:collect(cfg.real_seconds / cfg.rounds)
  local wl, wp = F:train_wm()
  local pl, pp, al = F:train_policy()
  local row = { round = r, real_seconds = F:seconds(), episodes = col.episodes,
                falls = col.falls, wm_loss = wl, pol_loss = pl, anchor_loss = al }
  for k, v in pairs(wp or {}) do row["wm_" .. k] = v end
  for k, v in pairs(pp or {}) do row["pol_" .. k] = v end
  run:log(row)
  rows[r] = row
  print(("%s: round %d: %.1f s of robot data (%d episodes, %d falls); world model %.4f, policy "
    .. "%.4f, anchor %.5f"):format(who, r, F:seconds(), col.episodes, col.falls, wl, pl, al))
end
local finetune_seconds = now() - t_ft
local ftdir = run:path "finetuned"
os.execute(("mkdir -p '%s'"):format(ftdir))
F:save(ftdir)

-- after
local wm_after = wm_error()
local after = evaluate(nil)
local shift, shift_rms = F:action_shift()

local summary = {
  real_data_seconds = F:seconds(),
  real_episodes = F.episodes,
  real_falls = F.falls,
  velocity_error_before_mps = before.velocity_error,
  velocity_error_after_mps = after.velocity_error,
  velocity_error_ratio = after.velocity_error / before.velocity_error,
  path_error_before_m = before.path_error,
  path_error_after_m = after.path_error,
  falls_before = before.falls,
  falls_after = after.falls,
  joint_error_before_rad = before.joint_error,
  joint_error_after_rad = after.joint_error,
  action_shift = shift,
  action_shift_rms = shift_rms,
  wm_real_error_before = wm_before,
  wm_real_error_after = wm_after,
  eval_clips = #refs,
  eval_seconds = cfg.eval_seconds,
  perturbations = desc,
  outside_documented_range = table.concat(outside, " "),
  plant = cfg.plant,
  pretrained = cfg.pretrained ~= "" and cfg.pretrained or ckpt,
  seed = cfg.seed,
  mix = cfg.mix,
  anchor = cfg.anchor,
  rounds = cfg.rounds,
  finetune_seconds = finetune_seconds,
  wall_seconds = now() - t_start,
}
for _, p in ipairs(perturb.list) do summary[p.name] = cfg[p.name] end
local names, vb, va, fb, fa = {}, {}, {}, {}, {}
for i, r in ipairs(before.per_clip) do
  names[i], vb[i], va[i] = r.name, r.velocity_error, after.per_clip[i].velocity_error
  fb[i], fa[i] = r.fell and 1 or 0, after.per_clip[i].fell and 1 or 0
end
summary.clip_names, summary.clip_velocity_error_before_mps = names, vb
summary.clip_velocity_error_after_mps, summary.clip_falls_before, summary.clip_falls_after =
  va, fb, fa
run:summary(summary)

-- velocity error per held-out clip, before and after
local xs = {}
for i = 1, #vb do xs[i] = i end
local plot = run:plot { file = "velocity_error.png",
  title = ("held-out clips on the robot (%s)"):format(desc), xlabel = "held-out clip",
  ylabel = "horizontal velocity error (m/s)",
  series = { { x = xs, y = vb, label = "pre-trained" },
             { x = xs, y = va, label = ("fine-tuned on %.0f s of robot data"):format(F:seconds()) } } }

print(("%s: after %.1f s of robot data: velocity error %.3f -> %.3f m/s (x%.2f), path error %.2f "
  .. "-> %.2f m, falls %d -> %d, action shift %.4f rad; world model on the robot %.4f -> %.4f "
  .. "rad; fine-tuning %.0f s, run %.0f s"):format(who, F:seconds(), before.velocity_error,
  after.velocity_error, summary.velocity_error_ratio, before.path_error, after.path_error,
  before.falls, after.falls, shift, wm_before or 0 / 0, wm_after or 0 / 0, finetune_seconds,
  summary.wall_seconds))
print("run: " .. run.dir)
if plot then print("plot: " .. tostring(plot)) end
run:close()
