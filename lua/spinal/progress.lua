-- progress.lua: one updating progress line on stderr for long loops (spinal.progress).
--
--   local p = spinal.progress { total = 15, label = "train" }
--   for i = 1, 15 do ...; p:update(i, { cost = J }) end
--   p:done()
-- prints "train  7/15  47%  2.1 it/s  ETA 4s  cost=1.23", rewritten in place with \r on a
-- terminal; elsewhere (logs, pipes) a plain line at most every `interval` seconds plus the last.
-- After Ctrl-C (spinal.interrupted()) the next update finishes the line and raises the error
-- "interrupted", so the loop stops at a step boundary and to-be-closed values are closed.
local M = {}
M.__index = M
M.__name = "spinal.progress"  -- help(p) finds its docs (docs/cli.md)

local has_host, host = pcall(require, "spinal.host")
if not has_host then host = nil end

local function clock()
  return host and host.clock() or os.clock()
end

local function interrupted()
  return host ~= nil and host.interrupted()
end

-- "4s", "2m05s", "1h02m"
function M.duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, s % 3600 // 60)
end

local function rate_text(rate)
  if rate >= 1 or rate == 0 then
    return ("%s it/s"):format(rate >= 100 and ("%.0f"):format(rate) or ("%.1f"):format(rate))
  end
  return ("%.1f s/it"):format(1 / rate)
end

local function metric_text(v)
  if math.type(v) == "float" then return ("%.4g"):format(v) end
  return tostring(v)
end

-- a progress line; opts: total, label, stream (io.stderr), tty (detected), interval (1 s when
-- not a tty), clock and interrupted (functions, for tests)
function M.new(opts)
  opts = opts or {}
  if opts.total ~= nil and (math.type(opts.total) == nil or opts.total < 0) then
    error(("bad argument 'total' to 'progress' (expected a non-negative number, got %s)")
      :format(tostring(opts.total)), 2)
  end
  local stream = opts.stream or io.stderr
  local tty = opts.tty
  if tty == nil then tty = host ~= nil and io.type(stream) == "file" and host.isatty(stream) end
  local self = setmetatable({
    total = opts.total,
    label = opts.label,
    stream = stream,
    tty = tty,
    interval = opts.interval or (tty and 0.1 or 1.0),
    clock = opts.clock or clock,
    interrupted = opts.interrupted or interrupted,
    i = 0,
    metrics = nil,
    finished = false,
  }, M)
  self.start = self.clock()
  self.shown_at = -math.huge
  return self
end

-- the text of the line for the current state
function M:line(final)
  local parts = {}
  if self.label then parts[#parts + 1] = self.label end
  local total = self.total
  parts[#parts + 1] = total and ("%d/%d"):format(self.i, total) or tostring(self.i)
  if total and total > 0 then
    local percent = math.floor(100 * math.min(self.i, total) / total + 0.5)
    if self.i < total then percent = math.min(percent, 99) end
    parts[#parts + 1] = ("%d%%"):format(percent)
  end
  local elapsed = self.clock() - self.start
  local rate = elapsed > 0 and self.i / elapsed or 0
  parts[#parts + 1] = rate_text(rate)
  if final then
    parts[#parts + 1] = "in " .. M.duration(elapsed)
  elseif total and rate > 0 then
    parts[#parts + 1] = "ETA " .. M.duration(math.max(total - self.i, 0) / rate)
  end
  if self.metrics then
    local keys = {}
    for k in pairs(self.metrics) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = ("%s=%s"):format(k, metric_text(self.metrics[k]))
    end
  end
  return table.concat(parts, "  ")
end

function M:show(final)
  local text = self:line(final)
  if self.tty then
    self.stream:write("\r", text, "\27[K", final and "\n" or "")
  else
    self.stream:write(text, "\n")
  end
  if self.stream.flush then self.stream:flush() end
  self.shown_at = self.clock()
end

-- record step i (and metrics, a table of name = value); raises "interrupted" after Ctrl-C
function M:update(i, metrics)
  if self.interrupted() then
    if not self.finished then self:done() end
    error("interrupted", 0)
  end
  self.i = i or self.i + 1
  if metrics then self.metrics = metrics end
  local last = self.total ~= nil and self.i >= self.total
  if last then
    self:done()
  elseif self.clock() - self.shown_at >= self.interval then
    self:show(false)
  end
  return self
end

-- finish the line (prints the final state once)
function M:done()
  if self.finished then return self end
  self.finished = true
  self:show(true)
  return self
end

M.__close = M.done
M.__tostring = function(self) return "progress: " .. self:line(false) end

return setmetatable(M, { __call = function(_, opts) return M.new(opts) end })
