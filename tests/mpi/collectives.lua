-- collectives.lua: every spinal.mpi collective on every rank (tests/integration/mpi_collectives.sh
-- runs it under `mpirun -np 2` and as a plain process, a world of one). A failed check raises,
-- which ends the whole job with the rank named.
local sp = require "spinal"
local mpi = sp.mpi
local A = sp.array
local rank, size = mpi.rank(), mpi.size()
local function check(ok, what)
  if not ok then error(("rank %d of %d: %s"):format(rank, size, what), 2) end
end
local function raises(f, pattern, what)
  local ok, err = pcall(f)
  check(not ok and tostring(err):find(pattern, 1, true), ("%s: got %s"):format(what, tostring(err)))
end
local expect = tonumber(os.getenv "EXPECT_SIZE")
check(size == expect, ("size %d, expected %d"):format(size, expect))
check(mpi.active() == (expect > 1), "active")
check(rank >= 0 and rank < size, "rank")

-- sum over ranks of (r + 1) = size (size + 1) / 2
local tri = size * (size + 1) / 2
mpi.barrier()

-- allreduce: arrays in place, numbers, lists; sum, mean, max, min
local a = A.new { { rank + 1, -(rank + 1) }, { 0.5, rank * 1e-300 } }
check(mpi.allreduce(a, "sum") == a, "allreduce returns the array")
check(a[1][1] == tri and a[1][2] == -tri and a[2][1] == 0.5 * size, "allreduce sum")
local m = A.new { rank + 1, 3 }
mpi.allreduce(m, "mean")
check(m[1] == tri / size and m[2] == 3, "allreduce mean")
check(mpi.allreduce(rank, "max") == size - 1 and math.type(mpi.allreduce(rank, "max")) == "integer",
  "allreduce max of an integer")
