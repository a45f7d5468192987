"""A generation run after training: ``Generator`` (chat prompts, batched or streamed answers),
``POST /v1/generate``, its report sections and terminal summary."""

PIPELINE_TAG = "text-generation"
