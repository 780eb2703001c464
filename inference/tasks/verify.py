"""The /verify job: what a file the user sent carries (Content Credentials, IPTC label, watermark), answered in
one message. The watermark is matched only against the user's own assets (linked accounts: the primary's), so
nobody learns anything about someone else's results.

Spec: ``{"blob": <sha256 of the uploaded file>, "filename": <the name it was sent with, optional>}``. The
uploaded copy is deleted afterwards unless some row refers to the same content (the user sent back one of
their own stored results unchanged): a file sent only to be checked is not kept.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import NotFound
from inference.provenance.verify import verify
from inference.runtime import TaskContext, task
from storage.blobs import InvalidDigest

_SAFE_NAME = re.compile(r"[^\w.\- ]+")


def _verify(ctx: TaskContext) -> dict[str, Any]:
    digest = str(ctx.spec.get("blob", ""))
    try:
        path = ctx.blobs.path(digest)
    except InvalidDigest:
        raise ValueError(f"blob: {digest!r} is not a stored file's digest") from None
    if not path.is_file():
        raise NotFound("The file to check is gone; send it again with /verify.")
    ctx.progress(0.1, "checking the file")
    try:
        report = verify(path, settings=ctx.settings, db=ctx.db, owner_id=ctx.content_owner_id)
    finally:
        ctx.discard_blob(digest)
    name = _SAFE_NAME.sub("", str(ctx.spec.get("filename") or ""))[:80]
    data = report.as_dict()
    data["name"] = name or "file"
    message = report.answer()
    if name and report.supported:
        message = message.replace("🔎 What this file carries:", f"🔎 What {name} carries:", 1)
    return {"message": message, "media": [], "report": data}


verify_file = task(_verify)
