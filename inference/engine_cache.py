"""The worker's engine cache: loaded engines kept warm, bounded by a memory budget, least recently used out."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from inference.engines.base import Engine

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Engine)


@dataclass
class CacheStats:
    """Counters a benchmark or health check reads."""

    hits: int = 0
    loads: int = 0
    evictions: int = 0
    load_seconds: dict[str, float] = field(default_factory=dict)


class EngineCache:
    """Maps a key (model name + revision + options) to a loaded engine; owned by one worker."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        # Engines the running job has used: never evicted under it (an image job that then loads the face
        # engine for its likeness check still holds the image pipeline it is about to call again).
        self._in_use: set[str] = set()
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def release(self) -> None:
        """The job is over: every engine may be evicted again (the worker calls this after each job)."""
        with self._lock:
            self._in_use.clear()
            self._evict_to_fit()

    def get(self, key: str, load: Callable[[], E]) -> E:
        """The engine for ``key``, loading it with ``load()`` on a miss and evicting others to fit."""
        with self._lock:
            engine = self._engines.get(key)
            self._in_use.add(key)
            if engine is not None:
                self._engines.move_to_end(key)
                self.stats.hits += 1
                return engine  # type: ignore[return-value]
        started = time.perf_counter()
        loaded = load()
        elapsed = time.perf_counter() - started
        with self._lock:
            self.stats.loads += 1
            self.stats.load_seconds[key] = elapsed
            self._engines[key] = loaded
            self._evict_to_fit()
        log.info("loaded engine %s in %.2f s (%.0f MB)", key, elapsed, loaded.memory_bytes() / 2**20)
        return loaded

    def _evict_to_fit(self) -> None:
        # Least recently used first, never one the running job uses: over budget with only those loaded, the
        # job still runs (the budget is a target for what stays warm between jobs, not a hard cap).
        for key in [k for k in self._engines if k not in self._in_use]:
            if self.used_bytes() <= self.budget_bytes:
                return
            self._drop(key)
        if self.used_bytes() > self.budget_bytes:
            log.warning("engines in use take %.0f MB, over the %.0f MB budget", self.used_bytes() / 2**20,
                        self.budget_bytes / 2**20)

    def _drop(self, key: str) -> None:
        engine = self._engines.pop(key)
        self.stats.evictions += 1
        log.info("evicting engine %s", key)
        engine.unload()

    def evict(self, key: str) -> bool:
        """Unload ``key`` if loaded; returns whether it was."""
        with self._lock:
            if key not in self._engines:
                return False
            self._drop(key)
            return True

    def clear(self) -> None:
        """Unload everything (worker shutdown)."""
        with self._lock:
            for key in list(self._engines):
                self._drop(key)

    def used_bytes(self) -> int:
        """Sum of the loaded engines' memory."""
        return sum(engine.memory_bytes() for engine in self._engines.values())

    def keys(self) -> list[str]:
        """Loaded engine keys, least recently used first."""
        with self._lock:
            return list(self._engines)
