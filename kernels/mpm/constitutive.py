"""Constitutive models for MLS-MPM: Kirchhoff stress and plastic return mappings, per (dim, scalar).

Every model supplies two ``@wp.func``s with one signature, so the transfer kernels dispatch on a
per-particle model id through a table (`MODELS` order) unrolled at code generation:

* ``stress(F, C, plastic, E, nu, params) -> tau``: Kirchhoff stress ``tau = P F^T`` (dim x dim);
  C is the APIC affine matrix (the velocity gradient), used by viscous models.
* ``project(F_trial, plastic, E, nu, params, dt) -> (F, plastic)``: the return mapping applied to
  the trial deformation gradient ``F_trial = (I + dt C^{n+1}) F^n``; ``plastic`` is one scalar of
  history per particle (snow's plastic volume ratio J_p, else unused and left as is).

E and nu are Young's modulus and Poisson's ratio (Lame: mu = E / (2 (1 + nu)),
lambda = E nu / ((1 + nu) (1 - 2 nu))); ``params`` holds four model-specific floats, listed below.
A projection that does not yield returns ``F_trial`` itself, so gradients through the elastic regime
never pass through an SVD.

Models (params layout):
  fixed_corotated   Stomakhin et al. 2012: tau = 2 mu (F - R) F^T + lambda (J - 1) J I.          (-)
  neo_hookean       tau = mu (F F^T - I) + lambda log(J) I.                                        (-)
  fluid             weakly compressible Newtonian: tau = K J (J - 1) I + 2 eta J dev(sym C), K the
                    bulk modulus E / (3 (1 - 2 nu)); F reset to J^(1/d) I.                  (eta, -, -, -)
  herschel_bulkley  elasto-viscoplastic (Yue et al. 2015 style) on Hencky strain: deviatoric stress
                    above sqrt(2/3) tau_y flows at rate ((s - s_y) / k)^(1/n), implicit in time.
                                                                       (tau_y, k, n, -)
  drucker_prager    Klar et al. 2016 sand: Hencky St.Venant-Kirchhoff with the Drucker-Prager
                    return map, alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).        (phi [deg], -, -, -)
  von_mises         plasticine: Hencky St.Venant-Kirchhoff, |dev tau| <= sqrt(2/3) sigma_y. (sigma_y, -, -, -)
  snow              Stomakhin et al. 2013: fixed-corotated with mu, lambda scaled by
                    h = clamp(exp(xi (1 - J_p)), 0.1, h_max); singular values clamped to
                    [1 - theta_c, 1 + theta_s].                        (theta_c, theta_s, xi, h_max)
"""
import math

import warp as wp

from kernels.mpm.linalg import make_linalg

MODELS = ("fixed_corotated", "neo_hookean", "fluid", "herschel_bulkley", "drucker_prager", "von_mises", "snow")

SIGMA_FLOOR = 1.0e-4  # singular values below this are clamped before taking logarithms
J_FLOOR = 1.0e-4  # neo-Hookean log(J) and fluid J^(1/d) see at least this volume ratio
YIELD_BISECTIONS = 30  # Herschel-Bulkley implicit flow: bisection steps on [s_y, s_trial] (unrolled)


