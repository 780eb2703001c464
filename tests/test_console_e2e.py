"""End to end through the console front end: message → job → real worker → progress → result → ack."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from redis import Redis
from rich.console import Console

from bots.console import ConsoleFrontend
from core.app import Studio
from core.messages import Reply
from core.progress import job_tag
from core.settings import Settings
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from tests import faceswap_data, standin
from tests.shoots import carousel_in_pick_order
from tests.workers import drain


def _frontend(settings: Settings, redis: Redis, *, width: int = 120) -> tuple[ConsoleFrontend, io.StringIO, Studio]:
    out = io.StringIO()
    studio = Studio.build(settings, redis=redis)
    frontend = ConsoleFrontend(studio, user_id="alice", console=Console(file=out, width=width))
    return frontend, out, studio


def test_echo_conversation_end_to_end(settings: Settings, db: Database, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    replies = frontend.feed("/echo hello studio --seconds 1")
    assert replies[0].job_id, "the first reply is the job's status message"
    job_id = replies[0].job_id
    assert "queued, position 1" in out.getvalue()

    drain(settings, db, redis)
    while frontend.pump(block_ms=100):
        pass

    text = out.getvalue()
    assert "echo: hello studio" in text
    assert f"done · {job_tag(job_id)}" in text
    assert frontend.consumer.pending_count() == 0, "every event is acknowledged after it was shown"
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done"
        assert job.chat["status_message_id"] == f"console:{job_id}"
    studio.close()


def test_unknown_input_gets_a_hint_not_a_traceback(settings: Settings, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    frontend.feed("/imagin a cat")
    frontend.feed("blorp")
    text = out.getvalue()
    assert "Did you mean /imagine?" in text
    assert "I didn't catch that" in text
    assert "Traceback" not in text
    studio.close()


def test_cancel_a_queued_job(settings: Settings, db: Database, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    job_id = frontend.feed("/echo slow --seconds 5")[0].job_id
    assert job_id is not None
    frontend.feed(f"/cancel {job_id}")
    assert "cancelled before it started" in out.getvalue()
    drain(settings, db, redis)
    while frontend.pump(block_ms=100):
        pass
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "cancelled"
    assert f"cancelled · {job_tag(job_id)}" in out.getvalue()
    studio.close()


def test_animate_a_photo_end_to_end(settings: Settings, db: Database, redis: Redis, tmp_path: Path) -> None:
    from inference.media import probe

    frontend, out, studio = _frontend(settings, redis, width=400)  # long temporary paths stay on one line
    photo = tmp_path / "beach.png"
    Image.new("RGB", (160, 96), (30, 120, 200)).save(photo)
    replies = frontend.feed(f"/animate {photo} --motion pan-left --seconds 2")
    job_id = replies[0].job_id
    assert job_id, out.getvalue()
    assert "animation queued" in out.getvalue() and "pan-left · 2 s" in out.getvalue()

    drain(settings, db, redis, queues=("gpu",))
    while frontend.pump(block_ms=100):
        pass

    text = out.getvalue()
    assert f"animation done · {job_tag(job_id)}" in text, text
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done", job.error if job else None
        (video,) = asset_repo.for_job(session, job_id=job_id)
        source = asset_repo.get_owned(session, asset_id=job.spec["asset_id"], owner_id=video.owner_id)
        assert source is not None and source.tags == ["uploaded"]
        assert video.kind == "video" and video.mime == "video/mp4"
    saved = frontend.outbox / f"{job_id}.mp4"
    info = probe(saved)
    assert abs(info.duration_s - 2.0) < 0.3 and (info.width, info.height) == (video.width, video.height)
    assert f"saved video ({round(video.duration_s or 0, 1):g} s, {video.width}×{video.height}): {saved}" in text
    assert f"#{video.id}" in text and "[!1] 🎞 Other motion" in text and "[!2] 📦 Export" in text
    assert frontend.consumer.pending_count() == 0
    studio.close()


def test_two_console_users_of_one_deployment_see_only_their_own_results(settings: Settings, db: Database,
                                                                          redis: Redis) -> None:
    alice, alice_out, alice_studio = _frontend(settings, redis)
    bob_out = io.StringIO()
    bob_studio = Studio.build(settings, redis=redis)
    bob = ConsoleFrontend(bob_studio, user_id="bob", console=Console(file=bob_out, width=120))
    alice_job = alice.feed("/echo for alice --seconds 0.5")[0].job_id
    bob_job = bob.feed("/echo for bob --seconds 0.5")[0].job_id
    assert alice_job and bob_job

    drain(settings, db, redis)
    # Each console reads until it has seen the whole stream; one busy reader must not take the other's events.
    for frontend in (alice, bob, alice, bob):
        while frontend.pump(block_ms=100):
            pass

    assert "echo: for alice" in alice_out.getvalue() and "echo: for bob" not in alice_out.getvalue()
    assert "echo: for bob" in bob_out.getvalue() and "echo: for alice" not in bob_out.getvalue()
    assert job_tag(bob_job) not in alice_out.getvalue() and job_tag(alice_job) not in bob_out.getvalue()
    assert alice.consumer.pending_count() == 0 and bob.consumer.pending_count() == 0
    alice_studio.close()
    bob_studio.close()


def test_a_console_restart_shows_what_finished_while_it_was_closed(settings: Settings, db: Database,
                                                                   redis: Redis) -> None:
    first, _out, studio = _frontend(settings, redis)
    job_id = first.feed("/echo while away")[0].job_id
    assert job_id
    studio.close()
    drain(settings, db, redis)  # the job ends while no console is open

    again, out, studio = _frontend(settings, redis)
    while again.pump(block_ms=100):
        pass
    assert f"echo done · {job_tag(job_id)}" in out.getvalue() and "echo: while away" in out.getvalue()
    studio.close()


def test_a_question_is_answered_by_typing_its_button(settings: Settings, db: Database, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    frontend.feed("a lighthouse in a storm at night")
    assert "Shall I make a picture of “a lighthouse in a storm at night”?" in out.getvalue()
    assert "[!1] 🖼 Make this picture" in out.getvalue()
    (status,) = frontend.feed("!1")
    assert status.job_id and "image queued" in status.text
    with db.session() as session:
        job = job_repo.get(session, job_id=status.job_id)
        assert job is not None and job.spec["prompt"] == "a lighthouse in a storm at night"
    studio.close()


def _typed(frontend: ConsoleFrontend, out: io.StringIO, label: str) -> list[Reply]:
    """Press the button called ``label`` as a user does: by typing the !N printed before it."""
    shown = re.findall(r"\[!(\d+)\] ([^\[\n]+?)(?= \[!|\n|$)", out.getvalue().splitlines()[-1])
    number = next(n for n, text in shown if text == label)
    return frontend.feed(f"!{number}")


def _show_events(frontend: ConsoleFrontend) -> None:
    while frontend.pump(block_ms=100):
        pass


def test_a_shoot_is_picked_and_exported_by_typing_its_buttons(settings: Settings, db: Database, redis: Redis,
                                                              tmp_path: Path) -> None:
    models = tmp_path / "models"
    name = standin.install(models, people=[0, 1, 2, 4, 5])
    settings = settings.model_copy(update={"models_dir": models, "image_model": name})
    with db.session() as session:
        owner = user_repo.get_or_create(session, platform="console", platform_user_id="alice")
    faceswap_data.analysed_persona(settings, db, redis, owner, name="Lisa")
    frontend, out, studio = _frontend(settings, redis, width=400)  # the sheet's path stays on one line

    [status] = frontend.feed("/shoot Lisa 4 on a rooftop at night in a black leather jacket --seed 3")
    assert status.job_id and "photoshoot queued" in status.text, status.text
    drain(settings, db, redis, queues=("gpu",))
    _show_events(frontend)
    text = out.getvalue()
    sheet = frontend.outbox / f"shoot-{status.job_id}-sheet.jpg"
    assert f"saved image: {sheet}" in text and sheet.read_bytes()[:3] == b"\xff\xd8\xff", text
    assert "[!1] ☆ 1 [!2] ☆ 2 [!3] ☆ 3 [!4] ☆ 4 [!5] ⬇ Picks full size" in text

    assert "carousel order: #2." in _typed(frontend, out, "☆ 2")[0].text
    assert "carousel order: #2, #1." in _typed(frontend, out, "☆ 1")[0].text
    assert "[!1] ★ 1 [!2] ★ 2 [!3] ☆ 3" in out.getvalue().splitlines()[-1], "the buttons show the picks"
    [picker] = _typed(frontend, out, "📦 Carousel")
    assert "A carousel for which platform?" in picker.text
    [queued] = _typed(frontend, out, "Instagram")
    assert queued.job_id and "Instagram carousel of 2 picks in this order: #2 #1" in queued.text
    drain(settings, db, redis, queues=("cpu",))
    _show_events(frontend)

    order = carousel_in_pick_order(db, studio.blobs, status.job_id, [2, 1])
    text = out.getvalue()
    assert f"export done · {job_tag(queued.job_id)}" in text
    assert f"numbered in your order (#{order[0]} #{order[1]})" in text and "Download link" in text
    assert frontend.consumer.pending_count() == 0
    studio.close()


def test_bars_fit_one_line_and_labels_are_cut_at_a_word() -> None:
    from bots.console_bars import LiveBars
    from core.progress import shorten

    assert shorten("Tom reading in a café, golden hour with friends", 30) == "Tom reading in a café, golden…"
    assert shorten("hello world this is long", 12) == "hello world…" and shorten("short", 10) == "short"
    bars = LiveBars()
    bars.start("0123456789abcdef", "Tom: reading in a café on a rainy afternoon in Paris, golden light")
    bars.update("0123456789abcdef", status="running", fraction=0.42, stage="image 1-2 of 2")
    bars.update("fedcba9876543210", status="running", fraction=0.1, stage="echoing (1/8)", kind="echo")
    for width in (40, 80, 120):
        lines = bars.lines(width)
        assert len(lines) == 2 and all(len(line) <= width for line in lines)
        assert lines[0].endswith("· #01234567") and lines[1].startswith("echo ")
    wide = bars.lines(120)[0]
    assert "42% · image 1-2 of 2" in wide and wide.startswith("Tom: reading in a café on a rainy… ━━━━━━━━")
    assert bars.finish("0123456789abcdef") and not bars.finish("0123456789abcdef")
    assert bars.job_ids() == ["fedcba9876543210"]
