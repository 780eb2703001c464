"""Bounds shared by the grammar, the job specs and the engines, each written once."""

from __future__ import annotations

# How long an animation may be, in seconds; the video engines check the same bounds.
ANIMATE_SECONDS = (2.0, 10.0)
MOTIONS = ("zoom-in", "zoom-out", "pan-left", "pan-right", "tilt-up", "tilt-down", "orbit", "ai")
MAX_PROMPT_CHARS = 1500
# Row ids beyond a 32-bit integer cannot exist; larger numbers in button data are forged or garbled.
PERSONA_ID_MAX = 2**31 - 1
# Reference photos a persona is made from.
MIN_PHOTOS = 3
MAX_PHOTOS = 10
# LoRA training knobs: checked when /persona train is submitted and again by the trainer.
LORA_MAX_STEPS = 5000
LORA_MAX_RANK = 128
LORA_MAX_LEARNING_RATE = 1e-2
# A persona's wardrobe: outfit names as typed after "in her …", descriptions short enough to fit a prompt.
OUTFIT_NAME_CHARS = 32
OUTFIT_DESCRIPTION_CHARS = 300
MAX_OUTFITS = 50
# A persona's profile: the look every prompt carries, and how many photos a shoot makes unless told.
STYLE_NOTES_CHARS = 300
SHOOT_SIZE = (4, 12)
SHOOT_SIZE_DEFAULT = 6
