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
                    return map |dev tau| <= -alpha tr(tau), dev part projected at constant volume; tension
                    (tr eps >= 0) leaves the grains stress-free. The cone constant alpha reproduces the
                    Mohr-Coulomb friction angle phi (see "Drucker-Prager cones" below).  (phi [deg], -, -, -)
  von_mises         plasticine: Hencky St.Venant-Kirchhoff, |dev tau| <= sqrt(2/3) sigma_y. (sigma_y, -, -, -)
  snow              Stomakhin et al. 2013: fixed-corotated with mu, lambda scaled by
                    h = clamp(exp(xi (1 - J_p)), 0.1, h_max); singular values clamped to
                    [1 - theta_c, 1 + theta_s].                        (theta_c, theta_s, xi, h_max)
  mu_i              rate-dependent sand, the mu(I) rheology (Jop, Forterre & Pouliquen, Nature 2006) as an
                    elasto-viscoplastic return map on Hencky strain, with Dunatunga & Kamrin's (JFM 2015)
                    disconnected state; see "mu(I)" below.      (phi [deg], mu_2, I_0, d sqrt(rho_s))

Drucker-Prager cones. With eps the principal Hencky strain, tau = 2 mu eps + lambda tr(eps) 1, so
|dev tau| = 2 mu |dev eps| and p = -tr(tau) / d = -(lambda + 2 mu / d) tr(eps); the trial state yields
where |dev eps| + (d lambda + 2 mu) / (2 mu) alpha tr(eps) > 0, i.e. |dev tau| > alpha d p.
  3D: the cone through the compression meridian of the Mohr-Coulomb pyramid,
      sqrt(J2) = 6 sin(phi) / (sqrt(3) (3 - sin(phi))) p, i.e. alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).
  2D (plane strain, the in-plane stress): principal stresses s1, s2 have the Mohr circle of centre
      -(s1 + s2) / 2 = p and radius |s1 - s2| / 2 = |dev tau| / sqrt(2); Mohr-Coulomb (the circle touches
      the line |tau_n| = tan(phi) sigma_n) is radius = sin(phi) p, so |dev tau| = sqrt(2) sin(phi) p and
      alpha = sin(phi) / sqrt(2). (The 3D constant used in 2D would be a cone of 27.5 deg for phi = 30 deg.)
  Either way the largest ratio |tau_n| / sigma_n over all planes of a yielding 2D state is tan(phi).

mu(I). Jop et al.'s |tau| = mu(I) p with |tau| = |dev tau| / sqrt(2) (sqrt(J2)), p = -tr(tau) / d,
    mu(I) = mu_s + (mu_2 - mu_s) / (I_0 / I + 1),   I = gdot d / sqrt(p / rho_s),   mu_s = tan(phi),
gdot = sqrt(2) |D_p| the plastic shear rate (gdot of a simple shear u_x(y) is du_x/dy). A trial state with
|tau_tr| > mu_s p flows: the deviatoric Hencky strain shrinks by gdot dt / sqrt(2) along its own direction,
so |tau| = |tau_tr| - G dt gdot (G the shear modulus), at constant p, and gdot solves, implicitly,
    |tau_tr| - G dt gdot = p (mu_s + (mu_2 - mu_s) gdot / (gdot_0 + gdot)),  gdot_0 = I_0 sqrt(p) / (d sqrt(rho_s)),
a quadratic  G dt gdot^2 + (G dt gdot_0 + (mu_2 - mu_s) p - A) gdot - A gdot_0 = 0,  A = |tau_tr| - mu_s p > 0,
whose positive root is taken in the form free of cancellation. It stays regular as p -> 0 (gdot_0 -> 0).
Disconnected state (Dunatunga & Kamrin): the history scalar is J_d >= 1, the volume a particle has
dilated beyond its packed (initial) density. A trial state whose total volumetric strain
tr(eps) + log(J_d) is >= 0 carries no stress (F -> the rotation U V^T, the dilation stored in J_d);
otherwise the stored dilation is taken up first (eps += log(J_d) / d) and J_d returns to 1, so spread-out
grains resist only once they are packed again. No cohesion, no tension.
"""
import math

import warp as wp

from kernels.mpm.linalg import make_linalg

MODELS = ("fixed_corotated", "neo_hookean", "fluid", "herschel_bulkley", "drucker_prager", "von_mises", "snow",
          "mu_i")

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
    sqrt_half = math.sqrt(0.5)
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
        alpha = scalar(0.0)
        if wp.static(dim == 3):
            alpha = scalar(sqrt23) * scalar(2.0) * sin_phi / (scalar(3.0) - sin_phi)
        else:  # plane strain: the in-plane Mohr-Coulomb circle (module docstring)
            alpha = sin_phi * scalar(sqrt_half)
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

    @wp.func(module=module)
    def project_mu_i(F: mat, plastic: scalar, E: scalar, nu: scalar, params: vec4, dt: scalar):
        mu, lam = lame(E, nu)
        U, V, eps, tr, dev, norm = deviatoric_split(F)
        stored = wp.log(wp.max(plastic, scalar(1.0)))  # dilation beyond the packed state
        total = tr + stored
        if total >= scalar(0.0):  # disconnected: no stress, the dilation kept
            return U @ wp.transpose(V), wp.exp(total)
        p = -(lam + scalar(2.0) / scalar(dim) * mu) * total
        tau_trial = scalar(math.sqrt(2.0)) * mu * norm
        mu_s = wp.tan(params[0] * scalar(math.pi / 180.0))
        A = tau_trial - mu_s * p
        if A <= scalar(0.0):  # below the static yield: elastic
            if stored == scalar(0.0):
                return F, scalar(1.0)
            return from_hencky(U, eps + stored / scalar(dim) * vec(scalar(1.0)), V), scalar(1.0)
        c = mu * dt
        rate0 = params[2] * wp.sqrt(p) / params[3]  # gdot_0 = I_0 sqrt(p / rho_s) / d
        b = c * rate0 + (params[1] - mu_s) * p - A
        root = wp.sqrt(b * b + scalar(4.0) * c * A * rate0)
        rate = scalar(0.0)
        if b >= scalar(0.0):
            rate = scalar(2.0) * A * rate0 / (b + root)
        else:
            rate = (root - b) / (scalar(2.0) * c)
        scale = scalar(1.0) - c * rate / tau_trial  # |tau| / |tau_trial|, in (0, 1]
        eps = eps + stored / scalar(dim) * vec(scalar(1.0)) - (scalar(1.0) - scale) * dev
        return from_hencky(U, eps, V), scalar(1.0)

    table = {
        "fixed_corotated": (stress_fixed_corotated, project_none),
        "neo_hookean": (stress_neo_hookean, project_none),
        "fluid": (stress_fluid, project_fluid),
        "herschel_bulkley": (stress_hencky, project_herschel_bulkley),
        "drucker_prager": (stress_hencky, project_drucker_prager),
        "von_mises": (stress_hencky, project_von_mises),
        "snow": (stress_snow, project_snow),
        "mu_i": (stress_hencky, project_mu_i),
    }
    stress = [table[m][0] for m in MODELS]
    project = [table[m][1] for m in MODELS]
    return la, stress, project
