"""The buttons under a contact sheet: one toggle per shot (★ when picked), then what to do with the picks.

Built from the shoot's stored result, so the sheet delivered by the presenter and every answer to a press
show the same buttons for the same picks.
"""

from __future__ import annotations

from core import actions
from core.jobresults import ShootResult
from core.limits import SHOOT_SIZE
from core.messages import Button

# The most buttons every front end draws under one message: Discord's four a row in five rows. A full sheet's
# toggles and its three actions always fit; "more like" buttons take what room is left, so a sheet of 12 with
# many picks no longer loses its last buttons (Carousel first) to the cut.
MAX_SHEET_BUTTONS = 20
ACTIONS = 3
assert SHOOT_SIZE[1] + ACTIONS <= MAX_SHEET_BUTTONS, "a full shoot's toggles and actions must fit"


def sheet_buttons(job_id: str, result: ShootResult) -> list[Button]:
    """Toggles for every shot, "more like" for the picks (as many as there is room for, first picks first),
    and full size, animate and carousel for the picks."""
    picked = set(result.picks)
    toggles = [actions.button(f"{'★' if s.number in picked else '☆'} {s.number}", actions.TogglePick(job_id, s.number))
               for s in result.shots]
    room = MAX_SHEET_BUTTONS - len(toggles) - ACTIONS
    more = [actions.button(f"🔁 More like #{number}", actions.MoreLike(job_id, number))
            for number in result.picks[:max(room, 0)]]
    return [*toggles, *more,
            actions.button("⬇ Picks full size", actions.SendPicks(job_id)),
            actions.button("🎬 Animate picks", actions.AnimatePicks(job_id)),
            actions.button("📦 Carousel", actions.ExportCarousel(job_id))]


def picks_text(result: ShootResult) -> str:
    """The picks as the chat says them, in carousel order."""
    if not result.picks:
        return "No picks yet: tap the numbers under the sheet to pick your favourites."
    shown = ", ".join(f"#{n}" for n in result.picks)
    return (f"★ Your picks, in carousel order: {shown}. Tap a number again to drop it; the order is the order "
            "you picked them.")
