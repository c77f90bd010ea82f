"""3D Gaussians on simulated bodies: the textured objects `simengine render` films and the tracker follows.

A body is the set of a trajectory's object particles at frame 0 (every particle except kinematic ones --
walls, pinned particles -- and padding; see `object_particles`): ropes, cloth and plush toys of
`simengine.deformables`, MPM bodies. Around each particle ``i`` a few Gaussians are placed, jittered inside
its share of the body:

- ``h_i`` is the mean distance to its 3 nearest particles (the local spacing); the local frame ``V_i`` and
  extents come from the eigen-decomposition of the covariance of its 8 nearest neighbours' offsets, so a rope
  segment gets elongated, a cloth flat and a plush roughly round Gaussians. Along each eigen-axis ``a`` the
  extent is ``e_a = h_i / 2 * clip(sqrt(lambda_a / lambda_max), thin, 1)``;
- offsets are uniform in the ellipsoid with semi-axes ``e_a`` (the first Gaussian of each particle sits on it);
- scales (standard deviations) are ``e_a / per_particle^(1/3)`` (times a random factor in [0.9, 1.1]),
  so neighbouring Gaussians overlap and the surface has no holes; the orientation is ``V_i`` (as a unit
  quaternion, w x y z);
- colours come from a procedural texture evaluated at the rest position (`TEXTURES`: ``stripes`` across the
  body's longest axis, with a random colour per stripe, ``checkers``, value ``noise``): a uniformly coloured
  body cannot be tracked, a texture gives the image loss something to hold on to;
- opacity 0.9.

Everything is deterministic given ``seed``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.errors import InputError, check_range
from simengine.registry import Registry

__all__ = ["GaussianSet", "TEXTURES", "object_particles", "sample_gaussians", "gaussians_on_trajectory"]

TEXTURES = Registry("texture", normalize=lambda name: str(name).lower())


@dataclass
class GaussianSet:
    """N 3D Gaussians (numpy, float64).

    Attributes:
        means: (N, 3) centres (m).
        quats: (N, 4) unit quaternions (w, x, y, z): the orientation of the scale axes.
        scales: (N, 3) positive standard deviations (m) along the rotated axes.
        opacities: (N,) in (0, 1].
        colors: (N, 3) RGB in [0, 1].
        parent: (N,) int index of the simulator particle each Gaussian is skinned from (a trajectory particle id).
    """

    means: np.ndarray
    quats: np.ndarray
    scales: np.ndarray
    opacities: np.ndarray
    colors: np.ndarray
    parent: np.ndarray

    def __post_init__(self):
        self.means = np.asarray(self.means, dtype=np.float64)
        n = len(self.means)
        self.quats = np.asarray(self.quats, dtype=np.float64)
        self.scales = np.asarray(self.scales, dtype=np.float64)
        self.opacities = np.asarray(self.opacities, dtype=np.float64)
        self.colors = np.asarray(self.colors, dtype=np.float64)
        self.parent = np.asarray(self.parent, dtype=np.int64)
        for name, shape in (("means", (n, 3)), ("quats", (n, 4)), ("scales", (n, 3)), ("opacities", (n,)),
                            ("colors", (n, 3)), ("parent", (n,))):
            value = getattr(self, name)
            if value.shape != shape:
                raise InputError(f"Gaussians: {name} has shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise InputError(f"Gaussians: {name} has non-finite values (first at Gaussian "
                                 f"{int(np.argwhere(~np.isfinite(value))[0][0])})")
        self._check("scales", self.scales <= 0, "must be > 0 (standard deviations in metres)")
        self._check("opacities", (self.opacities <= 0) | (self.opacities > 1), "must be in (0, 1]")
        self._check("colors", (self.colors < 0) | (self.colors > 1), "must be in [0, 1]")
        norm = np.linalg.norm(self.quats, axis=1)
        self._check("quats", norm < 1e-12, "must be non-zero quaternions")
        self.quats = self.quats / norm[:, None]

    def _check(self, name, bad, rule):
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise InputError(f"Gaussians: {name}[{i}] = {np.round(getattr(self, name)[i], 6).tolist()} {rule}")

    def __len__(self) -> int:
        return len(self.means)

    def tensors(self, device="cpu", dtype=None) -> dict:
        """The renderer's keyword arguments: ``means``, ``quats``, ``scales``, ``opacities``, ``colors`` as torch
        tensors (default float32)."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        return {name: torch.as_tensor(getattr(self, name), dtype=dtype, device=device)
                for name in ("means", "quats", "scales", "opacities", "colors")}

    def subset(self, index) -> "GaussianSet":
        """The Gaussians selected by ``index`` (indices or a boolean mask)."""
        return GaussianSet(self.means[index], self.quats[index], self.scales[index], self.opacities[index],
                           self.colors[index], self.parent[index])

    def moved(self, means, quats) -> "GaussianSet":
        """The same Gaussians at other centres (N, 3) and orientations (N, 4)."""
        return GaussianSet(means, quats, self.scales, self.opacities, self.colors, self.parent)


