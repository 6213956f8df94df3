-- ppo_quadruped.lua: PPO (engine/rl, docs/ppo.md) on the joint-level quadruped: many MuJoCo
-- quadrupeds stepped on worker threads (hal/vecenv), the policy 12 joint targets at 50 Hz over the
-- 1 kHz joint PD (method 2's interface, robots/quadruped_joint.lua), METHODS.md's PPO baseline
-- settings. task=velocity (the default) rewards tracking a commanded forward and lateral speed and
-- yaw rate; task=imitate tracking the gait library's training clips (spinal.gaitlib, built on
-- first use), evaluated on its held-out clips. Every `eval_every` iterations (and at the start and
-- the end) the policy's mean is evaluated on fresh environments with fixed seeds.
-- Under `mpirun -np N` one agent trains data-parallel (docs/distributed.md): each rank steps its own
-- nenvs environments (seeded seed + 1000 rank), every update averages the minibatch gradients and
-- the normalisation statistics over the ranks (agent:data_parallel), `samples` counts all ranks'
-- transitions; rank 0 evaluates, prints and writes the run (shared with the others).
--
--   spinal experiments/ppo_quadruped.lua [task=velocity|imitate] [seed=1] [samples=500000]
--            [minutes=0] [nenvs=64] [threads=2] [nsteps=24] [eval_every=20] [quick=true]
-- summary.json: task, samples, wall_seconds, samples_per_second, falls_before/after (per
-- evaluation); velocity: vel_error_before/after (m/s), yaw_error_before/after (rad/s); imitate:
-- joint_error_before/after (rad), root_error_before/after (m); the settings.
local sp = require "spinal"
local ppo = require "spinal.ppo"
local run_lib = require "spinal.run"

local mpi = sp.mpi
local rank, ranks = mpi.rank(), mpi.size()
local cfg = sp.settings({
  task = "velocity",  -- or "imitate"
  seed = 1,
  samples = 500000,   -- environment steps (transitions) of training
  minutes = 0,        -- > 0: stop after this much wall time too
  nenvs = 64,
  threads = 2,
  nsteps = 24,        -- steps per environment per iteration
  eval_every = 20,    -- iterations between evaluations
  eval_envs = 16,
  eval_steps = 500,   -- 10 s per evaluation environment
  -- METHODS.md's networks, clip, lambda and normalisations; for these small batches (docs/ppo.md
  -- "Tuning") a constant learning rate, 10 epochs of 8 minibatches, no entropy bonus and an
  -- initial sigma of 0.5 (0.125 rad on the PD targets); discount 0.99, 0.95 when imitating
  hidden = "512,256,128",
  lr = 3e-4,
  desired_kl = 0,     -- > 0: the KL-adaptive learning rate instead (METHODS.md: 0.01)
  kl_per_update = false,
  entropy_coef = 0,
  init_std = 0.5,
  epochs = 10,
  minibatches = 8,
  gamma = 0.99,
  quick = false,
  out = "",
}, { ranges = { gamma = { min = 0, max = 1 } } })
-- (each of these only where the command line did not set the value)
if cfg.task == "imitate" then sp.settings.fill(cfg, { gamma = 0.95 }) end
if cfg.quick then
  sp.settings.fill(cfg, { samples = 3 * 8 * 8, nenvs = 8, nsteps = 8, eval_every = 2,
                          eval_envs = 4, eval_steps = 25, hidden = "64,64" })
end
local hidden = require("spinal.settings").integers("ppo_quadruped", "hidden", cfg.hidden, 1)

local t0 = os.time()
local run = sp.run.start { name = "ppo_quadruped", settings = cfg, shared = true }
local root = rank == 0
local mjcf = run_lib.resolve "robots/quadruped.xml"
local imitate = cfg.task == "imitate"
assert(imitate or cfg.task == "velocity", "ppo_quadruped: task must be velocity or imitate")
local train_clips, test_clips
if imitate then
  local gaitlib = require "spinal.gaitlib"
  local lib = assert(gaitlib.ensure(nil, { quick = cfg.quick }))
  train_clips, test_clips = {}, {}
  for i, c in ipairs(lib.train) do train_clips[i] = c:frames() end
  for i, c in ipairs(lib.test) do test_clips[i] = c:frames() end
end
local env = assert(ppo.quadruped { mjcf = mjcf, nenvs = cfg.nenvs, threads = cfg.threads,
                                   seed = cfg.seed + 1000 * rank, task = cfg.task,
                                   clips = train_clips })
local eval_env = assert(ppo.quadruped { mjcf = mjcf, nenvs = cfg.eval_envs, threads = cfg.threads,
                                        seed = cfg.seed + 1000, task = cfg.task,
                                        clips = test_clips })
local agent = ppo.new { env = env, nsteps = cfg.nsteps, seed = cfg.seed, hidden = hidden,
                        lr = cfg.lr, desired_kl = cfg.desired_kl, kl_per_update = cfg.kl_per_update,
                        entropy_coef = cfg.entropy_coef, init_std = cfg.init_std,
                        epochs = cfg.epochs, minibatches = cfg.minibatches, gamma = cfg.gamma }
