"""The markdown tables of a GPU run: every figure beside its published anchor, then how each stage went."""

from __future__ import annotations

from typing import Any

ANCHORS = {
    "eager": "2.12 s/image on an H100, fp16 eager (Hugging Face, quanto blog)",
    "compiled": "0.585 s/image at 20 steps on an A100, compiled (Hugging Face, SD3 blog)",
    "ratio": "goal: at most 1.03",
    "ltx": "about 2 s for a 5 s clip on an H100 (arXiv 2501.00103)",
    "lora": "diffusers' DreamBooth-LoRA SD3 example is the recipe",
}


def _get(stage: dict[str, Any], key: str) -> Any:
    return stage.get(key)


def _num(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float | int):
        return f"{value:.{digits}f}{unit}"
    return str(value)


def _missing(stage: dict[str, Any]) -> str:
    status = stage.get("status", "not run")
    reason = stage.get("error") or stage.get("reason") or ""
    return f"— ({status}{': ' + reason if reason else ''})"


def figure_rows(stages: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(figure, measured, reference) rows for whatever the stages recorded."""
    sd3, comp, ltx = stages.get("sd3", {}), stages.get("compile", {}), stages.get("ltx", {})
    lora, tests = stages.get("lora", {}), stages.get("pytest", {})
    size = sd3.get("size") or comp.get("size") or "1024x1024"
    steps = sd3.get("steps") or comp.get("steps") or 28
    rows: list[tuple[str, str, str]] = []
    head = f"SD3 Medium {size}, {steps} steps, {sd3.get('dtype', 'bfloat16')}"
    eager = _get(sd3, "eager_s")
    rows.append((f"{head}, eager (pipeline call)",
                 f"{_num(eager, ' s/image')}, peak {_num(_get(sd3, 'eager_peak_gib'), ' GiB')}"
                 if eager is not None else _missing(sd3), ANCHORS["eager"]))
    compiled = _get(comp, "compiled_s")
    if compiled is not None:
        text = (f"{_num(compiled, ' s/image')} (eager {_num(_get(comp, 'eager_s'), ' s')} in the same process, "
                f"{_num(_get(comp, 'speedup'), 'x', 2)}); compile {_num(_get(comp, 'compile_s'), ' s', 1)} apart; "
                f"pays off after {_num(_get(comp, 'break_even_images'), ' images', 0)}")
    elif _get(comp, "eager_s") is not None:
        text = f"{_missing(comp)}; eager {_num(_get(comp, 'eager_s'), ' s')} in that process"
    else:
        text = _missing(comp)
    rows.append((f"{head}, torch.compile", text, ANCHORS["compiled"]))
    no_t5 = _get(sd3, "no_t5_eager_s")
    rows.append((f"{head}, T5 dropped",
                 f"{_num(no_t5, ' s/image')}, peak {_num(_get(sd3, 'no_t5_eager_peak_gib'), ' GiB')}"
                 if no_t5 is not None else _missing(sd3), ""))
    ratio = _get(sd3, "job_over_bare")
    rows.append(("/imagine job through the worker (embedded Redis, SQLite, identity gate, blobs) vs the bare call",
                 f"{_num(_get(sd3, 'job_s'), ' s')} vs {_num(_get(sd3, 'bare_s'), ' s')}: ratio {_num(ratio, '', 3)}"
                 if ratio is not None else _missing(sd3), ANCHORS["ratio"]))
    parts = _get(sd3, "job_parts_s")
    if parts:
        rows.append(("CPU work a job adds, on its own image", ", ".join(f"{k.replace('_', ' ')} {v:.3f} s"
                                                                       for k, v in parts.items()), ""))
    cold = _get(sd3, "cold_job_s")
    if cold is not None:
        loads = ", ".join(f"{k} {v} s" for k, v in (_get(sd3, "engine_load_s") or {}).items())
        rows.append(("first job of a fresh worker (engine loads + generation)", f"{_num(cold, ' s', 1)} ({loads})",
                     ""))
    clip = _get(ltx, "clip_s")
    rows.append((f"LTX-Video 2B image-to-video {ltx.get('size', '768x512')}, {ltx.get('frames', 121)} frames, "
                 f"{ltx.get('steps', 'default')} steps, decode + H.264 encode",
                 f"{_num(clip, ' s/clip')} (render {_num(_get(ltx, 'render_s'), ' s')}, encode "
                 f"{_num(_get(ltx, 'encode_s'), ' s')}), peak {_num(_get(ltx, 'peak_gib'), ' GiB')}"
                 if clip is not None else _missing(ltx), ANCHORS["ltx"]))
    step = _get(lora, "step_s")
    rows.append((f"SD3 LoRA training, rank 4, {lora.get('resolution', 1024)} px, batch 1",
                 f"{_num(step, ' s/step', 3)}, peak {_num(_get(lora, 'peak_gib'), ' GiB')}"
                 if step is not None else _missing(lora), ANCHORS["lora"]))
    counts = _get(tests, "counts")
    if counts:
        properties: dict[str, str] = {}
        for case in tests.get("tests", []):
            properties.update(case.get("properties") or {})
        failed = [case["name"] for case in tests.get("tests", []) if case["outcome"] in ("failed", "error")]
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        if failed:
            text += f" ({', '.join(failed)})"
        labels = {"attention_kernels": "attention runs on", "attention_backend_ms_per_call": "per denoising call",
                  "offload_peak_gib": "offloaded plan's peak GiB"}
        text += "".join(f"; {label}: {properties[key]}" for key, label in labels.items() if properties.get(key))
        rows.append(("pytest -m gpu (loading on CUDA: dtype, placement, offload, attention)", text, ""))
    else:
        rows.append(("pytest -m gpu", _missing(tests), ""))
    return rows


def markdown(run: dict[str, Any]) -> str:
    """The run as markdown: the machine, the figures and the stages."""
    machine = run.get("machine", {})
    versions = machine.get("versions", {})
    memory = f" ({machine['memory_gib']} GiB)" if machine.get("memory_gib") else ""
    lines = [
        f"GPU run {run.get('started_at', '')}: {machine.get('gpu', 'unknown GPU')}{memory}, "
        f"torch {versions.get('torch')} (CUDA {machine.get('torch_cuda')}), "
        f"diffusers {versions.get('diffusers')}, transformers {versions.get('transformers')}, "
        f"Python {machine.get('python')}; {run.get('seconds', '?')} s of {run.get('budget_s', '?')} s.",
        "",
        "| figure | measured | reference |",
        "|---|---|---|",
    ]
    stages = run.get("stages", {})
    lines += [f"| {a} | {b} | {c} |" for a, b, c in figure_rows(stages)]
    lines += ["", "| stage | status | seconds | limit |", "|---|---|---|---|"]
    for name, stage in stages.items():
        lines.append(f"| {name} | {stage.get('status', '?')} | {_num(stage.get('wall_s'), '', 1)} | "
                     f"{_num(stage.get('limit_s'), '', 0)} |")
    notes = [f"{name}: {note}" for name, stage in stages.items() for note in stage.get("notes", [])]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"
