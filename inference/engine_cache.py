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
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, key: str, load: Callable[[], E]) -> E:
        """The engine for ``key``, loading it with ``load()`` on a miss and evicting others to fit."""
        with self._lock:
            engine = self._engines.get(key)
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
            self._evict_to_fit(keep=key)
        log.info("loaded engine %s in %.2f s (%.0f MB)", key, elapsed, loaded.memory_bytes() / 2**20)
        return loaded

    def _evict_to_fit(self, *, keep: str) -> None:
        # The engine just loaded stays even if it alone exceeds the budget: the job needs it.
        while self.used_bytes() > self.budget_bytes and len(self._engines) > 1:
            oldest = next(iter(self._engines))
            if oldest == keep:
                self._engines.move_to_end(oldest)
                oldest = next(iter(self._engines))
            self._drop(oldest)

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
