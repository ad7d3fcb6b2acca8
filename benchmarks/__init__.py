"""Speed and memory benchmarks of the engine (``python -m benchmarks.run``)."""