def object_particles(particle_type) -> np.ndarray:
    """Indices of the particles that make up bodies: every type except the kinematic ones (walls, pinned) and
    padding (`simengine.io.types.KINEMATIC_TYPES`, ``PAD``)."""
    from simengine.io.types import KINEMATIC_TYPES, ParticleType

    ptype = np.asarray(particle_type)
    skip = [int(t) for t in KINEMATIC_TYPES] + [int(ParticleType.PAD)]
    return np.flatnonzero(~np.isin(ptype, skip))


# ---- textures ---------------------------------------------------------------------------------------------
def _palette(rng, count: int) -> np.ndarray:
    """``count`` saturated colours with well separated hues and alternating brightness (HSV -> RGB)."""
    from matplotlib.colors import hsv_to_rgb

    hue = (rng.uniform() + np.arange(count) * 0.618034) % 1.0  # golden-ratio hue steps
    sat = rng.uniform(0.55, 0.9, count)
    val = np.where(np.arange(count) % 2 == 0, rng.uniform(0.85, 1.0, count), rng.uniform(0.3, 0.5, count))
    return hsv_to_rgb(np.stack([hue, sat, val], 1))


def _frame(points):
    """Centre and principal axes (rows, longest first) of a point set."""
    centre = points.mean(0)
    _, _, Vt = np.linalg.svd(points - centre, full_matrices=False)
    return centre, Vt


@TEXTURES.register("stripes")
def stripes(points, rng, period) -> np.ndarray:
    """Bands across the body's longest axis, ``period`` wide, each with its own colour from a palette of 8."""
    centre, axes = _frame(points)
    band = np.floor((points - centre) @ axes[0] / period).astype(np.int64)
    colours = _palette(rng, 8)
    order = rng.permutation(8)
    return colours[order[np.mod(band, 8)]]


@TEXTURES.register("checkers")
def checkers(points, rng, period) -> np.ndarray:
    """A 3D checkerboard of cells ``period`` wide in the body's principal frame; two colours, each cell's
    brightness varied by up to 25 % so that the pattern is not periodic."""
    centre, axes = _frame(points)
    cell = np.floor((points - centre) @ axes.T / period).astype(np.int64)
    colours = _palette(rng, 2)
    parity = np.mod(cell.sum(1), 2)
    key = cell @ np.array([73856093, 19349663, 83492791], dtype=np.int64)
    shade = 0.75 + 0.25 * (np.mod(key, 997) / 996.0)
    return np.clip(colours[parity] * shade[:, None], 0, 1)


@TEXTURES.register("noise")
def noise(points, rng, period) -> np.ndarray:
    """Value noise: random values on a lattice of spacing ``period`` (two octaves), smoothly interpolated, mapped
    onto a ramp between two contrasting colours."""
    lo = points.min(0)
    value = np.zeros(len(points))
    for octave, amplitude in ((1.0, 0.65), (2.0, 0.35)):
        u = (points - lo) / (period / octave)
        base = np.floor(u).astype(np.int64)
        f = u - base
        f = f * f * (3 - 2 * f)  # smoothstep
        size = base.max(0) + 2
        lattice = rng.uniform(0, 1, tuple(size))
        acc = np.zeros(len(points))
        for corner in range(8):
            c = np.array([(corner >> a) & 1 for a in range(3)])
            wgt = np.prod(np.where(c == 1, f, 1 - f), 1)
            idx = base + c
            acc += wgt * lattice[idx[:, 0], idx[:, 1], idx[:, 2]]
        value += amplitude * acc
    value = (value - value.min()) / max(value.max() - value.min(), 1e-12)
    a, b = _palette(rng, 2)
    return np.clip(a * (1 - value[:, None]) + b * value[:, None], 0, 1)


