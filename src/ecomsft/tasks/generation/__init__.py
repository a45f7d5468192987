"""Task generation: supervised fine-tuning of GPT-style decoders (TRL's SFTTrainer).

Two modules: ``config`` (the light spec that checking a configuration reads) and ``task`` (the
training code); the registry (``tasks/__init__.py``) imports each when it is needed."""
