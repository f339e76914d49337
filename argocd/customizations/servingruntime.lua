-- Argo CD health check for serving.kserve.io/ServingRuntime (llmops).
-- Runs in Argo CD's Lua 5.1 VM with `obj` bound to the live object.
--
-- A ServingRuntime is a template KServe reads when it builds a predictor: KServe itself
-- writes no status for it, so one that exists is Healthy. A runtime marked
-- `spec.disabled: true` cannot be selected and is reported Suspended. Should a controller
-- write conditions into `status`, a Ready=False condition is Degraded with its reason.

local function result(status, message)
  return { status = status, message = message }
end

if obj.spec ~= nil and obj.spec.disabled == true then
  return result("Suspended", "ServingRuntime is disabled (spec.disabled)")
end

local status = obj.status
if status ~= nil and status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" and c.status == "False" then
      local why = c.reason or "NotReady"
      if c.message ~= nil and c.message ~= "" then
        why = why .. ": " .. c.message
      end
      return result("Degraded", "ServingRuntime is not ready (" .. why .. ")")
    end
    if c.type == "Ready" and c.status == "Unknown" then
      return result("Progressing", "ServingRuntime readiness is not known yet")
    end
  end
end

return result("Healthy", "ServingRuntime exists (KServe keeps no status for runtimes)")
