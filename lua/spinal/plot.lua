-- plot.lua: line plots as PNG files through gnuplot (spinal.plot).
--
--   local plot = require "spinal.plot"
--   local ok, err = plot.png { file = "cost.png", title = "cost", xlabel = "iteration",
--                              ylabel = "cost", logy = false, square = false,
--                              series = { { x = xs, y = ys, label = "feedback",
--                                           style = "linespoints" }, ... } }
--
-- Each series is written to a data file next to the PNG (FILE.dat, kept: it is the plot's data)
-- and drawn by a gnuplot script (FILE.gp, kept: edit and rerun it to restyle). x defaults to
-- 1..#y; a nil or NaN y leaves a gap. `square = true` gives equal axis scales (paths in x-y).
-- Without gnuplot, png returns nil, message and draws nothing: plots are never what fails a run.
local M = {}

local available
-- true when a gnuplot binary is on PATH
function M.available()
  if available == nil then
    local ok = os.execute "command -v gnuplot >/dev/null 2>&1"
    available = ok == true or ok == 0
  end
  return available
end

local function quote(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0") .. '"'
end

-- text for titles, labels and keys: enhanced-mode markup characters printed as themselves
local function text(s)
  return '"' .. tostring(s):gsub('[\\"]', "\\%0"):gsub("[_^{}@&~]", "\\\\%0") .. '"'
end

local function num(v)
  if v == nil or v ~= v or v == math.huge or v == -math.huge then return "NaN" end
  return ("%.10g"):format(v)
end

-- write the PNG described by spec: true, or nil, message
function M.png(spec)
  assert(type(spec) == "table" and type(spec.file) == "string",
    "plot.png: expected a table with file = a path")
  if not M.available() then return nil, "gnuplot not found (install gnuplot-nox): no plots" end
  local series = spec.series or {}
  local base = spec.file:gsub("%.png$", "")
  local dat, gp = base .. ".dat", base .. ".gp"

  -- the data: one block per series, separated by two blank lines (gnuplot's `index`)
  local f, err = io.open(dat, "w")
  if not f then return nil, err end
  for i, s in ipairs(series) do
    local y, x = s.y, s.x
    local n = type(y) == "table" and #y or y:numel()
    f:write(("# %s\n"):format(s.label or ("series " .. i)))
    for k = 1, n do
      f:write(num(x and x[k] or k), " ", num(y[k]), "\n")
    end
    f:write "\n\n"
  end
  f:close()

  -- the script
  local lines = {
    ("set terminal pngcairo size %d,%d enhanced font 'sans,11'"):format(spec.width or 900,
      spec.height or 600),
    "set output " .. quote(spec.file),
    "set grid",
    "set key " .. (spec.key or "top right") .. " box opaque",
    "set datafile missing 'NaN'",
  }
  if spec.title then lines[#lines + 1] = "set title " .. text(spec.title) end
  if spec.xlabel then lines[#lines + 1] = "set xlabel " .. text(spec.xlabel) end
  if spec.ylabel then lines[#lines + 1] = "set ylabel " .. text(spec.ylabel) end
  if spec.logy then
    lines[#lines + 1] = "set logscale y"
    lines[#lines + 1] = "set format y '10^{%L}'"
  end
  if spec.logx then lines[#lines + 1] = "set logscale x" end
  if spec.square then lines[#lines + 1] = "set size ratio -1" end
  if spec.yrange then
    lines[#lines + 1] = ("set yrange [%s:%s]"):format(num(spec.yrange[1]), num(spec.yrange[2]))
  end
  local plots = {}
  for i, s in ipairs(series) do
    local style = s.style or "linespoints"
    local with = style == "lines" and "lines lw 2"
      or style == "points" and "points pt 7 ps 0.6"
      or style == "dashed" and "lines lw 2 dt 2"
      or "linespoints lw 2 pt 7 ps 0.8"
    plots[#plots + 1] = ("%s index %d using 1:2 with %s title %s"):format(
      i == 1 and quote(dat) or "''", i - 1, with, text(s.label or ("series " .. i)))
  end
  if #plots == 0 then return nil, "plot.png: no series" end
  lines[#lines + 1] = "plot " .. table.concat(plots, ", \\\n     ")
  f, err = io.open(gp, "w")
  if not f then return nil, err end
  f:write(table.concat(lines, "\n"), "\n")
  f:close()

  local p = io.popen("gnuplot " .. ("'%s'"):format(gp:gsub("'", "'\\''")) .. " 2>&1")
  local out = p:read "a"
  local ok = p:close()
  if not ok then return nil, "gnuplot failed: " .. out end
  return true
end

return M
