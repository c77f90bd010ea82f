"""Explicit finite elements with contact: flexible bodies (triangles in 2D, tetrahedra in 3D) hit by rigid
impactors and pressed by kinematic actuators (Warp kernels in `kernels.fem`).

Public API::

    from simengine import fem
    scene = fem.Scene(dim=2)
    plate = scene.add_body(*fem.meshes.rectangle(0.4, 0.01, 80, 4), fem.LinearElastic(70e9, 0.33), density=2700.0)
    scene.fix(plate.nodes_where(lambda X: X[:, 0] > 0.3999))
    scene.add_impactor(*fem.meshes.disk((0.1, 0.03), 0.015, 24), mass=0.05, velocity=(0.0, -3.0))
    traj = scene.run(duration=1e-3, record_every=10)
"""
from simengine.fem import meshes  # noqa: F401
from simengine.fem.materials import MATERIALS, Corotated, LinearElastic, Material, NeoHookean  # noqa: F401
from simengine.fem.model import FEMModel, FEMState  # noqa: F401
from simengine.fem.scene import HANDLE, NORMAL, OBSTACLE, SYMMETRIC, Body, Scene  # noqa: F401

__all__ = ["HANDLE", "MATERIALS", "NORMAL", "OBSTACLE", "SYMMETRIC", "Body", "Corotated", "FEMModel", "FEMState",
           "LinearElastic", "Material", "NeoHookean", "Scene", "meshes"]
