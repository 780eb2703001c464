"""/verify: what a file sent along carries (Content Credentials, AI label, watermark), checked by a worker."""

from __future__ import annotations

from core import grammar
from core.assistant.turn import Turn
from core.errors import StudioError, UsageError
from core.jobspecs import VerifySpec
from core.messages import Reply
from storage.repositories import blob_refs

NO_FILE = "Send the file to check with /verify as its caption, or reply /verify to it."


def verify(turn: Turn, _cmd: grammar.Verify) -> list[Reply]:
    uploads = turn.msg.uploads
    if not uploads:
        raise UsageError(NO_FILE)
    if len(uploads) > 1:
        raise UsageError("Send one file at a time with /verify.")
    upload = uploads[0]
    # Kept only until the worker has read it (the task removes it); nothing else is stored for a check.
    digest = turn.services.blobs.put_bytes(upload.data)
    try:
        return turn.submit(VerifySpec(blob=digest, filename=upload.filename or None),
                           label=f"checking {upload.filename or 'your file'}")
    except StudioError:
        if not blob_refs.in_use(turn.session, blob=digest):
            turn.services.blobs.delete(digest)
        raise


COMMANDS = {grammar.Verify: verify}
