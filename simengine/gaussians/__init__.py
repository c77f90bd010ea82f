"""Gaussian splatting of simulated bodies: cameras, Gaussians on bodies, a differentiable renderer, tracking."""

from simengine.gaussians.bodies import TEXTURES, GaussianSet, gaussians_on_trajectory, sample_gaussians
from simengine.gaussians.camera import Camera, cameras_from_arrays, cameras_to_arrays, look_at, orbit_cameras
from simengine.gaussians.fusion import fuse_rgbd, read_ply, write_ply
from simengine.gaussians.lbs import fit_rotations, skin, skin_gaussians
from simengine.gaussians.video import Views, read_views, render_video, write_views

__all__ = ["Camera", "look_at", "orbit_cameras", "cameras_to_arrays", "cameras_from_arrays",
           "GaussianSet", "TEXTURES", "sample_gaussians", "gaussians_on_trajectory", "fit_rotations", "skin",
           "skin_gaussians", "Views", "read_views", "write_views", "render_video", "fuse_rgbd", "write_ply", "read_ply"]
