"""Blob store benchmark: what an S3 bucket costs a job compared with the local folder.

Two jobs through the real job path (assistant → job row → task function in a worker's resources → assets and
blobs), each run with the local blob folder and with a bucket on SeaweedFS on this machine:

- a 1 MP ``/imagine``: a random-weight SD3 sized so its native output is 1024x1024 (the tiny test model's
  components with a 128-latent transformer and an 8x VAE), 4 steps; the job stores a ~3 MB PNG;
- a 10 s 720p 30 fps ``/swap`` of a video the user sent (landmark engine), at a phone camera's 8 Mbit/s (about
  10 MB): the job fetches the clip and the persona's reference photos, and stores the swapped clip.

The S3 worker starts every run with an empty blob cache (the worst case: every input is downloaded). Engines
stay loaded between runs, as in a long-running worker, and a warm-up run of each job is not counted. Job time
is the task's wall time from taking the job to recording its outcome; storage time is the part of it spent
in blob store calls (reading inputs, storing results), measured around each call. On a busy machine whole-job
times swing by more than the store costs, so the extra time S3 adds is reported both ways: as the difference
of the job medians, and as the difference of the storage medians over the local job median (the steadier
figure). Figures are medians over ``--runs``; the backends alternate run by run so that background load falls
on both alike.

    .venv/bin/python benchmarks/blob_store.py [--runs 5] [--seconds 10]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.faceswap import make_clip  # noqa: E402
from core import queue  # noqa: E402
from core.app import Studio  # noqa: E402
from core.messages import Incoming, Upload  # noqa: E402
from core.settings import Settings  # noqa: E402
from inference.engine_cache import EngineCache  # noqa: E402
from inference.media import ffmpeg_exe  # noqa: E402
from inference.models.store import ModelStore  # noqa: E402
from inference.models.tiny import build_tiny_sd3_pipeline, install_tiny  # noqa: E402
from inference.resources import WorkerResources  # noqa: E402
from inference.resources import bind as bind_resources  # noqa: E402
from inference.resources import unbind as unbind_resources  # noqa: E402
from inference.worker import quiet_libraries  # noqa: E402
from storage.blobs import BlobStore, open_blob_store  # noqa: E402
from storage.models import Asset, Job  # noqa: E402
from tests import faces_data, faceswap_data, services  # noqa: E402


def build_1mp_sd3() -> object:
    """The tiny SD3 with a 128-latent, patch-2 transformer and an 8x VAE: native output 1024x1024."""
    import torch
    from diffusers import AutoencoderKL, SD3Transformer2DModel

    pipeline: Any = build_tiny_sd3_pipeline()
    torch.manual_seed(0)
    pipeline.transformer = SD3Transformer2DModel(
        sample_size=128, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=4,
        caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64, out_channels=4)
    pipeline.vae = AutoencoderKL(
        sample_size=1024, in_channels=3, out_channels=3, block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, latent_channels=4, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.0609, scaling_factor=1.5035)
    pipeline.register_modules(transformer=pipeline.transformer, vae=pipeline.vae)
    return pipeline


def phone_bitrate(source: Path, target: Path) -> Path:
    """``source`` re-encoded at 8 Mbit/s, as a phone records 720p: a synthetic clip alone compresses to almost
    nothing, and the bytes moved are what this benchmark is about."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-c:v", "libx264",
                    "-b:v", "8M", "-minrate", "8M", "-maxrate", "8M", "-bufsize", "16M", "-x264-params",
                    "nal-hrd=cbr", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(target)], check=True)
    return target


