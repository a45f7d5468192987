"""A pretraining run after training: no reader (it predicts nothing), its terminal summary; its
report is the numeric figures every run has."""

USE = "ecomsft train --model RUN/model (a starting point for fine-tuning, not a predictor)"

PIPELINE_TAG = "fill-mask"
