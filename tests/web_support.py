"""The web page tests' parts: content seeded through the real repositories and the real export packager, the
app served by a real uvicorn on loopback, and Debian's Chromium driven by Playwright (started once per test
session; never a downloaded browser).

Outside CI the browser tests are skipped where ``/usr/bin/chromium`` or Playwright is missing
(``scripts/setup.sh`` installs both); under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from bots.web.app import create_app
from core import links
from core.platforms import PRESETS
from core.settings import Settings
from inference.export.package import ExportSource, build_package
from inference.media import ffmpeg_exe
from inference.provenance.stamp import Stamper
from storage.blobs import BlobStore, LocalBlobStore
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ExportPackage, new_id, utcnow
from storage.repositories import assets as asset_repo
from storage.repositories import exports as export_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import AssetOrigin
from tests import faces_data
from tests.services import IN_CI

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling Google's services, which a closed network
# refuses (noise, and requests the "same origin only" check would have to filter out).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-features=Translate,MediaRouter,OptimizationHints",
                 "--mute-audio"]
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                         "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}, "device_scale_factor": 1}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


# ---- content ------------------------------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def plain_png(colour: tuple[int, int, int], size: tuple[int, int] = (256, 256)) -> bytes:
    return png_bytes(Image.new("RGB", size, colour))


def make_clip(path: Path, *, still: Image.Image | None = None, seconds: float = 1.0, side: int = 360,
              audio: bool = True) -> Path:
    """An H.264 MP4 as the animate task writes them: ``still`` held (or a moving test pattern), with a tone."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if still is not None:
        source = path.with_suffix(".png")
        still.convert("RGB").resize((side, side)).save(source)
        command += ["-loop", "1", "-framerate", "24", "-t", str(seconds), "-i", str(source)]
    else:
        command += ["-f", "lavfi", "-i", f"testsrc2=size={side}x{side}:rate=24:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", str(path)]
    subprocess.run(command, check=True, timeout=120)
    return path


@dataclass
class Seeded:
    """What a test seeded: the owner, asset ids by name, the export package and its link token."""

    owner_id: int
    assets: dict[str, str] = field(default_factory=dict)
    package_id: str = ""
    export_token: str = ""
    gallery_token: str = ""


def add_asset(db: Database, blobs: BlobStore, *, owner_id: int, data: bytes, kind: str = "image",
              mime: str = "image/png", origin: AssetOrigin = AssetOrigin.GENERATED, width: int = 256,
              height: int = 256, persona_id: int | None = None, prompt: str = "", score: float | None = None,
              age_s: float = 0.0, duration_s: float | None = None, meta: dict[str, Any] | None = None) -> str:
    """One asset row over a stored blob, as the worker (or an upload) writes it; ``age_s`` dates it back."""
    details = dict(meta or {})
    if prompt:
        details.setdefault("prompt", f"{prompt}, high detail")
        details.setdefault("request", {"prompt": prompt})
    with db.session() as session:
        asset = asset_repo.create(session, owner_id=owner_id, kind=kind, origin=origin, blob=blobs.put_bytes(data),
                                  mime=mime, width=width, height=height, persona_id=persona_id,
                                  identity_score=score, duration_s=duration_s, meta=details)
        asset.created_at = utcnow() - timedelta(seconds=age_s)
        return asset.id


def owner(db: Database, name: str = "ann") -> int:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="telegram", platform_user_id=name).id


def persona(db: Database, owner_id: int, name: str) -> int:
    with db.session() as session:
        return persona_repo.create(session, owner_id=owner_id, name=name).id


def store_package(settings: Settings, db: Database, blobs: BlobStore, *, owner_id: int, platform: str,
                  sources: list[ExportSource], workdir: Path, ttl: timedelta = timedelta(hours=72)) -> tuple[str, str]:
    """A package built by the real packager and stored as the export task stores it; (package id, link token)."""
    created = utcnow().replace(microsecond=0)
    package_id = new_id()
    built = build_package(sources, PRESETS[platform], workdir=workdir, package_id=package_id, created_at=created,
                          expires_at=created + ttl, stamper=Stamper.from_settings(settings))
    with db.session() as session:
        package = export_repo.create(session, package_id=package_id, owner_id=owner_id, platform=platform,
                                     asset_ids=list(dict.fromkeys(f.asset_id for f in built.files)), job_id=None,
                                     blob=blobs.put_file(built.path), manifest=built.manifest,
                                     expires_at=created + ttl)
        token = links.export_url(settings, session, package=package).rsplit("/", 1)[1]
    return package_id, token


