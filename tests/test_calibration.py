"""Tests of care.stats.calibration: calibration curves by quantile bins."""

from __future__ import annotations

import numpy as np
import pytest

from care.stats.calibration import calibration_curve


def test_calibration_curve_by_hand() -> None:
    truth = np.array([1, 2, 3, 4, 5, 5, np.nan, 3])
    predicted = np.array([1.0, 1.5, 2.0, 2.5, 4.0, 4.5, 3.0, np.nan])
    xs, ys, ns = calibration_curve(truth, predicted, n_bins=2, min_per_bin=3)
    # Six complete pairs, two quantile bins of three: predictions 1-2 and 2.5-4.5.
    assert ns == [3, 3]
    assert xs == pytest.approx([1.5, 11 / 3])
    assert ys == pytest.approx([2.0, 14 / 3])
    assert calibration_curve(np.array([1.0, 2, 3]), np.array([2.0, 2, 2]))[2] == [3]
