"""The /verify job: what a file the user sent carries (Content Credentials, IPTC label, watermark), answered in
one message. The watermark is matched only against the user's own assets (linked accounts: the primary's), so
nobody learns anything about someone else's results.

Spec: ``core.jobspecs.VerifySpec`` (the uploaded file's digest and the name it was sent with). The uploaded
copy is deleted afterwards unless some row refers to the same content (the user sent back one of their own
stored results unchanged): a file sent only to be checked is not kept.
"""

from __future__ import annotations

import re

from core.errors import NotFound
from core.jobresults import VerifyResult
from core.jobspecs import VerifySpec
from inference.provenance.verify import verify
from inference.runtime import task
from inference.task_context import TaskContext
from storage.blobs import BlobNotFound

_SAFE_NAME = re.compile(r"[^\w.\- ]+")


def _verify(ctx: TaskContext) -> VerifyResult:
    spec = ctx.spec_as(VerifySpec)
    ctx.progress(0.1, "checking the file")
    try:
        with ctx.workdir() as workdir:
            try:
                path = ctx.blobs.fetch(spec.blob, into=workdir)
            except BlobNotFound:
                raise NotFound("The file to check is gone; send it again with /verify.") from None
            report = verify(path, settings=ctx.settings, db=ctx.db, owner_id=ctx.content_owner_id)
    finally:
        ctx.discard_blob(spec.blob)
    name = _SAFE_NAME.sub("", spec.filename or "")[:80]
    data = report.as_dict()
    data["name"] = name or "file"
    message = report.answer()
    if name and report.supported:
        message = message.replace("🔎 What this file carries:", f"🔎 What {name} carries:", 1)
    return VerifyResult(message=message, report=data)


verify_file = task(_verify)
