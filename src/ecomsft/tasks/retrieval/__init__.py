"""Task ``retrieval`` (a bi-encoder for search and recommendation).

Two modules: ``config`` (the light spec that checking a configuration reads) and ``task`` (the
training code); the registry (``tasks/__init__.py``) imports each when it is needed."""
