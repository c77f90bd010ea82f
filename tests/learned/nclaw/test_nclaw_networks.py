"""NCLaw priors hold by construction: for random weights, random F and random rotations Q,
tau(QF) = Q tau(F) Q^T, tau(I) = 0, plastic(QF) = Q plastic(F), plastic(I) = I."""
import math

import pytest
import torch

from learned.nclaw import ElasticNet, PlasticNet, invariant_features, polar_rotation
from simengine.errors import InputError

DT = torch.float64


def random_rotations(n, d, gen):
    """Uniformly random proper rotations (N, d, d) (QR of a Gaussian, signs fixed, det +1)."""
    A = torch.randn(n, d, d, generator=gen, dtype=DT)
    Q, Rr = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.diagonal(Rr, dim1=1, dim2=2))[:, None, :]
    flip = torch.det(Q) < 0
    Q[flip, :, 0] *= -1
    return Q


def random_F(n, d, gen):
    """Deformation gradients with det > 0: near identity (1e-7 and 1e-3), moderate and large strains."""
    eye = torch.eye(d, dtype=DT)
    parts = [eye + scale * torch.randn(n, d, d, generator=gen, dtype=DT) for scale in (1e-7, 1e-3, 0.1, 0.4)]
    F = torch.cat(parts)
    return F[torch.det(F) > 0.05]


