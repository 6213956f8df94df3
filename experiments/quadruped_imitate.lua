-- quadruped_imitate.lua: method 2 on the MuJoCo quadruped at the joint level (docs/method2.md):
-- a VAE motion policy learns to imitate the gait library's training clips by backpropagating
-- through a world model learned from the robot's own transitions (spinal.imitate's alternating
-- loop), then is evaluated on the plant (not in the world model) on the held-out clips.
--
--   spinal experiments/quadruped_imitate.lua [seed=1] [samples=N] [quick=true] [out=DIR]
--       [resume=DIR] [plant=mujoco|udp://HOST:PORT] [library=DIR] [gaits=all|trot|...]
--       [train_clips=A.txt,B.json] [test_clips=C.txt]
--       [wm_hidden=256] [wm_layers=3] [pol_hidden=256] [pol_layers=2] [lat=32] [horizon=24]
--       [collect=2000] [wm_iters=..] [pol_iters=..] [eval_every=..] [render=true]
--
-- samples is the budget of simulator transitions for training (50 Hz ticks of the plant); the
-- evaluation rollouts are not counted in it. The gait library is gaitlib.ensure()'s (built on
-- first use in runs/gait_library, or runs/gait_library_quick with quick=true) unless library=
-- names one, or train_clips= lists clip files of your own (spinal JSON, or the public dog
-- motion-capture text with the default joint map: docs/api/motion.md). The run directory holds
-- settings.json, metrics.csv (one row per iteration),
-- summary.json, the checkpoint (ckpt/: networks, normalisers, optimiser states, replay buffer,
-- loop counters; resume=DIR continues from it exactly), the held-out rollouts with MuJoCo's
-- configuration (heldout_K_qpos.npy: `spinal render DIR --traj heldout_K`), the plots and, unless
-- render=false (quick runs do not render), heldout_1.mp4.
--
-- summary.json (flat): env_samples, joint_error_rad (mean absolute joint-angle error over joints,
-- ticks and held-out clips), root_velocity_error_mps (mean norm of the horizontal body-frame
-- velocity error), root_position_error_m (mean horizontal root distance to the reference after
-- eval_seconds, 10 s by default, or at the fall), falls (held-out clips the robot fell in), clips,
-- wm_error_h1, wm_error_h8 (the world model's joint-angle error after 1 and 8 applications on
-- held-out transitions, rad), wall_seconds (the whole run), train_seconds, per-clip lists, and the
-- held-out gait transitions (clips whose gait changes halfway) on their own:
-- gait_transition_clips, gait_transition_joint_error_rad, gait_transition_velocity_error_mps,
-- gait_transition_falls.
--
-- Under `mpirun -np N` the loop is one data-parallel job (L:data_parallel(), docs/distributed.md):
-- each rank steps its own MuJoCo plant for its share of every iteration's transitions, every rank
-- trains on all of them with the batches split and the gradients averaged, so the ranks hold the
-- same networks; `samples` counts all ranks' transitions. The ranks share one run directory:
-- rank 0 evaluates, prints, checkpoints and writes every file.
local sp = require "spinal"
local A = require "spinal.array"
local wm = require "spinal.wm"
local imitate = require "spinal.imitate"
local gaitlib = require "spinal.gaitlib"
local json = require "spinal.json"
local has_host, host = pcall(require, "spinal.host")
local function now() return has_host and host.clock() or os.time() end
local t_start = now()
local mpi = sp.mpi
local rank = mpi.rank()
local function say(...) if rank == 0 then print(...) end end

