"""Forecasting datasets: equilibrate an MD system, then record frames one forecast interval apart.

A scene script's `make_scene(rng)` returns a `ForecastScene`; ``simengine generate`` calls
``scene.run(**RUN)`` with e.g. ``RUN = dict(frames=100, forecast_fs=20.0)``.  Equilibration runs the
thermostat stages given (temperature K, duration fs), then production is NVE (the dynamics TrajCast
learns) or stays NVT.  The forecast interval must be a whole number of MD steps.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError, check_range
from simengine.io import Trajectory


def forecast_stride(forecast_fs: float, timestep_fs: float) -> int:
    """MD steps per forecast interval; `InputError` unless ``forecast_fs`` is a multiple of the time step."""
    check_range("forecast_fs", forecast_fs, 0.0, None, low_open=True)
    stride = forecast_fs / timestep_fs
    if abs(stride - round(stride)) > 1e-9 * max(stride, 1.0) or round(stride) < 1:
        raise InputError(f"forecast_fs = {forecast_fs:g} fs is not a multiple of the MD timestep "
                         f"{timestep_fs:g} fs (allowed: {timestep_fs:g}, {2 * timestep_fs:g}, ... fs)")
    return int(round(stride))


class ForecastScene:
    """An MD `Simulation` plus its equilibration recipe.

    Args:
        sim: the system (its velocities are drawn here at the first stage's temperature).
        stages: ((temperature K, duration fs), ...) run with ``thermostat`` before recording.
        production: "nve" or "nvt" (the last stage's temperature).
        rng: draws the initial velocities.
    """

    def __init__(self, sim, stages, rng: np.random.Generator, thermostat: str = "csvr", damping_fs: float = 100.0,
                 production: str = "nve", description: str = ""):
        self.sim, self.stages, self.rng = sim, [(float(t), float(d)) for t, d in stages], rng
        self.thermostat, self.damping_fs, self.production = thermostat, float(damping_fs), production
        self.description = description

    def equilibrate(self, progress: bool = False) -> None:
        sim = self.sim
        if self.stages:
            sim.maxwell_boltzmann(self.stages[0][0], self.rng)
        for temperature, duration in self.stages:
            sim.set_ensemble("nvt", self.thermostat, temperature, self.damping_fs)
            sim.run(int(round(duration / sim.dt)), progress=progress)
        last = self.stages[-1][0] if self.stages else None
        sim.set_ensemble(self.production, self.thermostat, last, self.damping_fs)

    def run(self, frames: int, forecast_fs: float, progress: bool = False) -> Trajectory:
        """Equilibrate, then record ``frames`` frames ``forecast_fs`` apart, with forecasting targets."""
        check_range("frames", frames, 1, None)
        stride = forecast_stride(forecast_fs, self.sim.dt)
        self.equilibrate(progress)
        traj = self.sim.run(int(frames) * stride, record_every=stride, targets=True, progress=progress)
        traj.metadata.update(description=self.description, equilibration=self.stages)
        return traj
