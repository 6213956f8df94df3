-- common.lua: what the tests/mpi scripts share: check (an error naming the rank) and
-- same_everywhere (every rank holds the same bits). Loaded with dofile from the script's folder.
local mpi = require("spinal").mpi
local M = {}
M.rank, M.size = mpi.rank(), mpi.size()

function M.check(ok, what)
  if not ok then error(("rank %d of %d: %s"):format(M.rank, M.size, what), 2) end
end

-- every rank holds the same bits in a (gathered to rank 0 and compared there)
function M.same_everywhere(a, what)
  local all = mpi.gather(a:reshape(1, a:numel()))
  if M.rank ~= 0 then return end
  for q = 2, M.size do
    for k = 1, a:numel() do
      M.check(all[q][k] == all[1][k], ("%s: rank %d differs at %d"):format(what, q - 1, k))
    end
  end
end

return M
