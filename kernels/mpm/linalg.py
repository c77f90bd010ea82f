"""Small-matrix linear algebra for the MPM constitutive models, generated per (dim, scalar type).

* ``svd_rotations(F) -> (U, sigma, V)`` with ``F = U diag(sigma) V^T`` and U, V proper rotations:
  an inverted element keeps det U = det V = +1 and carries the reflection as a negative smallest
  singular value (Irving, Teran & Fedkiw 2004, "Invertible finite elements").
* ``polar_rotation(F) -> R`` of ``F = R S``. Warp's SVD adjoint divides by ``sigma_i^2 - sigma_j^2``
  (clamped), so differentiating ``R = U V^T`` through it is wrong at repeated singular values, F = I
  included. R itself is smooth there: with ``dR = R [w]x``, ``(tr(S) I - S) w = vee(R^T dF - dF^T R) / 2``,
  whose adjoint is ``adj_F = R [h]x`` with ``h = (tr(S) I - S)^{-1} vee(R^T adj_R)`` and
  ``vee(X) = (X21 - X12, X02 - X20, X10 - X01)``. We register that as a custom gradient in 3D; in 2D
  R has the closed form ``[[c, -s], [s, c]]`` with ``(c, s) ~ (F00 + F11, F10 - F01)``, which
  differentiates cleanly.
* ``safe_log`` / ``matrix_from_principal``: Hencky strain helpers.
"""
import warp as wp


def make_linalg(dim: int, scalar, module: str):
    """Return a namespace of ``@wp.func``s for ``dim``-D matrices of ``scalar`` (wp.float32/64)."""
    vec = wp.types.vector(dim, scalar)
    mat = wp.types.matrix((dim, dim), scalar)
    sign_last = vec(*([1.0] * (dim - 1) + [-1.0]))

    @wp.func(module=module)
    def identity() -> mat:
        return wp.identity(n=dim, dtype=scalar)

    @wp.func(module=module)
    def svd_rotations(F: mat):
        U = mat()
        sigma = vec()
        V = mat()
        if wp.static(dim == 3):
            wp.svd3(F, U, sigma, V)
        else:
            wp.svd2(F, U, sigma, V)
        # Flip the last column of a reflected factor and the sign of the smallest singular value
        # (by products: Warp's adjoint of an overwritten vector component double-counts).
        flip = wp.diag(sign_last)
        if wp.determinant(U) < scalar(0.0):
            U = U @ flip
            sigma = wp.cw_mul(sigma, sign_last)
        if wp.determinant(V) < scalar(0.0):
            V = V @ flip
            sigma = wp.cw_mul(sigma, sign_last)
        return U, sigma, V

    @wp.func(module=module)
    def matrix_from_principal(U: mat, sigma: vec, V: mat) -> mat:
        """``U diag(sigma) V^T``."""
        return U @ wp.diag(sigma) @ wp.transpose(V)

    @wp.func(module=module)
    def safe_log(sigma: vec, floor: scalar) -> vec:
        """Component-wise ``log(max(sigma, floor))``: Hencky strain of a (nearly) degenerate element."""
        out = vec()
        for a in range(dim):
            out[a] = wp.log(wp.max(sigma[a], floor))
        return out

    if dim == 2:
        @wp.func(module=module)
        def polar_rotation(F: mat) -> mat:
            c = F[0, 0] + F[1, 1]
            s = F[1, 0] - F[0, 1]
            r = wp.sqrt(c * c + s * s)
            if r < scalar(1.0e-20):  # F = [[a, b], [b, -a]]: any rotation is a polar factor
                return identity()
            c = c / r
            s = s / r
            return mat(c, -s, s, c)
    else:
        @wp.func(module=module)
        def polar_rotation(F: mat) -> mat:
            U, sigma, V = svd_rotations(F)
            return U @ wp.transpose(V)

        @wp.func_grad(polar_rotation)
        def adj_polar_rotation(F: mat, adj_ret: mat):
            R = polar_rotation(F)
            S = wp.transpose(R) @ F
            S = scalar(0.5) * (S + wp.transpose(S))
            M = wp.trace(S) * identity() - S
            det = wp.determinant(M)
            if wp.abs(det) > scalar(1.0e-12):  # singular only when sigma_i + sigma_j = 0
                X = wp.transpose(R) @ adj_ret
                g = vec(X[2, 1] - X[1, 2], X[0, 2] - X[2, 0], X[1, 0] - X[0, 1])
                h = wp.inverse(M) @ g
                H = mat(scalar(0.0), -h[2], h[1], h[2], scalar(0.0), -h[0], -h[1], h[0], scalar(0.0))
                wp.adjoint[F] += R @ H

    class Linalg:
        pass

    ns = Linalg()
    ns.identity = identity
    ns.svd_rotations = svd_rotations
    ns.matrix_from_principal = matrix_from_principal
    ns.safe_log = safe_log
    ns.polar_rotation = polar_rotation
    return ns
