"""Worker processes that survive native crashes: every simulation of `simengine generate` and `simengine run`
runs in a spawned process, so a crash in native code (a signal such as SIGSEGV) costs one trajectory, is
named with its scene, seed and signal, and never takes the command down silently.

`run_calls` hands picklable calls ``(fn, args)`` to ``workers`` processes and reports each outcome:

* a call that returns: ``on_done(index, result)``;
* a call that raises: no new call starts, the running ones finish, and the exception is re-raised as
  `CallFailed` (carrying the index, the exception and the worker's traceback);
* a worker that dies (killed by a signal or exiting): the call is retried ``retries`` times in a fresh
  process, then listed in the returned crashes ``[(index, reason), ...]``; the other calls go on.

Workers exit on their own within a second when the process that started them dies (a watchdog compares
the parent pid), and ignore Ctrl-C: the parent decides; on an interrupt it terminates them, and what
finished before is kept by the callers (results are written as each call ends).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import deque
from multiprocessing.connection import wait

#: seconds between a worker's checks that its parent is alive
WATCHDOG_PERIOD = 0.5


class CallFailed(Exception):
    """A call raised in its worker: ``index``, the original ``error`` and the worker's ``traceback`` text."""

    def __init__(self, index: int, error: BaseException, traceback_text: str):
        super().__init__(f"call {index} failed: {type(error).__name__}: {error}")
        self.index, self.error, self.traceback = index, error, traceback_text


def describe_exit(exitcode) -> str:
    """'died by signal 11 (SIGSEGV: segmentation fault)' / 'exited with status 3'."""
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
            what = signal.strsignal(number) or ""
        except (ValueError, AttributeError):
            name, what = f"signal {number}", ""
        detail = f"{name}: {what.lower()}" if what and what.lower() != name.lower() else name
        return f"died by signal {number} ({detail})"
    return f"exited with status {exitcode} before returning a result"


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(WATCHDOG_PERIOD)
        if os.getppid() != parent_pid:
            os._exit(3)


def _worker_main(conn, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watchdog").start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        try:
            reply = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            reply = ("error", exc, traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), traceback.format_exc()))


class _Worker:
    def __init__(self, context):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, os.getpid()), daemon=True)
        self.process.start()
        child.close()

    def stop(self, timeout: float = 5.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self.conn.close()


def run_calls(calls, workers: int, *, retries: int = 1, on_done=None, on_retry=None) -> list:
    """Run ``calls = [(fn, args), ...]`` in up to ``workers`` spawned processes (see the module docstring);
    return ``[(index, reason), ...]`` of the calls whose worker died ``retries + 1`` times."""
    context = multiprocessing.get_context("spawn")
    queue = deque(range(len(calls)))
    attempts = [0] * len(calls)
    idle: list[_Worker] = []
    busy: dict[_Worker, int] = {}
    crashes, failure = [], None
    try:
        while busy or (queue and failure is None):
            while queue and failure is None and len(busy) < workers:
                worker = idle.pop() if idle else _Worker(context)
                index = queue.popleft()
                attempts[index] += 1
                worker.conn.send(calls[index])
                busy[worker] = index
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in list(busy):
                index = busy[worker]
                reply = None
                if worker.conn.poll():
                    try:
                        reply = worker.conn.recv()
                    except (EOFError, OSError):
                        reply = None
                if reply is not None:
                    del busy[worker]
                    idle.append(worker)
                    if reply[0] == "ok":
                        if on_done is not None:
                            on_done(index, reply[1])
                    elif failure is None:
                        failure = CallFailed(index, reply[1], reply[2])
                elif not worker.process.is_alive():
                    del busy[worker]
                    worker.process.join()
                    reason = describe_exit(worker.process.exitcode)
                    worker.kill()
                    if attempts[index] <= retries:
                        if on_retry is not None:
                            on_retry(index, reason)
                        queue.appendleft(index)
                    else:
                        crashes.append((index, reason))
    finally:
        for worker in list(busy):  # an interrupt: the running calls are abandoned
            worker.kill()
        for worker in idle:
            worker.stop()
    if failure is not None:
        raise failure
    return crashes


def run_isolated(fn, *args):
    """``fn(*args)`` in one spawned process: its result, or its exception re-raised here; a crash of that
    process raises `WorkerCrashed` naming the signal."""
    results = []
    try:
        crashes = run_calls([(fn, args)], 1, retries=0, on_done=lambda _i, result: results.append(result))
    except CallFailed as failed:
        failed.error.worker_traceback = failed.traceback
        raise failed.error from None
    if crashes:
        raise WorkerCrashed(crashes[0][1])
    return results[0]


class WorkerCrashed(RuntimeError):
    """The process running a call died (``reason``: 'died by signal 11 (SIGSEGV: ...)')."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
