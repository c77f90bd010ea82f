"""PSNR and mask IoU (`simengine.gaussians.score`) by hand."""
import math

import numpy as np
import pytest

from simengine.errors import InputError
from simengine.gaussians.score import mask_iou, psnr


def test_psnr_by_hand():
    a = np.zeros((4, 4, 3))
    b = a.copy()
    b[0, 0, 0] = 0.5                                   # MSE = 0.25 / 48
    assert psnr(b, a) == pytest.approx(10 * math.log10(48 / 0.25))
    assert psnr(a, a) == math.inf
    with pytest.raises(InputError, match="one shape"):
        psnr(a, a[:2])


def test_mask_iou_by_hand():
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[:2] = 1.0                                        # 8 pixels
    b[1:3] = 0.9                                       # 8 pixels, 4 shared
    assert mask_iou(a, b) == pytest.approx(4 / 12)
    assert mask_iou(a, a) == 1.0 and mask_iou(a * 0, b * 0) == 1.0
    assert mask_iou(a, b, threshold=0.95) == 0.0       # b's 0.9 is no longer inside
