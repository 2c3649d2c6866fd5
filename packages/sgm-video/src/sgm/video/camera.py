"""Camera angles for SV3D_p, SV4D and SV4D 2.0, computed as the reference sampling scripts compute them.

Elevation e (degrees above the horizon) becomes the polar angle `90 - e` in radians; azimuths are measured
relative to the last given view (the input view in SV3D's orbit), `(a - a[-1]) mod 360`, in radians.
"""

import math
from collections.abc import Sequence

import numpy as np

from sgm.core.errors import SgmError

SV3D_ORBIT_VIEWS = 21  # the views of SV3D's orbit (the input view last)
# SV4D picks 9 of the 21 SV3D orbit views (after moving the input view first): the input view and 8 novel ones.
SV4D_SUBSAMPLED_VIEWS = (0, 2, 5, 7, 9, 12, 14, 16, 19)


def _as_list(values: float | Sequence[float], name: str) -> list[float]:
    if isinstance(values, (int, float)):
        return [float(values)]
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError) as error:
        raise SgmError(f"{name} must be a number or a list of numbers, got {values!r}") from error
    if not all(math.isfinite(v) for v in out):
        raise SgmError(f"{name} must be finite numbers, got {out}")
    return out


def elevations(elevations_deg: float | Sequence[float], count: int) -> list[float]:
    """`count` elevations in degrees: one value repeated, or a list of exactly `count`; each in [-90, 90]."""
    values = _as_list(elevations_deg, "elevations_deg")
    if len(values) == 1:
        values = values * count
    if len(values) != count:
        raise SgmError(f"give 1 elevation or a list of {count} (elevations_deg), got {len(values)}")
    if any(abs(v) > 90 for v in values):
        raise SgmError(f"elevations_deg must lie in [-90, 90] degrees, got {values}")
    return values


def orbit_azimuths(count: int) -> list[float]:
    """The default orbit: `count` views evenly spaced, the last at 0 degrees (the input view)."""
    return [float(a) for a in np.linspace(0, 360, count + 1)[1:] % 360]


def azimuths(azimuths_deg: Sequence[float] | None, count: int, default: Sequence[float] | None = None) -> list[float]:
    """`count` azimuths in degrees (`default`, else the even orbit, when None).

    The views before the last must go round in one direction: their angles relative to the last view,
    `(a - a[-1]) mod 360`, increase strictly (the order the models were trained on).
    """
    if azimuths_deg is None:
        return list(default) if default is not None else orbit_azimuths(count)
    values = _as_list(azimuths_deg, "azimuths_deg")
    if len(values) != count:
        raise SgmError(f"give a list of {count} azimuths (azimuths_deg), got {len(values)}")
    relative = [(a - values[-1]) % 360 for a in values[:-1]]
    if any(b <= a for a, b in zip(relative, relative[1:])):
        raise SgmError(
            f"azimuths_deg must go round in increasing order relative to the last view, got {values}"
        )
    return values


def polar_radians(elevations_deg: Sequence[float]) -> np.ndarray:
    """`deg2rad(90 - e)` per view."""
    return np.deg2rad(90.0 - np.asarray(elevations_deg, dtype=np.float64))


def relative_azimuth_radians(azimuths_deg: Sequence[float]) -> np.ndarray:
    """`deg2rad((a - a[-1]) mod 360)` per view."""
    values = np.asarray(azimuths_deg, dtype=np.float64)
    return np.deg2rad((values - values[-1]) % 360)


def sv3d_cameras(
    elevations_deg: float | Sequence[float], azimuths_deg: Sequence[float] | None, count: int = SV3D_ORBIT_VIEWS
) -> tuple[np.ndarray, np.ndarray]:
    """SV3D_p's `(polars_rad, azimuths_rad)`, one per orbit frame (the input view last)."""
    elev = elevations(elevations_deg, count)
    azim = azimuths(azimuths_deg, count)
    return polar_radians(elev), relative_azimuth_radians(azim)


def novel_view_cameras(
    polars_rad: np.ndarray,
    azimuths_rad: np.ndarray,
    views: Sequence[int],
    frames: int,
    relative_polar: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """SV4D's per-sample cameras: the angles of `views`, repeated for each of `frames` frames (frame-major).

    Azimuths are taken relative to view 0 (mod 2 pi). With `relative_polar` (SV4D 2.0) polars are too, shifted
    so that view 0 sits at pi / 2: `(p - p[0] + pi / 2) mod 2 pi`.
    """
    views = list(views)
    polars = np.tile(polars_rad[views], frames)
    azims = np.tile(azimuths_rad[views], frames)
    if relative_polar:
        polars = (polars - polars_rad[0] + np.pi / 2) % (2 * np.pi)
    azims = (azims - azimuths_rad[0]) % (2 * np.pi)
    return polars, azims
