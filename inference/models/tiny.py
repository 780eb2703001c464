"""Random-weight models for the ``tiny`` profile, written in the same store layout as real ones.

The tiny SD3 uses diffusers' own test sizes, so every loading, LoRA and generation path runs offline on a CPU
in well under a second per image. Tokenizers are built locally with the ``tokenizers`` library (a word-level
vocabulary with a whitespace pre-tokenizer); words outside the vocabulary map to the unknown token.
"""

from __future__ import annotations

from typing import Any

from inference.models.store import ModelStore, ResolvedModel

TINY_NAME = "sd3-tiny"
VOCAB_SIZE = 1000  # the tiny text encoders' embedding tables; every token id stays below it

# Words the tiny vocabulary knows: enough that prompts, templates and variations change the embedding.
_WORDS = """
a an the of in on at with and or for to from by over under near into wearing holding standing sitting
walking smiling looking posing portrait photo photograph picture shot selfie headshot closeup close up
full body half face eyes hair skin lips hands smile expression pose angle view side front back profile
man woman person girl boy model influencer creator young old adult
red orange yellow green blue purple pink black white grey gray brown gold silver beige pastel neon
light lighting natural soft hard warm cool golden hour sunset sunrise night day morning evening studio
outdoor indoor beach sea ocean city street cafe coffee park forest mountain desert room home kitchen
bedroom office gym pool garden rooftop restaurant bar car window mirror sofa bed table chair
dress shirt jacket coat jeans suit hat glasses sunglasses necklace earrings sweater hoodie swimsuit
cinematic film grain bokeh depth field sharp focus detailed high quality resolution realistic
photorealistic hdr 35mm 50mm 85mm lens dslr camera shallow wide vertical square cover thumbnail
instagram tiktok youtube facebook x lifestyle fashion fitness travel food beauty vlog aesthetic
editorial magazine candid casual professional linkedin business corporate clean background
bright vibrant colorful muted moody dramatic minimal simple bold text space composition centered
blurry lowres low deformed distorted disfigured bad anatomy extra fingers missing watermark
signature logo cropped out frame ugly duplicate jpeg artifacts noise oversaturated cartoon
painting drawing render cgi 3d illustration anime
different another alternate new slightly more less other change variation version
""".split()  # noqa: SIM905 - a word list reads better as text


def _vocab(specials: list[str]) -> dict[str, int]:
    words: list[str] = []
    for word in _WORDS:
        if word not in words and word not in specials:
            words.append(word)
    # Persona trigger tokens are made of these letters; single letters keep ids small.
    words.extend(ch for ch in "abcdefghijklmnopqrstuvwxyz0123456789,.!?:;-'" if ch not in words)
    tokens = specials + words
    if len(tokens) >= VOCAB_SIZE:
        raise ValueError("the tiny vocabulary outgrew the tiny text encoders")
    return {token: index for index, token in enumerate(tokens)}


def tiny_clip_tokenizer() -> object:
    """A CLIP-like fast tokenizer (start, pad, end ids 0, 1, 2 as the tiny CLIP configs expect; 77 tokens)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["<|startoftext|>", "<|pad|>", "<|endoftext|>", "<|unk|>"]
    vocab = _vocab(specials)
    tok = Tokenizer(WordLevel(vocab, unk_token="<|unk|>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 2)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        unk_token="<|unk|>",
        model_max_length=77,
    )


def tiny_t5_tokenizer() -> object:
    """A T5-like fast tokenizer (pad 0, end 1, unknown 2)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    vocab = _vocab(specials)
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>", model_max_length=512
    )


def tiny_t5_encoder(width: int = 32) -> Any:
    """A two-layer random-weight T5 encoder ``width`` wide over the tiny vocabulary (seeded, so reproducible)."""
    import torch
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=VOCAB_SIZE,
        d_model=width,
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
    return T5EncoderModel(config)


def build_tiny_sd3_pipeline() -> object:
    """A ``StableDiffusion3Pipeline`` with random weights at diffusers' test sizes (seeded: same every time)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=4,
    )
    clip_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=VOCAB_SIZE,
        hidden_act="gelu",
        projection_dim=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(clip_config)
    torch.manual_seed(1)
    text_encoder_2 = CLIPTextModelWithProjection(clip_config)
    text_encoder_3 = tiny_t5_encoder()
    torch.manual_seed(0)
    # Two blocks (one more than diffusers' tests): images are 64x64, so aspect ratios stay visible.
    vae = AutoencoderKL(
        sample_size=64,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4, 4),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    return StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        text_encoder_3=text_encoder_3,
        tokenizer=tiny_clip_tokenizer(),
        tokenizer_2=tiny_clip_tokenizer(),
        tokenizer_3=tiny_t5_tokenizer(),
        transformer=transformer,
        vae=vae,
    )


def install_tiny(store: ModelStore, name: str, *, role: str, activate: bool = True) -> ResolvedModel:
    """The tiny model ``name`` in the store, built and written now if missing; ``name`` must be a tiny ``role``."""
    spec = store.spec(name)
    if spec.source != "tiny" or spec.role != role:
        raise ValueError(f"{name} is not a tiny {role} model (source {spec.source!r}, role {spec.role!r})")
    return store.pull(name, activate=activate)


def make_tiny(store: ModelStore, *, name: str = TINY_NAME, activate: bool = True) -> ResolvedModel:
    """The tiny SD3 in the store (written now if missing): ``<models dir>/sd3-tiny/<revision>/``."""
    return install_tiny(store, name, role="text-to-image", activate=activate)
