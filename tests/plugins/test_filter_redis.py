"""The redis role's values that carry a password: redis.conf's quoted string and the apps' URL."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from ansible_collections.fastapi_deploy.toolkit.plugins.filter import redis

AWKWARD = ["plain-password-1234", 'with "quotes" and \\ back', "slash/plus+equals=", "ü ß", "a\nb"]


def test_a_plain_password_is_quoted_as_it_is() -> None:
    assert redis.redis_config_string("s3cret-Pass_word.") == '"s3cret-Pass_word."'


def test_quotes_and_backslashes_are_escaped_in_the_config() -> None:
    assert redis.redis_config_string('a"b\\c') == '"a\\"b\\\\c"'


def test_a_newline_or_a_non_ascii_character_becomes_hex_bytes_in_the_config() -> None:
    assert redis.redis_config_string("a\nü") == '"a\\x0a\\xc3\\xbc"'


def test_the_url_names_the_host_port_and_database() -> None:
    assert redis.redis_url("password", "redis") == "redis://:password@redis:6379/0"
    assert redis.redis_url("password", "queue", 6380, 2) == "redis://:password@queue:6380/2"


@pytest.mark.parametrize("password", AWKWARD)
def test_the_url_gives_back_the_password_and_host_whatever_the_password_holds(
    password: str,
) -> None:
    parts = urlsplit(redis.redis_url(password, "redis"))
    assert (parts.hostname, parts.port, parts.path) == ("redis", 6379, "/0")
    assert unquote(parts.password or "") == password
