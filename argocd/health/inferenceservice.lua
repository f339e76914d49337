-- Argo CD health check for serving.kserve.io/InferenceService (llmops).
-- Input: `obj`, the live object. Output: {status = Healthy|Progressing|Degraded|Suspended,
-- message = ...}, the contract of every Argo CD health check.
--
-- Beyond the check bundled with Argo CD, a predictor that stays not Ready past a
-- deadline is reported Degraded: a crash-looping raw deployment otherwise stays
-- Progressing forever. The deadline is the annotation
-- llmops.io/progress-deadline-seconds (default 1200 s: big models load slowly).
--
-- Written for the sandbox Argo CD gives checks it did not ship (util/lua/lua.go in
-- argoproj/argo-cd): the package, base and table libraries, and a reduced `os` with
-- time() and date() (util/lua/oslib_safe.go) that only `require("os")` returns (there
-- is no `os` global). There is no `string` or `math` library unless an admin sets
-- useOpenLibs, and that os.time reads a table as the controller's local time while
-- os.date ignores "!" when given a time. So this script calls os.time() with no
-- argument only (seconds since the epoch, the same in every time zone) and reads the
-- RFC 3339 stamp with arithmetic and string comparison.

local os = os -- nil in Argo CD's sandbox ...
if require ~= nil then
  os = require("os") -- ... where only require("os") gives it; any Lua 5.1 with a package library agrees
end

local DEFAULT_DEADLINE = 1200
local FAILED_TRANSITIONS = { BlockedByFailedLoad = true, InvalidSpec = true }
-- CrashLoopBackOff: the kubelet's waiting reason, which KServe copies onto PredictorReady
-- for a raw deployment (pkg/controller/v1beta1/inferenceservice/utils).
local FAILED_REASONS = {
  RevisionFailed = true, ModelLoadFailed = true, ProgressDeadlineExceeded = true, CrashLoopBackOff = true,
}
local STOP_VALUES = { ["true"] = true, ["True"] = true, ["TRUE"] = true }
local LAST_SECOND = 253402300799 -- 9999-12-31T23:59:59Z

local function result(status, message)
  return { status = status, message = message }
end

-- Floor division that works on negative numbers too (Lua's % is a floored modulo).
local function idiv(a, b)
  return (a - a % b) / b
end

local function two_digits(n)
  if n < 10 then
    return "0" .. n
  end
  return "" .. n
end

-- "YYYY-MM-DDTHH:MM:SS" (UTC, no zone letter) for seconds since 1970-01-01T00:00:00Z.
-- The date comes from the day count with the proleptic Gregorian calendar's
-- 400-year cycle of 146097 days, counted from 0000-03-01 so leap days fall last.
local function utc_text(t)
  local secs = t % 86400
  local shifted = idiv(t - secs, 86400) + 719468 -- days since 0000-03-01
  local cycle = idiv(shifted, 146097)
  local day_of_cycle = shifted - cycle * 146097
  local year_of_cycle = idiv(day_of_cycle - idiv(day_of_cycle, 1460) + idiv(day_of_cycle, 36524)
    - idiv(day_of_cycle, 146096), 365)
  local day_of_year = day_of_cycle - (365 * year_of_cycle + idiv(year_of_cycle, 4) - idiv(year_of_cycle, 100))
  local month_from_march = idiv(5 * day_of_year + 2, 153)
  local day = day_of_year - idiv(153 * month_from_march + 2, 5) + 1
  local month = month_from_march + 3
  local year = year_of_cycle + cycle * 400
  if month > 12 then
    month = month - 12
    year = year + 1
  end
  return year .. "-" .. two_digits(month) .. "-" .. two_digits(day) .. "T" .. two_digits(idiv(secs, 3600))
    .. ":" .. two_digits(idiv(secs % 3600, 60)) .. ":" .. two_digits(secs % 60)
end

-- Seconds since the epoch for an RFC 3339 UTC stamp as Kubernetes writes them
-- (2024-05-16T18:48:56Z, or with a fraction: 2024-05-16T18:48:56.123456Z); nil otherwise.
-- Stamps of one fixed-width form sort as the times they name, so the answer is the
-- largest second whose text is not after the stamp (a binary search, about 38 steps).
local function utc_seconds(stamp)
  if type(stamp) ~= "string" or stamp < utc_text(0) then
    return nil
  end
  local low, high = 0, LAST_SECOND
  while low < high do
    local span = high - low + 1
    local mid = low + (span - span % 2) / 2
    if utc_text(mid) <= stamp then
      low = mid
    else
      high = mid - 1
    end
  end
  local text = utc_text(low)
  if stamp == text .. "Z" or (stamp >= text .. "." and stamp < text .. "/") then
    return low
  end
  return nil
end

local function describe(c)
  local text = c.type .. "=" .. tostring(c.status)
  if c.reason ~= nil and c.reason ~= "" then
    text = text .. " (" .. c.reason .. ")"
  end
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

local annotations = {}
if obj.metadata ~= nil and obj.metadata.annotations ~= nil then
  annotations = obj.metadata.annotations
end
if STOP_VALUES[annotations["serving.kserve.io/stop"]] then
  return result("Suspended", "InferenceService is Stopped")
end

local status = obj.status
if status == nil or status.conditions == nil then
  return result("Progressing", "Waiting for the InferenceService to report status")
end

local model = status.modelStatus
if model ~= nil and FAILED_TRANSITIONS[model.transitionStatus] then
  local why = model.transitionStatus
  if model.lastFailureInfo ~= nil and model.lastFailureInfo.message ~= nil then
    why = why .. ": " .. model.lastFailureInfo.message
  end
  return result("Degraded", "Model failed to load (" .. why .. ")")
end

local ready = nil
local pending = {}
for _, c in ipairs(status.conditions) do
  if c.type == "Stopped" and c.status == "True" then
    return result("Suspended", "InferenceService is Stopped")
  end
  if c.type == "Ready" then
    ready = c
  end
  if c.type ~= "Stopped" and c.status ~= "True" then
    if c.status == "False" and FAILED_REASONS[c.reason] then
      return result("Degraded", describe(c))
    end
    table.insert(pending, describe(c))
  end
end

if ready ~= nil and ready.status == "True" then
  return result("Healthy", "InferenceService is healthy.")
end

-- Between two crashes KServe moves the model back to InProgress but keeps the last
-- failure: not Ready with a failed load on record is a crash loop, not progress.
if model ~= nil and model.lastFailureInfo ~= nil and FAILED_REASONS[model.lastFailureInfo.reason] then
  local why = model.lastFailureInfo.reason
  if model.lastFailureInfo.message ~= nil then
    why = why .. ": " .. model.lastFailureInfo.message
  end
  return result("Degraded", "Model failed to load (" .. why .. ")")
end

local summary = table.concat(pending, "; ")
local deadline = tonumber(annotations["llmops.io/progress-deadline-seconds"]) or DEFAULT_DEADLINE
local since = nil
if ready ~= nil then
  since = utc_seconds(ready.lastTransitionTime)
end
if since ~= nil then
  local waited = os.time() - since
  if waited > deadline then
    return result("Degraded", "Not ready for " .. idiv(waited, 60) .. " min (deadline "
      .. idiv(deadline, 60) .. " min): " .. summary)
  end
end
return result("Progressing", summary)
