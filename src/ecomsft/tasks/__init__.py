"""One module per task, each with the same surface: build_model, encode, probabilities, metrics."""
