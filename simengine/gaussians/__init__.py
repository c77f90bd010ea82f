"""Gaussian splatting of simulated bodies: cameras, Gaussians on bodies, a differentiable renderer, tracking."""

from simengine.gaussians.camera import Camera, cameras_from_arrays, cameras_to_arrays, look_at, orbit_cameras

__all__ = ["Camera", "look_at", "orbit_cameras", "cameras_to_arrays", "cameras_from_arrays"]
