"""The service's ``key=value`` config file (``streamserver.conf``): read it, set a few keys.

Only the lines of the keys being set change; every other line, comment and
blank line is kept byte for byte, in place. A key that is absent is appended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from certward.errors import ConfigError

__all__ = ["CONFIG_KEYS", "read_config_values", "with_config_values"]

# The keys certImport writes (seed 000), in the order they are appended when absent.
CONFIG_KEYS = ("ca_crt", "server_crt", "server_key", "crl", "server_key_mm")

_ASSIGNMENT = re.compile(r"^(?P<lead>[ \t]*(?P<key>[A-Za-z0-9_.\-]+)[ \t]*=[ \t]*)(?P<value>.*)$")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the config file is not UTF-8 text") from None


def read_config_values(data: bytes) -> dict[str, str]:
    """Every ``key=value`` of the file (the last one wins; comments and other lines skipped)."""
    values: dict[str, str] = {}
    for line in _decode(data).splitlines():
        if line.lstrip().startswith(("#", ";")):
            continue
        match = _ASSIGNMENT.match(line)
        if match:
            values[match.group("key")] = match.group("value").strip()
    return values


def with_config_values(data: bytes, values: Mapping[str, str]) -> bytes:
    """``data`` with each key of ``values`` set: lines replaced in place, absent keys appended."""
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise ConfigError(f"the value of {key} would span several lines")
    text = _decode(data)
    lines = text.splitlines(keepends=True)
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("#", ";")):
            continue
        body = line.rstrip("\r\n")
        match = _ASSIGNMENT.match(body)
        if match is None or match.group("key") not in values:
            continue
        key = match.group("key")
        ending = line[len(body) :]
        lines[index] = f"{match.group('lead')}{values[key]}{ending}"
        seen.add(key)
    missing = [key for key in values if key not in seen]
    if missing:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.extend(f"{key}={values[key]}\n" for key in missing)
    return "".join(lines).encode("utf-8")
