"""A short warm-up of the rows added by vocabulary extension, before fine-tuning the whole model.

New rows know nothing of the task, and inside a transformer they learn slowly: each step moves
only the rows of the characters in its batch, through six layers of gradients. Here they first
learn in a bag-of-embeddings classifier (fastText's model: the mean of a text's token embeddings,
then a linear layer), which sees the whole training split several times in seconds. Only the new
rows move; the pretrained rows and the encoder are untouched, and the linear layer is thrown away.
No library offers this step, hence the few lines here.
"""

from __future__ import annotations

import numpy as np


def warm_up_new_embeddings(
    model, input_ids: list[list[int]], labels, first_new_id: int, n_classes: int, multi_label: bool = False,
    epochs: int = 5, lr: float = 0.05, batch_size: int = 64, seed: int = 42,
) -> float:
    """Train rows ``first_new_id:`` of the input embeddings on (ids, labels); returns the last epoch's loss."""
    import torch

    weight = model.get_input_embeddings().weight
    if weight.shape[0] <= first_new_id or not input_ids:
        return float("nan")
    generator = torch.Generator().manual_seed(seed)
    frozen = weight.detach().clone()
    new_rows = torch.nn.Parameter(frozen[first_new_id:].clone())
    head = torch.nn.Linear(weight.shape[1], n_classes)
    optimizer = torch.optim.Adam([new_rows, head.weight, head.bias], lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss() if multi_label else torch.nn.CrossEntropyLoss()
    targets = torch.tensor(np.asarray(labels), dtype=torch.float32 if multi_label else torch.long)
    flat = [torch.tensor(ids, dtype=torch.long) for ids in input_ids]
    old_norm = frozen[:first_new_id].norm(dim=1).mean()
    last = float("nan")
    for _ in range(epochs):
        order = torch.randperm(len(flat), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            ids = torch.cat([flat[i] for i in idx])
            offsets = torch.tensor([0] + [len(flat[i]) for i in idx[:-1]]).cumsum(0)
            table = torch.cat([frozen[:first_new_id], new_rows])
            bags = torch.nn.functional.embedding_bag(ids, table, offsets, mode="mean")
            loss = loss_fn(head(bags), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss) * len(idx)
            count += len(idx)
        last = total / max(count, 1)
    with torch.no_grad():
        rows = new_rows.detach()
        # Keep the rows at the norm of pretrained embeddings so that the encoder sees familiar scales.
        rows = rows * (old_norm / rows.norm(dim=1, keepdim=True).clamp_min(1e-6))
        weight[first_new_id:] = rows.to(weight.dtype)
    return last
