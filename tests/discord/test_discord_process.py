"""`studio discord` as deployments run it: a process that answers, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from core.settings import Settings
from storage.db import Database
from tests.fake_discord import TOKEN, dm_channel, fake_discord
from tests.workers import ROOT, env_for


def test_studio_discord_answers_and_stops_cleanly_on_sigterm(settings: Settings, db: Database) -> None:
    with fake_discord() as fake:
        env = env_for(settings)
        env.update(STUDIO_DISCORD_TOKEN=TOKEN, STUDIO_DISCORD_BASE_URL=fake.base_url,
                   STUDIO_DISCORD_GATEWAY_URL=fake.gateway_url, STUDIO_LOG_LEVEL="INFO")
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "discord"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            fake.wait_for(lambda: fake.connected() == 1 or proc.poll() is not None, what="the bot on the gateway")
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert "imagine" in fake.command_names()
            fake.send(4242, "/start")
            fake.wait_call("send", channel_id=dm_channel(4242), contains="/help lists every command")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        log = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in log, log
        fake.wait_for(lambda: fake.connected() == 0 and fake.closed_sockets >= 1, what="the gateway connection closed")


@pytest.mark.parametrize(("token", "content_intent", "expected"), [
    ("not-the-token", True, "Discord refused STUDIO_DISCORD_TOKEN"),
    (TOKEN, False, "turn on the Message Content intent"),
])
def test_studio_discord_explains_a_refused_token_or_intent(settings: Settings, db: Database, token: str,
                                                          content_intent: bool, expected: str) -> None:
    with fake_discord(message_content_allowed=content_intent) as fake:
        env = env_for(settings)
        env.update(STUDIO_DISCORD_TOKEN=token, STUDIO_DISCORD_BASE_URL=fake.base_url,
                   STUDIO_DISCORD_GATEWAY_URL=fake.gateway_url)
        result = subprocess.run([sys.executable, "-m", "cli.main", "discord"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_studio_discord_without_a_token_says_what_to_set(settings: Settings) -> None:
    env = {k: v for k, v in env_for(settings).items() if k != "STUDIO_DISCORD_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "cli.main", "discord"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "set STUDIO_DISCORD_TOKEN" in result.stderr and "Traceback" not in result.stderr