class TimedStore:
    """The worker's blob store with the time spent in its calls added up (the job code calls it as usual)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


@dataclass
class Backend:
    """One blob store with its own data folder, front end and worker resources."""

    name: str
    settings: Settings
    studio: Studio
    worker: WorkerResources
    store: TimedStore
    times: dict[str, list[float]] = field(default_factory=lambda: {"imagine": [], "swap": []})
    storage: dict[str, list[float]] = field(default_factory=lambda: {"imagine": [], "swap": []})
    sizes: dict[str, int] = field(default_factory=dict)

    def say(self, text: str, uploads: tuple[Upload, ...] = ()) -> str | None:
        replies = self.studio.assistant.handle(Incoming(platform="console", user_id="bench", chat_id="bench",
                                                        text=text, uploads=uploads))
        return next((r.job_id for r in replies if r.job_id), None)

    def run(self, job_id: str) -> tuple[float, float]:
        """Run the job as a worker would; returns its wall time and the part spent in the blob store."""
        with self.worker.db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            kind = job.kind
        module, _, function = queue.task_for(kind)[1].rpartition(".")
        task = getattr(importlib.import_module(module), function)
        token = bind_resources(self.worker)
        self.store.seconds = 0.0
        started = time.perf_counter()
        try:
            task(job_id)
        finally:
            unbind_resources(token)
        elapsed = time.perf_counter() - started
        with self.worker.db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.status == "done", (kind, job.status if job else None,
                                                               job.error if job else None)
            assets = session.query(Asset).filter(Asset.job_id == job_id).all()
            self.sizes[kind] = sum(self.studio.blobs.size(a.blob) for a in assets)
        return elapsed, self.store.seconds

    def cold_cache(self) -> None:
        shutil.rmtree(self.settings.resolved_data_dir / "blob-cache", ignore_errors=True)


def make_backend(name: str, root: Path, models: Path, redis_url: str, update: dict[str, Any]) -> Backend:
    settings = Settings(environment="test", data_dir=root / name, redis_url=redis_url, model_profile="tiny",
                        models_dir=models, progress_interval_s=0.5, identity_gate_retries=0,
                        _env_file=None, **update)  # type: ignore[call-arg]
    studio = Studio.build(settings)
    store = TimedStore(open_blob_store(settings, cache=True))
    worker = WorkerResources(settings=settings, db=studio.db, redis=studio.redis,
                             blobs=store, engines=EngineCache(8 * 2**30))  # type: ignore[arg-type]
    return Backend(name, settings, studio, worker, store)


def ready_persona(backend: Backend) -> None:
    backend.say("/persona new Ava")
    backend.say("/consent")
    photos = tuple(Upload(data=faces_data.jpeg_bytes(image), filename=filename)
                   for filename, image in faceswap_data.persona_photos())
    backend.say("", photos)
    job_id = backend.say("/done")
    assert job_id is not None
    backend.run(job_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    quiet_libraries()

    with tempfile.TemporaryDirectory(prefix="blob-bench-") as tmp:
        root = Path(tmp)
        models = root / "models"
        install_tiny(ModelStore(models), "sd3-tiny", role="text-to-image", build=build_1mp_sd3)
        clip = phone_bitrate(make_clip(root / "synthetic.mp4", seconds=args.seconds), root / "clip.mp4")
        clip_bytes = clip.read_bytes()
        print(f"target clip: {args.seconds:g} s 1280x720 30 fps, {len(clip_bytes) / 2**20:.1f} MB")
        redis = queue.EmbeddedRedis(root)
        with services.s3_server(root / "s3") as s3:
            os.environ.update(s3.env())  # boto3 finds the server's keys as it would in production
            backends = [
                make_backend("local", root, models, redis.url, {}),
                make_backend("s3", root, models, redis.url,
                             {"blob_url": f"s3://{s3.bucket}/bench", "s3_endpoint_url": s3.endpoint_url}),
            ]
            for backend in backends:
                ready_persona(backend)
            for run in range(args.runs + 1):  # run 0 warms the engines up and is not counted
                order = backends if run % 2 == 0 else backends[::-1]
                for backend in order:
                    backend.cold_cache()
                    imagine = backend.say("/imagine a reading nook in a Paris cafe --ar 1:1")
                    swap = backend.say("/swap Ava", (Upload(data=clip_bytes, filename=f"clip{run}.mp4",
                                                            kind="video", mime="video/mp4"),))
                    assert imagine and swap, "the jobs were not accepted"
                    for kind, job_id in (("imagine", imagine), ("swap", swap)):
                        elapsed, in_store = backend.run(job_id)
                        if run:
                            backend.times[kind].append(elapsed)
                            backend.storage[kind].append(in_store)
                if run:
                    print(f"run {run}: " + ", ".join(
                        f"{b.name} imagine {b.times['imagine'][-1]:.2f} s ({b.storage['imagine'][-1]:.3f} s in the "
                        f"store), swap {b.times['swap'][-1]:.2f} s ({b.storage['swap'][-1]:.3f} s)" for b in backends))
            local, remote = backends
            print(f"\nmedians over {args.runs} runs (S3 worker cache emptied before every run)")
            print(f"{'job':<26}{'local':>8}{'S3':>8}{'extra':>8}{'store local':>13}{'store S3':>10}{'extra':>8}"
                  f"{'stored':>9}")
            for kind, label in (("imagine", "/imagine 1 MP (1024x1024)"), ("swap", f"/swap {args.seconds:g} s 720p")):
                a, b = statistics.median(local.times[kind]), statistics.median(remote.times[kind])
                sa, sb = statistics.median(local.storage[kind]), statistics.median(remote.storage[kind])
                stored = remote.sizes.get("image" if kind == "imagine" else "faceswap", 0)
                print(f"{label:<26}{a:>7.2f}s{b:>7.2f}s{(b - a) / a * 100:>+7.1f}%{sa:>12.3f}s{sb:>9.3f}s"
                      f"{(sb - sa) / a * 100:>+7.1f}%{stored / 2**20:>7.1f}MB")
            for backend in backends:
                backend.studio.close()
        redis.shutdown()


if __name__ == "__main__":
    main()
