"""The Discord bot end to end: the real discord.py client against a fake Discord (REST + gateway) on loopback."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from sqlalchemy import select

from core import grammar, help
from core.grammar import MOTIONS
from core.progress import job_tag
from core.prompts import PLATFORMS
from core.settings import Settings
from storage.db import Database
from storage.models import Persona
from storage.repositories import jobs as job_repo
from tests.discord.support import (
    ALICE,
    BOB,
    DM_ALICE,
    Bot,
    callback_of,
    face_photos,
    job_of,
    started,
    status_message_id,
)
from tests.fake_discord import (
    APP_ID,
    GUILD_CHANNEL,
    GUILD_ID,
    fake_discord,
)
from tests.workers import drain

# ---- commands --------------------------------------------------------------------------------------------------


def test_every_command_of_the_grammar_is_a_typed_slash_command(bot: Bot) -> None:
    fake = bot.fake
    sync = fake.calls_to("commands")
    assert [(c.method, c.path) for c in sync] == [("PUT", f"/applications/{APP_ID}/commands")], "one global sync"
    assert set(grammar.COMMAND_NAMES) <= set(fake.command_names())
    assert "Animate" in fake.command_names(), "a message command animates a photo or a result"
    for command in fake.commands[None]:
        assert len(command["description"]) <= 100 and command["name"] == command["name"].strip()
        if command.get("type", 1) == 1:
            assert command["description"], f"/{command['name']} needs a description"
    assert {c["name"]: c["description"] for c in fake.commands[None] if c["name"] in ("jobs", "gallery")} == {
        "jobs": dict(help.menu())["jobs"], "gallery": dict(help.menu())["gallery"]}

    imagine = {o["name"]: o for o in fake.command("imagine")["options"]}
    assert imagine["prompt"]["required"] is True and imagine["prompt"]["type"] == 3
    assert next(iter(imagine)) == "prompt", "required options come first"
    assert {"1:1", "4:5", "9:16", "16:9"} <= {c["value"] for c in imagine["ar"]["choices"]}
    assert [c["value"] for c in imagine["platform"]["choices"]] == list(PLATFORMS)
    assert (imagine["n"]["type"], imagine["n"]["min_value"], imagine["n"]["max_value"]) == (4, 1, 4)
    assert imagine["persona"]["autocomplete"] is True and imagine["template"]["autocomplete"] is True

    persona = {o["name"]: o for o in fake.command("persona")["options"]}
    assert set(persona) == {"new", "list", "show", "rename", "delete", "train", "set"}
    assert all(o["type"] == 1 for o in persona.values())
    animate = {o["name"]: o for o in fake.command("animate")["options"]}
    assert animate["photo"]["type"] == 11 and [c["value"] for c in animate["motion"]["choices"]] == list(MOTIONS)
    assert {o["name"]: o["type"] for o in fake.command("swap")["options"]} == {"persona": 3, "media": 11, "asset": 3}


def test_commands_sync_to_one_server_when_configured(settings: Settings, db: Database, redis: Redis) -> None:
    with fake_discord() as fake, started(settings, redis, fake, discord_guild_id=GUILD_ID):
        assert [c.path for c in fake.calls_to("commands")] == [f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"]
        assert None not in fake.commands, "nothing is registered globally"
        asked = fake.slash(ALICE, "help", command="gallery", guild=True)
        answer = fake.answer_to(asked)
        assert answer.text == help.for_command("gallery") and answer.ephemeral, "help is shown to the asker alone"


def test_start_and_help_in_a_dm(bot: Bot) -> None:
    fake = bot.fake
    fake.send(ALICE, "/start")
    assert "/persona new <name>" in fake.wait_call("send", channel_id=DM_ALICE).text
    asked = fake.slash(ALICE, "help", command="imagine")
    answer = fake.answer_to(asked)
    assert answer.route == "callback" and answer.text == help.for_command("imagine")
    assert not answer.ephemeral, "nobody else is in a DM: answers stay in the conversation"
    fake.send(ALICE, "what can you do")
    assert fake.wait_call("send", channel_id=DM_ALICE, contains="Commands:").text == help.overview()


# ---- the persona flow ------------------------------------------------------------------------------------------


def test_persona_new_takes_its_photos_with_the_command_and_says_where_more_go(bot: Bot, db: Database) -> None:
    fake = bot.fake
    photos = [fake.add_file(data, filename=f"mia-{i}.jpg", content_type="image/jpeg")
              for i, data in enumerate(face_photos(3))]
    broken = fake.add_file(b"not a photo", filename="notes.jpg", content_type="image/jpeg")
    asked = fake.slash(BOB, "persona new", guild=True, name="Mia", photo1=photos[0], photo2=photos[1],
                       photo3=photos[2], photo10=broken)
    answer = fake.answer_to(asked, contains="Creating Mia")
    assert answer.text.count(": received") == 3 and "notes.jpg is not an image we recognise" in answer.text
    assert "3 photo(s) kept; they are used only once you agree" in answer.text
    with db.session() as session:
        persona = session.scalars(select(Persona).where(Persona.name == "Mia")).one()
        assert len(persona.references) == 3 and persona.consent_at is None

    agreed = fake.press(BOB, fake.message(answer), dict(answer.buttons)["I agree"], guild=True)
    consented = fake.answer_to(agreed, contains="Thanks")
    assert "Mia has 3 photos: send /done to analyse them" in consented.text
    assert "mentions me here, or send them to me in a direct message" in consented.text
    assert "queued" in fake.answer_to(fake.slash(BOB, "done", guild=True), contains="persona analysis").text



def test_persona_from_several_photos_in_one_message_then_analysis_and_the_ready_card(bot: Bot, db: Database) -> None:
    fake = bot.fake
    asked = fake.slash(ALICE, "persona new", name="Ava")
    ask = fake.answer_to(asked, contains="Creating Ava")
    assert [label for label, _ in ask.buttons] == ["I agree", "Cancel"]
    press = fake.press(ALICE, fake.message(ask), dict(ask.buttons)["I agree"])
    consented = fake.answer_to(press, contains="Now send 3-10 photos of Ava")
    assert "attach them to a message to me here" in consented.text, "the answer says where more photos go"

    photos = [fake.add_file(data, filename=f"ava-{i}.jpg", content_type="image/jpeg", channel_id=DM_ALICE)
              for i, data in enumerate(face_photos(4))]
    before = len(fake.calls)
    fake.send(ALICE, "", attachments=photos)
    summary = fake.wait_call("send", channel_id=DM_ALICE, contains="so far", after=before)
    assert "4 photo(s) so far" in summary.text, "the photos of one message reach the assistant together"
    assert summary.text.count("received") == 4
    assert len(fake.calls_to("download")) == 4

    done = fake.slash(ALICE, "done")
    status = fake.answer_to(done, contains="persona analysis queued")
    assert "Checking 4 photos of Ava" in status.text and not status.ephemeral
    job_id = job_of(status)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.kind == "persona_analyze" and job.status == "queued"
        assert job.chat["platform"] == "discord" and job.chat["chat_id"] == str(DM_ALICE)
    status_id = int(fake.message(status)["id"])
    fake.wait_for(lambda: status_message_id(db, job_id) == str(status_id), what="the status message attached")

    # The face analysis runs for real on the CPU worker; its progress edits the same status message.
    drain(bot.settings, db, bot.studio.redis, queues=("cpu",))
    fake.wait_call("edit", channel_id=DM_ALICE, contains="persona analysis done", timeout=60)
    edits = fake.calls_to("edit", channel_id=DM_ALICE)
    assert {c.message_id for c in edits} == {status_id}, "progress edits the one status message in place"
    assert len(edits) >= 2 and "%" in edits[0].text and edits[-1].buttons == [], "a bar, then done without Cancel"
    card = fake.wait_call("send", channel_id=DM_ALICE, contains="Ava is ready")
    assert [name for name, _ in card.files] == ["Ava-card.png"]
    fake.wait_for(lambda: bot.pending() == 0, what="every event acknowledged")
    with db.session() as session:
        assert session.scalars(select(Persona).where(Persona.name == "Ava")).one().status == "ready"

    # The persona is offered while typing, and a slash /imagine with it queues the job.
    typed = fake.slash(ALICE, "imagine", prompt="x", persona="av", focused="persona")
    choices = callback_of(fake, typed)
    assert choices.callback_type == 8 and choices.params["data"]["choices"] == [{"name": "Ava — ready",
                                                                                 "value": "Ava"}]
    imagine = fake.slash(ALICE, "imagine", prompt="reading in a Paris café, golden hour", persona="Ava", n=2)
    assert "Ava: reading in a Paris café" in fake.answer_to(imagine, contains="image queued").text


# ---- images, buttons and ownership -----------------------------------------------------------------------------


def test_imagine_delivers_attachments_with_buttons_that_only_their_owner_can_press(
        bot: Bot, db: Database, tiny_models_dir: Path) -> None:
    fake = bot.fake
    asked = fake.slash(ALICE, "imagine", prompt="a lighthouse in a storm, it's dramatic", n=2, ar="4:5")
    status = fake.answer_to(asked, contains="image queued")
    assert "a lighthouse in a storm, it's dramatic" in status.text, "an apostrophe in a prompt arrives intact"
    job_id = job_of(status)
    fake.wait_for(lambda: status_message_id(db, job_id) is not None, what="the status message attached")

    worker_settings = bot.settings.model_copy(update={"models_dir": tiny_models_dir})
    drain(worker_settings, db, bot.studio.redis, queues=("gpu",))
    result = fake.wait_call("send", channel_id=DM_ALICE, contains="#", timeout=90)
    assert len(result.files) == 2 and all(name.endswith(".png") for name, _ in result.files)
    assert [label for label, _ in result.buttons] == ["🔁 Variations", "✏️ Remix", "🎬 Animate", "📦 Export"]
    shown = fake.message(result)
    assert all(a["description"].startswith("#") for a in shown["attachments"]), "each file's alt text names its id"
    done = fake.wait_call("edit", channel_id=DM_ALICE, contains="image done")
    assert done.message_id == int(fake.message(status)["id"]) and done.buttons == []
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")

    actions = dict(result.buttons)
    before = len(fake.calls)
    fake.press(BOB, shown, actions["🔁 Variations"])
    refusal = fake.wait_call("callback", after=before)
    assert refusal.ephemeral and "not yours" in refusal.text, "someone else's press is refused to them alone"

    for forged in ("var:../../etc", "cancel:zzzz", "x" * 100):
        before = len(fake.calls)
        fake.press(ALICE, shown, forged)
        refusal = fake.wait_call("callback", after=before)
        assert refusal.ephemeral and refusal.text == "That button has expired. Send the command again."

    before = len(fake.calls)
    fake.press(ALICE, shown, actions["🔁 Variations"])
    again = fake.wait_call("callback", after=before, contains="image queued")
    assert "Variations of your image" in again.text and not again.ephemeral
    new_job = job_of(again)
    with db.session() as session:
        job = job_repo.get(session, job_id=new_job)
        assert job is not None and job.spec["variation_of"] == actions["🔁 Variations"].removeprefix("var:")
    fake.wait_for(lambda: status_message_id(db, new_job) == fake.message(again)["id"], what="status attached")
    assert [c for c in fake.calls_to("send") if "not yours" in c.text or "expired" in c.text] == [], \
        "refusals never reach the channel"


def test_cancel_by_command_and_by_button(bot: Bot) -> None:
    fake = bot.fake
    asked = fake.slash(ALICE, "echo", text="slow", seconds=5)
    status = fake.answer_to(asked, contains="echo queued")
    job_id = job_of(status)
    fake.press(BOB, fake.message(status), f"cancel:{job_id}")
    refusal = fake.wait_call("callback", contains="among yours")
    assert refusal.ephemeral

    offered = callback_of(fake, fake.slash(ALICE, "cancel", job="", focused="job"))
    assert [c["value"] for c in offered.params["data"]["choices"]] == [job_id]
    assert offered.params["data"]["choices"][0]["name"] == f"#{job_id[:8]} · echo · queued", "the short id shows"

    cancelled = fake.slash(ALICE, "cancel", job=job_id[:6])  # a prefix of the id is enough
    fake.answer_to(cancelled, contains="cancelled before it started")
    edit = fake.wait_call("edit", channel_id=DM_ALICE, contains="cancelled")
    assert edit.message_id == int(fake.message(status)["id"])
    assert edit.text == f"⏹ echo cancelled · {job_tag(job_id)}" and edit.buttons == []

    second = fake.slash(ALICE, "echo", text="again", seconds=5)
    status = fake.answer_to(second, contains="echo queued")
    fake.press(ALICE, fake.message(status), f"cancel:{job_of(status)}")
    fake.wait_call("callback", contains="cancelled before it started")
    fake.wait_call("edit", channel_id=DM_ALICE, contains=f"echo cancelled · {job_tag(job_of(status))}")

    # "/cancel" sent as a reply to a status message stops that job, even with another one waiting.
    first = fake.answer_to(fake.slash(ALICE, "echo", text="one", seconds=5), contains="echo queued")
    fake.answer_to(fake.slash(ALICE, "echo", text="two", seconds=5), contains="echo queued")
    before = len(fake.calls)
    fake.send(ALICE, "/cancel", reply_to=fake.message(first))
    answer = fake.wait_call("send", channel_id=DM_ALICE, after=before, contains="cancelled")
    assert answer.text == f"Job #{job_of(first)[:8]} cancelled before it started."


def test_buttons_keep_working_after_a_restart(settings: Settings, db: Database, redis: Redis) -> None:
    with fake_discord() as fake:
        with started(settings, redis, fake):
            fake.send(ALICE, "/echo later --seconds 5")
            status = fake.wait_call("send", channel_id=DM_ALICE, contains="echo queued")
        # The server sees the socket close a moment after the client let go of it.
        fake.wait_for(lambda: fake.connected() == 0, what="the first process gone")
        with started(settings, redis, fake):
            fake.press(ALICE, fake.message(status), dict(status.buttons)["Cancel"])
            fake.wait_call("callback", contains="cancelled before it started")
            fake.wait_call("edit", channel_id=DM_ALICE, contains="echo cancelled")


# ---- servers ---------------------------------------------------------------------------------------------------


def test_in_a_server_only_messages_for_the_bot_are_answered(bot: Bot) -> None:
    fake = bot.fake
    fake.send(ALICE, "what a nice day", guild=True)
    fake.send(ALICE, "/jobs", guild=True)
    mention = fake.send(BOB, "/persona list", guild=True, mention_bot=True)
    listing = fake.wait_call("send", channel_id=GUILD_CHANNEL, contains="No personas yet")
    assert len(fake.calls_to("send", channel_id=GUILD_CHANNEL)) == 1, "chatter and unaddressed commands are ignored"
    assert str(listing.params["message_reference"]["message_id"]) == mention["id"], "answers quote what they answer"
    assert listing.params["allowed_mentions"] == {"parse": [], "replied_user": False}, "and ping nobody"

    before = len(fake.calls)
    fake.send(ALICE, "/gallery", guild=True, reply_to=fake.message(listing))
    fake.wait_call("send", channel_id=GUILD_CHANNEL, contains="gallery is empty", after=before)

    # A private link is refused in the channel but works as a slash command, where only the user sees it.
    fake.send(ALICE, "/web", guild=True, mention_bot=True)
    refused = fake.wait_call("send", channel_id=GUILD_CHANNEL, contains="message me directly")
    asked = fake.slash(ALICE, "web", guild=True)
    link = fake.answer_to(asked, contains="Your downloads page")
    assert link.ephemeral and f"{bot.settings.public_url}/u/" in link.text
    assert link.embeds_suppressed, "no embed fetcher opens a private link"
    assert not refused.embeds_suppressed, "messages without a link keep Discord's default"


def test_server_jobs_post_a_public_status_and_results_reply_to_it(bot: Bot, db: Database) -> None:
    fake = bot.fake
    asked = fake.slash(BOB, "echo", text="hello server", guild=True)
    status = fake.answer_to(asked, contains="echo queued")
    assert not status.ephemeral and status.channel_id == GUILD_CHANNEL
    job_id = job_of(status)
    fake.wait_for(lambda: status_message_id(db, job_id) is not None, what="status attached")
    drain(bot.settings, db, bot.studio.redis)
    result = fake.wait_call("send", channel_id=GUILD_CHANNEL, contains="echo: hello server")
    assert str(result.params["message_reference"]["message_id"]) == fake.message(status)["id"]
    fake.wait_call("edit", channel_id=GUILD_CHANNEL, contains="echo done")
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")