check(mpi.allreduce(rank + 0.5, "min") == 0.5, "allreduce min")
check(mpi.allreduce(1) == size, "allreduce default op is sum")
local l = mpi.allreduce({ rank, 2 * rank, 7 }, "max")
check(#l == 3 and l[1] == size - 1 and l[2] == 2 * (size - 1) and l[3] == 7, "allreduce of a list")
raises(function() mpi.allreduce(a, "median") end,
  "bad argument #2 to 'allreduce' (expected one of 'sum', 'mean', 'max', 'min', got 'median')",
  "unknown op")
raises(function() mpi.allreduce(a:t(), "sum") end, "expected a contiguous array", "strided view")
raises(function() mpi.allreduce { 1, "x" } end,
  "bad argument #1 to 'allreduce' (expected a list of numbers, got string at [2])", "bad list")
-- every rank holds the same bits after a reduction of values that round differently by order
local r = A.new { 0.1 * (rank + 1), 1 / 3 * (rank + 1), 1e16 * (-1) ^ rank }
mpi.allreduce(r, "sum")
local copies = mpi.gather(r:reshape(1, 3))
if rank == 0 then
  for i = 2, size do
    for k = 1, 3 do
      check(copies[i][k] == copies[1][k], "allreduce: identical bits on all ranks")
    end
  end
end

-- broadcast: arrays in place, any value
local b = A.full(4, rank)
mpi.broadcast(b, size - 1)
check(b[1] == size - 1 and b[4] == size - 1, "broadcast of an array from the last rank")
local v = mpi.broadcast(rank == 0 and { n = 3, x = 0.1, s = "hi", list = { 1, 2.5, true },
                                        arr = A.new { { 1, 2 }, { 3, 4 } }, int = 1 << 40 } or nil)
check(v.n == 3 and v.x == 0.1 and v.s == "hi" and v.list[2] == 2.5 and v.list[3] == true,
  "broadcast of a table")
check(math.type(v.int) == "integer" and v.int == 1 << 40, "integers stay integers")
check(v.arr.shape[1] == 2 and v.arr[2][1] == 3, "arrays inside tables")
check(mpi.broadcast(nil) == nil, "broadcast of nil")
raises(function() mpi.encode { f = print } end, "mpi: cannot send the value.f: a function",
  "a function cannot be sent")
raises(function() mpi.broadcast(b, size) end,
  ("bad argument #2 to 'broadcast' (expected a root rank in [0, %d], got %d)"):format(size - 1,
    size), "bad root")

-- gather: rows of arrays (any count per rank), tables of numbers, values
local rows, counts = mpi.gather(A.full({ rank + 1, 2 }, rank))
if rank == 0 then
  check(rows.shape[1] == tri and rows.shape[2] == 2, "gathered rows")
  check(#counts == size and counts[size] == size, "row counts by rank")
  local at = 0
  for q = 0, size - 1 do
    for _ = 1, q + 1 do
      at = at + 1
      check(rows[at][1] == q and rows[at][2] == q, "rows in rank order")
    end
  end
else
  check(rows == nil and counts == nil, "gather gives nil off the root")
end
local t = mpi.gather({ rank, rank * 0.25, -rank }, size - 1)
if rank == size - 1 then
  check(#t == size, "gathered tables")
  for q = 0, size - 1 do check(t[q + 1][2] == q * 0.25 and t[q + 1][3] == -q, "table by rank") end
else
  check(t == nil, "gathered tables: nil off the root")
end

-- parallel map: results on rank 0 in order; each item ran on its owner
local items = {}
for i = 1, 7 do items[i] = { x = i } end
local res = mpi.map(items, function(item, i)
  check(mpi.owner(i) == rank, "map runs an item on its owner")
  return { y = item.x * item.x, by = rank }
end)
if rank == 0 then
  check(#res == 7, "map returns every result")
  for i = 1, 7 do check(res[i].y == i * i and res[i].by == (i - 1) % size, "map order") end
else
  check(res == nil, "map results live on rank 0")
end

-- networks: gradients averaged, parameters broadcast
local net = sp.nn.mlp { sizes = { 3, 4, 2 }, seed = rank + 1 }
mpi.broadcast_params(net)
local p = net:params():clone()
mpi.allreduce(p, "max")
local q = net:params():clone()
mpi.allreduce(q, "min")
for k = 1, p:numel() do check(p[k] == q[k], "broadcast_params: the same parameters everywhere") end
net:zero_grad()
net:forward(A.full({ 1, 3 }, rank + 1))
net:backward(A.full({ 1, 2 }, 1))
local g0 = net:grads():clone()
local g = mpi.allreduce_grads(net)
local g_sum = g0:clone()
mpi.allreduce(g_sum, "sum")
for k = 1, g:numel() do
  check(g[k] == g_sum[k] / size and net:grads()[k] == g[k], "allreduce_grads: mean, in place")
end
local f32 = sp.nn.mlp { sizes = { 3, 2 }, dtype = "f32" }
raises(function() mpi.allreduce_grads(f32) end, "a float32 network's grads() is a copy",
  "f32 grads")
mpi.broadcast_params(f32)
-- the world model's params() and grads() are copies: parameters go back through set_params, its
-- gradients (between model:grad and model:apply) through set_grads
local wm = sp.wm.new { nj = 2, nu = 2, dt = 0.02, seed = rank + 1 }
mpi.broadcast_params(wm)
local wp = mpi.allreduce(wm:params(), "max")
local wq = mpi.allreduce(wm:params(), "min")
for k = 1, wp:numel() do check(wp[k] == wq[k], "broadcast_params of a world model") end
wm:set_grads(wm:grads() * 0 + (rank + 1))
mpi.allreduce_grads(wm)
local wg = wm:grads()
for k = 1, wg:numel() do check(wg[k] == (size + 1) / 2, "allreduce_grads of a world model") end
raises(function() mpi.allreduce_grads({}) end,
  "bad argument #1 to 'allreduce_grads' (expected a network with grads()", "not a network")

if rank == 0 then
  print(("spinal.mpi collectives: all checks passed on %d rank(s)"):format(size))
end