agent:data_parallel()  -- a world of one: nothing changes
-- the evaluation runs the same networks on eval_env's batch: a second agent would differ, so
-- evaluate through act on eval_env's observations, eval_envs rows at a time
local function evaluate()
  local m = { steps = 0, vel = 0, yaw = 0, falls = 0 }
  local obs = eval_env:reset(7)
  eval_env:metrics(true)
  for _ = 1, cfg.eval_steps do obs = eval_env:step(agent:act(obs)) end
  local e = eval_env:metrics(true)
  m.vel, m.yaw, m.falls = e.vel_error, e.yaw_error, e.falls
  if imitate then m.vel, m.yaw = e.joint_error, e.root_error end
  return m
end
-- the two figures of the task: velocity and yaw-rate errors, or joint and trunk tracking errors
local names = imitate and { "joint error", "rad", "trunk error", "m" }
              or { "velocity error", "m/s", "yaw-rate error", "rad/s" }

if root then
  print(("ppo_quadruped: %s; %s; %d rank(s)"):format(tostring(env), tostring(agent), ranks))
end
local none = { vel = 0, yaw = 0, falls = 0 }  -- the evaluation's figures on ranks > 0
local before = root and evaluate() or none
if root then print(("  iteration 0: eval %s %.3f %s, %s %.3f %s, falls %d"):format(
  names[1], before.vel, names[2], names[3], before.yaw, names[4], before.falls)) end
local per_iter = cfg.nenvs * cfg.nsteps * ranks
local iters = math.max(1, cfg.samples // per_iter)
local samples, collect_s, update_s = 0, 0, 0
local curve_x, curve_y = { 0 }, { before.vel }
local last = before
local start = os.time()
for it = 1, iters do
  local s = agent:iterate(env)
  samples = samples + s.samples * ranks
  collect_s, update_s = collect_s + s.collect_seconds, update_s + s.update_seconds
  local row = { iter = it, samples = samples, reward = s.mean_reward,
                vel_error = imitate and s.env.joint_error or s.env.vel_error,
                yaw_error = imitate and s.env.root_error or s.env.yaw_error, episodes = s.env.episodes, falls = s.env.falls,
                episode_length = s.env.episode_length, kl = s.kl, lr = s.lr, entropy = s.entropy,
                value_loss = s.value_loss, collect_seconds = s.collect_seconds,
                update_seconds = s.update_seconds }
  local out_of_time = cfg.minutes > 0 and os.time() - start >= 60 * cfg.minutes
  -- the ranks stop together (the next update would wait for a rank that left)
  if ranks > 1 then out_of_time = mpi.allreduce(out_of_time and 1 or 0, "max") == 1 end
  if root and (it % cfg.eval_every == 0 or it == iters or out_of_time) then
    last = evaluate()
    curve_x[#curve_x + 1], curve_y[#curve_y + 1] = samples, last.vel
    print(("  iteration %d, %d samples: train reward %.4f, falls %d/%d episodes; eval %s "
           .. "%.3f, %s %.3f, falls %d; %.0f samples/s"):format(
      it, samples, s.mean_reward, s.env.falls, s.env.episodes, names[1], last.vel, names[3],
      last.yaw, last.falls, samples / (collect_s + update_s)))
  end
  -- the latest evaluation's figures on every row (metrics.csv keeps the first row's columns)
  row.eval_vel_error, row.eval_yaw_error, row.eval_falls = last.vel, last.yaw, last.falls
  if root then run:log(row) end
  if out_of_time then break end
end

if not root then
  run:close()
  return
end
run:plot { file = "ppo_velocity_error.png",
           title = imitate and "PPO imitating the gait library (held-out clips)"
             or "PPO on the quadruped's velocity commands",
           xlabel = "simulator samples (50 Hz transitions)",
           ylabel = ("%s (%s)"):format(names[1], names[2]),
           series = { { x = curve_x, y = curve_y, label = "PPO, seed " .. cfg.seed } } }
local summary = {
  task = cfg.task,
  ranks = ranks,
  samples = samples,
  wall_seconds = os.time() - t0,
  samples_per_second = samples / math.max(collect_s + update_s, 1e-9),
  collect_seconds = collect_s,
  update_seconds = update_s,
  falls_before = before.falls, falls_after = last.falls,
  eval_samples = curve_x, eval_vel_error = curve_y,
}
local k1, k2 = imitate and "joint_error" or "vel_error", imitate and "root_error" or "yaw_error"
summary[k1 .. "_before"], summary[k1 .. "_after"] = before.vel, last.vel
summary[k2 .. "_before"], summary[k2 .. "_after"] = before.yaw, last.yaw
run:summary(summary)
print(("ppo_quadruped: %s %.3f -> %.3f %s, %s %.3f -> %.3f %s, falls %d -> %d; "
       .. "%d samples in %d s (%.0f samples/s); %s"):format(
  names[1], before.vel, last.vel, names[2], names[3], before.yaw, last.yaw, names[4],
  before.falls, last.falls, samples, summary.wall_seconds, summary.samples_per_second, run.dir))
run:close()