def make_constitutive(dim: int, scalar, module: str):
    """Return ``(linalg, STRESS, PROJECT)``: the helpers and the per-model func tables (MODELS order)."""
    la = make_linalg(dim, scalar, module)
    vec = wp.types.vector(dim, scalar)
    mat = wp.types.matrix((dim, dim), scalar)
    vec4 = wp.types.vector(4, scalar)
    sqrt23 = math.sqrt(2.0 / 3.0)
    inv_dim = 1.0 / dim

    @wp.func(module=module)
    def lame(E: scalar, nu: scalar):
        mu = E / (scalar(2.0) * (scalar(1.0) + nu))
        lam = E * nu / ((scalar(1.0) + nu) * (scalar(1.0) - scalar(2.0) * nu))
        return mu, lam

    @wp.func(module=module)
    def corotated_tau(F: mat, mu: scalar, lam: scalar) -> mat:
        R = la.polar_rotation(F)
        J = wp.determinant(F)
        return scalar(2.0) * mu * (F - R) @ wp.transpose(F) + lam * (J - scalar(1.0)) * J * la.identity()

    @wp.func(module=module)
    def hencky_tau(F: mat, E: scalar, nu: scalar) -> mat:
        mu, lam = lame(E, nu)
        U, sigma, V = la.svd_rotations(F)
        eps = la.safe_log(sigma, scalar(SIGMA_FLOOR))
        tr = wp.dot(eps, vec(scalar(1.0)))
        principal = scalar(2.0) * mu * eps + lam * tr * vec(scalar(1.0))
        return U @ wp.diag(principal) @ wp.transpose(U)

    @wp.func(module=module)
    def deviatoric_split(F: mat):
        """SVD of F and its Hencky strain: (U, V, eps, trace, deviator, |deviator|)."""
        U, sigma, V = la.svd_rotations(F)
        eps = la.safe_log(sigma, scalar(SIGMA_FLOOR))
        tr = wp.dot(eps, vec(scalar(1.0)))
        dev = eps - tr / scalar(dim) * vec(scalar(1.0))
        return U, V, eps, tr, dev, wp.length(dev)

    @wp.func(module=module)
    def from_hencky(U: mat, eps: vec, V: mat) -> mat:
        sigma = vec()
        for a in range(dim):
            sigma[a] = wp.exp(eps[a])
        return la.matrix_from_principal(U, sigma, V)

    # ---- stresses ----------------------------------------------------------------------------
    @wp.func(module=module)
    def stress_fixed_corotated(F: mat, C: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4) -> mat:
        mu, lam = lame(E, nu)
        return corotated_tau(F, mu, lam)

    @wp.func(module=module)
    def stress_neo_hookean(F: mat, C: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4) -> mat:
        mu, lam = lame(E, nu)
        J = wp.max(wp.determinant(F), scalar(J_FLOOR))
        return mu * (F @ wp.transpose(F) - la.identity()) + lam * wp.log(J) * la.identity()

    @wp.func(module=module)
    def stress_fluid(F: mat, C: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4) -> mat:
        bulk = E / (scalar(3.0) * (scalar(1.0) - scalar(2.0) * nu))
        J = wp.determinant(F)
        D = scalar(0.5) * (C + wp.transpose(C))
        dev = D - wp.trace(D) / scalar(dim) * la.identity()
        return bulk * J * (J - scalar(1.0)) * la.identity() + scalar(2.0) * params[0] * J * dev

    @wp.func(module=module)
    def stress_hencky(F: mat, C: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4) -> mat:
        return hencky_tau(F, E, nu)

    @wp.func(module=module)
    def stress_snow(F: mat, C: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4) -> mat:
        mu, lam = lame(E, nu)
        h = wp.clamp(wp.exp(params[2] * (scalar(1.0) - plastic)), scalar(0.1), params[3])
        return corotated_tau(F, mu * h, lam * h)

    # ---- return mappings -----------------------------------------------------------------------
    @wp.func(module=module)
    def project_none(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        return F, plastic

    @wp.func(module=module)
    def project_fluid(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        J = wp.max(wp.determinant(F), scalar(J_FLOOR))
        return wp.pow(J, scalar(inv_dim)) * la.identity(), plastic

    @wp.func(module=module)
    def project_herschel_bulkley(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        mu, lam = lame(E, nu)
        U, V, eps, tr, dev, norm = deviatoric_split(F)
        s_trial = scalar(2.0) * mu * norm
        s_yield = scalar(sqrt23) * params[0]
        if s_trial <= s_yield:
            return F, plastic
        # Implicit flow: s + 2 mu dt ((s - s_y) / k)^(1/n) = s_trial, s in [s_y, s_trial] (monotone).
        lo = s_yield
        hi = s_trial
        for it in range(YIELD_BISECTIONS):
            mid = scalar(0.5) * (lo + hi)
            rate = wp.pow((mid - s_yield) / params[1], scalar(1.0) / params[2])
            if mid + scalar(2.0) * mu * dt * rate > s_trial:
                hi = mid
            else:
                lo = mid
        s_new = scalar(0.5) * (lo + hi)
        # One Newton step on the converged root: its derivative is the implicit-function derivative.
        excess = (s_new - s_yield) / params[1]
        if excess > scalar(1.0e-12):
            rate = wp.pow(excess, scalar(1.0) / params[2])
            slope = scalar(1.0) + scalar(2.0) * mu * dt * rate / (params[2] * excess * params[1])
            s_new = s_new - (s_new + scalar(2.0) * mu * dt * rate - s_trial) / slope
        eps = eps - (s_trial - s_new) / (scalar(2.0) * mu) * dev / norm
        return from_hencky(U, eps, V), plastic

    @wp.func(module=module)
    def project_drucker_prager(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        mu, lam = lame(E, nu)
        U, V, eps, tr, dev, norm = deviatoric_split(F)
        if tr >= scalar(0.0):  # expansion: cohesionless sand carries no tension (cone tip)
            return U @ wp.transpose(V), plastic
        sin_phi = wp.sin(params[0] * scalar(math.pi / 180.0))
        alpha = scalar(sqrt23) * scalar(2.0) * sin_phi / (scalar(3.0) - sin_phi)
        dgamma = norm + (scalar(dim) * lam + scalar(2.0) * mu) / (scalar(2.0) * mu) * tr * alpha
        if dgamma <= scalar(0.0):
            return F, plastic
        eps = eps - dgamma / norm * dev
        return from_hencky(U, eps, V), plastic

    @wp.func(module=module)
    def project_von_mises(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        mu, lam = lame(E, nu)
        U, V, eps, tr, dev, norm = deviatoric_split(F)
        dgamma = norm - scalar(sqrt23) * params[0] / (scalar(2.0) * mu)
        if dgamma <= scalar(0.0):
            return F, plastic
        eps = eps - dgamma / norm * dev
        return from_hencky(U, eps, V), plastic

    @wp.func(module=module)
    def project_snow(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        U, sigma, V = la.svd_rotations(F)
        clamped = vec()
        ratio = scalar(1.0)
        for a in range(dim):
            clamped[a] = wp.clamp(sigma[a], scalar(1.0) - params[0], scalar(1.0) + params[1])
            ratio = ratio * sigma[a] / clamped[a]
        if ratio == scalar(1.0):
            return F, plastic
        return la.matrix_from_principal(U, clamped, V), plastic * ratio

    table = {
        "fixed_corotated": (stress_fixed_corotated, project_none),
        "neo_hookean": (stress_neo_hookean, project_none),
        "fluid": (stress_fluid, project_fluid),
        "herschel_bulkley": (stress_hencky, project_herschel_bulkley),
        "drucker_prager": (stress_hencky, project_drucker_prager),
        "von_mises": (stress_hencky, project_von_mises),
        "snow": (stress_snow, project_snow),
    }
    stress = [table[m][0] for m in MODELS]
    project = [table[m][1] for m in MODELS]
    return la, stress, project
