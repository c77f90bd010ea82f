"""Split per-atom launches over CPU threads: Warp runs a CPU kernel on one thread but releases the GIL,
so launches on disjoint atom slices (kernels taking a ``start`` offset first) use several cores.

A kernel that writes only its own atoms' outputs gives a bit-identical result however it is split; one
that scatters (half-list forces) gets a private output buffer per slice, summed afterwards in a fixed
order, so a run is deterministic for a given thread count.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_POOLS: dict = {}
#: below this many atoms per thread a second thread costs more than it saves
MIN_ITEMS_PER_THREAD = 512


def default_threads(device: str) -> int:
    """$SIMENGINE_THREADS (set by `simengine generate` for its workers), else up to 2 on CPU."""
    if os.environ.get("SIMENGINE_THREADS"):
        return max(1, int(os.environ["SIMENGINE_THREADS"]))
    return min(2, os.cpu_count() or 1) if device == "cpu" else 1


def split(n: int, threads: int, device: str) -> list:
    """[(lo, hi), ...] slices of range(n), one per thread used."""
    parts = max(1, min(threads, n // MIN_ITEMS_PER_THREAD)) if device == "cpu" else 1
    bounds = np.linspace(0, n, parts + 1).astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def launch_parallel(wp, launches: list, device: str, record_tape: bool = True) -> None:
    """Run ``[(kernel, dim, inputs), ...]`` concurrently (one thread each on CPU)."""
    if len(launches) == 1:
        kernel, dim, inputs = launches[0]
        wp.launch(kernel, dim=dim, inputs=inputs, device=device, record_tape=record_tape)
        return
    pool = _POOLS.get(len(launches))
    if pool is None:
        pool = _POOLS[len(launches)] = ThreadPoolExecutor(max_workers=len(launches), thread_name_prefix="simengine")
    futures = [pool.submit(wp.launch, kernel, dim=dim, inputs=inputs, device=device, record_tape=record_tape)
               for kernel, dim, inputs in launches]
    for future in futures:
        future.result()


def launch_split(wp, kernel, n: int, inputs: list, device: str, threads: int = 1, record_tape: bool = True) -> None:
    """``wp.launch(kernel, dim=n, inputs=[start, *inputs])`` over ``threads`` slices of [0, n)."""
    launch_parallel(wp, [(kernel, hi - lo, [lo, *inputs]) for lo, hi in split(n, threads, device)], device,
                    record_tape)