def gallery_token(settings: Settings, db: Database, owner_id: int) -> str:
    with db.session() as session:
        return links.page_url(settings, session, owner_id=owner_id).rsplit("/", 1)[1]


def seed_studio(settings: Settings, db: Database, blobs: BlobStore, workdir: Path) -> Seeded:
    """A user's studio as the pages show it: two personas with pictures and a clip, a picture without a
    persona, two uploads, and an Instagram package of two pictures and the clip (8 files)."""
    ann = owner(db)
    seeded = Seeded(owner_id=ann)
    ava, tom = persona(db, ann, "Ava"), persona(db, ann, "Tom")
    astronaut = faces_data.astronaut()
    prompts = ["Ava reading in a Paris café", "Ava on a beach at sunset", "Ava in a neon-lit street at night",
               "Ava hiking in the Alps"]
    for number, (prompt, look) in enumerate(zip(prompts, ("flip", "brighter", "contrast", "crop"), strict=True)):
        picture = faces_data.augment(astronaut, look)
        seeded.assets[f"ava{number}"] = add_asset(
            db, blobs, owner_id=ann, data=png_bytes(picture), width=picture.width, height=picture.height,
            persona_id=ava, prompt=prompt, score=0.78 + number / 50, age_s=600 - number * 60)
    clip = make_clip(workdir / "ava.mp4", still=astronaut, seconds=1.0)
    seeded.assets["ava_clip"] = add_asset(
        db, blobs, owner_id=ann, data=clip.read_bytes(), kind="video", mime="video/mp4", width=360, height=360,
        persona_id=ava, duration_s=1.0, score=0.8, age_s=30, meta={"source_asset": seeded.assets["ava0"]})
    for number, look in enumerate(("flip", "darker")):
        picture = faces_data.augment(faces_data.tom(), look)
        seeded.assets[f"tom{number}"] = add_asset(
            db, blobs, owner_id=ann, data=png_bytes(picture), width=picture.width, height=picture.height,
            persona_id=tom, prompt=f"Tom as a {('chef', 'pilot')[number]}", score=0.71, age_s=900 + number)
    coffee = faces_data.no_face()
    seeded.assets["coffee"] = add_asset(db, blobs, owner_id=ann, data=png_bytes(coffee), width=coffee.width,
                                        height=coffee.height, prompt="a cup of coffee, morning light", age_s=1200)
    group = faces_data.group()
    seeded.assets["upload_photo"] = add_asset(
        db, blobs, owner_id=ann, data=png_bytes(group), width=group.width, height=group.height,
        origin=AssetOrigin.UPLOADED, age_s=3000)
    seeded.assets["upload_clip"] = add_asset(
        db, blobs, owner_id=ann, data=make_clip(workdir / "upload.mp4", seconds=1.0, side=240).read_bytes(),
        kind="video", mime="video/mp4", width=240, height=240, duration_s=1.0, origin=AssetOrigin.UPLOADED,
        age_s=2900)

    still = workdir / "ava0.png"
    faces_data.augment(astronaut, "flip").save(still)
    second = workdir / "tom0.png"
    faces_data.augment(faces_data.tom(), "flip").save(second)
    package_dir = workdir / "package"
    package_dir.mkdir()
    seeded.package_id, seeded.export_token = store_package(
        settings, db, blobs, owner_id=ann, platform="instagram", workdir=package_dir, sources=[
            ExportSource(asset_id=seeded.assets["ava0"], kind="image", path=still, origin="generated",
                         prompt="Ava reading in a Paris café", persona="Ava"),
            ExportSource(asset_id=seeded.assets["tom0"], kind="image", path=second, origin="generated",
                         prompt="Tom as a chef",
                         persona="Tom"),
            ExportSource(asset_id=seeded.assets["ava_clip"], kind="video", path=clip, origin="generated",
                         prompt="Ava reading in a Paris café", persona="Ava"),
        ])
    seeded.gallery_token = gallery_token(settings, db, ann)
    return seeded


# ---- a real server --------------------------------------------------------------------------------------------


