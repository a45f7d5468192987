"""Whether the user asked to see what the libraries underneath print (``ecomsft --verbose`` or
``ECOMSFT_VERBOSE=1``): their warnings, their progress bars, the Trainer's log lines. By default
ecomsft prints its own lines only (its errors, warnings, progress bars and results)."""

from __future__ import annotations

import os

VERBOSE_ENV = "ECOMSFT_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")
