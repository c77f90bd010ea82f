"""Rollout metrics and the comparison of predicted against ground-truth trajectory sets.

    from simengine.metrics import position_mse, horizon_means, sinkhorn_divergence, compare_sets
"""
from simengine.metrics._compare import compare_sets, compare_trajectory  # noqa: F401
from simengine.metrics._core import (  # noqa: F401
                                     HORIZONS,
                                     chamfer_distance,
                                     constant_velocity,
                                     entropic_ot,
                                     horizon_means,
                                     kinetic_energy,
                                     position_mse,
                                     sinkhorn_divergence,
)
