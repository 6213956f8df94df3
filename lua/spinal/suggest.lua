-- suggest.lua: "did you mean" for mistyped names (robot file keys, settings).
--
--   suggest.closest("iterz", { "iters", "lr" })  --> "iters"
local M = {}

-- edit distance (Levenshtein, plus swapped neighbours: optimal string alignment)
function M.distance(a, b)
  local older, prev, cur = {}, {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      -- a swap of two neighbours counts as one edit
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        cur[j] = math.min(cur[j], older[j - 2] + 1)
      end
    end
    older, prev, cur = prev, cur, older
  end
  return prev[#b]
end

-- the valid name closest to name (case-insensitive), if it is close enough to be a likely typo:
-- at most one edit, or two for names of six characters or more
function M.closest(name, valid)
  if type(name) ~= "string" then return nil end
  local best, bestd
  for _, v in ipairs(valid) do
    local d = M.distance(name:lower(), v:lower())
    if d < (bestd or math.huge) then best, bestd = v, d end
  end
  if bestd and bestd <= math.max(1, math.min(2, #name // 3)) then return best end
  return nil
end

return M
