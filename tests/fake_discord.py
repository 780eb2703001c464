"""A fake Discord (REST API + gateway websocket) on loopback, for driving the real discord.py client in tests.

REST: the routes the bot uses, answering like Discord does (``Content-Type`` exactly ``application/json``,
rate-limit headers, interaction callbacks with ``?with_response=1`` answered with the created message), with
Discord's own limits checked (2000 characters, 10 files, five buttons a row, ``custom_id`` of 100 characters,
one callback per interaction within three seconds, ephemeral messages unreachable through the channel).
Gateway: HELLO, IDENTIFY → READY (+ GUILD_CREATE), heartbeat ACKs, RESUME, and events the test injects.

Every request is recorded as a ``Call`` with its time; ``fail_next`` answers the next calls of a route with a
429 (with ``retry_after`` and the headers discord.py reads), a 5xx or a 403. User-facing helpers build the
payloads a real client would cause: messages with attachments (served for download here), slash commands
checked against the synced command definitions, button presses, autocomplete and context-menu commands.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "discord-test-token"
APP_ID = 900_000_000_000_000_001
BOT_USER = {"id": str(APP_ID), "username": "studio", "discriminator": "0", "global_name": "Studio",
            "avatar": None, "bot": True}
GUILD_ID = 800_000_000_000_000_001
GUILD_CHANNEL = 800_000_000_000_000_010
EPHEMERAL = 64
SUPPRESS_EMBEDS = 4
LOADING = 128
INTERACTION_DEADLINE_S = 3.0
MESSAGE_CONTENT = 1 << 15  # the privileged intent bit
OPTION_TYPES = {"subcommand": 1, "group": 2, "string": 3, "integer": 4, "boolean": 5, "number": 10, "attachment": 11}
_DM_BASE = 300_000_000_000_000_000


def _snowflakes(start: int) -> Iterator[int]:
    return itertools.count(start)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def dm_channel(uid: int) -> int:
    """The id of the DM channel between user ``uid`` and the bot."""
    return _DM_BASE + uid


@dataclass
class Call:
    """One request the bot made. ``route`` names what it does: send, edit, delete, callback, followup ..."""

    route: str
    method: str
    path: str
    params: Any = field(default_factory=dict)  # the JSON body: an object, or a list for a command sync
    query: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    at: float = 0.0
    channel_id: int | None = None
    message_id: int | None = None
    status: int = 200
    created: dict[str, Any] | None = None  # the message this call created or edited, as stored

    @property
    def body(self) -> dict[str, Any]:
        """The message fields: the JSON body, or the ``data`` of an interaction callback."""
        if self.route == "callback":
            return dict(self.params.get("data") or {})
        return self.params if isinstance(self.params, dict) else {}  # a command sync sends a list

    @property
    def text(self) -> str:
        return str(self.body.get("content") or "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, custom_id) of every button, row by row."""
        return [(b.get("label", ""), b.get("custom_id", "")) for row in self.rows for b in row]

    @property
    def rows(self) -> list[list[dict[str, Any]]]:
        return [list(row.get("components", [])) for row in self.body.get("components") or []]

    @property
    def flags(self) -> int:
        return int(self.body.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def embeds_suppressed(self) -> bool:
        return bool(self.flags & SUPPRESS_EMBEDS)

    @property
    def callback_type(self) -> int | None:
        return int(self.params["type"]) if self.route == "callback" else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Interaction:
    id: int
    token: str
    channel_id: int
    dispatched_at: float
    guild_id: int | None
    answered: bool = False
    original: int | None = None  # message id of the response message
    ephemeral: bool = False
    late: bool = False
    pressed: tuple[int, int] | None = None  # (channel, message) whose button made this interaction


@dataclass
class _Failure:
    status: int
    retry_after: float
    channel_id: int | None


class FakeDiscord:
    """The fake server; ``start()`` runs it on its own thread and event loop."""

    def __init__(self, *, guild: bool = True, interaction_deadline_s: float = INTERACTION_DEADLINE_S,
                 message_content_allowed: bool = True) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global) → synced commands
        self.dispatched: dict[str, float] = {}  # event key (message or interaction id) → when it was sent
        self.identifies: list[dict[str, Any]] = []
        self.closed_sockets = 0
        self.with_guild = guild
        # Off: the developer portal's Message Content switch is not on, and IDENTIFY asking for it is refused.
        self.message_content_allowed = message_content_allowed
        self.interaction_deadline_s = interaction_deadline_s
        self.interactions: dict[str, _Interaction] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = _snowflakes(1_100_000_000_000_000_000)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-discord", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=200 * 2**20)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{path:.*}", self._download)
        app.router.add_route("*", "/api/v10/{path:.*}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def _stop() -> None:
            for ws in list(self._sockets):
                with suppress(Exception):
                    await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def base_url(self) -> str:
        """What ``STUDIO_DISCORD_BASE_URL`` points at (discord.py's ``Route.BASE``)."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``STUDIO_DISCORD_GATEWAY_URL`` points at."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    # ---- scripting ---------------------------------------------------------------------------------

    def fail_next(self, route: str, *, status: int = 429, retry_after: float = 1.0, times: int = 1,
                  channel_id: int | None = None) -> None:
        """Answer the next ``times`` calls of ``route`` (to ``channel_id`` if given) with ``status``."""
        with self._lock:
            self._failures.setdefault(route, []).extend([_Failure(status, retry_after, channel_id)] * times)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def add_file(self, data: bytes, *, filename: str, content_type: str | None, size: int | None = None,
                 channel_id: int = 0, **extra: Any) -> dict[str, Any]:
        """A downloadable attachment; ``size`` can claim more than ``data`` holds (Discord reports it)."""
        attachment_id = self.next_id()
        key = f"{channel_id}/{attachment_id}/{filename}"
        self.files[key] = data
        url = f"http://127.0.0.1:{self.port}/attachments/{key}"
        attachment: dict[str, Any] = {"id": str(attachment_id), "filename": filename,
                                      "size": size if size is not None else len(data), "url": url,
                                      "proxy_url": url, **extra}
        if content_type is not None:
            attachment["content_type"] = content_type
        return attachment

    # ---- users, channels and messages they send ------------------------------------------------------

    @staticmethod
    def user(uid: int) -> dict[str, Any]:
        return {"id": str(uid), "username": f"user{uid}", "discriminator": "0", "global_name": f"User {uid}",
                "avatar": None}

    def member(self, uid: int) -> dict[str, Any]:
        return {"user": self.user(uid), "roles": [], "joined_at": now_iso(), "deaf": False, "mute": False,
                "flags": 0, "permissions": "2251799813685247"}

    def user_message(self, uid: int, content: str = "", *, guild: bool = False,
                     attachments: list[dict[str, Any]] | None = None, reply_to: dict[str, Any] | None = None,
                     mention_bot: bool = False, **extra: Any) -> dict[str, Any]:
        """A message from user ``uid`` in their DM with the bot, or in the guild channel; not yet sent."""
        channel_id = GUILD_CHANNEL if guild else dm_channel(uid)
        if mention_bot:
            content = f"<@{APP_ID}> {content}".strip()
        message: dict[str, Any] = {
            "id": str(self.next_id()), "channel_id": str(channel_id), "author": self.user(uid), "content": content,
            "timestamp": now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [dict(BOT_USER)] if mention_bot else [], "mention_roles": [],
            "attachments": attachments or [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
            "components": [], **extra,
        }
        if guild:
            message["guild_id"] = str(GUILD_ID)
            message["member"] = {k: v for k, v in self.member(uid).items() if k != "user"}
        if reply_to is not None:
            message["type"] = 19
            message["message_reference"] = {"type": 0, "message_id": reply_to["id"],
                                            "channel_id": reply_to["channel_id"]}
            message["referenced_message"] = reply_to
        return message

    def send(self, uid: int, content: str = "", **kwargs: Any) -> dict[str, Any]:
        """User ``uid`` sends a message (MESSAGE_CREATE); returns it."""
        message = self.user_message(uid, content, **kwargs)
        self.dispatch("MESSAGE_CREATE", message, key=message["id"])
        return message

    # ---- interactions --------------------------------------------------------------------------------

    def _interaction(self, uid: int, kind: int, data: dict[str, Any], *, guild: bool,
                     message: dict[str, Any] | None = None) -> dict[str, Any]:
        channel_id = GUILD_CHANNEL if guild else dm_channel(uid)
        interaction_id = self.next_id()
        token = f"tok{interaction_id}"
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(APP_ID), "type": kind, "data": data,
            "channel_id": str(channel_id), "token": token, "version": 1, "locale": "en-US",
            "app_permissions": "2251799813685247", "entitlements": [], "attachment_size_limit": 10 * 2**20,
            "context": 0 if guild else 1,
        }
        if guild:
            payload.update(guild_id=str(GUILD_ID), member=self.member(uid), guild_locale="en-US",
                           channel={"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID), "name": "general",
                                    "position": 0, "permission_overwrites": [], "nsfw": False},
                           authorizing_integration_owners={"0": str(GUILD_ID)})
        else:
            payload.update(user=self.user(uid),
                           channel={"id": str(channel_id), "type": 1, "recipients": [self.user(uid)]},
                           authorizing_integration_owners={"0": str(uid)})
        if message is not None:
            payload["message"] = message
        with self._lock:
            self.interactions[token] = _Interaction(id=interaction_id, token=token, channel_id=channel_id,
                                                    dispatched_at=time.monotonic(),
                                                    guild_id=GUILD_ID if guild else None,
                                                    pressed=None if message is None else
                                                    (int(message["channel_id"]), int(message["id"])))
        return payload

    def command(self, name: str, *, guild_id: int | None = None) -> dict[str, Any]:
        """The synced definition of top-level command ``name`` (chat input)."""
        for scope in ([guild_id] if guild_id is not None else []) + [None, GUILD_ID]:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        raise AssertionError(f"/{name} was never synced; synced: {self.command_names()}")

    def command_names(self) -> list[str]:
        return sorted({c["name"] for scope in self.commands.values() for c in scope})

    def slash(self, uid: int, path: str, *, guild: bool = False, focused: str | None = None,
              **values: Any) -> dict[str, Any]:
        """User ``uid`` runs ``/path`` ("imagine", "persona new") with option ``values``; returns the payload.

        Option types come from the synced definition, so an option the bot never registered fails the test.
        Attachments are given as dicts from ``add_file``. ``focused`` makes it an autocomplete request instead.
        """
        top, *subs = path.split()
        command = self.command(top)
        options_out: list[dict[str, Any]] = []
        container, schema = options_out, command.get("options", [])
        for sub in subs:
            found = next((o for o in schema if o["name"] == sub and o["type"] in (1, 2)), None)
            assert found is not None, f"/{path}: {sub} is not a subcommand of the synced command"
            node: dict[str, Any] = {"name": sub, "type": found["type"], "options": []}
            container.append(node)
            container, schema = node["options"], found.get("options", [])
        resolved: dict[str, Any] = {}
        by_name = {o["name"]: o for o in schema}
        for key, value in values.items():
            option = by_name.get(key)
            assert option is not None, f"/{path} has no option {key!r}; it has {sorted(by_name)}"
            if option.get("choices") and focused != key:
                allowed = [c["value"] for c in option["choices"]]
                assert value in allowed, f"/{path} {key}={value!r} is not one of its choices {allowed}"
            item: dict[str, Any] = {"name": key, "type": option["type"]}
            if option["type"] == OPTION_TYPES["attachment"]:
                item["value"] = value["id"]
                resolved.setdefault("attachments", {})[value["id"]] = value
            else:
                item["value"] = value
            if focused == key:
                item["focused"] = True
            container.append(item)
        if focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            assert not missing, f"/{path} needs {missing}"
        data: dict[str, Any] = {"id": command["id"], "name": top, "type": 1, "options": options_out}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(uid, 4 if focused else 2, data, guild=guild)
        self.dispatch("INTERACTION_CREATE", payload, key=payload["id"])
        return payload

    def stale_command(self, uid: int, name: str, *, guild: bool = False) -> dict[str, Any]:
        """User ``uid`` runs a command Discord still lists but the bot no longer has."""
        payload = self._interaction(uid, 2, {"id": str(self.next_id()), "name": name, "type": 1, "options": []},
                                    guild=guild)
        self.dispatch("INTERACTION_CREATE", payload, key=payload["id"])
        return payload

    def context_menu(self, uid: int, name: str, target: dict[str, Any], *, guild: bool = False) -> dict[str, Any]:
        """User ``uid`` runs the message command ``name`` on ``target``."""
        command = next((c for scope in self.commands.values() for c in scope
                        if c["name"] == name and c.get("type") == 3), None)
        assert command is not None, f"message command {name!r} was never synced"
        data = {"id": command["id"], "name": name, "type": 3, "target_id": target["id"],
                "resolved": {"messages": {target["id"]: target}}}
        payload = self._interaction(uid, 2, data, guild=guild)
        self.dispatch("INTERACTION_CREATE", payload, key=payload["id"])
        return payload

    def press(self, uid: int, message: dict[str, Any], custom_id: str, *, guild: bool | None = None) -> dict[str, Any]:
        """User ``uid`` presses the button ``custom_id`` under the bot's ``message``."""
        in_guild = bool(message.get("guild_id")) if guild is None else guild
        data = {"custom_id": custom_id, "component_type": 2}
        payload = self._interaction(uid, 3, data, guild=in_guild, message=message)
        self.dispatch("INTERACTION_CREATE", payload, key=payload["id"])
        return payload

    # ---- gateway -----------------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any], *, key: str | None = None) -> None:
        """Send a gateway event to every identified connection."""
        async def send() -> None:
            if key is not None:
                self.dispatched[key] = time.monotonic()
            frame = json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
            for ws in list(self._sockets):
                with suppress(ConnectionError, RuntimeError):
                    await ws.send_str(frame)

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)

    def connected(self) -> int:
        return len(self._sockets)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    self.identifies.append(frame["d"])
                    if frame["d"].get("token") != TOKEN:
                        await ws.close(code=4004, message=b"Authentication failed.")
                    elif int(frame["d"].get("intents", 0)) & MESSAGE_CONTENT and not self.message_content_allowed:
                        await ws.close(code=4014, message=b"Disallowed intent(s).")
                    else:
                        await self._ready(ws)
                elif op == 6:
                    self._sockets.append(ws)
                    await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}}))
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self.closed_sockets += 1
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        guilds = [{"id": str(GUILD_ID), "unavailable": True}] if self.with_guild else []
        ready = {"v": 10, "user": {**BOT_USER, "verified": True, "mfa_enabled": False, "flags": 0},
                 "guilds": guilds, "session_id": f"session{self.next_id()}", "private_channels": [],
                 "relationships": [], "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                 "application": {"id": str(APP_ID), "flags": 0}}
        await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready}))
        if self.with_guild:
            await ws.send_str(json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": self._guild()}))
        self._sockets.append(ws)

    def _guild(self) -> dict[str, Any]:
        everyone = {"id": str(GUILD_ID), "name": "@everyone", "permissions": "2251799813685247", "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        channel = {"id": str(GUILD_CHANNEL), "type": 0, "name": "general", "position": 0, "guild_id": str(GUILD_ID),
                   "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None}
        bot_member = {"user": BOT_USER, "roles": [], "joined_at": now_iso(), "deaf": False, "mute": False,
                      "flags": 0}
        return {"id": str(GUILD_ID), "name": "Studio test server", "icon": None, "splash": None,
                "discovery_splash": None, "owner_id": "1", "afk_channel_id": None, "afk_timeout": 300,
                "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
                "roles": [everyone], "emojis": [], "stickers": [], "features": [], "mfa_level": 0,
                "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
                "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
                "premium_subscription_count": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
                "nsfw_level": 0, "premium_progress_bar_enabled": False, "joined_at": now_iso(), "large": False,
                "unavailable": False, "member_count": 2, "voice_states": [], "members": [bot_member],
                "channels": [channel], "threads": [], "presences": [], "stage_instances": [],
                "guild_scheduled_events": [], "soundboard_sounds": []}

    # ---- assertions --------------------------------------------------------------------------------

    def calls_to(self, route: str, *, channel_id: int | None = None, ok: bool | None = None) -> list[Call]:
        return [c for c in list(self.calls) if c.route == route and (channel_id is None or c.channel_id == channel_id)
                and (ok is None or c.ok == ok)]

    def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll ``predicate`` until it returns something truthy; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; calls: "
                             + ", ".join(f"{c.route}({c.channel_id}: {c.status} {c.text[:60]!r})"
                                         for c in self.calls[-30:]))

    def wait_call(self, route: str, *, channel_id: int | None = None, contains: str = "", after: int = 0,
                  timeout: float = 30.0, ok: bool | None = True) -> Call:
        """The first call of ``route`` (to ``channel_id``, with ``contains`` in its text) made after call ``after``.

        Only calls the fake accepted count unless ``ok`` says otherwise.
        """
        def find() -> Call | None:
            for call in list(self.calls)[after:]:
                if (call.route == route and (channel_id is None or call.channel_id == channel_id)
                        and contains in call.text and (ok is None or call.ok == ok)):
                    return call
            return None
        return self.wait_for(find, timeout=timeout, what=f"{route} to {channel_id} containing {contains!r}")

    def answer_to(self, interaction: dict[str, Any], *, after: int = 0, timeout: float = 30.0,
                  contains: str = "") -> Call:
        """The first visible answer to ``interaction``: its callback message, an edit of it, or a followup."""
        token = interaction["token"]

        def find() -> Call | None:
            for call in list(self.calls)[after:]:
                if not call.ok or token not in call.path or contains not in call.text:
                    continue
                if (call.route == "callback" and call.callback_type == 4) or call.route in (
                        "followup", "edit_original"):
                    return call
            return None
        return self.wait_for(find, timeout=timeout, what=f"an answer to interaction {interaction['id']}"
                                                          f" containing {contains!r}")

    def texts(self, channel_id: int) -> list[str]:
        return [c.text for c in list(self.calls) if c.channel_id == channel_id and c.ok
                and c.route in ("send", "edit", "callback", "followup", "edit_original")]

    def message(self, call: Call) -> dict[str, Any]:
        """The stored message a call created or edited (what a user's client shows and can press buttons on)."""
        assert call.created is not None, f"{call.route} created no message"
        return self.messages[(int(call.created["channel_id"]), int(call.created["id"]))]

    # ---- REST --------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        params: dict[str, Any] = {}
        files: list[tuple[str, bytes]] = []
        if request.can_read_body:
            if request.content_type.startswith("multipart/"):
                reader = await request.multipart()
                while (part := await reader.next()) is not None:
                    data = await part.read()  # type: ignore[union-attr]
                    if part.name == "payload_json":  # type: ignore[union-attr]
                        params = json.loads(data)
                    else:
                        files.append((part.filename or "", bytes(data)))  # type: ignore[union-attr]
            else:
                raw = await request.read()
                if raw:
                    if request.content_type != "application/json":
                        return _json({"message": "expected application/json", "code": 50109}, status=400)
                    params = json.loads(raw)
        route, match = _route(request.method, path)
        call = Call(route=route, method=request.method, path=path, params=params, query=dict(request.query),
                    files=files, at=time.monotonic())
        channel = match.get("channel")
        call.channel_id = int(channel) if channel and channel.isdigit() else None
        if match.get("message", "").isdigit():
            call.message_id = int(match["message"])
        if route in ("callback", "followup", "edit_original", "delete_original", "get_original"):
            found = self.interactions.get(match.get("token", ""))
            call.channel_id = found.channel_id if found is not None else None
        self.calls.append(call)
        webhook = route in ("callback", "followup", "edit_original", "delete_original", "get_original")
        if not webhook and request.headers.get("Authorization") != f"Bot {TOKEN}":
            # Interaction webhooks are authorised by their token in the path; everything else by the bot token.
            call.status = 401
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        response = self._injected_failure(call) or await self._handle(call, match)
        call.status = response.status
        return response

    def _injected_failure(self, call: Call) -> web.Response | None:
        with self._lock:
            queue = self._failures.get(call.route, [])
            index = next((i for i, f in enumerate(queue) if f.channel_id in (None, call.channel_id)), None)
            failure = queue.pop(index) if index is not None else None
        if failure is None:
            return None
        if failure.status == 429:
            headers = {"Via": "1.1 google", "Retry-After": str(max(1, round(failure.retry_after))),
                       "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                       "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                       "X-RateLimit-Bucket": f"bucket-{call.route}", "X-RateLimit-Scope": "user"}
            return _json({"message": "You are being rate limited.", "retry_after": failure.retry_after,
                          "global": False}, status=429, headers=headers)
        if failure.status == 403:
            return _json({"message": "Cannot send messages to this user", "code": 50007}, status=403)
        return _json({"message": "Service unavailable", "code": 0}, status=failure.status)

    async def _handle(self, call: Call, match: dict[str, str]) -> web.Response:
        handler = getattr(self, f"_r_{call.route}", None)
        if handler is None:
            return _json({"message": f"404: Not Found ({call.method} {call.path})", "code": 0}, status=404)
        result = handler(call, match)
        if isinstance(result, web.Response):
            return result
        if result is None:
            return web.Response(status=204, headers=_rate_headers(call.route))
        return _json(result, headers=_rate_headers(call.route))

    def _r_me(self, call: Call, match: dict[str, str]) -> Any:
        return {**BOT_USER, "verified": True, "mfa_enabled": False, "flags": 0}

    def _r_app(self, call: Call, match: dict[str, str]) -> Any:
        return {"id": str(APP_ID), "name": "Studio", "description": "", "icon": None, "rpc_origins": [],
                "bot_public": True, "bot_require_code_grant": False, "owner": self.user(1), "summary": "",
                "verify_key": "0" * 64, "team": None, "flags": 0, "bot": BOT_USER}

    def _r_gateway(self, call: Call, match: dict[str, str]) -> Any:
        return {"url": self.gateway_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}

    def _r_commands(self, call: Call, match: dict[str, str]) -> Any:
        guild_id = int(match["guild"]) if match.get("guild") else None
        if call.method == "GET":
            return self.commands.get(guild_id, [])
        out = []
        for definition in call.params if isinstance(call.params, list) else []:
            command = {**definition, "id": str(self.next_id()), "application_id": str(APP_ID),
                       "version": str(self.next_id()), "default_member_permissions": None}
            command.setdefault("type", 1)
            command.setdefault("description", "")  # Discord answers "" for message commands
            command.setdefault("options", [])
            if guild_id is not None:
                command["guild_id"] = str(guild_id)
            out.append(command)
        self.commands[guild_id] = out
        return out

    def _bot_message(self, channel_id: int, body: dict[str, Any], files: list[tuple[str, bytes]], *,
                     flags: int = 0, interaction: _Interaction | None = None,
                     reference: dict[str, Any] | None = None) -> dict[str, Any] | web.Response:
        problem = _check_message(body, files, loading=bool(flags & LOADING))
        if problem is not None:
            return problem
        message_id = self.next_id()
        attachments = []
        described = {int(a["id"]): a for a in body.get("attachments", []) if str(a.get("id", "")).isdigit()}
        for index, (name, data) in enumerate(files):
            key = f"{channel_id}/{message_id}/{index}/{name}"
            self.files[key] = data
            url = f"http://127.0.0.1:{self.port}/attachments/{key}"
            meta = described.get(index, {})
            attachments.append({"id": str(self.next_id()), "filename": meta.get("filename", name), "size": len(data),
                                "url": url, "proxy_url": url, "description": meta.get("description"),
                                "content_type": _guess_type(name)})
        message: dict[str, Any] = {
            "id": str(message_id), "channel_id": str(channel_id), "author": dict(BOT_USER),
            "content": body.get("content") or "", "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": attachments,
            "embeds": body.get("embeds") or [], "pinned": False, "type": 0, "flags": flags,
            "components": body.get("components") or [],
        }
        if channel_id == GUILD_CHANNEL:
            message["guild_id"] = str(GUILD_ID)
        if reference is not None:
            message["type"] = 19
            message["message_reference"] = reference
        if interaction is not None:
            message["interaction_metadata"] = {"id": str(interaction.id), "type": 2, "user": self.user(1)}
        self.messages[(channel_id, message_id)] = message
        return message

    def _r_send(self, call: Call, match: dict[str, str]) -> Any:
        assert call.channel_id is not None
        created = self._bot_message(call.channel_id, call.params, call.files,
                                    flags=int(call.params.get("flags") or 0),
                                    reference=call.params.get("message_reference"))
        if isinstance(created, dict):
            call.created = created
        return created

    def _edit(self, call: Call, message: dict[str, Any]) -> dict[str, Any] | web.Response:
        body = call.body  # an UPDATE_MESSAGE callback carries the fields in its ``data``
        problem = _check_message({"content": body.get("content", message["content"]),
                                  "components": body.get("components", [])}, call.files)
        if problem is not None:
            return problem
        if "content" in body:
            message["content"] = body["content"] or ""
        if "components" in body:
            message["components"] = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            # Only the loading flag can be cleared; ephemerality stays what it was.
            message["flags"] = (message["flags"] & EPHEMERAL) | (int(body["flags"]) & ~EPHEMERAL & ~LOADING)
        else:
            message["flags"] = message["flags"] & ~LOADING
        message["edited_timestamp"] = now_iso()
        call.created = message
        return message

    def _r_edit(self, call: Call, match: dict[str, str]) -> Any:
        assert call.channel_id is not None and call.message_id is not None
        message = self.messages.get((call.channel_id, call.message_id))
        if message is None or message["flags"] & EPHEMERAL:
            # Ephemeral messages belong to the interaction: the channel endpoint cannot see them.
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return self._edit(call, message)

    def _r_delete(self, call: Call, match: dict[str, str]) -> Any:
        assert call.channel_id is not None and call.message_id is not None
        if self.messages.pop((call.channel_id, call.message_id), None) is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return None

    def _r_fetch(self, call: Call, match: dict[str, str]) -> Any:
        assert call.channel_id is not None and call.message_id is not None
        message = self.messages.get((call.channel_id, call.message_id))
        if message is None or message["flags"] & EPHEMERAL:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return message

    def _r_typing(self, call: Call, match: dict[str, str]) -> Any:
        return None

    def _r_dm(self, call: Call, match: dict[str, str]) -> Any:
        uid = int(call.params["recipient_id"])
        return {"id": str(dm_channel(uid)), "type": 1, "recipients": [self.user(uid)], "last_message_id": None}

    def _known_interaction(self, match: dict[str, str]) -> _Interaction | web.Response:
        found = self.interactions.get(match.get("token", ""))
        if found is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        return found

    def _r_callback(self, call: Call, match: dict[str, str]) -> Any:
        found = self.interactions.get(match.get("token", ""))
        if found is None or str(found.id) != match.get("id"):
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        if found.answered:
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
        if time.monotonic() - found.dispatched_at > self.interaction_deadline_s:
            found.late = True
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        if call.query.get("with_response") not in ("1", "true", "True"):
            return _json({"message": "the fake expects with_response", "code": 0}, status=400)
        kind = int(call.params["type"])
        data = dict(call.params.get("data") or {})
        found.answered = True
        interaction = {"id": str(found.id), "type": 2}
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            created = self._bot_message(found.channel_id, data, call.files, flags=flags, interaction=found)
            if not isinstance(created, dict):
                found.answered = False
                return created
            call.created = created
            found.original = int(created["id"])
            found.ephemeral = bool(flags & EPHEMERAL)
            resource["message"] = created
            interaction.update(response_message_id=created["id"], response_message_loading=kind == 5,
                               response_message_ephemeral=found.ephemeral)
        elif kind == 7:  # UPDATE_MESSAGE: the pressed message is edited in place
            pressed = self.messages.get(found.pressed) if found.pressed is not None else None
            if pressed is None:
                found.answered = False
                return _json({"message": "Unknown Message", "code": 10008}, status=404)
            edited = self._edit(call, pressed)
            if not isinstance(edited, dict):
                found.answered = False
                return edited
            resource["message"] = edited
        return {"interaction": interaction, "resource": resource}

    def _r_followup(self, call: Call, match: dict[str, str]) -> Any:
        found = self._known_interaction(match)
        if isinstance(found, web.Response):
            return found
        if not found.answered:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        created = self._bot_message(found.channel_id, call.params, call.files,
                                    flags=int(call.params.get("flags") or 0), interaction=found)
        if isinstance(created, dict):
            call.created = created
        return created

    def _original(self, match: dict[str, str]) -> tuple[_Interaction, dict[str, Any]] | web.Response:
        found = self._known_interaction(match)
        if isinstance(found, web.Response):
            return found
        target = match.get("message", "")
        message_id = found.original if target == "@original" else int(target) if target.isdigit() else None
        message = self.messages.get((found.channel_id, message_id)) if message_id is not None else None
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return found, message

    def _r_edit_original(self, call: Call, match: dict[str, str]) -> Any:
        found = self._original(match)
        if isinstance(found, web.Response):
            return found
        return self._edit(call, found[1])

    def _r_get_original(self, call: Call, match: dict[str, str]) -> Any:
        found = self._original(match)
        return found if isinstance(found, web.Response) else found[1]

    def _r_delete_original(self, call: Call, match: dict[str, str]) -> Any:
        found = self._original(match)
        if isinstance(found, web.Response):
            return found
        message = found[1]
        self.messages.pop((int(message["channel_id"]), int(message["id"])), None)
        return None

    async def _download(self, request: web.Request) -> web.Response:
        key = request.match_info["path"]
        call = Call(route="download", method="GET", path=key, at=time.monotonic())
        self.calls.append(call)
        if key not in self.files:
            call.status = 404
            return web.Response(status=404)
        return web.Response(body=self.files[key], content_type="application/octet-stream")


_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/users/@me", "me"),
    ("GET", "/oauth2/applications/@me", "app"),
    ("GET", "/gateway/bot", "gateway"),
    ("GET", "/gateway", "gateway"),
    ("PUT", "/applications/{app}/commands", "commands"),
    ("GET", "/applications/{app}/commands", "commands"),
    ("PUT", "/applications/{app}/guilds/{guild}/commands", "commands"),
    ("GET", "/applications/{app}/guilds/{guild}/commands", "commands"),
    ("POST", "/channels/{channel}/messages", "send"),
    ("PATCH", "/channels/{channel}/messages/{message}", "edit"),
    ("DELETE", "/channels/{channel}/messages/{message}", "delete"),
    ("GET", "/channels/{channel}/messages/{message}", "fetch"),
    ("POST", "/channels/{channel}/typing", "typing"),
    ("POST", "/users/@me/channels", "dm"),
    ("POST", "/interactions/{id}/{token}/callback", "callback"),
    ("POST", "/webhooks/{app}/{token}", "followup"),
    ("PATCH", "/webhooks/{app}/{token}/messages/{message}", "edit_original"),
    ("GET", "/webhooks/{app}/{token}/messages/{message}", "get_original"),
    ("DELETE", "/webhooks/{app}/{token}/messages/{message}", "delete_original"),
)


