"""The real loading code on CUDA with full-size random-weight SD3 Medium and LTX-Video: dtype, placement,
offload, attention backend. GPU only; never downloads (the models come from the GPU run's store stage, or are
built here from their published configurations) and never runs in CI.

    STUDIO_GPU_MODELS_DIR=<store> pytest -m gpu tests/gpu      (benchmarks/gpu/run.sh does this)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    pytest.skip("CI: the GPU tests never run in CI", allow_module_level=True)
if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the GPU tests need one (benchmarks/gpu/run.sh runs them on a GPU machine)",
                allow_module_level=True)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach for the Hub

from benchmarks.gpu.models import LTX, SD3  # noqa: E402
from benchmarks.gpu.stage_ltx import still  # noqa: E402
from inference.device import GIB, pick_dtype, plan_for, plan_memory  # noqa: E402
from inference.engines.image import ImageEngine, ImageRequest  # noqa: E402
from inference.engines.lora import LoraTrainer, LoraTrainingRequest  # noqa: E402
from inference.engines.video import LtxVideoEngine, VideoRequest  # noqa: E402
from inference.media import probe  # noqa: E402
from inference.models.store import ModelStore  # noqa: E402

pytestmark = pytest.mark.gpu
MODELS_ENV = "STUDIO_GPU_MODELS_DIR"
PROMPT = "woman with red hair reading in a cafe"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store the GPU run wrote, else one written now (random weights built on the GPU, about a minute)."""
    given = os.environ.get(MODELS_ENV)
    if given and ModelStore(Path(given)).active_revision(SD3) is not None:
        return Path(given)
    from benchmarks.gpu.models import write_store
    from benchmarks.gpu.stage import FULL

    root = tmp_path_factory.mktemp("gpu-models")
    write_store(FULL, root, root / ".scratch")
    return root


@pytest.fixture(scope="module")
def sd3(models_dir: Path) -> Iterator[ImageEngine]:
    model = ModelStore(models_dir).resolve(SD3)
    engine = ImageEngine.load(model, plan_for(full_gb=model.spec.full_vram_gb, min_gb=model.spec.min_vram_gb))
    yield engine
    engine.unload()


def _request(**changes: Any) -> ImageRequest:
    fields: dict[str, Any] = {"prompt": PROMPT, "prompt_3": PROMPT, "negative": "blurry", "aspect_ratio": "1:1",
                              "seeds": (1,), "steps": 2, "guidance": 7.0}
    fields.update(changes)
    return ImageRequest(**fields)


def _placement_problems(pipeline: Any, device: str, dtype: Any) -> list[str]:
    """Parameters not on ``device`` or not in ``dtype`` (modules a model keeps in fp32 excepted)."""
    problems = []
    for name, module in pipeline.components.items():
        if not isinstance(module, torch.nn.Module):
            continue
        kept = tuple(getattr(module, "_keep_in_fp32_modules", None) or ())
        for param_name, param in module.named_parameters():
            if param.device.type != device:
                problems.append(f"{name}.{param_name} on {param.device}")
            elif param.is_floating_point() and param.dtype != dtype and not any(k in param_name for k in kept):
                problems.append(f"{name}.{param_name} in {param.dtype}")
    return problems[:10]


def test_sd3_medium_loads_whole_onto_the_gpu_in_bf16(sd3: ImageEngine) -> None:
    assert (sd3.plan.device, sd3.plan.cpu_offload, sd3.plan.drop_t5) == ("cuda", False, False)
    assert sd3.plan.dtype == torch.bfloat16 == pick_dtype("cuda")
    assert _placement_problems(sd3.pipeline, "cuda", torch.bfloat16) == []
    transformer = sum(p.numel() for p in sd3.pipeline.transformer.parameters())
    assert transformer > 2.0e9  # SD3 Medium's 2B transformer, not a small stand-in
    assert 14 * GIB < sd3.memory_bytes() < 17 * GIB


def test_sd3_medium_makes_a_1024_image_on_the_gpu(sd3: ImageEngine) -> None:
    result = sd3.run(_request())
    assert (result.width, result.height) == (1024, 1024)
    assert result.images[0].image.size == (1024, 1024)


def _transformer_inputs(pipeline: Any) -> dict[str, Any]:
    """One denoising call's inputs at 1024x1024 with guidance (batch 2), as the pipeline makes them."""
    config = pipeline.transformer.config
    latent = 1024 // pipeline.vae_scale_factor
    options = {"device": "cuda", "dtype": torch.bfloat16}
    return {"hidden_states": torch.randn(2, config.in_channels, latent, latent, **options),
            "encoder_hidden_states": torch.randn(2, 77 + 256, config.joint_attention_dim, **options),
            "pooled_projections": torch.randn(2, config.pooled_projection_dim, **options),
            "timestep": torch.full((2,), 500.0, device="cuda"), "return_dict": False}


