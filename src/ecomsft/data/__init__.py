"""Reading, validating, labelling and splitting data; validated once here and trusted after."""

from .examples import Examples, load_examples
from .labels import LabelSet

__all__ = ["Examples", "LabelSet", "load_examples"]
