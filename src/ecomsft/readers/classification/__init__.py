"""A classification run after training (single- and multi-label): ``Predictor`` with the blend
training chose, ``POST /v1/predict``, its report sections and terminal summary, its ONNX graph."""

PIPELINE_TAG = "text-classification"
