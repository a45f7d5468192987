"""``python -m ecomsft``: the command line (what torchrun and accelerate launch start)."""

from .cli import main

main()
