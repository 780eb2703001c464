"""LoRA training: DreamBooth-style persona LoRAs on the SD3 transformer."""

from __future__ import annotations

from inference.engines.lora.trainer import (
    TARGET_MODULES,
    LoraTrainer,
    LoraTrainingRequest,
    LoraTrainingResult,
)

__all__ = ["TARGET_MODULES", "LoraTrainer", "LoraTrainingRequest", "LoraTrainingResult"]
