"""Linear blend skinning (LBS) of 3D Gaussians from simulator particles: the ground-truth motion of the Gaussians
that `simengine render` draws, and (with control particles as bones) the way GS-Dynamics moves Gaussians with
its learned dynamics (Zhang et al., "Dynamic 3D Gaussian Tracking for Graph-Based Neural Dynamics Modeling",
CoRL 2024, https://arxiv.org/abs/2410.18912).

Every particle ("bone") ``b`` carries a rotation ``R_b`` fitted to its neighbourhood (Kabsch; the polar factor
of the weighted cross-covariance of neighbour offsets):

    A_b = sum_j w_bj (x_j - x_b)(X_j - X_b)^T,   R_b = U diag(1, 1, det(U V^T)) V^T   for   A_b = U S V^T,

with ``X`` rest (frame 0) and ``x`` current positions; ``R_b`` minimises ``sum_j w_bj |R (X_j - X_b) - (x_j -
x_b)|^2``. A Gaussian at rest position ``X`` with bones ``b`` and weights ``w_b`` (summing to 1) moves to

    x' = sum_b w_b (R_b (X - X_b) + x_b),

and its orientation is turned by the blended rotation ``polar(sum_b w_b R_b)``. A rigid motion ``x = Q X + t``
gives ``R_b = Q`` for every bone whose neighbours are not collinear, hence ``x' = Q X + t`` and orientation
``Q q`` exactly.

A bone whose neighbours are collinear (a rope's particles) has no measurable twist about that line: its
rotation is the smallest rotation turning the previous frame's rotated axis onto the current one (parallel
transport), so the twist stays continuous from frame to frame instead of jumping.

Quaternions are ``(w, x, y, z)``, unit norm, as the renderer takes them.
"""
from __future__ import annotations

import numpy as np

from simengine.errors import InputError

__all__ = ["fit_rotations", "skin", "skin_gaussians", "bone_weights", "neighbourhoods", "quat_to_matrix",
           "matrix_to_quat", "quat_multiply", "polar_rotation"]

#: a neighbourhood whose second singular value is below this fraction of the first is treated as collinear
COLLINEAR = 1e-3


# ---- rotations --------------------------------------------------------------------------------------------
def quat_to_matrix(q) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z) (normalised here) -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def matrix_to_quat(R) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Shepperd's method: the largest of 4w^2, 4x^2, 4y^2, 4z^2 (from the trace and diagonal) is taken as the pivot,
    so no division by a small number.
    """
    R = np.asarray(R, dtype=np.float64)
    m = R.reshape(-1, 3, 3)
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], 1)
    pivot = np.argmax(diag, 1)
    q = np.empty((len(m), 4))
    for k in range(4):
        s = pivot == k
        if not s.any():
            continue
        a = m[s]
        if k == 0:
            r = np.sqrt(1 + tr[s]) * 2  # 4w
            q[s] = np.stack([0.25 * r, (a[:, 2, 1] - a[:, 1, 2]) / r, (a[:, 0, 2] - a[:, 2, 0]) / r,
                             (a[:, 1, 0] - a[:, 0, 1]) / r], 1)
        elif k == 1:
            r = np.sqrt(1 + a[:, 0, 0] - a[:, 1, 1] - a[:, 2, 2]) * 2  # 4x
            q[s] = np.stack([(a[:, 2, 1] - a[:, 1, 2]) / r, 0.25 * r, (a[:, 0, 1] + a[:, 1, 0]) / r,
                             (a[:, 0, 2] + a[:, 2, 0]) / r], 1)
        elif k == 2:
            r = np.sqrt(1 + a[:, 1, 1] - a[:, 0, 0] - a[:, 2, 2]) * 2  # 4y
            q[s] = np.stack([(a[:, 0, 2] - a[:, 2, 0]) / r, (a[:, 0, 1] + a[:, 1, 0]) / r, 0.25 * r,
                             (a[:, 1, 2] + a[:, 2, 1]) / r], 1)
        else:
            r = np.sqrt(1 + a[:, 2, 2] - a[:, 0, 0] - a[:, 1, 1]) * 2  # 4z
            q[s] = np.stack([(a[:, 1, 0] - a[:, 0, 1]) / r, (a[:, 0, 2] + a[:, 2, 0]) / r,
                             (a[:, 1, 2] + a[:, 2, 1]) / r, 0.25 * r], 1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return q.reshape(R.shape[:-2] + (4,))


def quat_multiply(a, b) -> np.ndarray:
    """Hamilton product ``a b`` of (..., 4) quaternions (w, x, y, z): the rotation ``b`` followed by ``a``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def polar_rotation(A) -> np.ndarray:
    """(..., 3, 3) matrices -> the nearest rotations (polar factor with det +1): ``U diag(1, 1, det(U V^T)) V^T``."""
    U, _, Vt = np.linalg.svd(np.asarray(A, dtype=np.float64))
    d = np.where(np.linalg.det(U @ Vt) < 0, -1.0, 1.0)
    U[..., :, 2] *= d[..., None]
    return U @ Vt


