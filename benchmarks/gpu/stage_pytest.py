"""Stage ``pytest``: ``pytest -m gpu tests/gpu`` on the model store the store stage wrote.

The tests load the full-size models through the project's loading code on CUDA (dtype, device placement,
offload, attention backend). Outcomes, times and the properties the tests record (the attention kernels, for
one) come from pytest's JUnit XML.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from benchmarks.gpu.stage import ROOT, Stage, stage_main

MODELS_ENV = "STUDIO_GPU_MODELS_DIR"


def junit_results(path: Path) -> list[dict[str, Any]]:
    """One dict per test case: name, outcome (passed, failed, error, skipped), seconds, message, properties."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (found.get("message") or "")[:400]
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        cases.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time") or 0),
                      "message": message, "properties": properties})
    return cases


def run(stage: Stage) -> None:
    import pytest

    record = stage.record
    os.environ[MODELS_ENV] = str(stage.models)
    xml = stage.out / "pytest-gpu.xml"
    code = pytest.main(["-m", "gpu", str(ROOT / "tests" / "gpu"), "-p", "no:cacheprovider", "-q", "-rA",
                        f"--junitxml={xml}", "-o", "junit_family=xunit1"])
    record.set("exit_code", int(code))
    cases = junit_results(xml) if xml.is_file() else []
    record.set("tests", cases)
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["outcome"]] = counts.get(case["outcome"], 0) + 1
    record.set("counts", counts)
    # On the GPU every test must run and pass; the CPU rehearsal can only see them skip (exit status 5).
    if int(code) not in ((0,) if stage.workload.full else (0, 5)):
        raise RuntimeError(f"pytest -m gpu exited with {int(code)}: {counts}")


if __name__ == "__main__":
    raise SystemExit(stage_main("pytest", run))
