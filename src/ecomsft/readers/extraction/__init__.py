"""An extraction run after training: ``Extractor`` (entities of long texts over windows),
``POST /v1/extract``, its report sections and terminal summary, its ONNX graph."""

PIPELINE_TAG = "token-classification"
