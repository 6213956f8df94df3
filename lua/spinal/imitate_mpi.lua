-- imitate_mpi.lua: method 2's loop (spinal.imitate) as one job over the ranks of an MPI run
-- (docs/distributed.md, "Method 2's loop"). Reached through L:data_parallel([mpi]), called on
-- every rank on a loop made the same way everywhere (imitate.new with the same settings, or
-- imitate.load of the same checkpoint); each rank opens its own plant.
--
--   collection: rank r steps its own plant for its share of cfg.collect transitions (the first
--     cfg.collect % size ranks one more), with its own generator (rank 0: the one-process stream
--     of the iteration; rank r > 0: stream r * 2^32 + that stream); then every rank receives every
--     rank's transitions (gathered on rank 0 in rank order and broadcast) and adds them to its
--     replay buffer, start records and normalisers in that order: all ranks hold the same bits.
--   training: every rank draws the same whole batch (same buffer, same generators), takes its
--     rows (a contiguous block, sizes as in collection), computes their gradient (model:grad,
--     pol:grad), weights it by its share of the rows, sums it over the ranks (reduced on rank 0
--     and broadcast: the same bits everywhere) and takes the same optimiser step (apply). The
--     step is the one-process step on the whole batch up to float rounding.
--   the reported loss and parts are the whole batch's (the rank-weighted sum of the shares').
-- Every rank therefore holds the same parameters, buffer and counters after every step.
local A = require "spinal.array"
local rng = require "spinal.rng"

local M = {}

-- rows [lo, lo + n) of a batch of B rows split over size ranks as evenly as possible
local function block(B, rank, size)
  local q, extra = B // size, B % size
  return rank * q + math.min(rank, extra) + 1, q + (rank < extra and 1 or 0)
end
M.block = block

function M.attach(L, mpi)
  mpi = mpi or require "spinal.mpi"
  local rank, size = mpi.rank(), mpi.size()
  local c = L.cfg
  for _, k in ipairs { "wm_batch", "pol_batch", "collect" } do
    if c[k] < size then
      error(("imitate: %s = %d is less than the %d ranks (every rank takes a share of it)")
        :format(k, c[k], size), 2)
    end
  end
  -- the same state everywhere: the counters and buffers (made or loaded alike) are compared, the
  -- networks given rank 0's parameters
  local mine = { L.iter, L.samples, L.episodes, L.buf.pushed, L.starts.n }
  local all = mpi.gather(mine)
  local bad = nil
  if rank == 0 then
    for q = 2, size do
      for k = 1, #mine do
        if all[q][k] ~= all[1][k] and not bad then bad = q - 1 end
      end
    end
  end
  bad = mpi.broadcast(bad)
  if bad then
    error(("imitate: rank %d's loop is not rank 0's (iteration, samples or replay buffer differ: "
      .. "every rank must make or load the same loop)"):format(bad), 2)
  end
  mpi.broadcast_params(L.model)
  mpi.broadcast_params(L.pol)

  local par = { mpi = mpi, rank = rank, size = size }
  L.par = par

  function par.share(_, n)
    local _, cnt = block(n, rank, size)
    return cnt
  end

  function par.rng(_, purpose)
    if rank == 0 then return L:rng(purpose) end
    return rng.new(c.seed, (rank << 32) + L.iter * 16 + purpose)
  end

  -- every rank's transitions T ({ S, A, S1, done, clip, frame }: lists) and collection stats,
  -- on every rank, in rank order
  function par.merge(_, T, stats)
    local nx, nu, m = L.nx, L.nu, #T.S
    local W = 2 * nx + nu + 3
    local rows
    if m == 0 then
      rows = A.zeros(0, W)
    else
      local extra = {}
      for i = 1, m do extra[i] = { T.done[i] and 1 or 0, T.clip[i], T.frame[i] } end
      rows = A.cat({ A(T.S), A(T.A), A(T.S1), A(extra) }, 2):contiguous()
    end
    local got, counts = mpi.gather(rows)
    par.stepped = mpi.broadcast(counts)  -- transitions stepped by each rank, by rank
    local n = mpi.broadcast(rank == 0 and got.shape[1] or nil)
    if rank ~= 0 then got = A.zeros(n, W) end
    mpi.broadcast(got)
    local s = mpi.allreduce({ stats.transitions, stats.episodes, stats.falls, stats.length })
    local S = got:narrow(2, 1, nx):totable()
    local Aa = got:narrow(2, nx + 1, nu):totable()
    local S1 = got:narrow(2, nx + nu + 1, nx):totable()
    local out = { S = S, A = Aa, S1 = S1, done = {}, clip = {}, frame = {} }
    for i = 1, n do
      local r = got[i]
      out.done[i] = r[W - 2] ~= 0
      out.clip[i], out.frame[i] = math.tointeger(r[W - 1]), math.tointeger(r[W])
    end
    return out, { transitions = math.tointeger(s[1]), episodes = math.tointeger(s[2]),
                  falls = math.tointeger(s[3]), length = s[4] }
  end

  -- the rank-weighted sum over the ranks of this rank's loss and parts (keys in sorted order:
  -- the same on every rank)
  local function reduce_report(loss, parts, w)
    local keys, v = {}, { loss * w }
    for k, x in pairs(parts or {}) do
      if type(x) == "number" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for i, k in ipairs(keys) do v[i + 1] = parts[k] * w end
    v = mpi.allreduce(v)
    local out = {}
    for k, x in pairs(parts or {}) do out[k] = x end
    for i, k in ipairs(keys) do out[k] = v[i + 1] end
    return v[1], parts and out or nil
  end

  -- this rank's gradient weighted by its share of the rows, summed over the ranks, written back
  local function reduce_grads(net, w)
    local g = net:grads() * w
    mpi.allreduce(g, "sum")
    net:set_grads(g)
  end

  local function rows(x, lo, n) return x:narrow(1, lo, n):contiguous() end

  function L.wm_step(self, S, Aa)
    local B = S.shape[1]
    local lo, n = block(B, rank, size)
    local loss, parts = self.model:grad(rows(S, lo, n), rows(Aa, lo, n))
    reduce_grads(self.model, n / B)
    self.model:apply(self.wopt)
    return reduce_report(loss, parts, n / B)
  end

  function L.pol_step(self, S0, C, R, eps)
    local B = S0.shape[1]
    local lo, n = block(B, rank, size)
    local loss, parts = self.pol:grad(self.model, rows(S0, lo, n), rows(C, lo, n),
      rows(R, lo, n), rows(eps, lo, n))
    reduce_grads(self.pol, n / B)
    self.pol:apply(self.popt)
    return reduce_report(loss, parts, n / B)
  end

  return L
end

return M
