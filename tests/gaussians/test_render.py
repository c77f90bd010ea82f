"""The torch EWA splatter against analytic results: gradients, integrated alpha, occlusion, depth, errors."""
import math

import numpy as np
import pytest
import torch

from simengine.errors import InputError
from simengine.gaussians.camera import look_at, orbit_cameras
from simengine.gaussians.render import quaternion_to_matrix, render, render_views


def _front_camera(size=64, focal=80.0, distance=1.0):
    """Camera on the -z axis looking at the origin from `distance`."""
    return look_at((0.0, 0.0, -distance), (0.0, 0.0, 0.0), width=size, height=size, focal=focal, name="front")


def _gaussians(n, dtype=torch.float64, seed=0, spread=0.05, scale=0.02, opacity=0.6):
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g, dtype=dtype) - 0.5) * 2 * spread
    quats = torch.randn(n, 4, generator=g, dtype=dtype)
    scales = scale * (0.6 + 0.8 * torch.rand(n, 3, generator=g, dtype=dtype))
    opac = opacity * (0.5 + 0.5 * torch.rand(n, generator=g, dtype=dtype))
    colors = torch.rand(n, 3, generator=g, dtype=dtype)
    return means, quats, scales, opac, colors


def test_quaternion_to_matrix_is_a_rotation():
    q = torch.randn(10, 4, dtype=torch.float64)
    R = quaternion_to_matrix(q)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(10, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(10, dtype=torch.float64), atol=1e-12)
    # 90 degrees about z: x -> y
    c = math.cos(math.pi / 4)
    R = quaternion_to_matrix(torch.tensor([[c, 0.0, 0.0, c]], dtype=torch.float64))[0]
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                          torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)


def test_gradcheck_all_parameters():
    cam = look_at((0.3, 0.2, -0.6), (0.0, 0.0, 0.0), width=11, height=9, focal=13.0, name="small")
    means, quats, scales, opac, colors = _gaussians(3, spread=0.06, scale=0.03)
    inputs = tuple(t.clone().requires_grad_(True) for t in (means, quats, scales, opac, colors))
    bg = torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64)

    def f(m, q, s, o, c):
        out = render(m, q, s, o, c, cam, background=bg)
        return out["rgb"], out["alpha"], out["depth"]

    # fast mode compares u^T J v for random u, v (numerical vs analytical): as strict on a wrong gradient, and far
    # cheaper than the full Jacobian of 11 x 9 x 5 outputs on a shared CPU
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)
    # the full Jacobian w.r.t. the means and opacities of a 3 x 3-pixel crop of the same image
    assert torch.autograd.gradcheck(lambda m, o: render(m, inputs[1], inputs[2], o, inputs[4], cam)["rgb"][3:6, 4:7],
                                    (inputs[0], inputs[3]), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("sigma_m", [0.01, 0.025])
def test_isotropic_alpha_integrates_to_opacity_times_gaussian_area(sigma_m):
    cam = _front_camera(size=96, focal=100.0, distance=1.0)
    opacity = 0.3  # o * exp(0) < 0.99: the clamp never bites
    out = render(torch.tensor([[0.003, -0.002, 0.0]], dtype=torch.float64),
                 torch.tensor([[0.3, -0.2, 0.5, 0.7]], dtype=torch.float64),
                 torch.full((1, 3), sigma_m, dtype=torch.float64), torch.tensor([opacity], dtype=torch.float64),
                 torch.ones(1, 3, dtype=torch.float64), cam, dilation=0.0)
    # a sphere at distance d seen by a pinhole: sigma' = f sigma / d to first order; the exact affine projection
    # of an isotropic Gaussian at the optical axis has exactly that std
    sigma_px = 100.0 * sigma_m / 1.0
    expected = opacity * 2 * math.pi * sigma_px ** 2
    assert float(out["alpha"].sum()) == pytest.approx(expected, rel=1e-2)
    # colours composite with the same weights as alpha
    assert torch.allclose(out["rgb"][..., 0], out["alpha"])


def test_dilation_adds_its_variance():
    cam = _front_camera(size=64, focal=60.0)
    args = (torch.zeros(1, 3, dtype=torch.float64), torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64),
            torch.full((1, 3), 0.02, dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64),
            torch.ones(1, 3, dtype=torch.float64))
    a = render(*args, cam, dilation=0.0)["alpha"].sum()
    b = render(*args, cam, dilation=0.3)["alpha"].sum()
    s2 = (60.0 * 0.02) ** 2
    # the peak keeps the opacity, so the integral grows with the variance: o 2 pi (s2 + 0.3)
    assert float(b / a) == pytest.approx((s2 + 0.3) / s2, rel=1e-2)


