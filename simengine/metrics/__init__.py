"""Rollout metrics and the comparison of predicted against ground-truth trajectory sets.

    from simengine.metrics import position_mse, horizon_means, sinkhorn_divergence, compare_sets
"""
from simengine.metrics._compare import BASELINES, compare_sets, compare_trajectory  # noqa: F401
from simengine.metrics._core import (  # noqa: F401
                                     HORIZONS,
                                     chamfer_distance,
                                     constant_position,
                                     constant_velocity,
                                     earth_movers_distance,
                                     entropic_ot,
                                     horizon_means,
                                     kinetic_energy,
                                     mean_distance_error,
                                     position_mse,
                                     sinkhorn_divergence,
)
