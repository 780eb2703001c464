"""The worker's engine cache: warm hits, memory budget, least recently used evicted and unloaded."""

from __future__ import annotations

from typing import Any

from inference.engine_cache import EngineCache
from inference.engines.base import Engine, Progress


class SizedEngine:
    """A minimal engine of a given size that records whether it was unloaded."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.unloaded = False

    def check_inputs(self, spec: Any) -> None:
        return None

    def run(self, spec: Any, progress: Progress) -> Any:
        return spec

    def unload(self) -> None:
        self.unloaded = True

    def memory_bytes(self) -> int:
        return 0 if self.unloaded else self.size


def test_sized_engine_satisfies_the_contract() -> None:
    assert isinstance(SizedEngine("a", 1), Engine)


def test_second_get_is_a_hit_and_does_not_reload() -> None:
    cache = EngineCache(budget_bytes=100)
    loads = []

    def load() -> SizedEngine:
        loads.append(1)
        return SizedEngine("a", 10)

    first = cache.get("a", load)
    second = cache.get("a", load)
    assert first is second
    assert len(loads) == 1
    assert (cache.stats.loads, cache.stats.hits) == (1, 1)


def test_least_recently_used_is_evicted_to_fit_budget() -> None:
    cache = EngineCache(budget_bytes=100)
    a = cache.get("a", lambda: SizedEngine("a", 40))
    cache.release()
    b = cache.get("b", lambda: SizedEngine("b", 40))
    cache.release()
    cache.get("a", lambda: SizedEngine("a", 40))  # a is now more recent than b
    cache.release()
    c = cache.get("c", lambda: SizedEngine("c", 40))
    assert cache.keys() == ["a", "c"]
    assert b.unloaded and not a.unloaded and not c.unloaded
    assert cache.used_bytes() == 80


def test_an_engine_larger_than_the_budget_still_loads_alone() -> None:
    cache = EngineCache(budget_bytes=50)
    small = cache.get("small", lambda: SizedEngine("small", 10))
    cache.release()
    big = cache.get("big", lambda: SizedEngine("big", 500))
    assert cache.keys() == ["big"]
    assert small.unloaded and not big.unloaded


def test_clear_unloads_everything() -> None:
    cache = EngineCache(budget_bytes=1000)
    engines = [cache.get(k, lambda k=k: SizedEngine(k, 1)) for k in "xyz"]
    cache.clear()
    assert cache.keys() == [] and all(e.unloaded for e in engines)


def test_an_engine_the_running_job_uses_is_never_evicted_under_it() -> None:
    # An image job (the pipeline) that then loads the face engine for its likeness check, over budget.
    cache = EngineCache(budget_bytes=100)
    pipeline = cache.get("image", lambda: SizedEngine("image", 90))
    faces = cache.get("faces", lambda: SizedEngine("faces", 30))
    assert not pipeline.unloaded and not faces.unloaded, "both are in use by the job"
    assert cache.get("image", lambda: SizedEngine("image", 90)) is pipeline
    cache.release()  # the job ended: now the least recently used goes until the rest fits
    assert cache.keys() == ["image"] and faces.unloaded
