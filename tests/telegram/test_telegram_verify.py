"""/verify in a chat: a file sent with the command is checked by a worker and answered in one message."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from inference.provenance.stamp import stamp
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from tests.telegram.support import ALICE, Bot
from tests.workers import drain


def _picture(size: tuple[int, int] = (640, 480)) -> Image.Image:
    picture = Image.new("RGB", size, (90, 140, 200))
    for x in range(0, size[0], 16):  # texture: the watermark hides in detail, a flat picture carries none
        picture.paste((200, 80 + x % 120, 40), (x, 0, x + 8, size[1]))
    return picture


def _check(bot: Bot, db: Database, data: bytes, filename: str) -> tuple[str, str]:
    """Send ``data`` with /verify, run the worker; the answer and the job's uploaded copy."""
    fake = bot.fake
    before = len(fake.calls)
    fake.document(ALICE, data, filename=filename, mime="image/jpeg", caption="/verify")
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="file check queued", after=before)
    job_id = dict(status.buttons)["Cancel"].removeprefix("cancel:")
    drain(bot.settings, db, bot.studio.redis, queues=("cpu",))
    fake.wait_call("editMessageText", chat_id=ALICE, contains="file check done", after=before)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done" and job.kind == "verify", job.error if job else None
        return str(job.result["message"]), str(job.spec["blob"])


def test_a_file_sent_with_verify_is_checked_and_not_kept(bot: Bot, db: Database, tmp_path: Path) -> None:
    fake = bot.fake
    fake.text(ALICE, "/verify")
    assert "Send the file to check with /verify" in fake.wait_call("sendMessage", chat_id=ALICE,
                                                                   contains="/verify").text
    plain = io.BytesIO()
    _picture().save(plain, "JPEG", quality=90)
    answer, upload = _check(bot, db, plain.getvalue(), "found-online.jpg")
    assert answer.startswith("Nothing found in this picture"), answer
    assert not bot.studio.blobs.exists(upload), "a file sent only to be checked is not kept"

    # One of Alice's own results, as the studio delivers it: signed and watermarked with its asset id.
    result = tmp_path / "result.jpg"
    _picture().save(result, "JPEG", quality=92)
    with db.session() as session:
        alice = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(ALICE))
        asset = asset_repo.create(session, owner_id=alice.id, kind="image", origin="generated",
                                  blob=bot.studio.blobs.put_bytes(result.read_bytes()), mime="image/jpeg")
        asset_id = asset.id
    stamp(result, kind="image", origin="generated", asset_id=asset_id, settings=bot.settings)
    answer, _ = _check(bot, db, result.read_bytes(), "mine.jpg")
    assert answer.startswith("🔎 What mine.jpg carries:"), answer
    assert f"#{asset_id}" in answer and "trainedAlgorithmicMedia" in answer, answer