def test_attention_runs_on_a_fused_sdpa_kernel(sd3: ImageEngine, record_property: Any) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.profiler import ProfilerActivity, profile

    transformer = sd3.pipeline.transformer
    processors = sorted({type(p).__name__ for p in transformer.attn_processors.values()})
    record_property("attention_processors", ", ".join(processors))
    inputs = _transformer_inputs(sd3.pipeline)
    with torch.no_grad():
        transformer(**inputs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            transformer(**inputs)
        chosen = sorted({e.key for e in prof.key_averages() if e.key.startswith("aten::_scaled_dot_product")})
        record_property("attention_kernels", ", ".join(chosen))
        # Which backends can run these shapes, and how fast one denoising call is on each.
        timings = {}
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
            try:
                with sdpa_kernel(backend):
                    transformer(**inputs)
                    runs = []
                    for _ in range(3):
                        torch.cuda.synchronize()
                        started = time.perf_counter()
                        transformer(**inputs)
                        torch.cuda.synchronize()
                        runs.append(time.perf_counter() - started)
                timings[backend.name] = f"{statistics.median(runs) * 1000:.1f} ms"
            except RuntimeError as exc:
                timings[backend.name] = f"unavailable ({str(exc).splitlines()[0][:80]})"
        record_property("attention_backend_ms_per_call", "; ".join(f"{k} {v}" for k, v in timings.items()))
    assert chosen, "no scaled_dot_product_attention call was seen"
    assert not [k for k in chosen if "math" in k], f"attention fell back to the math kernel: {chosen}"


def test_a_trained_lora_loads_as_an_adapter_on_the_gpu(sd3: ImageEngine, tmp_path: Path) -> None:
    trained = LoraTrainer(sd3.pipeline).run(LoraTrainingRequest(
        images=(still(512, 512),), instance_prompt="a photo of zkvtr woman", steps=2, resolution=512))
    assert len(trained.losses) == 2
    sd3.load_adapter("persona-1", trained.save(tmp_path / "lora"))
    lora = [p for n, p in sd3.pipeline.transformer.named_parameters() if "lora_" in n]
    assert lora and all(p.device.type == "cuda" for p in lora)
    result = sd3.run(_request(adapter="persona-1"))
    assert result.adapter == "persona-1" and result.images[0].image.size == (1024, 1024)
    sd3.use_adapter(None)


def test_a_short_memory_plan_offloads_drops_t5_and_fits_the_minimum(models_dir: Path,
                                                                      record_property: Any) -> None:
    model = ModelStore(models_dir).resolve(SD3)
    spec = model.spec
    plan = plan_memory(device="cuda", dtype=pick_dtype("cuda"), free_bytes=6 * GIB, full_gb=spec.full_vram_gb,
                       min_gb=spec.min_vram_gb)
    assert (plan.cpu_offload, plan.drop_t5, plan.vae_tiling) == (True, True, True)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    engine = ImageEngine.load(model, plan)
    try:
        pipeline = engine.pipeline
        assert pipeline.text_encoder_3 is None
        assert pipeline.transformer.device.type == "cpu"  # waits on the CPU until its turn
        assert pipeline._execution_device.type == "cuda"
        assert pipeline.vae.use_tiling
        result = engine.run(_request())
        assert result.images[0].image.size == (1024, 1024)
        extra = torch.cuda.max_memory_allocated() - before
        record_property("offload_peak_gib", f"{extra / GIB:.2f}")
        assert extra < spec.min_vram_gb * GIB
    finally:
        engine.unload()


def test_ltx_video_loads_onto_the_gpu_and_encodes_a_clip(models_dir: Path, tmp_path: Path) -> None:
    model = ModelStore(models_dir).resolve(LTX)
    engine = LtxVideoEngine.load(model, plan_for(full_gb=model.spec.full_vram_gb, min_gb=model.spec.min_vram_gb))
    try:
        assert (engine.plan.device, engine.plan.cpu_offload) == ("cuda", False)
        assert _placement_problems(engine.pipeline, "cuda", torch.bfloat16) == []
        assert sum(p.numel() for p in engine.pipeline.transformer.parameters()) > 1.9e9  # the 2B model
        result = engine.run(VideoRequest(image=still(768, 512), output=tmp_path / "clip.mp4", motion="ai",
                                         seconds=2.0, fps=24, max_side=512, seed=1, steps=2))
        info = probe(result.path, count_frames=True)
        assert (info.width, info.height, info.frames) == (512, 352, 49)
        assert info.codec == "h264"
    finally:
        engine.unload()
