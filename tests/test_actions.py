"""Button data: one encoder and one decoder; anything else is an expired button, never an error deeper down."""

from __future__ import annotations

import pytest

from core import actions
from core.messages import MAX_ACTION_BYTES

EVERY_ACTION = [
    actions.Noop(), actions.Consent(), actions.Abort(), actions.CancelJob("0123456789abcdef"),
    actions.Variations("1a2b3c4d"), actions.Remix("1a2b3c4d"), actions.AnimateAsset("1a2b3c4d"),
    actions.AnimateAsset("1a2b3c4d", "tilt-down"), actions.MotionPicker("1a2b3c4d"),
    actions.ExportAsset("1a2b3c4d"), actions.ExportAsset("1a2b3c4d", "youtube"), actions.SwapInto("1a2b3c4d"),
    actions.SwapInto("1a2b3c4d", 7), actions.DeletePersona(2**31 - 1), actions.CancelAll(),
    actions.Pick("0123456789abcdef", 0), actions.Pick("0123abcd", 9),
]


@pytest.mark.parametrize("action", EVERY_ACTION, ids=lambda a: actions.encode(a))
def test_every_action_round_trips_within_telegrams_limit(action: actions.Action) -> None:
    data = actions.encode(action)
    assert len(data.encode()) <= MAX_ACTION_BYTES
    assert actions.decode(data) == action


@pytest.mark.parametrize("data", [
    "", "nope", "pdel:" + "9" * 40, "pdel:99999999999", "pdel:0", "pdel:-1", "pdel:1e3", "swap:1a2b3c4d:" + "1" * 30,
    "swap:1a2b3c4d:x", "anim:1a2b3c4d:spin", "exp:1a2b3c4d:myspace", "var:ZZZZZZZZ", "var:1a2b3c4d:extra",
    "cancel:", "noop:1", "var:" + "a" * 70, "consent:yes", "anim", "exp:../../etc", "pick:0123abcd:10",
    "pick:0123abcd", "pick:0123abcd:-1", "cancelall:1",
])
def test_garbled_forged_or_old_button_data_is_an_expired_button(data: str) -> None:
    with pytest.raises(actions.ExpiredButton, match="That button has expired"):
        actions.decode(data)


def test_an_action_too_long_for_a_button_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        actions.encode(actions.CancelJob("f" * 60))
