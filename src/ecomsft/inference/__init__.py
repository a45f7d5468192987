"""Using a finished run: loading, batched prediction, serving. ``Predictor`` and ``load`` load on
first use, so that importing a light module of this package (``http``, ``registry``) stays light."""

__all__ = ["Predictor", "load"]


def __getattr__(name: str):
    if name in __all__:
        from . import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'ecomsft.inference' has no attribute {name!r}")