def test_nearer_gaussian_occludes_farther():
    cam = _front_camera(size=32, focal=40.0)
    means = torch.tensor([[0.0, 0.0, 0.3], [0.0, 0.0, -0.3]], dtype=torch.float64)  # second is nearer (camera at -z)
    quats = torch.tensor([[1.0, 0, 0, 0]] * 2, dtype=torch.float64)
    scales = torch.full((2, 3), 0.2, dtype=torch.float64)  # wide: both alphas hit the 0.99 clamp at the centre
    opac = torch.tensor([1.0, 1.0], dtype=torch.float64)
    colors = torch.tensor([[1.0, 0, 0], [0.0, 0, 1]], dtype=torch.float64)
    for order in ([0, 1], [1, 0]):  # input order must not matter
        out = render(means[order], quats[order], scales[order], opac[order], colors[order], cam)
        centre = out["rgb"][16, 16]
        # front: alpha 0.99 blue; behind it 0.01 of the red one's 0.99
        assert float(centre[2]) == pytest.approx(0.99, abs=1e-6)
        assert float(centre[0]) == pytest.approx(0.01 * 0.99, abs=1e-6)
        assert float(out["alpha"][16, 16]) == pytest.approx(1 - 0.01 * 0.01, abs=1e-9)


def test_depth_of_fronto_parallel_gaussian_is_its_distance():
    for distance in (0.5, 1.3):
        cam = _front_camera(size=32, focal=30.0, distance=distance)
        # flat (fronto-parallel) disc: thin along z
        out = render(torch.tensor([[0.01, 0.02, 0.0]], dtype=torch.float64),
                     torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64),
                     torch.tensor([[0.05, 0.04, 1e-6]], dtype=torch.float64), torch.tensor([0.8], dtype=torch.float64),
                     torch.ones(1, 3, dtype=torch.float64), cam)
        covered = out["alpha"] > 1e-3
        assert covered.sum() > 20
        # the densest point on each pixel's ray lies on the disc's plane to O(thickness²): here < 1e-9 m
        assert torch.allclose(out["depth"][covered], torch.full_like(out["depth"][covered], distance), atol=1e-9)
        assert (out["depth"][~covered & (out["alpha"] < 1e-4)] == 0).all()


def test_pixel_centre_convention():
    # a Gaussian on the optical axis of a camera with cx = W/2 peaks between the 4 central pixels equally
    cam = _front_camera(size=16, focal=20.0)
    out = render(torch.zeros(1, 3), torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), 0.03), torch.tensor([0.5]),
                 torch.ones(1, 3), cam)
    a = out["alpha"]
    quad = torch.stack([a[7, 7], a[7, 8], a[8, 7], a[8, 8]])
    assert torch.allclose(quad, quad[0].expand(4), rtol=1e-5)
    assert float(a.max()) == pytest.approx(float(quad[0]), rel=1e-6)


def test_shapes_dtype_and_views():
    cams = orbit_cameras((0.0, 0.0, 0.0), 0.8, count=3, width=20, height=12)
    means, quats, scales, opac, colors = (t.float() for t in _gaussians(30, spread=0.1, scale=0.01))
    out = render_views(means, quats, scales, opac, colors, cams, background=(1.0, 1.0, 1.0))
    assert out["rgb"].shape == (3, 12, 20, 3) and out["alpha"].shape == (3, 12, 20)
    assert out["depth"].shape == (3, 12, 20) and out["rgb"].dtype == torch.float32
    single = render(means, quats, scales, opac, colors, cams[1], background=(1.0, 1.0, 1.0))
    for key in ("rgb", "alpha", "depth"):
        assert single[key].shape == out[key].shape[1:]
        assert torch.allclose(single[key], out[key][1], atol=1e-6)
    assert float(out["alpha"].max()) < 1.0 and float(out["rgb"].min()) >= 0.0
    # white background where nothing is drawn
    empty = out["alpha"] < 1e-8
    assert torch.allclose(out["rgb"][empty], torch.ones_like(out["rgb"][empty]))


