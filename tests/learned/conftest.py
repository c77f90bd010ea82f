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


@pytest.fixture(scope="session")
def rope_dataset(tmp_path_factory):
    """A short generated rope-pull set (deformables, one gripper, `action` per frame): 2 train, 1 valid, 1 test
    episodes of 1.2 s at 30 frames/s."""
    from simengine.cli import main as cli
    from tests.scene_scripts import shortened

    folder = tmp_path_factory.mktemp("rope")
    script = shortened(folder, "rope_pull", "duration=1.2, record_every=2")
    out = str(folder / "data")
    assert cli(["generate", str(script), "--out", out, "--train", "2", "--valid", "1", "--test", "1",
                "--workers", "1", "--quiet"]) == 0
    return out
