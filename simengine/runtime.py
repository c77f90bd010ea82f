"""The one device and thread policy: how Warp is started, which device a simulator runs on and how many
CPU threads it uses. Every simulator asks here; nothing else reads ``$SIMENGINE_DEVICE`` or
``$SIMENGINE_THREADS``.

Device: an explicit ``device`` argument, else ``$SIMENGINE_DEVICE`` (set by ``simengine generate
--device``), else Warp's preferred device (CUDA when present, else the CPU).

Threads (CPU only; a CUDA launch covers all items): an explicit ``threads`` argument, else
``$SIMENGINE_THREADS`` (``simengine generate`` sets it to 1 when several worker processes share the
cores), else the cores this process may run on. The work is split by `simengine.parallel`.
"""
from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_initialised = False

DEVICE_ENV = "SIMENGINE_DEVICE"
THREADS_ENV = "SIMENGINE_THREADS"
MAX_THREADS = 256


def init_warp():
    """Import and initialise Warp quietly (no CUDA-driver chatter on CPU-only machines)."""
    global _initialised
    import warp as wp

    with _lock:
        if not _initialised:
            wp.config.log_level = wp.LOG_WARNING
            wp.config.quiet = True
            wp.init()
            _initialised = True
    return wp


def resolve_device(device: str | None = None) -> str:
    """Map a user's ``device`` ("cpu", "cuda", "cuda:0", None = $SIMENGINE_DEVICE, else the best
    available) to a Warp device name."""
    from simengine.errors import InputError

    wp = init_warp()
    field = "device"
    if device is None and os.environ.get(DEVICE_ENV):
        device, field = os.environ[DEVICE_ENV], f"${DEVICE_ENV}"
    if device is None:
        return "cuda:0" if wp.is_cuda_available() else "cpu"
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not wp.is_cuda_available():
            raise InputError(f"{field} = {device!r} but no CUDA device is available; use device='cpu'")
        if device == "cuda":
            return "cuda:0"
        suffix = device[len("cuda:"):]
        if device.startswith("cuda:") and suffix.isdigit() and int(suffix) < wp.get_cuda_device_count():
            return device
        raise InputError(f"{field} = {device!r} is not one of 'cuda', 'cuda:0' .. "
                         f"'cuda:{wp.get_cuda_device_count() - 1}'")
    raise InputError(f"{field} = {device!r} is not one of 'cpu', 'cuda', 'cuda:N'")


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` where there is one), for benchmark reports."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(device: str = "cpu", threads: int | None = None) -> int:
    """CPU threads a simulator on ``device`` uses: ``threads`` if given, else $SIMENGINE_THREADS, else
    every core available; always 1 off the CPU."""
    from simengine.errors import InputError, check_range

    field = "threads"
    if threads is None and os.environ.get(THREADS_ENV):
        field, raw = f"${THREADS_ENV}", os.environ[THREADS_ENV]
        try:
            threads = int(raw)
        except ValueError:
            raise InputError(f"{field} = {raw!r} is not an integer in [1, {MAX_THREADS}]") from None
    if threads is None:
        threads = cpu_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) and not hasattr(threads, "__index__"):
        raise InputError(f"{field} = {threads!r} is not an integer in [1, {MAX_THREADS}]")
    check_range(field, int(threads), 1, MAX_THREADS)
    return int(threads) if str(device) == "cpu" else 1
