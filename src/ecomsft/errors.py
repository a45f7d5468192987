"""The one exception type for failures a user can cause.

The CLI prints ``EcomsftError`` as a single ``error: ...`` line and exits non-zero; anything else is a
bug in ecomsft and keeps its traceback.
"""


class EcomsftError(Exception):
    """A problem with the user's input (file, column, label, config, model name, request)."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class Interrupted(EcomsftError):
    """The user stopped the work (Ctrl-C); the message says what was kept and how to go on."""
