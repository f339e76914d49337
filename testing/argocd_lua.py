"""Run an Argo CD Lua health check in a real Lua 5.1 VM (lupa), two ways.

* :func:`argocd_check`: as Argo CD runs a check it did not ship (argoproj/argo-cd
  ``util/lua/lua.go``, ``runLuaWithResourceActionParameters``): the state opens only the
  package, base and table libraries; Argo CD's reduced ``os`` (``util/lua/oslib_safe.go``) is
  preloaded, so ``require("os")`` returns it, but there is no ``os`` global (``OpenSafeOs``
  registers its functions under the name of the table library, which is already loaded, so
  gopher-lua's ``RegisterModule`` adds nothing). ``string`` and ``math`` exist only when an
  admin sets ``useOpenLibs`` (``open_libs=True`` here). The reduced ``os`` functions
  follow that file's Go code, in the time zone the controller runs in:
  ``os.time()`` is now; ``os.time(t)`` reads ``t`` as local time (``time.Date(..., time.Local)``,
  hour 12 when absent, ``isdst`` ignored); ``os.date(fmt)`` formats now, in UTC when ``fmt``
  starts with ``!``; ``os.date(fmt, t)`` formats ``t`` in local time, ``!`` or not; ``*t``
  gives ``isdst = false`` and ``yday = 0``.
* :func:`c_lua_check`: real C Lua 5.1 with its whole standard library, ``TZ`` set to the zone.

Both pin "now" (``os.time()`` without argument) so deadlines are testable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from lupa import lua51

# The base functions gopher-lua's OpenBase registers that a health check may use (loaders,
# file access and `require` are left out: a check has no files to load).
_BASE = (
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "print", "rawequal",
    "rawget", "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
)  # fmt: skip
_TABLE = ("concat", "insert", "maxn", "remove", "sort")

# Runs `source` with `env` as its globals; while it runs, strings have no methods either
# (gopher-lua gives strings their metatable only when the string library is opened).
_SANDBOX = """
function(source, env, open_libs)
  local chunk, err = loadstring(source, "=health.lua")
  if chunk == nil then error(err, 0) end
  setfenv(chunk, env)
  local mt = debug.getmetatable("")
  local index = mt.__index
  if not open_libs then mt.__index = nil end
  local ok, res = pcall(chunk)
  mt.__index = index
  if not ok then error(res, 0) end
  return res
end
"""
# `require` over what the package library would find: loaded modules, then the preloaded os.
_REQUIRE = """
function(loaded)
  return function(name)
    local found = loaded[name]
    if found == nil then error("module " .. tostring(name) .. " not found", 2) end
    return found
  end
end
"""


@dataclass(frozen=True)
class Zone:
    """A fixed-offset time zone for the controller (no daylight saving: the offsets stay exact)."""

    name: str
    posix_tz: str  # the TZ variable for the C library (POSIX offsets are west-positive)
    hours: int  # offset east of UTC

    @property
    def tzinfo(self) -> timezone:
        return timezone(timedelta(hours=self.hours), self.name)


ZONES = (Zone("UTC", "UTC0", 0), Zone("UTC+9", "JST-9", 9), Zone("UTC-5", "COT5", -5))


def _int_field(table: Any, key: str, default: int) -> int:
    value = table[key]
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _go_date(year: int, month: int, day: int, hour: int, minute: int, sec: int, tz: timezone) -> int:
    """Go's time.Date(...).Unix(): out-of-range fields roll over (month 13 is next January)."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    base = datetime(year, month, 1, tzinfo=tz)
    return int((base + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=sec)).timestamp())


_GO_FLAGS = {
    "a": "%a", "A": "%A", "b": "%b", "B": "%B", "c": "%d %b %y %H:%M %Z", "d": "%d", "F": "%Y-%m-%d",
    "H": "%H", "I": "%I", "m": "%m", "M": "%M", "p": "%p", "S": "%S", "x": "%H/%M/%S", "X": "%H:%M:%S",
    "y": "%y", "Y": "%Y", "z": "%z", "Z": "%Z",
}  # fmt: skip


