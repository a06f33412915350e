"""Benchmarks: the project's speed against peer libraries and the machine's limit (``python -m bench``)."""