def scramble(module, gen, std):
    """Random weights well away from the initialisation (the priors must not depend on them)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_elastic_network_is_equivariant_and_stress_free_at_rest(dim, seed):
    gen = torch.Generator().manual_seed(seed)
    net = scramble(ElasticNet(dim, width=32, depth=2, stress_scale=1.0).double(), gen, std=0.7).requires_grad_(False)
    F = random_F(64, dim, gen)
    Q = random_rotations(len(F), dim, gen)
    tau, tau_rot = net(F), net(Q @ F)
    expected = Q @ tau @ Q.transpose(1, 2)
    scale = tau.abs().amax()
    assert scale > 1e-3  # the network is not trivially zero, so the check below means something
    assert torch.allclose(tau_rot, expected, atol=1e-10 * float(scale), rtol=1e-9)
    assert torch.allclose(tau, tau.transpose(1, 2), atol=1e-12)  # symmetric Kirchhoff stress
    rest = net(torch.eye(dim, dtype=DT).expand(5, dim, dim).contiguous())
    assert float(rest.abs().max()) == 0.0
    # Rotated rest states (F = Q) are stress free too: rigid rotations cost nothing.
    assert float(net(Q[:5]).abs().max()) < 1e-12


@pytest.mark.parametrize("dim", [2, 3])
def test_plastic_network_is_equivariant_and_has_no_flow_at_rest(dim):
    gen = torch.Generator().manual_seed(3)
    net = scramble(PlasticNet(dim, width=32, depth=3, alpha=0.1).double(), gen, std=0.7).requires_grad_(False)
    F = random_F(64, dim, gen)
    Q = random_rotations(len(F), dim, gen)
    out, out_rot = net(F), net(Q @ F)
    assert float((out - F).abs().max()) > 1e-4  # it does flow away from rest
    assert torch.allclose(out_rot, Q @ out, atol=1e-10, rtol=1e-9)
    eye = torch.eye(dim, dtype=DT).expand(5, dim, dim).contiguous()
    assert torch.equal(net(eye), eye)


def test_features_are_rotation_invariant_and_vanish_at_rest():
    gen = torch.Generator().manual_seed(4)
    for dim in (2, 3):
        F = random_F(16, dim, gen)
        Q = random_rotations(len(F), dim, gen)
        assert torch.allclose(invariant_features(Q @ F), invariant_features(F), atol=1e-12)
        assert float(invariant_features(torch.eye(dim, dtype=DT)[None]).abs().max()) == 0.0


@pytest.mark.parametrize("dim", [2, 3])
def test_polar_rotation_is_a_rotation_with_finite_gradient_at_identity(dim):
    gen = torch.Generator().manual_seed(5)
    F = random_F(8, dim, gen)[8:16].clone().requires_grad_(True)  # the 1e-3 group: near I
    R = polar_rotation(F)
    eye = torch.eye(dim, dtype=DT)
    assert torch.allclose(R.transpose(1, 2) @ R, eye.expand_as(R), atol=1e-12)
    assert torch.allclose(torch.det(R), torch.ones(len(R), dtype=DT))
    P = R.transpose(1, 2) @ F
    assert torch.allclose(P, P.transpose(1, 2), atol=1e-12)  # F = R P with P symmetric
    assert torch.autograd.gradcheck(polar_rotation, (F,))
    # At exactly F = I the SVD's own gradient is 0/0; ours is finite and equals the analytic one:
    # R(I + dF) = I + skew(dF) + O(dF^2), so d<W, R>/dF = skew(W).
    rest = eye.expand(2, dim, dim).clone().requires_grad_(True)
    weight = torch.randn(2, dim, dim, generator=gen, dtype=DT)
    (polar_rotation(rest) * weight).sum().backward()
    assert torch.isfinite(rest.grad).all()
    skew = 0.5 * (weight - weight.transpose(1, 2))
    assert torch.allclose(rest.grad, skew, atol=1e-12)


def test_elastic_gradient_is_finite_at_rest():
    net = ElasticNet(3, width=16).double()
    F = torch.eye(3, dtype=DT).expand(4, 3, 3).clone().requires_grad_(True)
    net(F).square().sum().backward()  # zero stress; the weight gradient path goes through the SVD
    (net(F) * torch.ones(4, 3, 3, dtype=DT)).sum().backward()
    assert torch.isfinite(F.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="dim"):
        ElasticNet(4)
    with pytest.raises(InputError, match="stress_scale"):
        ElasticNet(2, stress_scale=-1.0)
    with pytest.raises(InputError, match="alpha"):
        PlasticNet(2, alpha=math.nan)
    with pytest.raises(InputError, match="shape"):
        ElasticNet(2)(torch.eye(3)[None])


def test_bounded_plastic_flow_and_unbounded_option():
    """tanh(S): one return mapping moves F by at most alpha * d (Frobenius), whatever the weights."""
    gen = torch.Generator().manual_seed(6)
    F = random_F(32, 3, gen)
    bounded = scramble(PlasticNet(3, width=16, alpha=0.01).double(), gen, std=50.0).requires_grad_(False)
    assert float((bounded(F) - F).norm(dim=(1, 2)).max()) <= 0.01 * 3 + 1e-12
    free = PlasticNet(3, width=16, alpha=0.01, bounded=False).double().requires_grad_(False)
    free.load_state_dict(bounded.state_dict())
    assert float((free(F) - F).norm(dim=(1, 2)).max()) > 0.1


def test_warm_start_fits_a_generic_elastic_material():
    from learned.nclaw import ConstitutiveLaw, warm_start

    torch.manual_seed(0)
    law = ConstitutiveLaw.neural(2, width=32, stress_scale=1e4).double()
    error = warm_start(law, 2e4, 0.3, steps=150)
    assert error < 0.1
    F = torch.tensor([[[1.1, 0.05], [0.0, 0.95]]], dtype=DT)
    mu, lam = 2e4 / 2.6, 2e4 * 0.3 / (1.3 * 0.4)
    J = torch.det(F)
    target = 2 * mu * (F - polar_rotation(F)) @ F.transpose(1, 2) + lam * (J - 1) * J * torch.eye(2, dtype=DT)
    with torch.no_grad():
        assert torch.allclose(law.stress(F), target, rtol=0.0, atol=0.2 * float(target.abs().max()))
        assert torch.equal(law.project(F), F)  # no plastic flow at the start
