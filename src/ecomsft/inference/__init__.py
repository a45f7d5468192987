"""What every finished run shares after training: the registry of each task's after-training
package (``registry.py``), the base class of their readers (``base.py``), file scoring, the
server and its micro-batcher, and ONNX export. What differs between tasks lives in
``ecomsft/readers/<task>/``."""
