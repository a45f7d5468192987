"""Task ``pretraining`` (domain-adaptive masked-LM pretraining, ``ecomsft pretrain``)."""

from .task import PretrainingTask

TASK = PretrainingTask