local cfg = sp.settings({
  seed = 1,
  samples = 60000,    -- simulator transitions for training
  quick = false,
  out = "",
  resume = "",
  stop = 0,           -- stop after this iteration (with its checkpoint), as if interrupted
  plant = "mujoco",
  library = "",       -- a gait library directory (default: gaitlib.ensure's)
  gaits = "all",      -- "all", or one gait of the library (trot, pace, bound)
  train_clips = "",   -- instead of the library: clip files, comma-separated (motion.load's formats)
  test_clips = "",    -- with train_clips: the held-out clip files (default: the training ones)
  wm_hidden = 256, wm_layers = 3, wm_batch = 128, wm_iters = 60, wm_lr = 1e-3,
  pol_hidden = 256, pol_layers = 2, lat = 32, pol_batch = 128, pol_iters = 50, pol_lr = 1e-3,
  horizon = 24, beta = 0.01,
  collect = 2000, episode_steps = 250, act_noise = 0.05,
  eval_every = 5,     -- iterations between held-out progress evaluations
  eval_progress_seconds = 4,
  eval_seconds = 10,
  ckpt_every = 5,
  render = true,
})
if cfg.quick then
  sp.settings.fill(cfg, imitate.quick)
  sp.settings.fill(cfg, { samples = 2400, eval_every = 2,
                          eval_progress_seconds = 1, eval_seconds = 2, ckpt_every = 2,
                          render = false })
end
local resume = cfg.resume ~= "" and cfg.resume or nil
if resume then cfg = sp.run.resumed_settings(cfg) end

-- the clips: the gait library's split, or the user's clip files
local motion = require "spinal.motion"
local function files(list)
  local out = {}
  for path in list:gmatch "[^,]+" do
    local clip, err = motion.load(path)
    if not clip then error("quadruped_imitate: " .. tostring(err), 0) end
    out[#out + 1] = { clip = clip, name = path:gsub("^.*/", ""):gsub("%.%w+$", "") }
  end
  return out
end
local train, test, lib_name
if cfg.train_clips ~= "" then
  train = files(cfg.train_clips)
  test = cfg.test_clips ~= "" and files(cfg.test_clips) or train
  lib_name = "clip files"
else
  local lib_dir = cfg.library ~= "" and cfg.library or nil
  local lib, lerr
  if lib_dir then lib, lerr = gaitlib.load(lib_dir)
  else lib, lerr = gaitlib.ensure(nil, { quick = cfg.quick }) end
  if not lib then error("quadruped_imitate: " .. tostring(lerr), 0) end
  local function pick(split)
    local out = gaitlib.named(lib, split, function(e)
      local gait_to = type(e.gait_to) == "string" and e.gait_to or e.gait
      return cfg.gaits == "all" or (e.gait == cfg.gaits and gait_to == cfg.gaits)
    end)
    if #out == 0 then
      error(("quadruped_imitate: no %s clips of gait '%s' in %s"):format(split, cfg.gaits,
        lib.dir), 0)
    end
    return out
  end
  train, test, lib_name = pick "train", pick "test", lib.dir
end

if mpi.size() > 1 and cfg.plant ~= "mujoco" then
  error(("quadruped_imitate: plant=%s under %d ranks: every rank steps its own plant, and one "
    .. "robot cannot be shared (use plant=mujoco, or one process)"):format(cfg.plant,
    mpi.size()), 0)
end
local run = sp.run.start { name = "quadruped_imitate", settings = cfg, resume = resume,
                          shared = true }
local robot = sp.run.require_robot(sp.robot.load(sp.run.resolve "robots/quadruped_joint.lua"),
  { action = { "FR_abd" } }, "quadruped_imitate")
local plant = sp.run.open_plant(robot, cfg.plant, "quadruped_imitate")
plant:activate()

local lcfg = { plant = plant, robot = robot, clips = train }
for k in pairs(imitate.defaults) do
  if cfg[k] ~= nil then lcfg[k] = cfg[k] end
end
local ckpt = run:path "ckpt"
local L
if resume then
  L = imitate.load(ckpt, lcfg)
  if rank == 0 then
    run:trim_metrics(function(row) return (tonumber(row.iter) or math.huge) <= L.iter end)
  end
  say(("quadruped_imitate: resumed %s at iteration %d (%d samples)"):format(run.dir, L.iter,
    L.samples))
else
  L = imitate.new(lcfg)
  L.history = { samples = {}, joint_error = {}, velocity_error = {}, falls = {} }
  if rank == 0 then os.execute(("mkdir -p '%s'"):format(ckpt)) end
end
if mpi.size() > 1 then L:data_parallel(mpi) end
local test_refs = {}
for i, c in ipairs(test) do
  test_refs[i] = imitate.reference(c.clip, L.cfg.dt, L.cfg.offsets, c.name)
end

-- held-out tracking on the plant
local function evaluate(seconds, test_buf, keep)
  local res = {}
  for i, ref in ipairs(test_refs) do
    res[i] = L:evaluate(ref, { seconds = seconds, test_buf = test_buf })
    if not keep then res[i].X, res[i].U, res[i].Rj = nil, nil, nil end
  end
  local je, ve, pe, falls = 0, 0, 0, 0
  for _, r in ipairs(res) do
    je, ve, pe = je + r.joint_error, ve + r.velocity_error, pe + r.position_error
    if r.fell then falls = falls + 1 end
  end
  local n = #res
  return { joint_error = je / n, velocity_error = ve / n, position_error = pe / n, falls = falls,
           per_clip = res }
end

local iters = math.ceil(cfg.samples / cfg.collect)
say(("quadruped_imitate: %d training clips, %d held out (%s); %d iterations of %d samples; "
  .. "run %s%s"):format(#train, #test, lib_name, iters, cfg.collect, run.dir,
  mpi.size() > 1 and (" (%d ranks)"):format(mpi.size()) or ""))
-- rank 0 reports, evaluates and writes; the other ranks collect and train
local progress = rank == 0 and sp.progress { total = iters, label = "imitate" }
  or { update = function() end, done = function() end }
progress:update(L.iter)
local t_train = now()
local shown = {}  -- the progress line's figures: the last held-out evaluation's stay until the next
while L.iter < iters do
  local r = L:iterate()
  local row = { iter = r.iter, samples = r.samples, episodes = r.episodes, falls = r.falls,
                mean_length = r.mean_length, wm_loss = r.wm_loss or 0 / 0,
                pol_loss = r.pol_loss or 0 / 0, heldout_joint_error = 0 / 0,
                heldout_velocity_error = 0 / 0, heldout_falls = 0 / 0 }
  for k, v in pairs(r.wm_parts or {}) do row["wm_" .. k] = v end
  for k, v in pairs(r.pol_parts or {}) do row["pol_" .. k] = v end
  if rank == 0 and (r.iter % cfg.eval_every == 0 or r.iter == iters) then
    local e = evaluate(cfg.eval_progress_seconds)
    local h = L.history
    h.samples[#h.samples + 1] = r.samples
    h.joint_error[#h.joint_error + 1] = e.joint_error
    h.velocity_error[#h.velocity_error + 1] = e.velocity_error
    h.falls[#h.falls + 1] = e.falls
    row.heldout_joint_error, row.heldout_velocity_error, row.heldout_falls =
      e.joint_error, e.velocity_error, e.falls
  end
  local stopping = cfg.stop > 0 and r.iter == cfg.stop
  if rank == 0 then
    run:log(row)
    if r.iter % cfg.ckpt_every == 0 or r.iter == iters or stopping then L:save(ckpt) end
  end
  if row.heldout_joint_error == row.heldout_joint_error then
    shown.heldout_q = row.heldout_joint_error
  end
  shown.ep_len, shown.wm, shown.pol = r.mean_length, r.wm_loss, r.pol_loss
  progress:update(r.iter, shown)
  if stopping then
    progress:done()
    say(("quadruped_imitate: stopped after iteration %d (stop=%d); resume=%s continues")
      :format(r.iter, cfg.stop, run.dir))
    run:close()
    return
  end
end
progress:done()
local train_seconds = now() - t_train
if rank ~= 0 then  -- the evaluation and every file are rank 0's
  run:close()
  return
end

-- the final evaluation on the held-out clips, with held-out transitions for the world model
local test_buf = wm.replay { nx = L.nx, nu = L.nu, capacity = 100000, seed = 7 }
local final = evaluate(cfg.eval_seconds, test_buf, true)
local H = 24
local S, Aw = test_buf:sample(256, H)
local wm_q, wm_v, wm_o = {}, {}, {}
if S then
  local _, _, per = L.model:loss(S, Aw)
  for k = 1, H do wm_q[k], wm_o[k], wm_v[k] = per[k][5], per[k][2], per[k][3] end
end

local mjcf = sp.run.resolve "robots/quadruped.xml"
local clip_names, clip_falls, clip_q, clip_v, clip_p, clip_s = {}, {}, {}, {}, {}, {}
for i, r in ipairs(final.per_clip) do
  clip_names[i], clip_falls[i] = r.name, r.fell and 1 or 0
  clip_q[i], clip_v[i], clip_p[i], clip_s[i] = r.joint_error, r.velocity_error, r.position_error,
    r.seconds
  local n = r.X.shape[1]
  local t = {}
  for k = 1, n do t[k] = (k - 1) * L.cfg.dt end
  run:save_traj("heldout_" .. i, { X = r.X, U = r.U, t = A(t), qpos = r.X:narrow(2, 1, 19):copy(),
                                    mjcf = mjcf, robot = robot.name },
    { states = robot.state, actions = robot.action })
end

-- the first held-out clip's path on the ground, drawn under the robot by `spinal render`
do
  local ref, xs, ys = test_refs[1], {}, {}
  for k = 1, math.min(ref.n, final.per_clip[1].steps + 1) do
    xs[k], ys[k] = ref.frames[k][1], ref.frames[k][2]
  end
  if #xs >= 2 then run:save_reference(xs, ys) end
end

-- plots
local ks = {}
for k = 1, #wm_q do ks[k] = k end
local plots = {}
if #wm_q > 0 then
  plots[#plots + 1] = run:plot { file = "wm_error_vs_horizon.png",
    title = "world model on held-out transitions", logy = true,
    xlabel = "horizon (applications of the model, 20 ms each)", ylabel = "mean absolute error",
    series = { { x = ks, y = wm_q, label = "joint angles (rad)" },
               { x = ks, y = wm_o, label = "trunk orientation (rad)" },
               { x = ks, y = wm_v, label = "trunk velocity (m/s)" } } }
end
local h = L.history
if #h.samples > 0 then
  plots[#plots + 1] = run:plot { file = "tracking_vs_samples.png",
    title = ("held-out tracking (first %g s of each clip)"):format(cfg.eval_progress_seconds),
    xlabel = "simulator transitions used for training", ylabel = "mean error",
    series = { { x = h.samples, y = h.joint_error, label = "joint angles (rad)" },
               { x = h.samples, y = h.velocity_error, label = "horizontal velocity (m/s)" } } }
end
do
  local r = final.per_clip[1]
  local t, series = {}, {}
  for k = 1, r.Rj.shape[1] do t[k] = (k - 1) * L.cfg.dt end
  for _, j in ipairs { 2, 3 } do  -- FR hip and knee
    local pol, ref = {}, {}
    for k = 1, r.Rj.shape[1] do pol[k], ref[k] = r.X[k][7 + j], r.Rj[k][j] end
    series[#series + 1] = { x = t, y = ref, label = robot.action[j] .. " reference" }
    series[#series + 1] = { x = t, y = pol, label = robot.action[j] .. " policy" }
  end
  plots[#plots + 1] = run:plot { file = "joints_vs_reference.png",
    title = "held-out clip " .. r.name, xlabel = "t (s)", ylabel = "joint angle (rad)",
    series = series }
end
local video
if cfg.render then
  local ok, out = pcall(function()
    return require("spinal.render").video { run = run.dir, traj = "heldout_1" }
  end)
  if ok and out then video = out.video
  else print("quadruped_imitate: no video (" .. tostring(out) .. ")") end
end

local n = #final.per_clip
-- the held-out gait transitions (the gait changes halfway through the clip) on their own
local gt = { n = 0, q = 0, v = 0, falls = 0 }
for i, r in ipairs(final.per_clip) do
  if test[i].kind == "gait_transition" then
    gt.n, gt.q, gt.v = gt.n + 1, gt.q + r.joint_error, gt.v + r.velocity_error
    gt.falls = gt.falls + (r.fell and 1 or 0)
  end
end
local summary = {
  env_samples = L.samples,
  joint_error_rad = final.joint_error,
  root_velocity_error_mps = final.velocity_error,
  root_position_error_m = final.position_error,
  falls = final.falls,
  clips = n,
  no_fall_fraction = (n - final.falls) / n,
  wm_error_h1 = wm_q[1] or json.null,
  wm_error_h8 = wm_q[8] or json.null,
  wm_error_by_horizon = wm_q,
  wall_seconds = now() - t_start,
  train_seconds = train_seconds,
  iterations = L.iter,
  seed = cfg.seed,
  train_clips = #train,
  clip_names = clip_names, clip_falls = clip_falls, clip_joint_error_rad = clip_q,
  clip_velocity_error_mps = clip_v, clip_position_error_m = clip_p, clip_seconds = clip_s,
  eval_seconds = cfg.eval_seconds,
  ranks = mpi.size(),
  gait_transition_clips = gt.n,
  gait_transition_joint_error_rad = gt.n > 0 and gt.q / gt.n or json.null,
  gait_transition_velocity_error_mps = gt.n > 0 and gt.v / gt.n or json.null,
  gait_transition_falls = gt.falls,
}
run:summary(summary)
print(("quadruped_imitate: held out %d clips: falls %d, joint error %.3f rad, velocity error "
  .. "%.3f m/s, position error after %g s %.2f m; world model h1 %.4f h8 %.4f rad; %d samples, "
  .. "%.0f s (training %.0f s)"):format(n, final.falls, final.joint_error, final.velocity_error,
  cfg.eval_seconds, final.position_error, wm_q[1] or 0 / 0, wm_q[8] or 0 / 0, L.samples,
  summary.wall_seconds, train_seconds))
if gt.n > 0 then
  print(("quadruped_imitate: of which %d gait transitions: falls %d, joint error %.3f rad, "
    .. "velocity error %.3f m/s"):format(gt.n, gt.falls, gt.q / gt.n, gt.v / gt.n))
end
print("run: " .. run.dir)
for _, p in ipairs(plots) do if p then print("plot: " .. tostring(p)) end end
if video then print("video: " .. video) end
run:close()
