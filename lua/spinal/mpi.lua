-- mpi.lua: sweeps, data-parallel training and rollouts across the ranks of an MPI job.
-- (spinal.mpi; docs/api/mpi.md, docs/distributed.md). The collectives run in C
-- (lua/bind/mpi_core.c, the only code that includes mpi.h); this file gives them their Lua shape:
-- values of any kind, networks, parallel maps, gathered transitions.
--
--   mpirun -np 2 spinal script.lua key=value ...
--   local mpi = require "spinal.mpi"           -- or spinal.mpi
--   mpi.rank(), mpi.size()                     -- 0, 1 outside mpirun (a world of one)
--   mpi.barrier()
--   mpi.broadcast(x [, root])                  -- array: in place; other values: root's value
--   mpi.allreduce(x [, op])                    -- op "sum" (default), "mean", "max", "min";
--                                              -- array: in place; number; list of numbers
--   mpi.gather(x [, root])                     -- array: rows stacked on root (+ counts); other
--                                              -- values: a list by rank on root; nil elsewhere
--   mpi.allreduce_grads(net [, op])            -- a network's (nn.mlp, policy) gradients, in place
--   mpi.allreduce_params(net [, op])  mpi.broadcast_params(net [, root])
--   local results = mpi.map(list, fn [, opts]) -- fn(item, i) on the ranks; results on rank 0
--   local data = mpi.gather_transitions(trajs [, root])  -- every rank's (x, u, x') rows
--
-- MPI is initialised by the first call that needs it, and only under an MPI launcher; a plain
-- `spinal script.lua` is a world of one where every collective returns its input.
local core = require "spinal.mpi_core"

local M = {}

local OPS = { sum = true, mean = true, max = true, min = true }

local function is_array(x)
  return type(x) == "userdata" and getmetatable(x) ~= nil
    and getmetatable(x).__name == "spinal.array"
end

local rank_, size_
local function world()
  if not rank_ then
    rank_, size_ = core.init()
    if core.initialized() then
      -- os.exit would leave MPI unfinalised (mpirun then fails the job): close the Lua state so
      -- the world ends, by MPI_Finalize for status 0 (or true) and MPI_Abort for any other
      local exit = os.exit
      os.exit = function(code, _)  -- luacheck: ignore
        core.mark_failed(not (code == nil or code == true or code == 0))
        return exit(code, true)
      end
    end
  end
  return rank_, size_
end

-- this process's rank (0-based) and the number of ranks
function M.rank() return (world()) end
function M.size() return select(2, world()) end

-- the rank and size the launcher set, without initialising MPI (nil when not under a launcher)
M.launched = core.launched

-- whether MPI itself is running (false in a world of one)
function M.active()
  world()
  return core.initialized()
end

function M.barrier()
  world()
  core.barrier()
end

local function check_op(op, fname)
  op = op or "sum"
  if not OPS[op] then
    error(("bad argument #2 to '%s' (expected one of 'sum', 'mean', 'max', 'min', got %s)")
      :format(fname, type(op) == "string" and "'" .. op .. "'" or type(op)), 3)
  end
  return op
end

local function check_root(root, arg, fname)
  root = root or 0
  local _, size = world()
  if math.type(root) ~= "integer" or root < 0 or root >= size then
    error(("bad argument #%d to '%s' (expected a root rank in [0, %d], got %s)")
      :format(arg, fname, size - 1, tostring(root)), 3)
  end
  return root
end

-- ---- values as bytes -------------------------------------------------------------------------
-- nil, booleans, numbers (integers stay integers; floats exactly), strings, spinal arrays and
-- tables of those (keys: numbers, strings, booleans). Shared references are sent as copies;
-- cycles and other types (functions, other userdata) are refused, naming where they sit.

local encode_value

