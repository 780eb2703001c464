"""The gallery's queries: a user's results (or uploads) grouped by persona and kind, newest first, a page at a
time, with the filters the page offers.

Groups follow the newest item in each (the persona worked on last comes first); inside a group the newest
item comes first. One page holds ``PAGE_SIZE`` items and may end inside a group; the next page carries on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from storage.models import Asset, Persona
from storage.states import AssetOrigin

PAGE_SIZE = 48
KINDS = ("image", "video")
NO_PERSONA = "none"
RESULTS = (AssetOrigin.GENERATED.value, AssetOrigin.EDITED.value)
UPLOADS = (AssetOrigin.UPLOADED.value,)


@dataclass(frozen=True)
class Filters:
    """What the page is asked to show: results or uploads, one persona (id, ``"none"``, or all), one kind."""

    uploads: bool = False
    persona: str | None = None
    kind: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, *, show: str | None, persona: str | None, kind: str | None, page: str | None) -> Filters:
        """Filters from query parameters; anything unknown means "all" (an old or hand-edited link still opens)."""
        chosen_persona = persona if persona == NO_PERSONA or (persona or "").isdigit() else None
        number = int(page) if page and page.isdigit() and 0 < len(page) < 7 else 1
        return cls(uploads=show == "uploads", persona=chosen_persona, kind=kind if kind in KINDS else None,
                   page=max(1, number))

    def query(self, **changes: Any) -> dict[str, str]:
        """Query parameters for these filters with ``changes``; a filter change starts again at page 1."""
        values: dict[str, Any] = {"uploads": self.uploads, "persona": self.persona, "kind": self.kind,
                                  "page": self.page}
        if any(key != "page" for key in changes):
            values["page"] = 1
        values.update(changes)
        params: dict[str, str] = {}
        if values["uploads"]:
            params["show"] = "uploads"
        if values["persona"]:
            params["persona"] = str(values["persona"])
        if values["kind"]:
            params["kind"] = str(values["kind"])
        if values["page"] and int(values["page"]) > 1:
            params["page"] = str(values["page"])
        return params


@dataclass
class Group:
    """The items of one persona and kind on this page, and how many the group holds in all."""

    persona_id: int | None
    persona_name: str
    kind: str
    total: int
    continued: bool
    items: list[Asset] = field(default_factory=list)


@dataclass(frozen=True)
class PersonaChoice:
    """A persona the filter offers: its id (or ``"none"``), name, and how many items it has."""

    key: str
    name: str
    count: int


@dataclass
class GalleryPage:
    """One page of the gallery and what the page needs to draw its filters and links."""

    filters: Filters
    groups: list[Group]
    total: int
    pages: int
    results_count: int
    uploads_count: int
    personas: list[PersonaChoice]
    kinds: dict[str, int]
    sources: dict[str, Asset]

    @property
    def items(self) -> list[Asset]:
        """Every item on the page, in order."""
        return [item for group in self.groups for item in group.items]


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def load_page(session: Session, *, owner_id: int, filters: Filters, page_size: int = PAGE_SIZE) -> GalleryPage:
    """The page ``filters`` ask for of ``owner_id``'s gallery (a page past the end shows the last one)."""
    mine = [Asset.owner_id == owner_id, Asset.kind.in_(KINDS)]
    base = [*mine, Asset.origin.in_(UPLOADS if filters.uploads else RESULTS)]
    persona_key = func.coalesce(Asset.persona_id, 0)
    chosen = [*base, *_persona_filter(filters)]
    if filters.kind is not None:
        chosen.append(Asset.kind == filters.kind)

    groups_q = (select(persona_key.label("pkey"), Asset.kind.label("gkind"), func.count().label("n"),
                       func.max(Asset.created_at).label("latest"))
                .where(*chosen).group_by(persona_key, Asset.kind).subquery())
    summaries = session.execute(select(groups_q.c.pkey, groups_q.c.gkind, groups_q.c.n)
                                .order_by(groups_q.c.latest.desc(), groups_q.c.pkey, groups_q.c.gkind)).all()
    total = sum(int(row.n) for row in summaries)
    pages = max(1, -(-total // page_size))
    filters = Filters(uploads=filters.uploads, persona=filters.persona, kind=filters.kind,
                      page=min(filters.page, pages))
    offset = (filters.page - 1) * page_size
    items = session.scalars(
        select(Asset).join(groups_q, and_(persona_key == groups_q.c.pkey, Asset.kind == groups_q.c.gkind))
        .where(*chosen)
        .order_by(groups_q.c.latest.desc(), groups_q.c.pkey, groups_q.c.gkind, Asset.created_at.desc(),
                  Asset.id.desc())
        .offset(offset).limit(page_size)
    ).all()

    names = _persona_names(session, owner_id=owner_id)
    counts = {(int(row.pkey), str(row.gkind)): int(row.n) for row in summaries}
    groups: list[Group] = []
    seen_before = _items_before(summaries, offset)
    for item in items:
        key = (item.persona_id or 0, item.kind)
        if not groups or (groups[-1].persona_id or 0, groups[-1].kind) != key:
            groups.append(Group(persona_id=item.persona_id, persona_name=_name(names, item.persona_id),
                                kind=item.kind, total=counts.get(key, 0), continued=seen_before.get(key, 0) > 0))
        groups[-1].items.append(item)

    return GalleryPage(
        filters=filters, groups=groups, total=total, pages=pages,
        results_count=_count(session, [*mine, Asset.origin.in_(RESULTS)]),
        uploads_count=_count(session, [*mine, Asset.origin.in_(UPLOADS)]),
        personas=_persona_choices(session, base, names),
        kinds=_kind_counts(session, base, filters),
        sources=_sources(session, owner_id=owner_id, items=items),
    )


def _items_before(summaries: Sequence[Any], offset: int) -> dict[tuple[int, str], int]:
    """How many items of each group earlier pages showed (a group that started there is "continued")."""
    before: dict[tuple[int, str], int] = {}
    left = offset
    for row in summaries:
        if left <= 0:
            break
        shown = min(int(row.n), left)
        before[(int(row.pkey), str(row.gkind))] = shown
        left -= shown
    return before


def _count(session: Session, where: list[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(Asset).where(*where)) or 0)


def _persona_names(session: Session, *, owner_id: int) -> dict[int, str]:
    rows = session.execute(select(Persona.id, Persona.name).where(Persona.owner_id == owner_id)).all()
    return {int(row.id): str(row.name) for row in rows}


def _name(names: dict[int, str], persona_id: int | None) -> str:
    if persona_id is None:
        return "No persona"
    return names.get(persona_id, "No persona")


def _persona_choices(session: Session, base: list[Any], names: dict[int, str]) -> list[PersonaChoice]:
    """Personas with items in this view, by name; items without a persona last."""
    rows = session.execute(select(Asset.persona_id, func.count()).where(*base).group_by(Asset.persona_id)).all()
    choices = [PersonaChoice(str(pid), names[pid], int(n)) for pid, n in rows if pid is not None and pid in names]
    choices.sort(key=lambda c: c.name.casefold())
    loose = sum(int(n) for pid, n in rows if pid is None or pid not in names)
    if loose:
        choices.append(PersonaChoice(NO_PERSONA, "No persona", loose))
    return choices


def _persona_filter(filters: Filters) -> list[Any]:
    if filters.persona == NO_PERSONA:
        return [Asset.persona_id.is_(None)]
    if filters.persona is not None:
        return [Asset.persona_id == int(filters.persona)]
    return []


def _kind_counts(session: Session, base: list[Any], filters: Filters) -> dict[str, int]:
    """Items per kind under the chosen persona (what the kind filter offers)."""
    where = [*base, *_persona_filter(filters)]
    rows = session.execute(select(Asset.kind, func.count()).where(*where).group_by(Asset.kind)).all()
    return {str(kind): int(n) for kind, n in rows}


def _sources(session: Session, *, owner_id: int, items: Sequence[Asset]) -> dict[str, Asset]:
    """The stills that this page's clips and swaps were made from (their prompt describes the clip)."""
    wanted = {str(a.meta.get("source_asset")) for a in items
              if isinstance(a.meta, dict) and isinstance(a.meta.get("source_asset"), str)}
    if not wanted:
        return {}
    rows = session.scalars(select(Asset).where(Asset.owner_id == owner_id, Asset.id.in_(wanted))).all()
    return {a.id: a for a in rows}


def prompt_of(asset: Asset, sources: dict[str, Asset]) -> str:
    """What the item shows in the user's words: the prompt they typed (a clip: its still's), else ""."""
    meta = asset.meta if isinstance(asset.meta, dict) else {}
    request = meta.get("request")
    asked = request.get("prompt") if isinstance(request, dict) else None
    prompt = asked or meta.get("prompt")
    if isinstance(prompt, str) and prompt:
        return prompt
    source = sources.get(str(meta.get("source_asset")))
    if source is not None and source is not asset:
        return prompt_of(source, {})
    return ""


def created_at(asset: Asset) -> datetime:
    """When the item was made, in UTC (SQLite hands timestamps back without a time zone)."""
    return _as_utc(asset.created_at)
