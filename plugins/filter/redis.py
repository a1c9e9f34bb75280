"""What the redis role writes where a password goes: Redis' configuration file and the URL the
apps connect with. Both must carry any password as it is, whatever characters it holds."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

# The characters a double-quoted string of Redis' configuration keeps as they are: printable
# ASCII but the quote and the backslash, which it escapes (sdssplitargs).
_PLAIN = {chr(code) for code in range(0x20, 0x7F)} - {'"', "\\"}


def redis_config_string(value: str) -> str:
    """A value as a double-quoted string of redis.conf: the quote and the backslash escaped, any
    other byte outside printable ASCII (a newline, UTF-8) as \\xHH, so it reads back unchanged."""
    parts = []
    for char in str(value):
        if char in _PLAIN:
            parts.append(char)
        elif char in '"\\':
            parts.append("\\" + char)
        else:
            parts.extend(f"\\x{byte:02x}" for byte in char.encode())
    return '"' + "".join(parts) + '"'


def redis_url(password: str, host: str, port: int = 6379, database: int = 0) -> str:
    """redis://:<password>@<host>:<port>/<database>: the password percent-encoded whole ('/',
    '@', ':' and '%' too; Jinja's urlencode keeps '/', which would end the authority), as
    redis-py, arq and Celery decode it."""
    return f"redis://:{quote(str(password), safe='')}@{host}:{int(port)}/{int(database)}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"redis_config_string": redis_config_string, "redis_url": redis_url}
