"""Settings for fault tests and benchmarks: short leases, waits and sweeps, so every recovery path runs in
seconds instead of the minutes a production deployment allows."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings


def fault_settings(data_dir: Path, redis_url: str, **extra: object) -> Settings:
    """Settings on ``data_dir`` and ``redis_url`` with a 3 s lease, 1 s lost-job and redelivery waits, a
    redelivery sweep every 0.5 s, and small animation clips."""
    values: dict[str, object] = dict(
        environment="test", data_dir=data_dir, redis_url=redis_url, model_profile="tiny",
        progress_interval_s=0.0, job_lease_seconds=3, job_lost_after_s=1, job_outage_retry_s=15.0,
        delivery_redeliver_interval_s=0.5, delivery_redeliver_after_s=1.0, video_max_side=64, video_fps=8,
    )
    values.update(extra)
    return Settings(**values, _env_file=None)  # type: ignore[arg-type, call-arg]
