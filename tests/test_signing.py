"""Signed tokens: they carry their payload until they expire, and any change to them is refused."""

from __future__ import annotations

import pytest

from core.signing import BadToken, sign, verify


def test_round_trip_until_expiry() -> None:
    token = sign("secret", "user:7:0", ttl_s=60, now=1000.0)
    assert verify("secret", token, now=1059.0) == "user:7:0"
    with pytest.raises(BadToken, match="expired"):
        verify("secret", token, now=1061.0)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
    lambda t: "dXNlcjo4OjB8OTk5OTk5OTk5OQ" + t[t.index("."):],  # payload swapped (user:8), old signature
    lambda t: t.replace(".", ""),  # not a token at all
    lambda t: "",
])
def test_altered_tokens_are_refused(mangle) -> None:
    token = sign("secret", "user:7:0", ttl_s=60)
    with pytest.raises(BadToken):
        verify("secret", mangle(token))


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(BadToken, match="not valid"):
        verify("other", sign("secret", "user:7:0", ttl_s=60))
