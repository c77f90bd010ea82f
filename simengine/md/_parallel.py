"""Split a per-atom launch over CPU threads: Warp runs a CPU kernel on one thread but releases the GIL,
so launches on disjoint atom slices (kernels taking a ``start`` offset first) use several cores.

Each slice writes only its own atoms' outputs, so the result is bit-identical to a single launch.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_POOLS: dict = {}
#: below this many items a second thread costs more than it saves
MIN_ITEMS_PER_THREAD = 512


def default_threads(device: str) -> int:
    return min(2, os.cpu_count() or 1) if device == "cpu" else 1


def launch_split(wp, kernel, n: int, inputs: list, device: str, threads: int = 1, record_tape: bool = True) -> None:
    """``wp.launch(kernel, dim=n, inputs=[start, *inputs])`` over ``threads`` slices of [0, n)."""
    parts = max(1, min(threads, n // MIN_ITEMS_PER_THREAD)) if device == "cpu" else 1
    if parts == 1:
        wp.launch(kernel, dim=n, inputs=[0, *inputs], device=device, record_tape=record_tape)
        return
    pool = _POOLS.get(parts)
    if pool is None:
        pool = _POOLS[parts] = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="simengine-md")
    bounds = np.linspace(0, n, parts + 1).astype(int)
    futures = [pool.submit(wp.launch, kernel, dim=int(hi - lo), inputs=[int(lo), *inputs], device=device,
                           record_tape=record_tape)
               for lo, hi in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()
