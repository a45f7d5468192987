"""Task ``relevance`` (a cross-encoder grading (query, product) pairs).

Two modules: ``config`` (the light spec that checking a configuration reads) and ``task`` (the
training code); the registry (``tasks/__init__.py``) imports each when it is needed."""
