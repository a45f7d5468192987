"""Task generation: supervised fine-tuning of GPT-style decoders (TRL's SFTTrainer)."""

from .task import TASK

__all__ = ["TASK"]