# ---- sampling ---------------------------------------------------------------------------------------------
def sample_gaussians(points, *, parent=None, per_particle: int = 8, texture: str = "stripes", seed: int = 0,
                     opacity: float = 0.9, thin: float = 0.4, period: float | None = None) -> GaussianSet:
    """Gaussians around the particles ``points`` (see the module docstring).

    Args:
        points: (P, 3) particle positions of the bodies at rest.
        parent: (P,) the particles' ids to store as ``parent`` (default ``arange(P)``).
        per_particle: Gaussians per particle (>= 1).
        texture: a name in `TEXTURES`.
        thin: smallest extent of a Gaussian cloud along a thin direction, as a fraction of the largest (keeps a
            rope and a cloth from becoming infinitely thin).
        period: texture feature size (m); default: the body's longest extent / 12, at least 2 particle spacings.

    Returns:
        a `GaussianSet` of ``P * per_particle`` Gaussians, the first of each particle's at the particle.
    """
    from scipy.spatial import cKDTree

    from simengine.gaussians.lbs import matrix_to_quat

    X = np.asarray(points, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 3 or len(X) < 2:
        raise InputError(f"points must be (P, 3) with P >= 2 particles, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError("points have non-finite coordinates")
    per_particle = int(check_range("per_particle", per_particle, 1, None))
    check_range("opacity", opacity, 0.0, 1.0, low_open=True)
    check_range("thin", thin, 0.0, 1.0, low_open=True)
    colour_fn = TEXTURES.get(texture)
    parent = np.arange(len(X)) if parent is None else np.asarray(parent, dtype=np.int64)
    if parent.shape != (len(X),):
        raise InputError(f"parent has shape {parent.shape}, expected ({len(X)},)")
    rng = np.random.default_rng(seed)
    P = len(X)
    tree = cKDTree(X)
    k = min(8, P - 1)
    distance, index = tree.query(X, k + 1)
    h = distance[:, 1:min(4, k + 1)].mean(1)
    if np.any(h <= 0):
        i = int(np.argmax(h <= 0))
        raise InputError(f"particle {int(parent[i])} coincides with another one: the local spacing is zero")
    offsets = X[index[:, 1:]] - X[:, None]
    cov = np.einsum("pki,pkj->pij", offsets, offsets) / k
    lam, V = np.linalg.eigh(cov)  # ascending
    lam, V = lam[:, ::-1], V[:, :, ::-1]
    V[:, :, 2] *= np.sign(np.linalg.det(V))[:, None]  # a proper rotation (columns = axes)
    ratio = np.sqrt(np.clip(lam / lam[:, :1], 0, None))
    extent = 0.5 * h[:, None] * np.clip(ratio, thin, 1.0)  # (P, 3) semi-axes along V's columns
    # uniform samples in the unit ball, mapped to each particle's ellipsoid; the first sample sits on the particle
    direction = rng.normal(size=(P, per_particle, 3))
    direction /= np.linalg.norm(direction, axis=2, keepdims=True)
    unit = direction * rng.uniform(0, 1, (P, per_particle, 1)) ** (1 / 3)
    unit[:, 0] = 0.0
    means = X[:, None] + np.einsum("pij,pkj->pki", V, unit * extent[:, None])
    scales = extent[:, None] / per_particle ** (1 / 3) * rng.uniform(0.9, 1.1, (P, per_particle, 3))
    quats = np.repeat(matrix_to_quat(V)[:, None], per_particle, 1)
    means, scales, quats = means.reshape(-1, 3), scales.reshape(-1, 3), quats.reshape(-1, 4)
    if period is None:
        span = np.ptp(X, axis=0).max()
        period = max(span / 12.0, 2.0 * float(np.median(h)))
    check_range("period", period, 0.0, None, low_open=True)
    colours = colour_fn(means, np.random.default_rng([seed, 1]), float(period))
    return GaussianSet(means, quats, scales, np.full(len(means), float(opacity)), colours,
                       np.repeat(parent, per_particle))


def gaussians_on_trajectory(trajectory, *, frame: int = 0, max_particles: int | None = None, seed: int = 0,
                            **kwargs) -> GaussianSet:
    """Gaussians on a trajectory's bodies at ``frame`` (its object particles, `object_particles`).

    Args:
        trajectory: a 3D `simengine.io.Trajectory`.
        max_particles: keep a random subset of this many object particles as parents (large MPM bodies); every
            object particle still serves as a bone when skinning.
        **kwargs: passed to `sample_gaussians` (``per_particle``, ``texture``, ``opacity``, ``thin``, ``period``).
    """
    position = np.asarray(trajectory.position)
    if position.ndim != 3 or position.shape[2] != 3:
        raise InputError(f"Gaussians need a 3D trajectory; position has shape {position.shape}")
    if not -position.shape[0] <= frame < position.shape[0]:
        raise InputError(f"frame = {frame} is outside the trajectory's frames [0, {position.shape[0]})")
    body = object_particles(trajectory.particle_type)
    if len(body) < 2:
        raise InputError(f"the trajectory has {len(body)} object particles (non-kinematic); need at least 2")
    if max_particles is not None and len(body) > int(max_particles):
        body = np.sort(np.random.default_rng([seed, 2]).choice(body, int(max_particles), replace=False))
    return sample_gaussians(position[frame, body], parent=body, seed=seed, **kwargs)
