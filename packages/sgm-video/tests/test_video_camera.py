"""Camera angles for SV3D_p and SV4D, against the reference scripts' formulas."""

import numpy as np
import pytest

from sgm.video.camera import (
    SV4D_SUBSAMPLED_VIEWS,
    azimuths,
    elevations,
    novel_view_cameras,
    orbit_azimuths,
    sv3d_cameras,
)
from sgm.core.errors import SgmError


def test_one_elevation_is_repeated_and_polar_is_90_minus_it():
    polars, _ = sv3d_cameras(10.0, None)
    assert polars.shape == (21,)
    np.testing.assert_allclose(polars, np.deg2rad(80.0))


def test_default_orbit_ends_at_the_input_view():
    orbit = orbit_azimuths(21)
    assert orbit[-1] == 0.0 and len(orbit) == 21
    _, azims = sv3d_cameras(0.0, None)
    np.testing.assert_allclose(azims, np.deg2rad(np.arange(1, 22) * 360 / 21 % 360))


def test_azimuths_are_relative_to_the_last_view():
    given = [(a + 90) % 360 for a in orbit_azimuths(21)]
    _, azims = sv3d_cameras(0.0, given)
    _, reference = sv3d_cameras(0.0, None)
    np.testing.assert_allclose(azims, reference, atol=1e-12)


@pytest.mark.parametrize(
    "elev, azim, message",
    [
        ([10.0] * 5, None, "21"),
        (100.0, None, r"\[-90, 90\]"),
        (10.0, [0.0] * 3, "21 azimuths"),
        (10.0, list(reversed(orbit_azimuths(21))), "increasing"),
        ("high", None, "number"),
    ],
)
def test_bad_camera_lists_are_clear_errors(elev, azim, message):
    with pytest.raises(SgmError, match=message):
        sv3d_cameras(elev, azim)


def test_elevation_list_is_kept():
    values = list(np.linspace(-10, 30, 21))
    assert elevations(values, 21) == values
    assert azimuths([0, 60, 120, 180, 240], 5) == [0, 60, 120, 180, 240]


def test_sv4d_cameras_match_the_reference_orbit_after_rolling_the_input_view_first():
    polars_rad, azimuths_rad = sv3d_cameras(10.0, None)
    views = SV4D_SUBSAMPLED_VIEWS[1:]
    polars, azims = novel_view_cameras(polars_rad, azimuths_rad, views, frames=5, relative_polar=False)
    assert polars.shape == azims.shape == (40,)
    # after the roll, orbit image v (v >= 1) was SV3D frame v - 1, at (v) * 360 / 21 degrees from the input
    np.testing.assert_allclose(azims[:8], np.deg2rad(np.array(views) * 360 / 21))
    np.testing.assert_allclose(azims[8:16], azims[:8])
    np.testing.assert_allclose(polars, np.deg2rad(80.0))


def test_sv4d2_cameras_are_relative_to_view_zero():
    polars_rad, azimuths_rad = sv3d_cameras([0.0, 10.0, 20.0, 30.0, 40.0], [0, 60, 120, 180, 240], count=5)
    polars, azims = novel_view_cameras(polars_rad, azimuths_rad, [1, 2, 3, 4], frames=12, relative_polar=True)
    assert polars.shape == (48,)
    np.testing.assert_allclose(np.rad2deg(azims[:4]), [60, 120, 180, 240])
    np.testing.assert_allclose(np.rad2deg(polars[:4]), [90 - 10, 90 - 20, 90 - 30, 90 - 40])
