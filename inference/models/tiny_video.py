"""A random-weight LTX-Video image-to-video pipeline for the ``tiny`` profile, in the same store layout as real ones.

Sizes follow diffusers' own LTX image-to-video tests (one transformer layer, an 8-channel latent space, a VAE
compressing 4x in space and time), so loading, denoising, decoding and encoding all run offline on a CPU in
well under a second per short clip. The T5 text encoder and its tokenizer are the tiny SD3's (see
``inference.models.tiny``): a word-level vocabulary built locally, no hub download.
"""

from __future__ import annotations

from typing import Any

from inference.models.store import ModelStore, ResolvedModel
from inference.models.tiny import install_tiny, tiny_t5_encoder, tiny_t5_tokenizer

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
    text_encoder = tiny_t5_encoder(TEXT_DIM)
    return LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_t5_tokenizer(),
        transformer=transformer,
    )


def make_tiny_video(store: ModelStore, *, name: str = TINY_VIDEO_NAME, activate: bool = True) -> ResolvedModel:
    """The tiny LTX in the store (written now if missing): ``<models dir>/ltx-tiny/<revision>/``."""
    return install_tiny(store, name, role="image-to-video", activate=activate)
