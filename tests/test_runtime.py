"""`simengine.runtime`: the one device and thread policy every simulator follows."""
import pytest

from simengine.errors import InputError
from simengine.runtime import cpu_cores, default_threads, init_warp, resolve_device


def test_device_argument_then_environment_then_best_available(monkeypatch):
    wp = init_warp()
    monkeypatch.delenv("SIMENGINE_DEVICE", raising=False)
    assert resolve_device(None) == ("cuda:0" if wp.is_cuda_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setenv("SIMENGINE_DEVICE", "cpu")
    assert resolve_device(None) == "cpu"
    with pytest.raises(InputError, match=r"device = 'tpu' is not one of 'cpu', 'cuda', 'cuda:N'"):
        resolve_device("tpu")
    if not wp.is_cuda_available():
        monkeypatch.setenv("SIMENGINE_DEVICE", "cuda")
        with pytest.raises(InputError, match=r"\$SIMENGINE_DEVICE = 'cuda' but no CUDA device is available"):
            resolve_device(None)
        assert resolve_device("cpu") == "cpu"  # the argument wins over the environment


def test_threads_argument_then_environment_then_every_core(monkeypatch):
    monkeypatch.delenv("SIMENGINE_THREADS", raising=False)
    assert default_threads("cpu") == cpu_cores() >= 1
    assert default_threads("cpu", 3) == 3
    assert default_threads("cuda:0", 3) == 1  # one launch covers every item on a GPU
    monkeypatch.setenv("SIMENGINE_THREADS", "2")
    assert default_threads("cpu") == 2 and default_threads("cpu", 1) == 1
    for bad in ("0", "-1", "1000"):
        monkeypatch.setenv("SIMENGINE_THREADS", bad)
        with pytest.raises(InputError, match=r"\$SIMENGINE_THREADS = -?\d+ is outside the allowed range \[1, 256\]"):
            default_threads("cpu")
    monkeypatch.delenv("SIMENGINE_THREADS")
    with pytest.raises(InputError, match=r"threads = 0 is outside the allowed range \[1, 256\]"):
        default_threads("cpu", 0)
    with pytest.raises(InputError, match=r"threads = 1\.5 is not an integer"):
        default_threads("cpu", 1.5)


def test_every_simulator_takes_its_device_from_the_policy(monkeypatch):
    import numpy as np

    from simengine import Scene, md, nbody

    monkeypatch.setenv("SIMENGINE_DEVICE", "cpu")
    assert Scene(dim=2, domain=(1.0, 1.0), grid_res=16).device == "cpu"
    assert nbody.Simulation().device == "cpu"
    positions, cell = md.liquid_box(64, 0.0207, np.random.default_rng(0))
    sim = md.Simulation(positions, ["Ar"] * 64, cell, timestep_fs=2.0,
                        potential=md.LennardJones(sigma=3.4, epsilon=0.0104, cutoff=4.0))
    assert sim.device == "cpu"
