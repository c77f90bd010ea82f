"""Helpers for the tests that run `simengine train` in a child process and stop it."""
import csv
import os
import time


def metrics_rows(run) -> list:
    """(step, loss, lr, val_loss, val_rollout_mse) per row of ``run/metrics.csv``."""
    with open(os.path.join(run, "metrics.csv")) as f:
        return [(r["step"], r["loss"], r["lr"], r["val_loss"], r["val_rollout_mse"]) for r in csv.DictReader(f)]


def signal_after_rows(proc, run, rows: int, signum, wait: float, timeout: float):
    """Send ``signum`` to ``proc`` once ``run/metrics.csv`` has ``rows`` rows (within ``wait`` s); return its
    (stdout, stderr). The process is killed if it is still alive afterwards."""
    try:
        deadline = time.time() + wait
        while time.time() < deadline and proc.poll() is None:
            try:
                if len(metrics_rows(run)) >= rows:
                    break
            except (OSError, KeyError):
                pass
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signum)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
