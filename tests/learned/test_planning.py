"""MPPI (`learned.planning.mppi`) on costs whose minimum is known."""
import numpy as np
import pytest

from learned.planning import mppi
from simengine.errors import InputError


def test_mppi_finds_the_minimum_of_a_quadratic_and_never_gets_worse():
    target = np.array([[0.3, -0.2, 0.1], [0.05, 0.4, -0.3]])
    calls = []

    def cost(plans):
        calls.append(len(plans))
        return ((plans - target) ** 2).sum(axis=(1, 2))

    start = np.zeros_like(target)
    best, history = mppi(cost, start, samples=64, iterations=12, sigma=0.2, decay=0.8, seed=1)
    assert calls == [64] * 12                                      # every candidate scored in one batch call
    assert np.abs(best - target).max() < 0.05
    bests = [h[1] for h in history]
    assert all(b2 <= b1 for b1, b2 in zip(bests, bests[1:]))         # the best cost never increases
    assert bests[-1] < 1e-2 * float(((start - target) ** 2).sum())


def test_mppi_skips_non_finite_candidates_and_checks_its_input():
    def cost(plans):
        out = (plans ** 2).sum(axis=1)
        out[1::2] = np.nan                                            # half the candidates "diverge"
        return out

    best, _ = mppi(cost, np.array([1.0, -1.0]), samples=16, iterations=8, sigma=0.5, seed=0)
    assert np.linalg.norm(best) < 0.5
    with pytest.raises(InputError, match="non-finite"):
        mppi(lambda p: np.full(len(p), np.nan), np.zeros(2), samples=4, iterations=1)
    with pytest.raises(InputError, match="samples"):
        mppi(lambda p: np.zeros(len(p)), np.zeros(2), samples=1)
