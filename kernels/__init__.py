"""Warp kernels and ``@wp.func``s only: no orchestration lives here (see `simengine` for that)."""
