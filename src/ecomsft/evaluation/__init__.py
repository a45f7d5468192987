"""Evaluation in one place, for training and inference alike: classification metrics and
calibration (``classification``), ranking metrics (``ranking``), and the classical baselines a
fine-tuned model must beat: tfidf-lr (``baselines``), BM25 and the zero-shot encoder
(``ranking_baselines``). Nothing here imports training code."""
