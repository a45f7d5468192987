"""GPU-only checks (skipped without a CUDA GPU): training the suite's tiny models holds little GPU
memory, whatever the size of the device."""

import pytest

from .conftest import make_reviews, tiny_overrides

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

LIMIT_MIB = 400


def test_training_a_tiny_model_holds_a_few_hundred_mib_at_most(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run

    data = tmp_path / "reviews.csv"
    make_reviews(400, chinese_share=0.3).to_csv(data, index=False)
    free_before, total = torch.cuda.mem_get_info()
    torch.cuda.reset_peak_memory_stats()
    result = run(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{"training.epochs": 2})))
    assert result.metrics["device"] == "cuda"
    reserved = torch.cuda.max_memory_reserved() / 2**20
    held = (free_before - torch.cuda.mem_get_info()[0]) / 2**20  # anything outside PyTorch's allocator too
    assert reserved < LIMIT_MIB, f"PyTorch reserved {reserved:.0f} MiB"
    assert held < LIMIT_MIB + 600, f"this process holds {held:.0f} MiB more of the {total / 2**30:.0f} GiB GPU after training"
