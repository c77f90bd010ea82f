"""One place that starts Warp and resolves the `device` argument every solver takes."""
import threading

_lock = threading.Lock()
_initialised = False


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
    """Map a user's ``device`` ("cpu", "cuda", "cuda:0", None = best available) to a Warp device name."""
    from simengine.errors import InputError

    wp = init_warp()
    if device is None:
        return "cuda:0" if wp.is_cuda_available() else "cpu"
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not wp.is_cuda_available():
            raise InputError(f"device = {device!r} but no CUDA device is available; use device='cpu'")
        return "cuda:0" if device == "cuda" else device
    raise InputError(f"device = {device!r} is not one of 'cpu', 'cuda', 'cuda:N'")
