"""A fake Telegram Bot API on loopback, for driving the real python-telegram-bot Application in tests.

It serves scripted updates through ``getUpdates`` (long polling), answers the methods the bot calls, keeps
the messages the bot sent (so edits and button presses refer to real message ids), serves files for
``getFile`` downloads, records every call with its time, and can answer a method with 429 ``retry_after``.

python-telegram-bot sends parameters as form fields (multipart when files are attached); values that are
not strings arrive JSON-encoded, so everything but free text is decoded here.
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
from typing import Any

from aiohttp import web

TOKEN = "123456:TEST-TOKEN"
BOT_USER = {"id": 777000, "is_bot": True, "first_name": "Studio", "username": "studio_test_bot"}
# Fields PTB sends as raw strings; everything else is JSON-encoded.
_RAW_FIELDS = {"text", "caption", "callback_query_id", "file_id", "parse_mode", "url", "description"}


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = 0.0
    status: int = 200  # what the fake answered: 200, or the scripted failure

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of the inline keyboard, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]


class FakeTelegram:
    """The fake server; ``start()`` runs it on its own thread and event loop."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.handed_out: dict[int, float] = {}  # update_id → when getUpdates returned it
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.broken_files: set[str] = set()
        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._wake: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-telegram", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _start(self) -> None:
        self._wake = asyncio.Event()
        app = web.Application(client_max_size=200 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- scripting ---------------------------------------------------------------------------------

    def fail_next(self, method: str, *, retry_after: int = 1, times: int = 1, status: int = 429) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 Too Many Requests (or another ``status``)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def clear_failures(self) -> None:
        """Forget every scripted failure not yet used: the outage is over."""
        with self._lock:
            self._failures.clear()

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        with self._lock:
            update = {"update_id": next(self._ids), **update}
            self._updates.append(update)
        self._loop.call_soon_threadsafe(self._notify)
        return int(update["update_id"])

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def peek_id(self) -> int:
        """The next id the counter will hand out (ids are shared by updates and files)."""
        with self._lock:
            value = next(self._ids)
            self._ids = itertools.count(value)
        return value

    def add_file(self, data: bytes, *, size: int | None = None) -> tuple[str, int]:
        """Store a downloadable file; returns (file_id, reported size)."""
        file_id = f"file{next(self._ids)}"
        self.files[file_id] = data
        return file_id, size if size is not None else len(data)

    # ---- update builders ---------------------------------------------------------------------------

    @staticmethod
    def user(uid: int) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": f"User{uid}"}

    @staticmethod
    def chat(chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}

    def _message(self, uid: int, chat_id: int | None, **content: Any) -> dict[str, Any]:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": self.chat(chat_id if chat_id is not None else uid), "from": self.user(uid), **content}

    def text(self, uid: int, text: str, *, chat_id: int | None = None, reply_to: dict[str, Any] | None = None,
             entities: list[dict[str, Any]] | None = None, **extra: Any) -> int:
        """A text message from user ``uid`` (in their private chat unless ``chat_id``)."""
        content: dict[str, Any] = {"text": text, **extra}
        if entities is None and text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            content["reply_to_message"] = reply_to
        return self.push({"message": self._message(uid, chat_id, **content)})

    def photo(self, uid: int, data: bytes, *, chat_id: int | None = None, caption: str | None = None,
              media_group_id: str | None = None, **extra: Any) -> int:
        """A compressed photo: a thumbnail and the full size, as Telegram sends them."""
        thumb_id, _ = self.add_file(b"not the largest size")
        full_id, size = self.add_file(data)
        sizes = [{"file_id": thumb_id, "file_unique_id": thumb_id, "width": 90, "height": 90, "file_size": 20},
                 {"file_id": full_id, "file_unique_id": full_id, "width": 1280, "height": 1280, "file_size": size}]
        content: dict[str, Any] = {"photo": sizes, **extra}
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return self.push({"message": self._message(uid, chat_id, **content)})

    def document(self, uid: int, data: bytes, *, filename: str, mime: str, size: int | None = None,
                 chat_id: int | None = None, caption: str | None = None) -> int:
        """A file sent uncompressed; ``size`` can claim more than ``data`` holds (Telegram reports it)."""
        file_id, reported = self.add_file(data, size=size)
        content: dict[str, Any] = {"document": {"file_id": file_id, "file_unique_id": file_id, "file_name": filename,
                                                "mime_type": mime, "file_size": reported}}
        if caption:
            content["caption"] = caption
        return self.push({"message": self._message(uid, chat_id, **content)})

    def content(self, uid: int, **content: Any) -> int:
        """Any other message content (sticker, voice, location ...), given as Bot API fields."""
        return self.push({"message": self._message(uid, None, **content)})

    def press(self, uid: int, message: dict[str, Any], data: str) -> int:
        """User ``uid`` presses a button with callback ``data`` under the bot's ``message``."""
        query = {"id": f"cq{next(self._ids)}", "from": self.user(uid), "chat_instance": "ci", "data": data,
                 "message": message}
        return self.push({"callback_query": query})

    # ---- assertions --------------------------------------------------------------------------------

    def calls_to(self, method: str, *, chat_id: int | None = None) -> list[Call]:
        return [c for c in list(self.calls) if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll ``predicate`` until it returns something truthy; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; calls: "
                             + ", ".join(f"{c.method}({c.chat_id}: {c.text[:60]!r})" for c in self.calls[-30:]))

    def wait_call(self, method: str, *, chat_id: int | None = None, contains: str = "", after: int = 0,
                  timeout: float = 30.0) -> Call:
        """The first call of ``method`` (to ``chat_id``, with ``contains`` in its text) made after call ``after``."""
        def find() -> Call | None:
            for call in list(self.calls)[after:]:
                if call.method == method and (chat_id is None or call.chat_id == chat_id) and contains in call.text:
                    return call
            return None
        return self.wait_for(find, timeout=timeout, what=f"{method} to {chat_id} containing {contains!r}")

    def message_of(self, call: Call) -> dict[str, Any]:
        """The stored message a send call created (as the bot would see it when a user presses its buttons)."""
        message_id = call.params["_message_id"]
        return self.messages[(int(call.params["chat_id"]), message_id)]

    def texts(self, chat_id: int) -> list[str]:
        return [c.text for c in list(self.calls) if c.chat_id == chat_id and c.method.startswith(("send", "edit"))]

    # ---- Bot API -----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.method == "POST" and request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read())
                elif key in _RAW_FIELDS:
                    params[key] = value
                else:
                    try:
                        params[key] = json.loads(value)
                    except (TypeError, ValueError):
                        params[key] = value
        call = Call(method=method, params=params, files=files, at=time.monotonic())
        self.calls.append(call)
        with self._lock:
            queue = self._failures.get(method)
            failure = queue.pop(0) if queue else None
        if failure is not None:
            status, retry_after = failure
            call.status = status
            if status != 429:
                return _error(status, "Bad Gateway")
            return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _ok(True)
        result = await handler(call)
        return result if isinstance(result, web.Response) else _ok(result)

    async def _m_getMe(self, call: Call) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _m_getUpdates(self, call: Call) -> Any:
        offset = int(call.params.get("offset") or 0)
        deadline = time.monotonic() + float(call.params.get("timeout") or 0)
        assert self._wake is not None
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates[: int(call.params.get("limit") or 100)])
            left = deadline - time.monotonic()
            if ready or left <= 0:
                break
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)
        now = time.monotonic()
        for update in ready:
            self.handed_out.setdefault(int(update["update_id"]), now)
        return ready

    def _store(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = int(call.params["chat_id"])
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self.chat(chat_id),
                   "from": BOT_USER, **content}
        if call.params.get("reply_markup"):
            message["reply_markup"] = call.params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        call.params["_message_id"] = message["message_id"]
        return message

    async def _m_sendMessage(self, call: Call) -> Any:
        return self._store(call, text=call.params.get("text", ""))

    def _file_message(self, call: Call, field_name: str, **extra: Any) -> dict[str, Any]:
        uploaded = call.files.get(field_name)
        size = len(uploaded[1]) if uploaded else 0
        file_id = f"sent{next(self._ids)}"
        caption = {"caption": call.params["caption"]} if call.params.get("caption") else {}
        if field_name == "photo":
            media: Any = [{"file_id": file_id, "file_unique_id": file_id, "width": 64, "height": 64,
                           "file_size": size}]
        else:
            media = {"file_id": file_id, "file_unique_id": file_id, "file_size": size, **extra}
        return self._store(call, **{field_name: media}, **caption)

    async def _m_sendPhoto(self, call: Call) -> Any:
        return self._file_message(call, "photo")

    async def _m_sendVideo(self, call: Call) -> Any:
        return self._file_message(call, "video", width=64, height=64, duration=1)

    async def _m_sendDocument(self, call: Call) -> Any:
        return self._file_message(call, "document", file_name="file")

    async def _m_sendMediaGroup(self, call: Call) -> Any:
        group_id = f"group{next(self._ids)}"
        out = []
        for item in call.params.get("media", []):
            file_id = f"sent{next(self._ids)}"
            content: dict[str, Any] = {"media_group_id": group_id}
            if item["type"] == "photo":
                content["photo"] = [{"file_id": file_id, "file_unique_id": file_id, "width": 64, "height": 64}]
            else:
                content["video"] = {"file_id": file_id, "file_unique_id": file_id, "width": 64, "height": 64,
                                    "duration": 1}
            if item.get("caption"):
                content["caption"] = item["caption"]
            out.append(self._store(call, **content))
        return out

    async def _m_editMessageText(self, call: Call) -> Any:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        markup = call.params.get("reply_markup")
        if message.get("text") == call.params.get("text") and message.get("reply_markup") == markup:
            return _error(400, "Bad Request: message is not modified: specified new message content and reply "
                               "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = call.params.get("text")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_editMessageReplyMarkup(self, call: Call) -> Any:
        message = self.messages.get((int(call.params["chat_id"]), int(call.params["message_id"])))
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        markup = call.params.get("reply_markup")
        if message.get("reply_markup") == markup:
            return _error(400, "Bad Request: message is not modified: specified new message content and reply "
                               "markup are exactly the same as a current content and reply markup of the message")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_getFile(self, call: Call) -> Any:
        file_id = str(call.params.get("file_id"))
        if file_id in self.broken_files or file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}.jpg"}

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1].split(".")[0]
        self.calls.append(Call(method="download", params={"file_id": file_id}, at=time.monotonic()))
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, *, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


@contextmanager
def fake_telegram() -> Iterator[FakeTelegram]:
    """A started fake server, stopped afterwards."""
    fake = FakeTelegram().start()
    try:
        yield fake
    finally:
        fake.stop()


@contextmanager
def running(frontend: Any, fake: FakeTelegram, *, timeout: float = 15.0) -> Iterator[Any]:
    """Run ``frontend`` (a ``TelegramFrontend``) with real long polling on a thread until the block ends."""
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []
    before = len(fake.calls)

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            frontend.run_polling(stop_signals=None, close_loop=False, poll_interval=0.0, timeout=1)
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="telegram-bot", daemon=True)
    thread.start()
    fake.wait_for(lambda: errors or any(c.method == "getUpdates" for c in list(fake.calls)[before:]),
                  timeout=timeout, what="the bot to start polling")
    if errors:
        raise errors[0]
    try:
        yield frontend
    finally:
        loop.call_soon_threadsafe(frontend.application.stop_running)
        thread.join(timeout)
        loop.close()
        if errors:
            raise errors[0]
