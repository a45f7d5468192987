"""What the speed benchmarks share: this machine's fp32 matmul peak and a transformer's useful FLOPs."""

from __future__ import annotations

import time


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> float:
    """Best-of-``repeats`` GFLOP/s of one n x n matrix product (fp32 unless told) with torch's current threads."""
    import torch

    a, b = torch.randn(n, n, dtype=getattr(torch, dtype)), torch.randn(n, n, dtype=getattr(torch, dtype))
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


def forward_flops(model, lengths) -> float:
    """Useful FLOPs of one forward pass over sequences of these real (unpadded) lengths: 2 per
    non-embedding weight per token, plus 4*d*n per token and layer for attention's two products.
    A training step costs three times this (forward, and backward through activations and weights)."""
    config = model.config
    weights = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
    layers, hidden = config.num_hidden_layers, config.hidden_size
    return float(sum(2 * weights * n + 4 * layers * hidden * n * n for n in lengths))