def _route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The route name and its path parameters; ("unknown", {}) for anything else."""
    parts = path.strip("/").split("/")
    for want_method, pattern, name in _ROUTES:
        pieces = pattern.strip("/").split("/")
        if want_method != method or len(pieces) != len(parts):
            continue
        found: dict[str, str] = {}
        for piece, part in zip(pieces, parts, strict=True):
            if piece.startswith("{"):
                found[piece[1:-1]] = part
            elif piece != part:
                break
        else:
            return name, found
    return "unknown", {}


def _check_message(body: dict[str, Any], files: list[tuple[str, bytes]], *,
                   loading: bool = False) -> web.Response | None:
    """Discord's own limits on a message: the fake refuses what Discord would refuse."""
    errors = []
    if len(body.get("content") or "") > 2000:
        errors.append("content: Must be 2000 or fewer in length.")
    if len(files) > 10:
        errors.append("files: Must be 10 or fewer in length.")
    rows = body.get("components") or []
    if len(rows) > 5:
        errors.append("components: Must be 5 or fewer in length.")
    for row in rows:
        buttons = row.get("components", [])
        if len(buttons) > 5:
            errors.append("components.components: Must be 5 or fewer in length.")
        for button in buttons:
            if len(button.get("custom_id") or "") > 100:
                errors.append("custom_id: Must be 100 or fewer in length.")
            if len(button.get("label") or "") > 80:
                errors.append("label: Must be 80 or fewer in length.")
    custom_ids = [b.get("custom_id") for row in rows for b in row.get("components", []) if b.get("custom_id")]
    if len(custom_ids) != len(set(custom_ids)):
        errors.append("custom_id: Component custom id cannot be duplicated")
    if not loading and not (body.get("content") or files or body.get("embeds") or rows or body.get("attachments")):
        errors.append("Cannot send an empty message")
    if sum(len(data) for _, data in files) > 10 * 2**20:
        return _json({"message": "Request entity too large", "code": 40005}, status=413)
    if errors:
        detail = {"_errors": [{"code": "INVALID", "message": message} for message in errors]}
        return _json({"message": "Invalid Form Body", "code": 50035, "errors": detail}, status=400)
    return None


