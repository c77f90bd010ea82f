"""Tiny toy datasets (`learned.data.synthetic`) shared by the learned-simulator tests."""
import pytest

from learned.data.synthetic import ballistic_trajectory, sheet_trajectory, write_toy_dataset


@pytest.fixture(scope="session")
def ballistic_dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("ballistic"), ballistic_trajectory)


@pytest.fixture(scope="session")
def mesh_dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("sheet"), sheet_trajectory, radius=0.05)
