"""Each task's HTTP routes, one module each with ``router(server) -> APIRouter``; an inference
class names its module (``Inference.routes``)."""
