"""The buttons under a contact sheet: one toggle per shot (★ when picked), then what to do with the picks.

Built from the shoot's stored result, so the sheet delivered by the presenter and every answer to a press
show the same buttons for the same picks.
"""

from __future__ import annotations

from core import actions
from core.jobresults import ShootResult
from core.messages import Button


def sheet_buttons(job_id: str, result: ShootResult) -> list[Button]:
    """Toggles for every shot, "more like" for each pick, and full size, animate and carousel for the picks."""
    picked = set(result.picks)
    toggles = [actions.button(f"{'★' if s.number in picked else '☆'} {s.number}", actions.TogglePick(job_id, s.number))
               for s in result.shots]
    more = [actions.button(f"🔁 More like #{number}", actions.MoreLike(job_id, number)) for number in result.picks]
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