local function encode_table(t, out, path, depth)
  if depth > 64 then error(("mpi: cannot send %s: tables nested deeper than 64 (a cycle?)")
    :format(path), 0) end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  out[#out + 1] = string.pack("<c1j", "t", n)
  for k, v in pairs(t) do
    local kt = type(k)
    if kt ~= "number" and kt ~= "string" and kt ~= "boolean" then
      error(("mpi: cannot send %s: a key of type %s"):format(path, kt), 0)
    end
    encode_value(k, out, path, depth + 1)
    encode_value(v, out, ("%s.%s"):format(path, tostring(k)), depth + 1)
  end
end

function encode_value(v, out, path, depth)
  local tv = type(v)
  if v == nil then
    out[#out + 1] = "0"
  elseif tv == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif math.type(v) == "integer" then
    out[#out + 1] = string.pack("<c1j", "i", v)
  elseif tv == "number" then
    out[#out + 1] = string.pack("<c1d", "d", v)
  elseif tv == "string" then
    out[#out + 1] = string.pack("<c1s4", "s", v)
  elseif is_array(v) then
    local shape = v.shape
    out[#out + 1] = string.pack("<c1B", "a", #shape)
    for _, e in ipairs(shape) do out[#out + 1] = string.pack("<j", e) end
    out[#out + 1] = string.pack("<s4", core.array_bytes(v))
  elseif tv == "table" then
    encode_table(v, out, path, depth)
  else
    error(("mpi: cannot send %s: a %s"):format(path, tv), 0)
  end
end

-- a Lua value as a string (M.decode reverses it)
function M.encode(v)
  local out = {}
  encode_value(v, out, "the value", 0)
  return table.concat(out)
end

local function decode_at(s, i)
  local tag = s:sub(i, i)
  if tag == "0" then return nil, i + 1 end
  if tag == "T" then return true, i + 1 end
  if tag == "F" then return false, i + 1 end
  if tag == "i" then return string.unpack("<j", s, i + 1) end
  if tag == "d" then return string.unpack("<d", s, i + 1) end
  if tag == "s" then return string.unpack("<s4", s, i + 1) end
  if tag == "a" then
    local nd, j = string.unpack("<B", s, i + 1)
    local shape = {}
    for d = 1, nd do shape[d], j = string.unpack("<j", s, j) end
    local bytes
    bytes, j = string.unpack("<s4", s, j)
    return core.array_from_bytes(bytes, shape), j
  end
  if tag == "t" then
    local n, j = string.unpack("<j", s, i + 1)
    local t = {}
    for _ = 1, n do
      local k, v
      k, j = decode_at(s, j)
      v, j = decode_at(s, j)
      t[k] = v
    end
    return t, j
  end
  error(("mpi: cannot decode a value (unknown tag %q at byte %d)"):format(tag, i), 0)
end

function M.decode(s)
  return (decode_at(s, 1))
end

-- ---- collectives -----------------------------------------------------------------------------

-- broadcast x from root: an array is overwritten in place on every other rank (all pass arrays
-- of the same size) and returned; any other value is returned as root's value
function M.broadcast(x, root)
  root = check_root(root, 2, "broadcast")
  if is_array(x) then return core.bcast_array(x, root) end
  local rank = world()
  return M.decode(core.bcast_bytes(rank == root and M.encode(x) or nil, root))
end

-- reduce x over the ranks with op; every rank gets the same result (bits included: it is reduced
-- on rank 0 and broadcast). An array is reduced in place and returned; a number or a list of
-- numbers gives a new number or list.
function M.allreduce(x, op)
  op = check_op(op, "allreduce")
  world()
  local A = require "spinal.array"
  if is_array(x) then return core.reduce_array(x, op) end
  if type(x) == "number" then
    local a = A.new { x }
    M.allreduce(a, op)
    local v = a[1]
    return math.type(x) == "integer" and op ~= "mean" and math.tointeger(v) or v
  end
  if type(x) == "table" then
    local n = #x
    local a = A.zeros(math.max(n, 1))
    for i = 1, n do
      if type(x[i]) ~= "number" then
        error(("bad argument #1 to 'allreduce' (expected a list of numbers, got %s at [%d])")
          :format(type(x[i]), i), 2)
      end
      a[i] = x[i]
    end
    M.allreduce(a, op)
    local out = {}
    for i = 1, n do out[i] = a[i] end
    return out
  end
  error(("bad argument #1 to 'allreduce' (expected an array, a number or a list of numbers, "
    .. "got %s)"):format(type(x)), 2)
end

-- gather x on root. An array: the rows of every rank's array (same trailing shape) stacked in
-- rank order, and the list of row counts by rank. Any other value: the list of every rank's
-- value, by rank (index rank + 1). Other ranks get nil.
function M.gather(x, root)
  root = check_root(root, 2, "gather")
  if is_array(x) then
    if not x:is_contiguous() then x = x:contiguous() end
    return core.gather_rows(x, root)
  end
  local parts = core.gather_bytes(M.encode(x), root)
  if not parts then return nil end
  local out = {}
  for i, s in ipairs(parts) do out[i] = M.decode(s) end
  return out
end

-- ---- networks --------------------------------------------------------------------------------
-- The networks whose params() and grads() are views of their float64 storage (nn.mlp of dtype
-- f64, spinal.policy) are reduced in place. Any other object's params() and grads() are copies:
-- its parameters are written back with set_params when it has one; its gradients cannot be
-- written back, so allreduce_grads refuses it (reduce net:grads() yourself and step with
-- opt:step(params, grads), docs/api/mpi.md). A new network joins by giving views, or set_grads.
local VIEWS = { ["spinal.nn.mlp"] = true, ["spinal.policy"] = true }

local function flat(net, what, fname)
  local ok, a = pcall(function() return net[what](net) end)
  if not ok or not is_array(a) then
    error(("bad argument #1 to '%s' (expected a network with %s() (spinal.nn.mlp, "
      .. "spinal.policy), got %s)"):format(fname, what, type(net)), 3)
  end
  return a
end

local function is_copy(net)
  local mt = getmetatable(net)
  local name = type(mt) == "table" and mt.__name or nil
  if not VIEWS[name] then return true end
  local ok, dtype = pcall(function() return net.dtype end)
  return ok and dtype == "f32"
end

-- average (op "mean", the default) or sum the network's gradients over the ranks, in place
function M.allreduce_grads(net, op)
  op = check_op(op or "mean", "allreduce_grads")
  local g = flat(net, "grads", "allreduce_grads")
  if is_copy(net) then
    if type(net.set_grads) == "function" then
      M.allreduce(g, op)
      net:set_grads(g)
      return g
    end
    local mt = getmetatable(net)
    error(("bad argument #1 to 'allreduce_grads' (a %s's grads() is a copy: reduce it with "
      .. "mpi.allreduce(g, 'mean') and step with opt:step(params, g))"):format(
      (type(mt) == "table" and mt.__name == "spinal.nn.mlp") and "float32 network"
        or type(mt) == "table" and mt.__name or type(net)), 2)
  end
  M.allreduce(g, op)
  return g
end

-- reduce the network's parameters over the ranks (op "mean" by default: parameter averaging)
function M.allreduce_params(net, op)
  op = check_op(op or "mean", "allreduce_params")
  local p = flat(net, "params", "allreduce_params")
  local copy = is_copy(net)
  if copy and type(net.set_params) ~= "function" then
    error("bad argument #1 to 'allreduce_params' (its params() is a copy and it has no "
      .. "set_params)", 2)
  end
  M.allreduce(p, op)
  if copy then net:set_params(p) end
  return p
end

-- give every rank root's parameters (same initialisation everywhere before data-parallel steps)
function M.broadcast_params(net, root)
  root = check_root(root, 2, "broadcast_params")
  local p = flat(net, "params", "broadcast_params")
  local copy = is_copy(net)
  if copy and type(net.set_params) ~= "function" then
    error("bad argument #1 to 'broadcast_params' (its params() is a copy and it has no "
      .. "set_params)", 2)
  end
  core.bcast_array(p, root)
  if copy then net:set_params(p) end
  return p
end

-- ---- parallel map ----------------------------------------------------------------------------

-- the rank that runs item i of n (static round robin: item i on rank (i - 1) % size), so the
-- split depends only on n and the number of ranks
function M.owner(i)
  local _, size = world()
  return (i - 1) % size
end

-- fn(item, i) for every item of list, split over the ranks (M.owner); returns the list of results
-- in order on rank 0 (nil on the others). Results are sent as values (M.encode: numbers exact,
-- arrays, tables). opts.dir: a directory where each result is kept as it is made
-- (DIR/<key>.result, key = opts.key(item, i) or i as %04d); an item whose file exists is not
-- run again (resume) and its stored result is used. opts.on_result(i, result, resumed): called
-- on the owning rank after each item. opts.root: the rank receiving the results (default 0).
function M.map(list, fn, opts)
  opts = opts or {}
  if type(list) ~= "table" then
    error(("bad argument #1 to 'map' (expected a list of settings, got %s)"):format(type(list)), 2)
  end
  if type(fn) ~= "function" then
    error(("bad argument #2 to 'map' (expected a function, got %s)"):format(type(fn)), 2)
  end
  local root = check_root(opts.root, 3, "map")
  local rank, size = world()
  local mine = {}
  for i, item in ipairs(list) do
    if (i - 1) % size == rank then
      local file
      if opts.dir then
        local key = opts.key and opts.key(item, i) or ("%04d"):format(i)
        file = ("%s/%s.result"):format(opts.dir, key)
      end
      local stored = file and io.open(file, "rb")
      local result, resumed
      if stored then
        local bytes = stored:read "a"
        stored:close()
        result, resumed = M.decode(bytes), true
      else
        result = fn(item, i)
        if file then
          local ok, err = require("spinal.run").write_atomic(file, M.encode(result))
          if not ok then error("mpi.map: " .. err, 0) end
        end
      end
      mine[#mine + 1] = { i, result }
      if opts.on_result then opts.on_result(i, result, resumed) end
    end
  end
  local parts = M.gather(mine, root)
  if rank ~= root then return nil end
  local out = {}
  for _, part in ipairs(parts) do
    for _, pair in ipairs(part) do out[pair[1]] = pair[2] end
  end
  return out, #list
end

-- ---- data collection -------------------------------------------------------------------------

-- the transitions (x_k, u_k, x_{k+1}) of this rank's rollouts (one trajectory { X, U, flags } or
-- a list of them, as plant:rollout returns them), gathered on root in rank order: { X = (N, nx),
-- U = (N, nu), X_next = (N, nx), flags = (N), rank = (N), episode = (N): the rank that stepped
-- the transition and the index of its trajectory on that rank, counts = transitions per rank }.
-- nil on the other ranks.
function M.gather_transitions(trajs, root)
  root = check_root(root, 2, "gather_transitions")
  local A = require "spinal.array"
  if trajs.X then trajs = { trajs } end
  local rank = world()
  local xs, us, xn, fl, rk, ep = {}, {}, {}, {}, {}, {}
  local nx, nu
  for e, tr in ipairs(trajs) do
    local n = tr.U.shape[1]
    nx, nu = tr.X.shape[2], tr.U.shape[2]
    if n > 0 then
      xs[#xs + 1] = tr.X:narrow(1, 1, n)
      xn[#xn + 1] = tr.X:narrow(1, 2, n)
      us[#us + 1] = tr.U
      fl[#fl + 1] = tr.flags or A.zeros(n)
      rk[#rk + 1] = A.full(n, rank)
      ep[#ep + 1] = A.full(n, e)
    end
  end
  -- every rank must take part even with no data: an empty block of the right width
  nx = M.allreduce(nx or 0, "max")
  nu = M.allreduce(nu or 0, "max")
  local function cat(list, width)
    if #list == 0 then return width and A.zeros(0, width) or A.zeros(0) end
    return A.cat(list, 1):contiguous()
  end
  local out, counts = {}, nil
  local fields = { { "X", xs, nx }, { "U", us, nu }, { "X_next", xn, nx }, { "flags", fl },
                   { "rank", rk }, { "episode", ep } }
  for _, f in ipairs(fields) do
    local a, c = M.gather(cat(f[2], f[3]), root)
    out[f[1]], counts = a, c
  end
  if rank ~= root then return nil end
  out.counts = counts
  return out
end

return M
