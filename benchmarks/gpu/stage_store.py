"""Stage ``store``: SD3 Medium and LTX-Video with random weights saved into a model store, plus a face pack.

The worker stage and ``pytest -m gpu`` load these through the project's own loading code, as a worker loads
pulled models. The models are built on the GPU from their published configurations and checked against them.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.gpu.stage import Stage, stage_main


def run(stage: Stage) -> None:
    from benchmarks.gpu.face_standin import write_pack
    from benchmarks.gpu.models import config_mismatches, parameter_counts, write_store

    record = stage.record

    def inspect(name: str, pipeline: Any) -> None:
        record.set(f"{name}_parameters", parameter_counts(pipeline))
        if stage.workload.full:
            # A model smaller than published must not be measured unnoticed.
            mismatches = config_mismatches(pipeline, name)
            record.set(f"{name}_config_matches_published", not mismatches)
            if mismatches:
                record.note(f"{name} differs from its published configuration: {'; '.join(mismatches)}")

    started = time.perf_counter()
    written = write_store(stage.workload, stage.models, stage.work / "store-scratch", inspect=inspect)
    record.set("store", written)
    record.set("store_write_s", round(time.perf_counter() - started, 2))
    write_pack(stage.models)
    record.set("face_pack", "stand-in insightface buffalo_l (one face in the middle of a square image)")


if __name__ == "__main__":
    raise SystemExit(stage_main("store", run))
