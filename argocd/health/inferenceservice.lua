-- Argo CD health check for serving.kserve.io/InferenceService (llmops).
-- Runs in Argo CD's Lua 5.1 VM with `obj` bound to the live object.
--
-- Beyond the check bundled with Argo CD, a predictor that stays not Ready past a
-- deadline is reported Degraded: a crash-looping raw deployment otherwise stays
-- Progressing forever. The deadline is the annotation
-- llmops.io/progress-deadline-seconds (default 1200 s: big models load slowly).

local DEFAULT_DEADLINE = 1200
local FAILED_TRANSITIONS = { BlockedByFailedLoad = true, InvalidSpec = true }
local FAILED_REASONS = { RevisionFailed = true, ModelLoadFailed = true, ProgressDeadlineExceeded = true }

local function result(status, message)
  return { status = status, message = message }
end

-- Seconds since the epoch for an RFC 3339 UTC stamp such as 2024-05-16T18:48:56Z.
local function utc_seconds(stamp)
  if type(stamp) ~= "string" then
    return nil
  end
  local y, mo, d, h, mi, s = string.match(stamp, "^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if y == nil then
    return nil
  end
  local as_local = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d),
    hour = tonumber(h), min = tonumber(mi), sec = tonumber(s) })
  -- os.time reads the fields as local time; correct by the local UTC offset.
  local now = os.time()
  local utc = os.date("!*t", now)
  utc.isdst = nil -- let the C library decide DST, as it does for the stamp above
  local offset = os.time(utc) - now
  return as_local - offset
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
if annotations["serving.kserve.io/stop"] == "true" then
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

local summary = table.concat(pending, "; ")
local deadline = tonumber(annotations["llmops.io/progress-deadline-seconds"]) or DEFAULT_DEADLINE
local since = nil
if ready ~= nil then
  since = utc_seconds(ready.lastTransitionTime)
end
if since ~= nil then
  local waited = os.time() - since
  if waited > deadline then
    return result("Degraded", "Not ready for " .. math.floor(waited / 60) .. " min (deadline "
      .. math.floor(deadline / 60) .. " min): " .. summary)
  end
end
return result("Progressing", summary)
