"""Periodic housekeeping from the workers: one of them, elected by a Redis key, sweeps the blob store each
``STUDIO_HOUSEKEEPING_INTERVAL_MINUTES`` (``storage.housekeeping`` says what a sweep removes and why that is
safe while jobs run)."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta

from inference.resources import WorkerResources
from storage.blobs import BlobStoreUnavailable
from storage.housekeeping import SweepReport, sweep

log = logging.getLogger(__name__)

DUE_KEY = "studio:housekeeping:due"
# How often a worker looks whether a sweep is due; the key's expiry sets the real pace.
CHECK_EVERY_S = 60.0


class Housekeeper:
    """A background thread that runs a sweep whenever none ran in the whole deployment for one interval."""

    def __init__(self, resources: WorkerResources) -> None:
        self.resources = resources
        self.interval_s = resources.settings.housekeeping_interval_minutes * 60
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run_if_due(self) -> SweepReport | None:
        """Sweep now when no worker did for an interval (this one takes the turn); returns what it did."""
        redis = self.resources.redis
        if not redis.set(DUE_KEY, socket.gethostname(), nx=True, ex=max(1, int(self.interval_s))):
            return None
        settings = self.resources.settings
        try:
            return sweep(self.resources.db, self.resources.blobs,
                         grace=timedelta(hours=settings.blob_orphan_grace_hours))
        except BlobStoreUnavailable as exc:
            log.warning("housekeeping skipped: %s", exc)
            redis.delete(DUE_KEY)  # let the next check try again instead of waiting a whole interval
        except Exception:  # housekeeping must never take the worker down
            log.exception("housekeeping failed")
        return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_if_due()
            self._stop.wait(min(CHECK_EVERY_S, self.interval_s))