def _guess_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".jpg", ".jpeg")):
        return "image/jpeg"
    if lowered.endswith(".png"):
        return "image/png"
    if lowered.endswith(".mp4"):
        return "video/mp4"
    return "application/octet-stream"


def _rate_headers(route: str) -> dict[str, str]:
    # Generous buckets: the fake never throttles on its own, only through ``fail_next``.
    return {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "49", "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}", "X-RateLimit-Bucket": f"bucket-{route}"}


def _json(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body as JSON only when the Content-Type is exactly this (no charset).
    return web.Response(body=json.dumps(payload).encode(), status=status,
                        headers={**(headers or {}), "Content-Type": "application/json"})


@contextmanager
def fake_discord(**kwargs: Any) -> Iterator[FakeDiscord]:
    """A started fake server, stopped afterwards."""
    fake = FakeDiscord(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


@contextmanager
def running(frontend: Any, fake: FakeDiscord, *, timeout: float = 20.0) -> Iterator[Any]:
    """Run ``frontend`` (a ``DiscordFrontend``) on its own thread and event loop until the block ends.

    Ready means: logged in, commands synced, connected to the gateway, and delivery reading its stream.
    """
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(frontend.run())
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="discord-bot", daemon=True)
    thread.start()
    fake.wait_for(lambda: errors or frontend.delivery is not None, timeout=timeout, what="the bot to be ready")
    if errors:
        raise errors[0]
    try:
        yield frontend
    finally:
        if thread.is_alive():
            asyncio.run_coroutine_threadsafe(frontend.stop(), loop).result(timeout)
        thread.join(timeout)
        loop.close()
        if errors:
            raise errors[0]