class LogCollector(logging.Handler):
    """Keeps every formatted record (the access log included) so tests can read what would be written."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class LiveServer:
    """The app on a real uvicorn on loopback; ``logs`` holds what its loggers wrote."""

    url: str
    app: FastAPI
    logs: LogCollector


@dataclass
class _Running:
    server: uvicorn.Server
    thread: threading.Thread
    loggers: list[tuple[logging.Logger, int]] = field(default_factory=list)


def start_server(app: FastAPI) -> tuple[LiveServer, _Running]:
    """Serve ``app`` with uvicorn's access log on, as a deployment would run it."""
    collector = LogCollector()
    watched = []
    for name in ("uvicorn.access", "uvicorn.error", "bots.web"):
        logger = logging.getLogger(name)
        watched.append((logger, logger.level))
        logger.setLevel(logging.INFO)
        logger.addHandler(collector)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=True, log_level="info",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="web-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    return LiveServer(url=f"http://127.0.0.1:{port}", app=app, logs=collector), _Running(server, thread, watched)


def stop_server(running: _Running, live: LiveServer) -> None:
    running.server.should_exit = True
    running.thread.join(10)
    for logger, level in running.loggers:
        logger.removeHandler(live.logs)
        logger.setLevel(level)


@dataclass
class Site:
    settings: Settings
    db: Database
    blobs: BlobStore
    seeded: Seeded
    live: LiveServer

    def member(self, index: int) -> tuple[dict[str, Any], bytes]:
        """Manifest entry ``index`` of the seeded package and that file's bytes, read from the stored zip."""
        with self.db.session() as session:
            package = session.get(ExportPackage, self.seeded.package_id)
            assert package is not None and package.blob
            entry = package.manifest["files"][index]
            with zipfile.ZipFile(io.BytesIO(self.blobs.read_bytes(package.blob))) as archive:
                return entry, archive.read(entry["path"])


@dataclass
class _Shared:
    site: Site | None = None
    running: _Running | None = None
    users: int = 0


_SHARED = _Shared()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Site]:
    """The seeded studio on a live server, made once for the session and shared by every module that imports
    this fixture (pytest would otherwise make one per importing module)."""
    if _SHARED.site is None:
        root = tmp_path_factory.mktemp("web-site")
        settings = Settings(environment="test", data_dir=root / "data", redis_url=redis_url, model_profile="tiny",
                            _env_file=None)  # type: ignore[call-arg]
        db = Database(settings.resolved_database_url)
        upgrade(db.engine)
        blobs = LocalBlobStore(settings.blobs_dir)
        workdir = root / "work"
        workdir.mkdir()
        seeded = seed_studio(settings, db, blobs, workdir)
        app = create_app(settings)

        def explode(token: str) -> None:
            raise RuntimeError("a failure no route expected")

        # A route that fails the way a bug would, to see the server-error page and its log line.
        app.add_api_route("/x/{token}/explode", explode)
        live, _SHARED.running = start_server(app)
        _SHARED.site = Site(settings, db, blobs, seeded, live)
    _SHARED.users += 1
    yield _SHARED.site
    _SHARED.users -= 1
    if _SHARED.users == 0 and _SHARED.running is not None:
        stop_server(_SHARED.running, _SHARED.site.live)
        _SHARED.site.db.dispose()
        _SHARED.site, _SHARED.running = None, None


# ---- the browser ----------------------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser tests need {reason}; scripts/setup.sh installs it", pytrace=False)
    pytest.skip(f"browser tests need {reason} (scripts/setup.sh installs it)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, started once for the whole test session."""
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Debian's chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:
        playwright.stop()
        _unavailable(f"a Chromium that starts ({exc})")
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests keep their screenshots (test artifacts under pytest's temporary folder)."""
    return tmp_path_factory.mktemp("screenshots")


def save_doc_image(page: Any, name: str) -> None:
    """With ``STUDIO_DOC_SCREENSHOTS`` set to a folder, keep a small copy of the visible page there (the README's
    pictures are made this way)."""
    folder = os.environ.get("STUDIO_DOC_SCREENSHOTS")
    if not folder:
        return
    target = Path(folder) / name
    raw = page.screenshot(full_page=False)
    with Image.open(io.BytesIO(raw)) as shot:
        small = shot.convert("RGB")
        small.thumbnail((780, 1400), Image.Resampling.LANCZOS)
        small.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(target,
                                                                                                 optimize=True)
