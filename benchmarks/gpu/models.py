"""The models the GPU run measures: SD3 Medium and LTX-Video 2B with random weights, or the tiny ones.

The full-size builders are the benchmarks' own (``benchmarks/sd3_image.py``, ``benchmarks/video_animate.py``):
each model is made from its published configuration directly on the GPU, so nothing is downloaded and no
weights pass through the CPU. ``configs/*.json`` keep the published values that set each model's size and
compute; ``config_mismatches`` holds a built pipeline against them, so a change in a builder or in diffusers'
defaults cannot silently shrink what is measured.

``write_store`` saves both into a model store under the names workers load (``sd3-medium``, ``ltx-video``)
for the worker stage and ``pytest -m gpu``, which load them through the project's own loading code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.gpu.stage import Workload

SD3 = "sd3-medium"
LTX = "ltx-video"
REVISION = "random-weights"
CONFIGS = Path(__file__).resolve().parent / "configs"


def build_sd3(workload: Workload) -> Any:
    """SD3 Medium with random weights on the GPU (full), or the tiny SD3 on the CPU (rehearsal)."""
    if workload.full:
        from benchmarks.sd3_image import full_size_sd3

        pipeline = full_size_sd3(workload.device, workload.dtype)
    else:
        from inference.models.tiny import build_tiny_sd3_pipeline

        pipeline = build_tiny_sd3_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(workload.device, workload.dtype)


def build_ltx(workload: Workload) -> Any:
    """LTX-Video 2B with random weights on the GPU (full), or the tiny LTX on the CPU (rehearsal)."""
    if workload.full:
        from benchmarks.video_animate import full_size_ltx

        pipeline = full_size_ltx(workload.device, workload.dtype)
    else:
        from inference.models.tiny_video import build_tiny_ltx_pipeline

        pipeline = build_tiny_ltx_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(workload.device, workload.dtype)


def published_config(name: str) -> dict[str, dict[str, Any]]:
    """The published configuration fields of ``name`` (``sd3-medium`` or ``ltx-video``), per component."""
    data = json.loads((CONFIGS / f"{name}.json").read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


def _config_dict(module: Any) -> dict[str, Any]:
    config = module.config
    return dict(config.to_dict() if hasattr(config, "to_dict") else config)


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def config_mismatches(pipeline: Any, name: str) -> list[str]:
    """``component.field: built != published`` for every field that differs (empty when all match)."""
    found = []
    for component, fields in published_config(name).items():
        module = getattr(pipeline, component, None)
        if module is None:
            found.append(f"{component}: missing")
            continue
        built = _config_dict(module)
        for field, value in fields.items():
            if _plain(built.get(field)) != value:
                found.append(f"{component}.{field}: {built.get(field)!r} != {value!r}")
    return found


def parameter_counts(pipeline: Any) -> dict[str, int]:
    """Parameters per model component (what makes a model "full size")."""
    import torch

    return {name: sum(p.numel() for p in module.parameters())
            for name, module in pipeline.components.items() if isinstance(module, torch.nn.Module)}


def _same_t5(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keep = ("d_model", "d_kv", "d_ff", "num_layers", "num_heads", "vocab_size", "feed_forward_proj")
    return all(a.get(k) == b.get(k) for k in keep)


def write_store(workload: Workload, root: Path, scratch: Path,
                inspect: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """Save SD3 and LTX into the model store at ``root`` (``<name>/random-weights/``); returns what it wrote.

    ``inspect(name, pipeline)`` is called with each model as soon as it is built (the store stage checks it
    against its published configuration there). SD3 is installed before LTX is built, so it is usable even
    if there is no time left for LTX.

    LTX's T5 encoder has SD3's third text encoder's configuration, so with random weights the same files serve
    both: they are hard-linked rather than written twice (about 9.5 GB less to write and read back).
    """
    from inference.device import empty_cache
    from inference.models.store import ModelStore

    store = ModelStore(root)
    written: dict[str, Any] = {}
    scratch.mkdir(parents=True, exist_ok=True)
    sd3 = build_sd3(workload)
    if inspect is not None:
        inspect(SD3, sd3)
    sd3_dir = Path(tempfile.mkdtemp(prefix="sd3-", dir=scratch))
    sd3.save_pretrained(sd3_dir, safe_serialization=True)
    sd3_t5 = _config_dict(sd3.text_encoder_3)
    del sd3
    empty_cache(workload.device)
    written[SD3] = _install(store, SD3, sd3_dir)
    t5_files = Path(written[SD3]["path"]) / "text_encoder_3"

    ltx = build_ltx(workload)
    if inspect is not None:
        inspect(LTX, ltx)
    ltx_dir = Path(tempfile.mkdtemp(prefix="ltx-", dir=scratch))
    shared = _same_t5(_config_dict(ltx.text_encoder), sd3_t5)
    if shared:
        # Saved without its text encoder, which is then linked in and named in model_index.json again.
        ltx.register_modules(text_encoder=None)
        ltx.save_pretrained(ltx_dir, safe_serialization=True)
        (ltx_dir / "text_encoder").mkdir()
        for path in t5_files.iterdir():
            os.link(path, ltx_dir / "text_encoder" / path.name)
        index_path = ltx_dir / "model_index.json"
        index = json.loads(index_path.read_text(encoding="utf-8"))
        index["text_encoder"] = ["transformers", "T5EncoderModel"]
        index_path.write_text(json.dumps(index, indent=2), encoding="utf-8")
    else:
        ltx.save_pretrained(ltx_dir, safe_serialization=True)
    del ltx
    empty_cache(workload.device)
    written[LTX] = _install(store, LTX, ltx_dir)
    written["t5_shared"] = shared
    shutil.rmtree(scratch, ignore_errors=True)
    return written


def _install(store: Any, name: str, directory: Path) -> dict[str, Any]:
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    resolved = store.install(name, REVISION, directory)
    return {"path": str(resolved.path), "gib": round(size / 2**30, 2)}
