"""Dataset generation on a Dask distributed cluster (`simengine generate --scheduler ADDRESS`).

The same calls as the local workers (`simengine.generate.workers.run_calls`) go to the cluster's workers through
``dask.distributed`` futures; the shards are written by the workers into the output folder, which therefore has
to be on storage that every worker shares. Before any trajectory runs, every worker is asked for its simengine
version (a worker running another version is named) and writes and removes a probe file in the shard folder (a
worker that cannot is named with its host and the path). Semantics match the local pool: a Python error stops
the job (running trajectories finish and are kept), a worker that dies is left to Dask to reschedule, and a task
whose workers kept dying (Dask's ``KilledWorker``) is reported as failed while the others go on.

Dask is an optional dependency (`pip install "simengine[cluster]"`); without ``--scheduler`` nothing of it is used.
"""
from __future__ import annotations

import os
import time

from simengine.errors import InputError
from simengine.generate.workers import CallFailed

CONNECT_TIMEOUT = 30.0


def connect(scheduler=None, scheduler_file=None, timeout: float | None = None):
    """A `dask.distributed.Client` for ``scheduler`` ("tcp://host:port") or a ``scheduler_file``; a one-line
    `InputError` naming the address and the time waited when it cannot be reached."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise InputError("--scheduler needs Dask: pip install 'dask[distributed]' (or simengine[cluster])") from None
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    where = scheduler or f"the scheduler file {scheduler_file}"
    if scheduler_file is not None and not os.path.exists(scheduler_file):
        raise InputError(f"--scheduler-file {scheduler_file} does not exist (start `dask scheduler "
                         "--scheduler-file FILE` first)")
    start = time.monotonic()
    try:
        client = Client(address=scheduler, scheduler_file=scheduler_file, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {where} after {time.monotonic() - start:.0f} s "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return client


def _probe(folder: str) -> dict:
    """Run on every worker: its host, simengine version, and the error of writing a file into ``folder``."""
    import socket

    import simengine

    host, error = socket.gethostname(), None
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f".probe-{host}-{os.getpid()}")
        with open(path, "w") as f:
            f.write("ok")
        os.remove(path)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return {"host": host, "version": simengine.__version__, "error": error}


def check_workers(client, shard_root: str, wait: float = CONNECT_TIMEOUT) -> int:
    """Number of workers, after checking each one's simengine version and that it can write ``shard_root``."""
    import socket

    import simengine

    deadline = time.monotonic() + wait
    while not client.scheduler_info().get("workers") and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        raise InputError(f"the Dask cluster at {client.scheduler.address} has no workers (waited {wait:.0f} s)")
    try:
        probes = client.run(_probe, shard_root)
    except Exception as exc:  # noqa: BLE001 - e.g. a worker without simengine: reported with its message
        raise InputError(f"a Dask worker failed its start-up check (is simengine installed on every worker?): "
                         f"{type(exc).__name__}: {exc}") from None
    for address, probe in probes.items():
        if probe["version"] != simengine.__version__:
            raise InputError(f"Dask worker {address} (host {probe['host']}) runs simengine {probe['version']}; this "
                             f"client (on {socket.gethostname()}) runs {simengine.__version__}: install the same "
                             "version")
        if probe["error"]:
            raise InputError(f"Dask worker {address} on host {probe['host']} cannot write the output folder "
                             f"{shard_root} ({probe['error']}); the output must be on storage every worker shares")
    return len(probes)


def run_on_cluster(client, calls, *, on_done=None) -> list:
    """Run ``calls = [(fn, args), ...]`` on the cluster; return ``[(index, reason), ...]`` of the calls whose
    workers kept dying; raise `CallFailed` for the first call that raised (after the running ones finish)."""
    from distributed import as_completed

    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover
        KilledWorker = ()  # noqa: N806

    futures = {client.submit(fn, *args, pure=False): i for i, (fn, args) in enumerate(calls)}
    crashes, failure = [], None
    try:
        for future in as_completed(list(futures), loop=client.loop):
            index = futures[future]
            if future.status == "cancelled":
                continue
            if future.status == "finished":
                if on_done is not None:
                    on_done(index, future.result())
                continue
            exc = future.exception()
            if KilledWorker and isinstance(exc, KilledWorker):
                crashes.append((index, f"killed the Dask workers that ran it ({exc})"))
            elif failure is None:
                import traceback

                text = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
                failure = CallFailed(index, exc, text)
                for other in futures:  # nothing new starts; running ones finish
                    if other.status == "pending":
                        other.cancel()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    if failure is not None:
        raise failure
    return crashes