def _strftime(moment: datetime, fmt: str) -> str:
    """oslib_safe.go's strftime: the flags it maps, %w, and any other flag left as written."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            flag = fmt[i + 1]
            if flag == "%":
                out.append("%")
            elif flag in _GO_FLAGS:
                out.append(moment.strftime(_GO_FLAGS[flag]))
            elif flag == "w":
                out.append(str((moment.weekday() + 1) % 7))
            else:
                out.append("%" + flag)
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


class _ArgoOs:
    """Argo CD's os.time and os.date (util/lua/oslib_safe.go) for one zone and a pinned now."""

    def __init__(self, lua: Any, now: float, zone: Zone) -> None:
        self.lua, self.now, self.tz = lua, int(now), zone.tzinfo

    def time(self, *args: Any) -> int:
        if not args:
            return self.now
        t = args[0]
        fields = [_int_field(t, k, d) for k, d in (("year", -1), ("month", -1), ("day", -1))]
        clock = [_int_field(t, k, d) for k, d in (("hour", 12), ("min", 0), ("sec", 0))]
        return _go_date(*fields, *clock, self.tz)

    def date(self, *args: Any) -> Any:
        moment = datetime.fromtimestamp(self.now, self.tz)
        fmt = "%c"
        if args:
            fmt = str(args[0])
            if fmt.startswith("!"):
                moment = datetime.fromtimestamp(self.now, UTC)
                fmt = fmt.lstrip("!")
            if len(args) >= 2:  # time.Unix(t, 0) is local time: the "!" above no longer counts
                moment = datetime.fromtimestamp(int(args[1]), self.tz)
            if fmt.startswith("*t"):
                return self.lua.table_from(
                    {
                        "year": moment.year,
                        "month": moment.month,
                        "day": moment.day,
                        "hour": moment.hour,
                        "min": moment.minute,
                        "sec": moment.second,
                        "wday": (moment.weekday() + 1) % 7 + 1,
                        "yday": 0,
                        "isdst": False,
                    }
                )
        return _strftime(moment, fmt)


def _result(table: Any) -> tuple[str, str]:
    return str(table["status"]), str(table["message"])


def argocd_check(
    script: str, obj: dict[str, Any], *, now: float, zone: Zone = ZONES[0], open_libs: bool = False
) -> tuple[str, str]:
    """(status, message) of ``script`` on ``obj`` in Argo CD's Lua sandbox, the controller in ``zone``.

    ``open_libs`` is ``useOpenLibs`` set for the check (``resource.customizations.useOpenLibs...``).
    """
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    g = lua.globals()
    env = lua.table_from({name: g[name] for name in _BASE})
    env["table"] = lua.table_from({name: g.table[name] for name in _TABLE})
    clock = _ArgoOs(lua, now, zone)
    as_lua = lua.eval("function(f) return function(...) return f(...) end end")  # a Lua function, as in Go
    safe_os = lua.table_from({"time": as_lua(clock.time), "date": as_lua(clock.date)})
    loaded = lua.table_from({"os": safe_os})
    if open_libs:  # every standard library, then the reduced os (util/lua/lua.go)
        for name in ("string", "math"):
            env[name] = g[name]
            loaded[name] = g[name]
        env["os"] = safe_os
    env["require"] = lua.eval(_REQUIRE)(loaded)
    env["obj"] = lua.table_from(obj, recursive=True)
    env["_G"] = env
    return _result(lua.eval(_SANDBOX)(script, env, open_libs))


@contextmanager
def c_library_zone(zone: Zone) -> Iterator[None]:
    """The process's C library in ``zone`` (TZ), restored afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone.posix_tz
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def c_lua_check(script: str, obj: dict[str, Any], *, now: float, zone: Zone = ZONES[0]) -> tuple[str, str]:
    """(status, message) of ``script`` on ``obj`` in C Lua 5.1 (every library), the C library in ``zone``."""
    with c_library_zone(zone):
        lua = lua51.LuaRuntime(unpack_returned_tuples=True)
        lua.execute(f"local real = os.time\nos.time = function(t) if t == nil then return {int(now)} end "
                    "return real(t) end")  # fmt: skip
        lua.globals().obj = lua.table_from(obj, recursive=True)
        return _result(lua.execute(script))
