"""Results into Discord channels: attachments, videos, links for files too big, rate limits, outages, refusals."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from redis import Redis

from bots.discord_front.outbound import EditPacer, Outbox, split_text
from core import help
from core.jobs import JobService
from core.jobspecs import ImageSpec
from core.messages import Button, Media, Reply
from core.settings import Settings
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.repositories import users as user_repo
from storage.states import JobStatus
from tests.discord.support import ALICE, BOB, DM_ALICE, DM_BOB, Bot, finish_image_job, png, started
from tests.fake_discord import dm_channel, fake_discord
from tests.workers import drain


def test_one_image_arrives_as_an_attachment_with_its_buttons(bot: Bot, db: Database) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("image", png(10), 0)])
    result = fake.wait_call("send", channel_id=DM_ALICE, contains="Here you go.")
    assert result.files == [(result.files[0][0], png(10))] and result.files[0][0].endswith(".png")
    assert result.text.startswith("Here you go.\n#")
    assert [label for label, _ in result.buttons] == ["🔁 Variations", "✏️ Remix", "🎬 Animate", "📦 Export"]
    status = fake.wait_call("send", channel_id=DM_ALICE, contains="image done")
    assert status.text.startswith("✅"), "a status line even without a status message"
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")


def test_twelve_images_are_two_messages_and_a_video_is_an_attachment(bot: Bot, db: Database) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("image", png(shade), 0) for shade in range(12)])
    first = fake.wait_call("send", channel_id=DM_ALICE, contains="Here you go.")
    assert len(first.files) == 10 and first.buttons[0][0] == "🔁 Variations"
    second = fake.wait_call("send", channel_id=DM_ALICE, contains="#", after=fake.calls.index(first) + 1)
    assert len(second.files) == 2 and second.buttons == [], "Discord takes ten files a message"
    assert second.text.count("#") == 2

    video = b"\x00\x00\x00\x18ftypmp42" + b"v" * 300
    finish_image_job(bot, db, BOB, [("video", video, 0)])
    clip = fake.wait_call("send", channel_id=DM_BOB, contains="Here you go.")
    assert clip.files[0][0].endswith(".mp4") and clip.files[0][1] == video
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")


def test_a_file_over_the_upload_limit_becomes_a_link_to_that_file(bot: Bot, db: Database) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("video", b"\x00\x00\x00\x18ftypmp42", 60 * 2**20), ("image", png(5), 0)])
    link = fake.wait_call("send", channel_id=DM_ALICE, contains="Download it here")
    assert "60 MB" in link.text and "10 MB" in link.text and f"{bot.settings.public_url}/a/" in link.text
    sent = [c for c in fake.calls_to("send", channel_id=DM_ALICE, ok=True) if c.files]
    assert [[name.endswith(".png") for name, _ in c.files] for c in sent] == [[True]], "the small file is attached"
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")


def test_a_rate_limit_is_waited_out_not_dropped(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.fail_next("send", retry_after=1.0, channel_id=DM_ALICE)
    fake.send(ALICE, "/start")
    fake.wait_call("send", channel_id=DM_ALICE, contains="/help lists every command")
    refused, accepted = fake.calls_to("send", channel_id=DM_ALICE)
    assert refused.status == 429 and accepted.ok and refused.text == accepted.text
    assert accepted.at - refused.at >= 1.0, "the bot waited retry_after before trying again"

    fake.send(ALICE, "/echo patience")
    fake.wait_call("send", channel_id=DM_ALICE, contains="echo queued")
    fake.fail_next("edit", retry_after=0.5, times=2)
    drain(bot.settings, db, bot.studio.redis)
    fake.wait_call("edit", channel_id=DM_ALICE, contains="echo done")
    assert len(fake.calls_to("edit", ok=False)) == 2
    fake.wait_call("send", channel_id=DM_ALICE, contains="echo: patience")
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged only after Discord accepted")


def test_an_outage_leaves_the_result_pending_until_discord_takes_it(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.fail_next("send", status=503, times=3, channel_id=DM_ALICE)
    finish_image_job(bot, db, ALICE, [("image", png(50), 0)])
    fake.wait_for(lambda: fake.calls_to("send", channel_id=DM_ALICE, ok=False), what="the first, failing try")
    assert bot.pending() >= 1, "an event whose message Discord refused must not be acknowledged"
    fake.wait_call("send", channel_id=DM_ALICE, contains="Here you go.", timeout=60)
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged once Discord accepted", timeout=60)
    sends = fake.calls_to("send", channel_id=DM_ALICE)
    assert [c.status for c in sends] == [503, 503, 503, 200, 200], "retried in place: no duplicates, no loss"
    assert "image done" in sends[3].text and sends[4].text.startswith("Here you go.")


def test_a_long_outage_is_not_shown_twice_when_the_event_is_taken_over_again(
        bot: Bot, db: Database) -> None:
    fake = bot.fake
    assert bot.frontend.delivery is not None
    consumer = bot.frontend.delivery.consumer
    fake.fail_next("send", status=503, times=10_000, channel_id=DM_ALICE)
    finish_image_job(bot, db, ALICE, [("image", png(80), 0)])
    fake.wait_for(lambda: fake.calls_to("send", channel_id=DM_ALICE), what="the first, failing try")
    # As if the outage had lasted past the consumer's idle time: the event is taken over while still retried.
    consumer.retry_idle_ms = 200
    consumer._next_claim = 0.0  # and the next look for idle events is due now
    fake.wait_for(lambda: _times_delivered(consumer) >= 3, what="the event taken over again")
    fake.clear_failures()
    fake.wait_call("send", channel_id=DM_ALICE, contains="Here you go.", timeout=30)
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")
    time.sleep(0.5)
    accepted = [c.text for c in fake.calls_to("send", channel_id=DM_ALICE, ok=True)]
    assert len(accepted) == 2 and "image done" in accepted[0], f"the status and the result once each: {accepted}"


def _times_delivered(consumer: Any) -> int:
    from core.delivery import GROUP

    entries = consumer.connection.xpending_range(consumer.stream, GROUP, min="-", max="+", count=10)
    return max((int(e["times_delivered"]) for e in entries), default=0)


def test_an_outage_survives_a_restart(settings: Settings, db: Database, redis: Redis) -> None:
    with fake_discord() as fake:
        with started(settings, redis, fake) as first:
            fake.fail_next("send", status=503, times=10_000, channel_id=DM_BOB)
            finish_image_job(first, db, BOB, [("image", png(70), 0)])
            fake.wait_for(lambda: len(fake.calls_to("send", channel_id=DM_BOB)) >= 2, what="retries")
            assert first.pending() >= 1
        fake.clear_failures()
        assert fake.calls_to("send", channel_id=DM_BOB, ok=True) == [], "nothing got through during the outage"
        with started(settings, redis, fake) as second:
            result = fake.wait_call("send", channel_id=DM_BOB, contains="Here you go.")
            assert result.files[0][1] == png(70)
            fake.wait_for(lambda: second.pending() == 0, what="the pending event acknowledged after the restart")


def test_a_refusal_drops_the_result_instead_of_retrying_forever(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.fail_next("send", status=403, channel_id=DM_ALICE)  # Forbidden: the user closed their DMs
    finish_image_job(bot, db, ALICE, [("image", png(60), 0)])
    fake.wait_for(lambda: bot.pending() == 0, what="a permanent refusal is acknowledged", timeout=30)
    time.sleep(0.5)
    assert [c.status for c in fake.calls_to("send", channel_id=DM_ALICE)] == [403], \
        "the DM is closed: one try, no retries, nothing more sent for that event"


def test_a_result_whose_file_left_the_store_is_named_once(bot: Bot, db: Database) -> None:
    fake = bot.fake
    jobs: JobService = bot.studio.jobs
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="discord", platform_user_id=str(BOB))
    job_id = jobs.submit(user=user, spec=ImageSpec(prompt="x"),
                         chat={"platform": "discord", "chat_id": str(DM_BOB), "user_id": str(BOB)}).job_id
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    missing = {"blob": "f" * 64, "kind": "image", "filename": "gone.png", "caption": "", "asset_id": None,
               "size_bytes": 10}
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING], result={"media": [missing]})
    fake.wait_call("send", channel_id=DM_BOB, contains="image done")
    fake.wait_call("send", channel_id=DM_BOB, contains="gone.png could not be sent: its file is missing from storage")
    fake.wait_for(lambda: bot.pending() == 0, what="retrying cannot bring the file back: the event is done")
    assert [c for c in fake.calls_to("send", channel_id=DM_BOB) if c.files] == []


def test_fifty_users_at_once(bot: Bot, db: Database) -> None:
    fake = bot.fake
    users = list(range(5000, 5050))
    asked = {uid: fake.slash(uid, "help", command="jobs") for uid in users}
    for uid, interaction in asked.items():
        assert fake.answer_to(interaction, timeout=30).text == help.for_command("jobs"), uid
    assert not any(i.late for i in fake.interactions.values()), "every interaction acknowledged within 3 s"

    for uid in users:
        fake.send(uid, f"/echo hi {uid}")
    for uid in users:
        fake.wait_call("send", channel_id=dm_channel(uid), contains="echo queued", timeout=30)
    drain(bot.settings, db, bot.studio.redis)
    for uid in users:
        fake.wait_call("send", channel_id=dm_channel(uid), contains=f"echo: hi {uid}", timeout=30)
        fake.wait_call("edit", channel_id=dm_channel(uid), contains="echo done", timeout=30)
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")


# ---- pieces, without Discord -------------------------------------------------------------------------------


class VirtualClock:
    """A clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_edits_of_one_message_are_a_second_apart_and_messages_are_independent() -> None:
    clock = VirtualClock()
    pacer = EditPacer(interval_s=1.0, clock=clock, sleep=clock.sleep)

    async def run() -> list[tuple[int, float]]:
        out = []
        for message_id, idle in ((1, 0), (1, 0.1), (2, 0), (1, 0), (2, 5)):
            clock.now += idle
            await pacer.wait(message_id)
            out.append((message_id, clock.now))
        return out

    assert asyncio.run(run()) == [(1, 100.0), (1, 101.0), (2, 101.0), (1, 102.0), (2, 107.0)]


def test_long_text_is_split_at_line_ends_and_buttons_go_with_the_files(tmp_path: Path, settings: Settings,
                                                                       db: Database) -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(40))
    pieces = split_text(text)
    assert all(len(p) <= 2000 for p in pieces) and "\n".join(pieces) == text
    assert split_text("y" * 4500) == ["y" * 2000, "y" * 2000, "y" * 500]

    blobs = LocalBlobStore(tmp_path / "blobs")
    digest = blobs.put_bytes(png(1))

    async def plan() -> list[Any]:
        async def run_sync(fn: Any, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        outbox = Outbox(settings=settings, db=db, blobs=blobs, run_sync=run_sync)
        reply = Reply(text=text, media=[Media(blob=digest, kind="image", filename="a.png", caption="#abcdef12")],
                      buttons=[Button("Go", "noop")])
        return await outbox.plan(reply, upload_limit=10 * 2**20)

    parts = asyncio.run(plan())
    assert "".join(p.content for p in parts[:-1]) and parts[-1].media and parts[-1].buttons
    assert parts[-1].content.endswith("#abcdef12") and all(not p.buttons for p in parts[:-1])
