"""Tiny toy datasets (`learned.data.synthetic`) shared by the learned-simulator tests."""
import pytest
import torch

from learned.data.synthetic import ballistic_trajectory, sheet_trajectory, write_toy_dataset


@pytest.fixture(scope="session")
def ballistic_dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("ballistic"), ballistic_trajectory)


@pytest.fixture(scope="session")
def mesh_dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("sheet"), sheet_trajectory, radius=0.05)


@pytest.fixture
def one_torch_thread():
    """One torch thread: the small models, MPM laws and e3nn kernels of these tests gain nothing from a
    second thread and lose a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
