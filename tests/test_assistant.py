"""The assistant as every front end sees it: persona intake, buttons, settings, linking, the web link."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis

from bots.web.app import create_app
from core.app import Studio
from core.messages import Incoming, Reply, Upload
from core.settings import Settings
from storage.db import Database
from storage.models import Job
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo


def png(color: tuple[int, int, int], size: int = 256) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def studio(settings: Settings, db: Database, redis: Redis) -> Iterator[Studio]:
    built = Studio.build(settings, redis=redis)
    yield built
    built.close()


def say(studio: Studio, text: str = "", *, user: str = "ann", platform: str = "telegram",
        uploads: tuple[Upload, ...] = (), reply_to: str | None = None) -> str:
    msg = Incoming(platform=platform, user_id=user, chat_id=user, text=text, uploads=uploads, reply_to_asset=reply_to)
    return "\n".join(r.text for r in studio.assistant.handle(msg))


def press(studio: Studio, action: str, *, user: str = "ann") -> str:
    msg = Incoming(platform="telegram", user_id=user, chat_id=user)
    return "\n".join(r.text for r in studio.assistant.press(msg, action))


def test_persona_intake_to_analysis_job(studio: Studio, db: Database) -> None:
    assert "confirm" in say(studio, "/persona new Ava")
    assert "confirm consent first" in say(studio, uploads=(Upload(png((1, 2, 3)), "a.png"),))
    assert "send 3-10 photos" in say(studio, "/consent")
    photos = tuple(Upload(png((10 * i, 20, 30)), f"p{i}.png") for i in range(2))
    reply = say(studio, uploads=photos)
    assert "p0.png: received" in reply and "send 1 more" in reply
    assert "at least 1 more" in say(studio, "/done")
    assert "already sent this photo" in say(studio, uploads=(Upload(png((0, 20, 30)), "again.png"),))
    refused = say(studio, uploads=(Upload(b"hello, I am text", "fake.jpg"),))
    assert "fake.jpg" in refused and "received" not in refused
    say(studio, uploads=(Upload(png((200, 20, 30)), "p2.png"),))
    replies = studio.assistant.handle(Incoming(platform="telegram", user_id="ann", chat_id="ann", text="/done"))
    assert replies[0].job_id
    with db.session() as session:
        job = job_repo.get(session, job_id=replies[0].job_id)
        assert job is not None and job.kind == "persona_analyze" and job.status == "queued"
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        persona = persona_repo.by_name(session, owner_id=user.id, name="ava")
        assert persona is not None and persona.status == "analyzing" and len(persona.references) == 3
        assert user.dialogue == {}


def test_abort_deletes_the_half_made_persona_and_its_blobs(studio: Studio, db: Database) -> None:
    say(studio, "/persona new Zoe")
    say(studio, "/consent")
    say(studio, uploads=(Upload(png((5, 5, 5)), "z.png"),))
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        digest = persona_repo.by_name(session, owner_id=user.id, name="Zoe").references[0].blob  # type: ignore[union-attr]
    assert studio.blobs.exists(digest)
    assert "deleted" in say(studio, "/cancel")
    assert not studio.blobs.exists(digest)
    assert "No personas yet" in say(studio, "/persona list")


def test_other_users_cannot_touch_my_persona(studio: Studio) -> None:
    say(studio, "/persona new Ava")
    assert "no persona called Ava" in say(studio, "/persona show Ava", user="mallory")
    with studio.db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        persona_id = persona_repo.by_name(session, owner_id=ann.id, name="Ava").id  # type: ignore[union-attr]
    assert "not yours" in press(studio, f"pdel:{persona_id}", user="mallory")
    assert "Deleted Ava" in press(studio, f"pdel:{persona_id}")


@pytest.mark.parametrize("forged", ["var:../../etc", "pdel:abc", "cancel:zz", "x" * 60, "", "var:"])
def test_forged_button_data_is_answered(studio: Studio, forged: str) -> None:
    assert "expired" in press(studio, forged)


def test_imagine_needs_a_ready_persona_and_queues_a_spec(studio: Studio, db: Database) -> None:
    assert "no persona called Nia" in say(studio, "/imagine Nia: on a boat")
    say(studio, "/settings ar 9:16")
    replies = studio.assistant.handle(Incoming(platform="telegram", user_id="ann", chat_id="ann",
                                               text="/imagine a lighthouse --n 2 --seed 5"))
    with db.session() as session:
        job = job_repo.get(session, job_id=replies[0].job_id or "")
        assert job is not None and job.kind == "image" and job.queue == "gpu"
        assert job.spec["aspect_ratio"] == "9:16" and job.spec["n"] == 2 and job.spec["seed"] == 5
        assert job.spec["prompt"] == "a lighthouse" and job.spec["persona_id"] is None


def test_settings_are_validated(studio: Studio) -> None:
    assert "Unknown setting" in say(studio, "/settings colour red")
    assert "two positive numbers" in say(studio, "/settings ar 0:3")
    assert "Saved: platform is now tiktok." in say(studio, "/settings platform TikTok")
    assert "• platform: tiktok" in say(studio, "/settings")


def test_swap_and_export_say_what_is_missing(studio: Studio) -> None:
    # Face swap works now: without the persona or the picture it says what is missing, never "not available".
    answer = say(studio, "/swap Ava")
    assert answer.startswith("You have no persona called Ava") and "not available" not in answer
    assert "No photo or video #0123456789abcdef among yours" in press(studio, "swap:0123456789abcdef")
    # Exporting works now: with nothing to export it says how to make something, never "not available".
    answer = say(studio, "/export tiktok")
    assert answer.startswith("You have nothing to export yet") and "not available" not in answer
    assert "No result #0123456789abcdef among yours" in press(studio, "exp:0123456789abcdef")
    # Animation works now: with nothing to animate it says how to give it an image, never "not available".
    answer = say(studio, "/animate --seconds 3")
    assert answer.startswith("Send /animate with a photo attached") and "not available" not in answer
    assert "No image #0123456789abcdef among yours" in press(studio, "anim:0123456789abcdef")


def test_linking_accounts_shares_personas(studio: Studio) -> None:
    say(studio, "/persona new Ava", platform="telegram", user="1")
    code = say(studio, "/link", platform="telegram", user="1").split("/link ")[1].split()[0]
    assert "other platform" in say(studio, f"/link {code}", platform="telegram", user="2")
    assert "Linked" in say(studio, f"/link {code}", platform="discord", user="9")
    assert "Ava" in say(studio, "/persona list", platform="discord", user="9")
    assert "unknown or expired" in say(studio, f"/link {code}", platform="discord", user="10")


def test_web_link_opens_only_the_owners_page(studio: Studio, settings: Settings) -> None:
    reply = say(studio, "/web")
    path = reply.split(settings.public_url)[1].split()[0]
    client = TestClient(create_app(settings))
    page = client.get(path)
    assert page.status_code == 200 and "Your gallery" in page.text
    assert client.get(path[:-3] + "abc").status_code == 403
    assert client.get("/u/not-a-token").status_code == 403
    assert client.get("/health").json() == {"status": "ok"}

    assert "Every download link sent so far is now invalid" in say(studio, "/web revoke")
    revoked = client.get(path)
    assert revoked.status_code == 403 and "revoked" in revoked.text
    fresh = say(studio, "/web").split(settings.public_url)[1].split()[0]
    assert client.get(fresh).status_code == 200


def test_web_link_is_never_posted_in_a_group(studio: Studio) -> None:
    msg = Incoming(platform="telegram", user_id="ann", chat_id="-100", text="/web", private=False)
    (reply,) = studio.assistant.handle(msg)
    assert "message me directly" in reply.text and "http" not in reply.text


def test_an_asset_link_opens_that_file_only(studio: Studio, settings: Settings, db: Database) -> None:
    from core import links
    from storage.repositories import assets as asset_repo

    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        one = asset_repo.create(session, owner_id=user.id, kind="image", blob=studio.blobs.put_bytes(png((1, 1, 1))),
                                mime="image/png", origin="generated")
        asset_repo.create(session, owner_id=user.id, kind="image", blob=studio.blobs.put_bytes(png((2, 2, 2))),
                          mime="image/png", origin="generated")
        url = links.asset_url(settings, session, asset=one)
    token = url.rsplit("/", 1)[1]
    client = TestClient(create_app(settings))
    response = client.get(f"/a/{token}")
    assert response.status_code == 200 and response.content == png((1, 1, 1))
    assert client.get(f"/u/{token}").status_code == 403, "a single-file link is not a key to the gallery"

def test_templates_are_listed_saved_used_and_checked(studio: Studio, db: Database) -> None:
    listing = say(studio, "/template list")
    assert "instagram-lifestyle" in listing
    assert "Saved template cozy" in say(studio, "/template save cozy {subject} by a fireplace, {prompt}, warm light")
    assert "cozy" in say(studio, "/template list") and "(yours)" in say(studio, "/template list")
    assert "unknown template 'nope'" in say(studio, "/imagine a cat --template nope")
    replies = studio.assistant.handle(Incoming(platform="telegram", user_id="ann", chat_id="ann",
                                               text="/imagine reading --template cozy"))
    with db.session() as session:
        job = job_repo.get(session, job_id=replies[0].job_id or "")
        assert job is not None and job.spec["template"] == "cozy"
    assert "taken by a shipped template" in say(studio, "/template save instagram-lifestyle x {prompt}")
    assert "Deleted your template cozy" in say(studio, "/template delete cozy")
    assert "no saved template" in say(studio, "/template delete cozy")


def test_cancelled_analysis_lets_the_user_carry_on_with_the_persona(studio: Studio, db: Database) -> None:
    say(studio, "/persona new Ava")
    say(studio, "/consent")
    say(studio, uploads=tuple(Upload(png((40 * i, 9, 9)), f"p{i}.png") for i in range(3)))
    job_id = studio.assistant.handle(Incoming(platform="telegram", user_id="ann", chat_id="ann",
                                              text="/done"))[0].job_id
    assert "already have a persona called Ava" in say(studio, "/persona new Ava")
    assert "cancelled before it started" in say(studio, f"/cancel {job_id}")
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        persona = persona_repo.by_name(session, owner_id=user.id, name="Ava")
        assert persona is not None and persona.status == "collecting"
    assert "p3.png: received" in say(studio, uploads=(Upload(png((1, 99, 9)), "p3.png"),))
    assert "queued" in say(studio, "/done")


def test_page_link_serves_only_the_owners_assets(studio: Studio, settings: Settings, db: Database) -> None:
    from storage.repositories import assets as asset_repo

    with db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        bob = user_repo.get_or_create(session, platform="telegram", platform_user_id="bob")
        mine = asset_repo.create(session, owner_id=ann.id, kind="image", blob=studio.blobs.put_bytes(png((3, 3, 3))),
                                 mime="image/png", origin="generated").id
        theirs = asset_repo.create(session, owner_id=bob.id, kind="image",
                                   blob=studio.blobs.put_bytes(png((4, 4, 4))), mime="image/png", origin="generated").id
    path = say(studio, "/web").split(settings.public_url)[1].split()[0]
    client = TestClient(create_app(settings))
    assert client.get(f"{path}/asset/{mine}").content == png((3, 3, 3))
    assert client.get(f"{path}/asset/{theirs}").status_code == 404


@pytest.mark.parametrize("verb", ["var", "remix"])
def test_variation_buttons_only_work_on_your_own_images(studio: Studio, db: Database, verb: str) -> None:
    from storage.repositories import assets as asset_repo

    with db.session() as session:
        bob = user_repo.get_or_create(session, platform="telegram", platform_user_id="bob")
        theirs = asset_repo.create(session, owner_id=bob.id, kind="image", blob="1" * 64, mime="image/png",
                                   meta={"request": {"prompt": "secret"}}, origin="generated").id
    assert "not yours" in press(studio, f"{verb}:{theirs}", user="ann")
    assert "queued" in press(studio, f"{verb}:{theirs}", user="bob")


def test_an_expired_link_code_is_refused(studio: Studio, db: Database) -> None:
    from datetime import UTC, datetime, timedelta

    code = say(studio, "/link", platform="telegram", user="1").split("/link ")[1].split()[0]
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id="1")
        user.link_code_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert "unknown or expired" in say(studio, f"/link {code}", platform="discord", user="9")


def test_every_command_and_button_has_exactly_one_handler(studio: Studio) -> None:
    from typing import get_args

    from core import actions, grammar

    assert set(studio.assistant.commands) == set(get_args(grammar.Command))
    assert set(studio.assistant.buttons) == set(get_args(actions.Action))


def test_a_huge_number_in_button_data_is_an_expired_button_not_a_database_error(studio: Studio) -> None:
    for data in ("pdel:" + "9" * 30, "swap:1a2b3c4d:" + "1" * 25, "pdel:2147483648"):
        assert press(studio, data) == "That button has expired. Send the command again."


# ---- questions instead of guesses ----------------------------------------------------------------------------


def replies(studio: Studio, text: str = "", *, user: str = "ann", platform: str = "telegram",
            reply_to: str | None = None, uploads: tuple[Upload, ...] = ()) -> list[Reply]:
    msg = Incoming(platform=platform, user_id=user, chat_id=user, text=text, reply_to_asset=reply_to,
                   uploads=uploads)
    return studio.assistant.handle(msg)


def pressed(studio: Studio, action: str, *, user: str = "ann") -> list[Reply]:
    return studio.assistant.press(Incoming(platform="telegram", user_id=user, chat_id=user), action)


def job_row(db: Database, job_id: str | None) -> Job:
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id or "")
        assert job is not None
        session.expunge(job)
        return job


def ready_persona(db: Database, name: str, *, user: str = "ann", pictures: int = 0) -> list[str]:
    """A ready persona of ``user`` with ``pictures`` generated images of it; their ids, oldest first."""
    from storage.repositories import assets as asset_repo

    with db.session() as session:
        owner = user_repo.get_or_create(session, platform="telegram", platform_user_id=user)
        persona = persona_repo.create(session, owner_id=owner.id, name=name)
        persona.status = "ready"
        session.flush()
        return [asset_repo.create(session, owner_id=owner.id, kind="image", blob=f"{i:064d}", mime="image/png",
                                  origin="generated", persona_id=persona.id).id for i in range(pictures)]


def test_an_ambiguous_sentence_is_answered_with_buttons_and_one_press_runs_it(studio: Studio, db: Database) -> None:
    (question,) = replies(studio, "a cat in a hat")
    assert question.text == "Shall I make a picture of “a cat in a hat”?"
    assert [b.label for b in question.buttons] == ["🖼 Make this picture"]
    assert job_count(db) == 0, "nothing is queued on a guess"
    (status,) = pressed(studio, question.buttons[0].action)
    assert job_row(db, status.job_id).spec["prompt"] == "a cat in a hat"
    assert pressed(studio, question.buttons[0].action)[0].text.startswith("That question has expired"), \
        "a second press does not queue it twice"
    # Someone else pressing the button finds no question of theirs.
    (question,) = replies(studio, "a cat in a hat")
    assert "expired" in pressed(studio, question.buttons[0].action, user="bob")[0].text


def test_a_video_of_a_persona_animates_its_newest_picture(studio: Studio, db: Database) -> None:
    ready_persona(db, "Zoe", pictures=1)
    # Not a persona of hers: "Mia" may be the scene, so she is asked rather than guessed for.
    assert "Animate one you have, or make this scene first" in say(studio, "make a video of Mia")
    ready_persona(db, "Mia")
    answer = say(studio, "make a video of Mia")
    assert answer.startswith("Mia has no pictures yet") and "/imagine Mia:" in answer
    _older, newest = ready_persona(db, "Ava", pictures=2)
    (status,) = replies(studio, "make a video of ava with a slow zoom in")
    job = job_row(db, status.job_id)
    assert (job.kind, job.spec["asset_id"], job.spec["motion"]) == ("video", newest, "zoom-in"), "never images"
    # The status message names the picture too; its last tag is the job's, which a reply to it (/cancel) uses.
    from bots.inbound import ASSET_TAG_RE

    assert f"#{newest}" in status.text and ASSET_TAG_RE.findall(status.text)[-1] == job.id[:8]
    # A sentence that also describes a new scene asks which is meant.
    (question,) = replies(studio, "make a video of Ava dancing on the beach")
    assert [b.label for b in question.buttons] == ["🎬 Animate Ava's newest picture", "🖼 Make the picture first"]
    (status,) = pressed(studio, question.buttons[1].action)
    job = job_row(db, status.job_id)
    assert job.kind == "image" and job.spec["prompt"] == "dancing on the beach" and job.spec["persona_id"]


def job_count(db: Database) -> int:
    from sqlalchemy import func, select

    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


# ---- jobs: short ids, /cancel by prefix, by reply, alone -------------------------------------------------------


def test_cancel_by_prefix_by_reply_and_alone(studio: Studio, db: Database) -> None:
    first = replies(studio, "/echo one --seconds 9")[0].job_id or ""
    assert "Nothing to cancel" in say(studio, "/cancel", user="bob")
    listing = say(studio, "/jobs")
    assert f"#{first[:8]} · echo · queued" in listing and first not in listing, "/jobs shows short ids"
    assert say(studio, f"/cancel {first[:5]}") == f"Job #{first[:8]} cancelled before it started."

    second = replies(studio, "/echo two --seconds 9")[0].job_id or ""
    third = replies(studio, "/echo three --seconds 9")[0].job_id or ""
    # As a reply to a status message ("… · job #1a2b3c4d"), /cancel stops that job.
    assert say(studio, "/cancel", reply_to=second[:8]) == f"Job #{second[:8]} cancelled before it started."
    # Alone, with one job in progress: that one.
    assert say(studio, "/cancel") == f"Job #{third[:8]} cancelled before it started."
    assert "Nothing to cancel" in say(studio, "stop it")

    jobs = [replies(studio, f"/echo {i} --seconds 9")[0].job_id or "" for i in range(3)]
    with db.session() as session:
        running = job_repo.get(session, job_id=jobs[0])
        assert running is not None
        running.status, running.progress = "running", 0.4
    (question,) = replies(studio, "/cancel")
    assert question.text.startswith("You have 3 jobs in progress; the newest running one is first.")
    labels = [b.label for b in question.buttons]
    assert labels[0] == f"⏹ echo #{jobs[0][:8]} · 40%" and labels[-2:] == ["⏹ All 3", "Keep"]
    assert job_count(db) == 6, "nothing stopped before the user chose"
    answer = pressed(studio, question.buttons[-2].action)[0].text
    assert f"Stopping job #{jobs[0][:8]}…" in answer and answer.count("cancelled before it started") == 2


def test_a_prefix_of_two_jobs_asks_for_more(studio: Studio, db: Database) -> None:
    from storage.models import Job as JobRow

    with db.session() as session:
        owner = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        for job_id in ("abcd111111111111", "abcd222222222222"):
            session.add(JobRow(id=job_id, owner_id=owner.id, kind="echo", queue="cpu", spec={}, chat={},
                               status="queued"))
    assert say(studio, "/cancel abcd") == "#abcd fits several of your jobs (#abcd2222, #abcd1111); give more of its id."
    assert "No job #ffff among yours" in say(studio, "/cancel ffff")


# ---- options checked against the model that runs them ----------------------------------------------------------


def test_options_are_checked_against_the_profiles_model_before_queueing(studio: Studio, db: Database) -> None:
    # The tiny profile's image model takes at most 50 steps (the registry says so).
    assert say(studio, "/imagine a cat --steps 100") == (
        "--steps must be from 1 to 50 for Tiny random-weight SD3, the image model here (it uses 4 unless told), "
        "not 100.")
    assert "steps must be from 1 to 50" in say(studio, "/settings steps 60")
    assert job_count(db) == 0
    assert "queued" in say(studio, "/imagine a cat --steps 50")
    studio.settings.model_profile = "cpu"  # SD-Turbo, and no video model
    assert "from 1 to 8 for SD-Turbo" in say(studio, "/imagine a cat --steps 20")
    assert say(studio, "/animate --motion ai").startswith("AI motion needs a video model")
    answer = say(studio, "/imagine a cat --no dogs")
    assert "queued" in answer and "SD-Turbo ignores --no" in answer


def test_model_limits_read_by_core_match_the_workers_registry() -> None:
    from core import modelcaps
    from inference.models.registry import image_model_for_profile, video_model_for_profile

    for profile in ("full", "cpu", "tiny"):
        image, caps = image_model_for_profile(profile), modelcaps.image_model(profile)
        assert caps is not None and (caps.name, caps.max_steps, caps.default_steps) == (
            image.name, image.max_steps, image.default_steps)
        video = video_model_for_profile(profile)
        found = modelcaps.model_for("image-to-video", profile)
        assert (found.name if found else None) == (video.name if video else None)


# ---- wording ---------------------------------------------------------------------------------------------------


def test_settings_say_what_default_means_and_read_like_people_write(studio: Studio) -> None:
    shown = say(studio, "/settings")
    assert "• ar: default (1:1, or the platform's shape when you name one)" in shown
    assert "• steps: default (4, Tiny random-weight SD3's own)" in shown
    assert "• seconds: default (4 s)" in shown and "• platform: default (none: /export asks)" in shown
    assert say(studio, "/settings seconds 6") == "Saved: seconds is now 6 s."
    assert say(studio, "/settings seconds") == "seconds: 6 s"
    assert say(studio, "always make two versions") == "Saved: n is now 2."
    assert say(studio, "reset my length") == "Saved: seconds is now default (4 s)."


def test_gallery_says_all_when_there_are_fewer_than_asked(studio: Studio, db: Database) -> None:
    ready_persona(db, "Ava", pictures=3)
    assert replies(studio, "/gallery 30")[0].text == "All 3 of your results (newest first):"
    assert replies(studio, "/gallery 2")[0].text == "Your latest 2 (newest first):"


def test_persona_photos_can_come_with_the_command(studio: Studio, db: Database) -> None:
    photos = tuple(Upload(png((30 * i, 60, 90)), f"p{i}.png") for i in range(4))
    answer = say(studio, "/persona new Ava", uploads=photos, platform="console")
    assert answer.count(": received") == 4 and "4 photo(s) kept; they are used only once you agree." in answer
    assert "Please confirm consent" in say(studio, "/done", platform="console")
    assert say(studio, "/consent", platform="console") == (
        "Thanks. Ava has 4 photos: send /done to analyse them, or send more first (up to 10): type their file "
        "paths (several on one line is fine).")
    assert "Delete Ava" in say(studio, "/persona delete Ava", platform="console")


def test_no_answer_has_double_spaces(studio: Studio, db: Database) -> None:
    ready_persona(db, "Ava", pictures=1)
    texts = ["/help", "/start", "/settings", "/jobs", "/gallery", "/persona list", "/template list", "/imagine",
             "/animate --seconds 99", "/swap Ava", "/export", "/cancel", "blorp", "a cat in a hat",
             "make a video of Ava", "a beach shoot of Ava, 8 photos", "export my last 2", "/web", "/link",
             "/persona new Zoe", "/consent", "/persona show Ava", "/imagine Ava: on a beach --n 2"]
    for text in texts:
        for reply in replies(studio, text):
            assert "  " not in reply.text, (text, reply.text)
            assert all("  " not in button.label for button in reply.buttons), text
    for name in ("help", "imagine", "animate", "swap", "export", "settings", "cancel", "persona"):
        assert "  " not in say(studio, f"/help {name}")


def test_animate_as_a_reply_to_a_status_message_takes_that_jobs_result(studio: Studio, db: Database) -> None:
    from storage.models import Job as JobRow
    from storage.repositories import assets as asset_repo

    with db.session() as session:
        owner = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
        session.add(JobRow(id="feed000000000001", owner_id=owner.id, kind="image", queue="gpu", spec={}, chat={},
                           status="done"))
        session.add(JobRow(id="feed000000000002", owner_id=owner.id, kind="image", queue="gpu", spec={}, chat={},
                           status="queued"))
        session.flush()
        made = asset_repo.create(session, owner_id=owner.id, kind="image", blob="7" * 64, mime="image/png",
                                 origin="generated", job_id="feed000000000001").id
    (status,) = replies(studio, "/animate --motion orbit", reply_to="feed0000")
    # "feed0000" fits both jobs: it is not taken as either.
    assert "No image #feed0000 among yours" in status.text
    (status,) = replies(studio, "/animate --motion orbit", reply_to="feed000000000001")
    assert job_row(db, status.job_id).spec["asset_id"] == made
    assert say(studio, "/animate", reply_to="feed000000000002") == (
        "Job #feed0000 has no result yet (queued); reply to one of its results once it is done.")