def test_culls_gaussians_behind_the_near_plane():
    cam = _front_camera(size=32, focal=40.0, distance=1.0)
    means = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, -1.5]], dtype=torch.float64)  # second behind the camera
    quats = torch.tensor([[1.0, 0, 0, 0]] * 2, dtype=torch.float64)
    scales = torch.full((2, 3), 0.05, dtype=torch.float64)
    opac = torch.tensor([0.5, 0.5], dtype=torch.float64)
    colors = torch.tensor([[1.0, 0, 0], [0.0, 1, 0]], dtype=torch.float64)
    out = render(means, quats, scales, opac, colors, cam)
    assert float(out["rgb"][..., 1].abs().max()) == 0.0
    ref = render(means[:1], quats[:1], scales[:1], opac[:1], colors[:1], cam)
    assert torch.equal(out["alpha"], ref["alpha"])


def test_bad_input_names_what_is_wrong():
    cam = _front_camera(size=16, focal=20.0)
    means, quats, scales, opac, colors = _gaussians(4, dtype=torch.float32)
    with pytest.raises(InputError, match="scales: Gaussian 2"):
        bad = scales.clone()
        bad[2, 1] = 0.0
        render(means, quats, bad, opac, colors, cam)
    with pytest.raises(InputError, match="quats must be a tensor of shape"):
        render(means, quats[:3], scales, opac, colors, cam)
    with pytest.raises(InputError, match="opacities: Gaussian 0"):
        render(means, quats, scales, torch.tensor([1.5, 0.5, 0.5, 0.5]), colors, cam)
    with pytest.raises(InputError, match="means: Gaussian 1 has a non-finite"):
        bad = means.clone()
        bad[1, 0] = float("nan")
        render(bad, quats, scales, opac, colors, cam)
    away = look_at((0.0, 0.0, -1.0), (0.0, 0.0, -2.0), width=16, height=16, name="away")
    with pytest.raises(InputError, match="camera 'away' sees none of the 4 Gaussians"):
        render_views(means, quats, scales, opac, colors, [cam, away])
    other = look_at((0.0, 0.0, -1.0), (0.0, 0.0, 0.0), width=16, height=20, name="tall")
    with pytest.raises(InputError, match="camera 'tall': image size"):
        render_views(means, quats, scales, opac, colors, [cam, other])
    with pytest.raises(InputError, match="backend"):
        render(means, quats, scales, opac, colors, cam, backend="magic")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="gsplat"):
            render(means, quats, scales, opac, colors, cam, backend="gsplat")


def test_float32_matches_float64():
    cams = orbit_cameras((0.0, 0.0, 0.0), 0.7, count=2, width=24, height=24)
    g64 = _gaussians(40, spread=0.08, scale=0.012, opacity=0.9)
    a = render_views(*g64, cams)
    b = render_views(*(t.float() for t in g64), cams)
    for key in ("rgb", "alpha"):
        assert np.abs(a[key].numpy() - b[key].double().numpy()).max() < 1e-4


def test_depth_of_a_tilted_disc_follows_its_plane():
    """On a tilted flat Gaussian the depth at every covered pixel is that of the disc's plane along the pixel's
    ray, not the centre's depth."""
    import math

    cam = _front_camera(size=48, focal=50.0, distance=1.0)
    angle = math.radians(50.0)  # disc turned about the x axis: its normal leaves the optical axis
    quat = torch.tensor([[math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0]], dtype=torch.float64)
    out = render(torch.zeros(1, 3, dtype=torch.float64), quat, torch.tensor([[0.1, 0.1, 1e-6]], dtype=torch.float64),
                 torch.tensor([0.9], dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64), cam)
    covered = out["alpha"] > 1e-2
    j, i = torch.nonzero(covered, as_tuple=True)
    points = cam.unproject(np.where(covered.numpy(), out["depth"].numpy(), 0.0))
    normal = np.array([0.0, -math.sin(angle), math.cos(angle)])  # the disc's z axis in the world
    assert len(points) > 50 and np.abs(points @ normal).max() < 1e-6
    assert float(out["depth"][covered].std()) > 0.01  # the depth does vary across the tilted disc
