"""/export and the results' Export button: packages sized for a platform, behind a private link."""

from __future__ import annotations

from core import actions, grammar, platforms
from core.assistant.turn import Turn, private_only
from core.errors import UsageError
from core.jobspecs import ExportSpec
from core.messages import Reply
from storage.repositories import assets as asset_repo

PRIVATE = "Export links are private: send /export to me in a direct message."


def export(turn: Turn, cmd: grammar.Export) -> list[Reply]:
    """Package the named results, else the newest N (``last N``; the newest one when nothing is named)."""
    # A package's link opens every file in it: it is sent only where no one else reads along.
    private_only(turn.msg, PRIVATE)
    limit = turn.settings.export_max_assets
    note = ""
    if cmd.assets:
        asset_ids = list(dict.fromkeys(cmd.assets))
        if len(asset_ids) > limit:
            raise UsageError(f"At most {limit} results per export and you named {len(asset_ids)}: "
                             "split them over two /export commands.")
        for asset_id in asset_ids:
            turn.asset(asset_id)
    else:
        wanted = cmd.last or 1
        if wanted > limit:
            raise UsageError(f"At most {limit} results per export: try /export {cmd.platform} last {limit}.")
        asset_ids = [a.id for a in asset_repo.recent(turn.session, owner_id=turn.owner_id, limit=wanted)]
        if not asset_ids:
            raise UsageError("You have nothing to export yet: make an image with /imagine (or /animate a "
                             "photo), then /export it.")
        if len(asset_ids) < wanted:
            note = f"You have {len(asset_ids)} result(s) so far, so that is all of them."
    return _submit(turn, cmd.platform, asset_ids, note=note)


def _submit(turn: Turn, platform_name: str, asset_ids: list[str], *, note: str = "") -> list[Reply]:
    platform = platforms.get(platform_name)
    shown = " ".join(f"#{a}" for a in asset_ids[:5]) + (" …" if len(asset_ids) > 5 else "")
    label = f"{platform.title} package of {len(asset_ids)} result(s): {shown}"
    return turn.submit(ExportSpec(platform=platform.name, asset_ids=tuple(asset_ids)), label=label,
                       notes=[note] if note else None)


def pressed(turn: Turn, action: actions.ExportAsset) -> list[Reply]:
    """The result's Export button: for the platform picked, else the /settings default, else ask which."""
    private_only(turn.msg, PRIVATE)
    turn.asset(action.asset_id)
    chosen = action.platform or turn.prefs.get("platform")
    if chosen not in platforms.PRESETS:
        return [Reply(text=f"Export #{action.asset_id} for which platform? (/settings platform <name> skips this "
                           "question next time.)",
                      buttons=[actions.button(p.title, actions.ExportAsset(action.asset_id, p.name))
                               for p in platforms.PRESETS.values()])]
    return _submit(turn, str(chosen), [action.asset_id])


COMMANDS = {grammar.Export: export}
BUTTONS = {actions.ExportAsset: pressed}
