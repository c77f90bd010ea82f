"""The one CPU launch layer: splitting work, the shared thread pool, module loading and recorded launches.

Warp's CPU backend runs a kernel launch on one thread and releases the GIL while the kernel runs, so a
simulator uses several cores by launching a kernel on disjoint slices of its items from several Python
threads. That is safe only if no Warp module is ever *loaded* while another thread launches: Warp's
`Module.load` is not thread-safe (two threads loading one module race on the name of the native object;
the loser's code is unloaded while a launch, or a recorded launch, still jumps into it, and the process
dies with SIGSEGV). So this module, and no other code in simengine, owns

* **loading**: `prepare(kernels, device)` loads, on the calling thread under one lock, the very module
  variant a launch resolves to (``block_dim`` 1 on the CPU, not the module's default, which a plain
  ``module.load(device)`` would load). `run_parallel` calls it before any pool thread runs a task, so pool
  threads only ever launch code that is already loaded;
* **the thread pool**: one pool for the process, grown on demand; the calling thread runs the first
  slice itself; a task started from a pool thread runs its slices serially (no nested hand-offs);
* **recorded launches** (`RecordedLaunch`, `LaunchCache`): a recorded ``wp.Launch`` skips packing the
  arguments again (about 100 µs per launch of ~20 arguments, which dominates a small scene's step) but
  keeps pointers into the loaded code; it is recorded again whenever its module has been reloaded since.

How many threads to use is `simengine.runtime.default_threads`; how to cut the work is `split`.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

from simengine.runtime import init_warp

_load_lock = threading.RLock()
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_local = threading.local()


# ---- splitting -------------------------------------------------------------------------------------------
def split(total: int, threads: int, min_items: int = 1) -> list[tuple[int, int]]:
    """Contiguous ``[(begin, end), ...]`` slices of ``range(total)``, one per thread used: at most
    ``threads`` slices of at least ``min_items`` items (one slice when ``total < 2 * min_items``). Slice k
    starts at ``total * k // parts``: the plan depends only on (total, threads, min_items)."""
    total, threads, min_items = int(total), max(1, int(threads)), max(1, int(min_items))
    parts = max(1, min(threads, total // min_items))
    return [(total * k // parts, total * (k + 1) // parts) for k in range(parts)]


# ---- loading ---------------------------------------------------------------------------------------------
_block_dims: dict = {}


def launch_block_dim(device) -> int:
    """The ``block_dim`` variant a plain ``wp.launch`` on ``device`` loads (1 on the CPU)."""
    wp = init_warp()
    device = wp.get_device(device)
    if device.alias not in _block_dims:
        try:
            from warp._src.context import _resolve_launch_block_dim

            _block_dims[device.alias] = int(_resolve_launch_block_dim(device, None))
        except ImportError:  # pragma: no cover - other Warp versions
            _block_dims[device.alias] = 1 if device.is_cpu else 256
    return _block_dims[device.alias]


def prepare(kernels: Iterable, device) -> None:
    """Load the modules of ``kernels`` for ``device`` on this thread, one at a time, in the variant that
    their launches use. Cheap when they are loaded and current (a hash look-up per module)."""
    wp = init_warp()
    device = wp.get_device(device)
    block_dim = launch_block_dim(device)
    modules = []
    for kernel in kernels:
        if kernel.module not in modules:
            modules.append(kernel.module)
    with _load_lock:
        for module in modules:
            module.load(device, block_dim)


def _exec_key(device) -> tuple:
    """The key of `Module.execs` under which launches on ``device`` find their executable."""
    wp = init_warp()
    device = wp.get_device(device)
    return (None if device.is_cpu else device.context, launch_block_dim(device))


def loaded_exec(kernel, device):
    """The loaded executable of ``kernel``'s module that launches on ``device`` use (None if not loaded)."""
    return kernel.module.execs.get(_exec_key(device))


# ---- the thread pool ---------------------------------------------------------------------------------------
def _mark_pool_thread():
    _local.in_pool = True


def in_pool_thread() -> bool:
    return getattr(_local, "in_pool", False)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers < workers:
            old = _pool
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="simengine", initializer=_mark_pool_thread)
            _pool_workers = workers
            if old is not None:
                old.shutdown(wait=False)  # its queued work (none: callers wait for their tasks) finishes
        return _pool


def run_parallel(task: Callable[[int, int, int], None], spans: Sequence[tuple[int, int]], *,
                 kernels: Iterable = (), device="cpu") -> None:
    """Run ``task(begin, end, t)`` for every span ``t``, concurrently: span 0 on this thread, the others on the
    shared pool. ``kernels`` lists every kernel the task launches; they are loaded here first. Returns when
    all spans are done; the first exception of any span is raised after every span has finished."""
    spans = list(spans)
    prepare(kernels, device)
    if len(spans) <= 1 or in_pool_thread():
        for t, (begin, end) in enumerate(spans):
            task(begin, end, t)
        return
    pool = _get_pool(len(spans) - 1)
    futures = [pool.submit(task, begin, end, t) for t, (begin, end) in enumerate(spans) if t > 0]
    error = None
    try:
        task(*spans[0], 0)
    except BaseException as exc:  # wait for the other slices before raising: they use the same buffers
        error = exc
    for future in futures:
        exc = future.exception()
        if exc is not None and error is None:
            error = exc
    if error is not None:
        raise error


def launch_split(kernel, total: int, inputs: list, device, threads: int = 1, min_items: int = 1,
                 record_tape: bool = True) -> None:
    """``wp.launch(kernel, dim=end - begin, inputs=[begin, *inputs])`` over the slices of `split`; the
    kernel takes its slice's first item index as its first argument."""
    wp = init_warp()
    spans = split(total, threads if str(device) == "cpu" else 1, min_items)

    def task(begin, end, t):
        wp.launch(kernel, dim=end - begin, inputs=[begin, *inputs], device=device, record_tape=record_tape)

    run_parallel(task, spans, kernels=[kernel], device=device)


def launch_each(launches: Sequence[tuple], device, record_tape: bool = True) -> None:
    """Run ``[(kernel, dim, inputs), ...]`` concurrently, one thread each on the CPU."""
    wp = init_warp()
    launches = list(launches)

    def task(index, _end, _t):
        kernel, dim, inputs = launches[index]
        wp.launch(kernel, dim=dim, inputs=inputs, device=device, record_tape=record_tape)

    spans = [(i, i + 1) for i in range(len(launches))]
    if str(device) != "cpu":
        for begin, end in spans:
            task(begin, end, 0)
        return
    run_parallel(task, spans, kernels=[k for k, _, _ in launches], device=device)


# ---- recorded launches -------------------------------------------------------------------------------------
class RecordedLaunch:
    """A launch recorded once and replayed (``launch()``) with only the parameters that change set again
    (`set_dim`, `set_param`). Recorded again when the kernel's module was reloaded since, so a replay never
    jumps into unloaded code. Not for use under a ``wp.Tape`` (a replay is not recorded on tapes)."""

    def __init__(self, kernel, dim, inputs: Sequence, device):
        self.kernel, self.dim, self.inputs, self.device = kernel, dim, list(inputs), device
        self._key = _exec_key(device)
        self._cmd = None
        self.records = 0

    def set_dim(self, dim) -> None:
        self.dim = dim
        if self._cmd is not None:
            self._cmd.set_dim(dim)

    def set_param(self, index: int, value) -> None:
        self.inputs[index] = value
        if self._cmd is not None:
            self._cmd.set_param_at_index(index, value)

    def launch(self) -> None:
        cmd = self._cmd
        if cmd is None or self.kernel.module.execs.get(self._key) is not cmd.module_exec:
            wp = init_warp()
            if not in_pool_thread():
                prepare([self.kernel], self.device)
            elif loaded_exec(self.kernel, self.device) is None:
                raise RuntimeError(f"kernel {self.kernel.key!r} launched from a pool thread before its module was "
                                   "loaded: list it in run_parallel(kernels=...)")
            cmd = self._cmd = wp.launch(self.kernel, dim=self.dim, inputs=self.inputs, device=self.device,
                                        record_cmd=True)
            self.records += 1
        cmd.launch()


class LaunchCache:
    """Recorded launches keyed by kernel, launch size and argument identities (scalars by value, arrays by
    object): replays a forward step over the same buffers without packing its arguments again. Keeps the
    arguments alive with the record (so their ids stay unique); forgets everything past ``limit`` entries."""

    def __init__(self, device, limit: int = 64):
        self.device, self.limit = device, int(limit)
        self._entries: dict = {}

    def launch(self, kernel, dim, inputs: Sequence) -> None:
        key = (kernel, dim) + tuple(a if isinstance(a, (int, float)) else id(a) for a in inputs)
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            entry = self._entries[key] = RecordedLaunch(kernel, dim, inputs, self.device)
        entry.launch()

    def clear(self) -> None:
        self._entries.clear()
