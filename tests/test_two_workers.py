"""Several machines sharing nothing but Redis, PostgreSQL and one S3 bucket.

Two `studio worker` processes, each on its own data folder and model store, and a front machine (the console
bot and the web page) on a third: a persona, /imagine, /animate, /swap and /export complete and are delivered;
the worker running the video swap is killed mid-job and the other one finishes it; afterwards the bucket
holds exactly the files that rows refer to, and no process kept a blob folder of its own.
"""

from __future__ import annotations

import io
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rich.console import Console
from rq.worker import Worker

from bots.console import ConsoleFrontend
from bots.web.app import create_app
from core.app import Studio
from core.settings import Settings
from storage.blobs import open_blob_store
from storage.db import Database
from storage.housekeeping import remove_unreferenced
from storage.models import Job
from storage.repositories import blob_refs
from tests import faceswap_data
from tests.services import S3Server
from tests.tiny_models import tiny_models_dir  # noqa: F401 - the session fixture, shared
from tests.workers import ROOT, env_for

pytestmark = pytest.mark.slow
TIMEOUT_S = 180.0


def _machine(settings: Settings, root: Path, name: str) -> Settings:
    """Settings of one machine: the shared services, its own data folder."""
    return settings.model_copy(update={"data_dir": root / name})


def _start_worker(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    env = env_for(settings)
    env["STUDIO_MODELS_DIR"] = str(settings.models_dir)
    env["STUDIO_LOG_LEVEL"] = "INFO"
    env["STUDIO_IDENTITY_GATE_RETRIES"] = "0"  # the tiny model draws noise: regenerating it proves nothing here
    log = open(settings.resolved_data_dir / "worker.log", "wb")  # noqa: SIM115 - held by the child
    try:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--queues", "gpu,cpu", "--name", name],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


@pytest.fixture
def machines(production_settings: Settings, tmp_path: Path, tiny_models_dir: Path,  # noqa: F811
             ) -> Iterator[tuple[Settings, dict[str, subprocess.Popen[bytes]]]]:
    """The front machine's settings and two running workers, each with its own copy of the models."""
    shared = production_settings.model_copy(update={"swap_max_side": 320, "video_max_side": 192,
                                                    "video_fps": 8, "job_lease_seconds": 8})
    workers: dict[str, subprocess.Popen[bytes]] = {}
    for name in ("worker-a", "worker-b"):
        own = _machine(shared, tmp_path, name)
        models = own.resolved_data_dir / "models"
        shutil.copytree(tiny_models_dir, models)
        workers[name] = _start_worker(own.model_copy(update={"models_dir": models}), name)
    try:
        yield _machine(shared, tmp_path, "front"), workers
    finally:
        for process in workers.values():
            process.send_signal(signal.SIGTERM)
        for process in workers.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(db: Database, job_id: str, done: tuple[str, ...] = ("done",), *, running: bool = False) -> Job:
    """The job once it is in ``done`` (or, with ``running``, under way past its first progress report)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        with db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if running and job.status == "running" and job.progress > 0.05:
                return job
            if job.status in ("done", "failed", "cancelled"):
                assert job.status in done, f"{job.kind} {job.status}: {job.error}"
                return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {TIMEOUT_S:.0f} s")


def _run(frontend: ConsoleFrontend, line: str) -> Job:
    """Type ``line``, wait for the job it starts, and show its events in the console."""
    replies = frontend.feed(line)
    job_id = next((r.job_id for r in replies if r.job_id), None)
    assert job_id, [r.text for r in replies]
    job = _wait(frontend.studio.db, job_id)
    _pump(frontend)
    return job


def _pump(frontend: ConsoleFrontend) -> None:
    while frontend.pump(block_ms=200):
        pass


def _worker_running(redis: Redis, rq_id: str) -> str:
    for worker in Worker.all(connection=redis):
        if worker.get_current_job_id() == rq_id:
            return worker.name
    raise AssertionError(f"no worker is running {rq_id}")


def test_two_workers_one_bucket_no_shared_folder(machines: tuple[Settings, dict[str, subprocess.Popen[bytes]]],
                                                  redis: Redis, s3: S3Server, tmp_path: Path) -> None:
    front, workers = machines
    studio = Studio.build(front, redis=redis, migrate=False)
    out = io.StringIO()
    frontend = ConsoleFrontend(studio, user_id="ann", console=Console(file=out, width=400))
    db = studio.db
    try:
        # A persona from photos the user sends.
        photos = tmp_path / "photos"
        photos.mkdir()
        paths = []
        for filename, image in faceswap_data.persona_photos()[:4]:
            image.save(photos / filename, quality=92)
            paths.append(str(photos / filename))
        frontend.feed("/persona new Lisa")
        frontend.feed("/consent")
        frontend.feed(" ".join(paths))
        assert _run(frontend, "/done").result is not None

        image = _run(frontend, "/imagine Lisa: reading in a cafe")
        clip = _run(frontend, "/animate --motion pan-left --seconds 2")
        assert image.result and clip.result

        # The swap of a video: the worker running it is killed half-way, the other one takes over.
        target = faceswap_data.moving_face_clip(tmp_path / "target.mp4", faceswap_data.target_photo(),
                                                seconds=3.0, fps=10, audio=False)
        replies = frontend.feed(f"/swap Lisa {target}")
        swap_id = next(r.job_id for r in replies if r.job_id)
        assert swap_id is not None, [r.text for r in replies]
        running = _wait(db, swap_id, running=True)
        victim = _worker_running(redis, running.rq_id or "")
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait(timeout=10)
        swapped = _wait(db, swap_id)
        assert swapped.attempts == 2, "the second try, on the other worker"
        survivor = next(name for name in workers if name != victim)
        _pump(frontend)

        still = image.result["asset_ids"][0]
        exported = _run(frontend, f"/export instagram #{still}")  # photos: quick to fit to every preset
        assert exported.result is not None
        link = str(exported.result["link"])
        assert link in out.getvalue(), "the link reached the chat"
        web = TestClient(create_app(front))
        page_of_package = web.get("/x/" + link.rsplit("/x/", 1)[1])
        assert page_of_package.status_code == 200 and "Download all (zip)" in page_of_package.text
        package = web.get("/x/" + link.rsplit("/x/", 1)[1] + "/zip")
        assert package.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(package.content)).namelist()
        assert "manifest.json" in names and any(n.endswith(f"-{still}.jpg") for n in names)

        # The web page lists the results and streams them from the bucket, by Range for the videos.
        page_reply = frontend.feed("/web")
        page = re.search(r"/u/(\S+)", " ".join(r.text for r in page_reply))
        assert page, [r.text for r in page_reply]
        listing = web.get(f"/u/{page.group(1)}")
        assert listing.status_code == 200
        # The gallery shows small previews and links each file; a video is fetched by Range from the bucket.
        video_path = re.search(rf'href="(/u/[^"]+/asset/{clip.result["asset_ids"][0]})', listing.text)
        assert video_path, listing.text
        part = web.get(video_path.group(1), headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100

        _pump(frontend)
        text = out.getvalue()
        for job in (image, clip, swapped, exported):
            assert f"done · job #{job.id[:8]}" in text, text
        saved = {p.suffix for p in frontend.outbox.iterdir()}
        assert {".png", ".mp4"} <= saved, "results were delivered into the console's outbox"
        assert frontend.consumer.pending_count() == 0

        # Nothing lost, nothing left: the bucket holds exactly what rows refer to.
        blobs = open_blob_store(front)
        with db.session() as session:
            referenced = blob_refs.referenced(session)
        assert set(blobs.digests()) == referenced
        report = remove_unreferenced(db, blobs, grace=timedelta(0))
        assert report.blobs_removed == 0 and report.missing == []
        for name in ("front", "worker-a", "worker-b"):
            assert not (tmp_path / name / "blobs").exists(), f"{name} kept no blob folder"
        assert any((tmp_path / survivor / "blob-cache").glob("??/??/*")), "inputs came through the worker's cache"
    finally:
        studio.close()