def _align(a, b) -> np.ndarray:
    """(P, 3, 3) smallest rotations taking unit vectors a (P, 3) onto b (P, 3) (Rodrigues)."""
    v = np.cross(a, b)
    c = np.einsum("pi,pi->p", a, b)
    K = np.zeros((len(a), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    out = np.eye(3) + K + (K @ K) / np.maximum(1 + c, 1e-12)[:, None, None]
    opposite = c < -1 + 1e-9  # a half turn about any axis normal to a
    if opposite.any():
        n = np.cross(a[opposite], np.eye(3)[np.argmin(np.abs(a[opposite]), 1)])
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        out[opposite] = 2 * n[:, :, None] * n[:, None, :] - np.eye(3)
    return out


# ---- skinning ---------------------------------------------------------------------------------------------
def fit_rotations(rest, current, neighbours, weights, previous=None) -> np.ndarray:
    """Rotation of each particle's neighbourhood from ``rest`` to ``current`` (see the module docstring).

    Args:
        rest, current: (P, 3) particle positions (rest = frame 0).
        neighbours: (P, k) int indices of each particle's neighbours (rows of ``rest``; the particle itself may
            appear, it contributes nothing).
        weights: (P, k) non-negative weights.
        previous: optional (P, 3, 3) rotations of the previous frame, used only for collinear neighbourhoods
            (parallel transport of the twist); identity when None.

    Returns:
        (P, 3, 3) rotations ``R_b`` with ``current[j] - current[b] ~ R_b (rest[j] - rest[b])``.
    """
    X, x = np.asarray(rest, dtype=np.float64), np.asarray(current, dtype=np.float64)
    nb, w = np.asarray(neighbours), np.asarray(weights, dtype=np.float64)
    if X.shape != x.shape or X.ndim != 2 or X.shape[1] != 3:
        raise InputError(f"rest and current must both be (P, 3), got {X.shape} and {x.shape}")
    if nb.shape != w.shape or nb.ndim != 2 or len(nb) != len(X):
        raise InputError(f"neighbours {nb.shape} and weights {w.shape} must both be (P, k) with P = {len(X)}")
    return _kabsch(X[nb] - X[:, None], x[nb] - x[:, None], w, previous)


def _kabsch(dX, dx, w, previous=None) -> np.ndarray:
    """(P, 3, 3) rotations from rest offsets dX (P, k, 3) to current offsets dx (P, k, 3) with weights (P, k)."""
    A = np.einsum("pk,pki,pkj->pij", w, dx, dX)
    U, S, Vt = np.linalg.svd(A)
    d = np.where(np.linalg.det(U @ Vt) < 0, -1.0, 1.0)
    U[:, :, 2] *= d[:, None]
    R = U @ Vt
    line = S[:, 1] <= COLLINEAR * np.maximum(S[:, 0], 1e-300)
    if line.any():  # A = s u v^T: the rest line v turns onto the current line u; the twist about it is carried
        prev = np.broadcast_to(np.eye(3), (int(line.sum()), 3, 3)) if previous is None else \
            np.asarray(previous, dtype=np.float64)[line]
        carried = np.einsum("pij,pj->pi", prev, Vt[line, 0])
        R[line] = _align(carried, U[line, :, 0]) @ prev
    return R


def neighbourhoods(points, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """k nearest other points of each point and Gaussian weights ``exp(-d^2 / h^2)`` (h: the mean neighbour
    distance). Returns ((P, k) indices, (P, k) weights); fewer points than k + 1 gives all of them."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    k = max(1, min(int(k), len(points) - 1))
    distance, index = cKDTree(points).query(points, k + 1)
    distance, index = distance[:, 1:], index[:, 1:]
    h = max(float(distance.mean()), 1e-12)
    return index, np.exp(-(distance / h) ** 2)


def bone_weights(points_rest, bones_rest, k: int = 4, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest bones of each point and weights ``1 / distance`` normalised to sum 1 (GS-Dynamics'
    choice; a point on a bone gets all its weight). Returns ((N, k) bone indices, (N, k) weights)."""
    from scipy.spatial import cKDTree

    bones_rest = np.asarray(bones_rest, dtype=np.float64)
    k = max(1, min(int(k), len(bones_rest)))
    distance, index = cKDTree(bones_rest).query(np.asarray(points_rest, dtype=np.float64), k)
    distance, index = distance.reshape(len(index), k), index.reshape(len(index), k)
    w = 1.0 / (distance + eps)
    return index, w / w.sum(1, keepdims=True)


def skin(points_rest, bones_rest, bones_now, rotations, bone_index, bone_weight, return_rotation: bool = False):
    """Linear blend skinning ``x' = sum_b w_b (R_b (X - X_b) + x_b)``.

    Args:
        points_rest: (N, 3) rest positions X.
        bones_rest, bones_now: (B, 3) bone (particle) positions at rest and now.
        rotations: (B, 3, 3) bone rotations (`fit_rotations`).
        bone_index, bone_weight: (N, k) each point's bones and weights (rows summing to 1, `bone_weights`).
        return_rotation: also return the (N, 3, 3) blended rotations ``polar(sum_b w_b R_b)``.

    Returns:
        (N, 3) points now (and the blended rotations).
    """
    X = np.asarray(points_rest, dtype=np.float64)
    Xb, xb = np.asarray(bones_rest, dtype=np.float64), np.asarray(bones_now, dtype=np.float64)
    R = np.asarray(rotations, dtype=np.float64)
    idx, w = np.asarray(bone_index), np.asarray(bone_weight, dtype=np.float64)
    moved = np.einsum("nkij,nkj->nki", R[idx], X[:, None] - Xb[idx]) + xb[idx]
    out = np.einsum("nk,nki->ni", w, moved)
    if return_rotation:
        return out, polar_rotation(np.einsum("nk,nkij->nij", w, R[idx]))
    return out


def skin_gaussians(gaussians, trajectory, *, particle_type=None, neighbours: int = 8, bones: int = 4,
                   progress: bool = False) -> dict:
    """Ground-truth motion of `gaussians` (a `GaussianSet` built on ``trajectory``'s frame 0) over its frames.

    Bones are the simulator particles; each Gaussian is skinned from the ``bones`` object particles nearest to it
    at rest (its ``parent`` among them), each particle's rotation is fitted to its ``neighbours`` nearest
    object particles at rest.

    Args:
        gaussians: a `simengine.gaussians.bodies.GaussianSet` (means at the trajectory's frame 0).
        trajectory: a `Trajectory`, or (T, P, 3) positions of all particles (frame 0 = rest).
        particle_type: (P,) types for plain positions: kinematic particles (walls) are then no bones; without it
            every particle is one.

    Returns:
        {"position": (T, N, 3) float64 centres, "rotation": (T, N, 4) float64 unit quaternions (w, x, y, z)}.
    """
    from tqdm.auto import tqdm

    from simengine.gaussians.bodies import object_particles

    if hasattr(trajectory, "position"):
        positions, ptype = np.asarray(trajectory.position, dtype=np.float64), trajectory.particle_type
    else:
        positions, ptype = np.asarray(trajectory, dtype=np.float64), particle_type
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise InputError(f"trajectory positions must be (T, P, 3), got {positions.shape}")
    body = object_particles(ptype) if ptype is not None else np.arange(positions.shape[1])
    parent = np.asarray(gaussians.parent)
    if not np.isin(parent, body).all():
        bad = parent[~np.isin(parent, body)][0]
        raise InputError(f"Gaussian parent particle {int(bad)} is not an object particle of this trajectory")
    rest = positions[0, body]
    index, weight = bone_weights(gaussians.means, rest, bones)
    used = np.unique(index)  # bones that move some Gaussian; rotations are fitted for these only
    nb, nw = neighbourhoods(rest, neighbours)
    nb, nw = nb[used], nw[used]
    local = np.full(len(body), -1)
    local[used] = np.arange(len(used))
    T, N = positions.shape[0], len(parent)
    out_pos, out_rot = np.empty((T, N, 3)), np.empty((T, N, 4))
    q0 = np.asarray(gaussians.quats, dtype=np.float64)
    previous = None
    for t in tqdm(range(T), disable=not progress, desc="skinning", unit="frame", leave=False):
        now = positions[t, body]
        R = _kabsch(rest[nb] - rest[used][:, None], now[nb] - now[used][:, None], nw, previous)
        previous = R
        pos, Rg = skin(gaussians.means, rest[used], now[used], R, local[index], weight, return_rotation=True)
        out_pos[t] = pos
        out_rot[t] = quat_multiply(matrix_to_quat(Rg), q0)
    out_rot[out_rot[..., 0] < 0] *= -1
    return {"position": out_pos, "rotation": out_rot}

