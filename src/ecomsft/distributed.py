"""Several training processes, on one machine or many, through PyTorch's own launcher (torchrun,
``torch.distributed.run``) and the Trainer's DDP (gloo on CPUs, NCCL on GPUs): ecomsft only says
which process writes the run folder and how the global batch is shared.

``ecomsft train CONFIG --nproc N`` starts N processes here; on a cluster, start ``-m ecomsft train``
under ``torchrun`` or ``accelerate launch`` yourself (README, "Distributed training").
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 (or the only process): the one that writes the run folder and prints."""
    return int(os.environ.get("RANK", "0")) == 0


def per_process_batch(global_batch: int) -> int:
    """The per-process batch that keeps the configured batch size global, so that N processes
    take the same optimizer steps as one."""
    return max(1, global_batch // world_size())


def launch(nproc: int, argv: list[str]) -> int:
    """``python -m ecomsft ARGV`` in ``nproc`` processes under torchrun on this machine; 0 when all
    of them succeed, else the first failure's exit code (each process prints its own error line)."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "ecomsft", *argv])
    # One thread per process unless told: N processes of all-core torch would fight for the cores.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as err:
        first = err.get_first_failure()[1]
        return first.exitcode if first.exitcode and first.exitcode > 0 else 1
    return 0
