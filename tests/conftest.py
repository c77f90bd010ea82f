"""Shared test set-up: quiet Warp on CPU, torch on the free cores, fixed seeds."""
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(2)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def wp():
    from simengine.runtime import init_warp

    return init_warp()
