"""A random-weight LTX-Video image-to-video pipeline for the ``tiny`` profile, in the same store layout as real ones.

Sizes follow diffusers' own LTX image-to-video tests (one transformer layer, an 8-channel latent space, a VAE
compressing 4x in space and time), so loading, denoising, decoding and encoding all run offline on a CPU in
well under a second per short clip. The T5 text encoder and its tokenizer are the tiny SD3's (see
``inference.models.tiny``): a word-level vocabulary built locally, no hub download.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from inference.models.store import ModelStore, ResolvedModel
from inference.models.tiny import VOCAB_SIZE, tiny_t5_tokenizer

TINY_VIDEO_NAME = "ltx-tiny"
TEXT_DIM = 32  # the tiny T5's width, which the transformer's caption projection reads


def build_tiny_ltx_pipeline() -> Any:
    """An ``LTXImageToVideoPipeline`` with random weights at diffusers' test sizes (seeded: same every time)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=TEXT_DIM,
    )
    torch.manual_seed(0)
    # Two of four blocks scale space and time by 2 each: 4x compression, so 32 px and 9 frames still leave
    # a latent of 8x8x3 to denoise.
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    t5_config = T5Config(
        vocab_size=VOCAB_SIZE,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,  # type: ignore[call-arg]  # accepted through **kwargs
    )
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(t5_config)
    return LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_t5_tokenizer(),
        transformer=transformer,
    )


def make_tiny_video(store: ModelStore, *, name: str = TINY_VIDEO_NAME, activate: bool = True) -> ResolvedModel:
    """The tiny LTX in the store (written now if missing): ``<models dir>/ltx-tiny/<revision>/``."""
    spec = store.spec(name)
    if spec.source != "tiny" or spec.role != "image-to-video":
        raise ValueError(f"{name} is not a tiny image-to-video model (source {spec.source!r}, role {spec.role!r})")
    if spec.revision in store.revisions(name):
        if activate or store.active_revision(name) is None:
            store.activate(name, spec.revision)
        return ResolvedModel(spec=spec, revision=spec.revision, path=store.revision_dir(name, spec.revision))
    store.model_dir(name).mkdir(parents=True, exist_ok=True)
    # Written next to its final place and renamed in: a concurrent reader never sees half a model.
    workdir = Path(tempfile.mkdtemp(dir=store.model_dir(name), prefix=".make-"))
    try:
        build_tiny_ltx_pipeline().save_pretrained(workdir)
        return store.install(name, spec.revision, workdir, activate=activate)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
