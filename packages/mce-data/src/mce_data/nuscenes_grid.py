"""The Simple-BEV bird's-eye-view grid and the rasterisers that fill it (LiDAR, radar, vehicle boxes).

Simple-BEV (Harley et al., github.com/aharley/simple_bev, ``train_nuscenes.py`` / ``utils/vox.py``) uses
``Z, Y, X = 200, 8, 200`` voxels with bounds ``X, Z in [-50, 50]`` m and ``Y in [-5, 5]`` m, expressed in
the reference camera's frame (y pointing down) shifted by a scene centroid 1 m down, so the vertical
range runs from 4 m above to 6 m below the front camera. We keep the same grid (0.5 m cells, 8 height
bins of 1.25 m over 10 m) in the **ego frame** of the sample's LiDAR keyframe, which is the frame the
camera extrinsics (``cam_to_ego``) are given in: ``x`` forward, ``y`` left, ``z`` up, origin at the rear
axle on the ground. The front camera sits about 1.5 m above the ground, so Simple-BEV's vertical range
becomes ``z in [-4.5, 5.5]`` m here.

Every BEV tensor is indexed ``[..., i, j]`` with ``i`` the ``x`` cell (``x = x_min + (i + 0.5) * cell``,
front at high ``i``) and ``j`` the ``y`` cell (left at high ``j``); occupancy adds a leading height axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]

#: RadarPointCloud's 18 fields, in file order (nuscenes-devkit ``RadarPointCloud``).
RADAR_FIELDS: tuple[str, ...] = (
    "x", "y", "z", "dyn_prop", "id", "rcs", "vx", "vy", "vx_comp", "vy_comp",
    "is_quality_valid", "ambig_state", "x_rms", "y_rms", "invalid_state", "pdh0", "vx_rms", "vy_rms",
)  # fmt: skip


@dataclass(frozen=True)
class BEVGrid:
    """An axis-aligned BEV grid in the ego frame.

    Attributes:
        x_bounds: ``(min, max)`` metres along ``x`` (forward).
        y_bounds: ``(min, max)`` metres along ``y`` (left).
        z_bounds: ``(min, max)`` metres along ``z`` (up), split into ``z_bins`` height bins.
        cell: cell size in metres in ``x`` and ``y``.
        z_bins: number of height bins.

    >>> grid = BEVGrid()
    >>> grid.shape, grid.z_step
    ((200, 200), 1.25)
    """

    x_bounds: tuple[float, float] = (-50.0, 50.0)
    y_bounds: tuple[float, float] = (-50.0, 50.0)
    z_bounds: tuple[float, float] = (-4.5, 5.5)
    cell: float = 0.5
    z_bins: int = 8

    def __post_init__(self) -> None:
        for name in ("x_bounds", "y_bounds", "z_bounds"):
            low, high = getattr(self, name)
            if not high > low:
                raise ValueError(f"{name} must be (min, max) with max > min; got {(low, high)}")
        if self.cell <= 0 or self.z_bins < 1:
            raise ValueError(f"cell must be > 0 and z_bins >= 1; got cell={self.cell}, z_bins={self.z_bins}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_x, n_y)`` cells."""
        return (
            round((self.x_bounds[1] - self.x_bounds[0]) / self.cell),
            round((self.y_bounds[1] - self.y_bounds[0]) / self.cell),
        )

    @property
    def z_step(self) -> float:
        return (self.z_bounds[1] - self.z_bounds[0]) / self.z_bins

    def cell_index(self, xy: FloatArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Cell indices ``(i, j)`` of points ``xy: [2, N]`` and whether each lies inside the grid."""
        i = np.floor((xy[0] - self.x_bounds[0]) / self.cell).astype(np.int64)
        j = np.floor((xy[1] - self.y_bounds[0]) / self.cell).astype(np.int64)
        nx, ny = self.shape
        return i, j, (i >= 0) & (i < nx) & (j >= 0) & (j < ny)

    def centres(self) -> tuple[FloatArray, FloatArray]:
        """Cell-centre coordinates: ``x[n_x]`` and ``y[n_y]`` in metres."""
        nx, ny = self.shape
        return (
            self.x_bounds[0] + (np.arange(nx) + 0.5) * self.cell,
            self.y_bounds[0] + (np.arange(ny) + 0.5) * self.cell,
        )


def occupancy(points: FloatArray, grid: BEVGrid) -> npt.NDArray[np.float32]:
    """``Float[z_bins, n_x, n_y]``: 1 where at least one point of ``points: [>=3, N]`` (ego x, y, z) falls.

    >>> occupancy(np.array([[0.1], [0.1], [0.0]]), BEVGrid(cell=25.0, z_bins=2)).nonzero()
    (array([0]), array([2]), array([2]))
    """
    out = np.zeros((grid.z_bins, *grid.shape), dtype=np.float32)
    i, j, inside = grid.cell_index(points[:2])
    k = np.floor((points[2] - grid.z_bounds[0]) / grid.z_step).astype(np.int64)
    keep = inside & (k >= 0) & (k < grid.z_bins)
    out[k[keep], i[keep], j[keep]] = 1.0
    return out


def radar_features(points: FloatArray, grid: BEVGrid, fields: Sequence[str]) -> npt.NDArray[np.float32]:
    """``Float[1 + len(fields), n_x, n_y]``: radar return count, then the mean of each field per cell.

    Args:
        points: ``[18, N]`` RadarPointCloud points with ``x, y, z`` already in the ego frame.
        grid: the BEV grid (radar height is unreliable, so the vertical axis is collapsed).
        fields: names from :data:`RADAR_FIELDS` to average per cell (empty cells hold 0).
    """
    unknown = [f for f in fields if f not in RADAR_FIELDS]
    if unknown:
        raise ValueError(f"radar fields must be among {RADAR_FIELDS}; got {unknown}")
    nx, ny = grid.shape
    out = np.zeros((1 + len(fields), nx * ny), dtype=np.float64)
    i, j, inside = grid.cell_index(points[:2])
    flat = (i * ny + j)[inside]
    np.add.at(out[0], flat, 1.0)
    for c, name in enumerate(fields, start=1):
        np.add.at(out[c], flat, points[RADAR_FIELDS.index(name)][inside])
    filled = out[0] > 0
    out[1:, filled] /= out[0, filled]
    return out.reshape(1 + len(fields), nx, ny).astype(np.float32)


def footprint_mask(corners: FloatArray, grid: BEVGrid) -> npt.NDArray[np.bool_]:
    """``Bool[n_x, n_y]``: cells whose centre lies inside the convex polygon ``corners: [K, 2]`` (ego x, y).

    >>> mask = footprint_mask(np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]), BEVGrid())
    >>> int(mask.sum()), bool(mask[99, 99]), bool(mask[102, 100])
    (16, True, False)
    """
    xs, ys = grid.centres()
    out = np.zeros(grid.shape, dtype=bool)
    lo = np.searchsorted(xs, corners[:, 0].min()), np.searchsorted(ys, corners[:, 1].min())
    hi = np.searchsorted(xs, corners[:, 0].max()), np.searchsorted(ys, corners[:, 1].max())
    if hi[0] <= lo[0] or hi[1] <= lo[1]:
        return out
    px, py = np.meshgrid(xs[lo[0] : hi[0]], ys[lo[1] : hi[1]], indexing="ij")
    signs = []
    for k in range(len(corners)):
        (ax, ay), (bx, by) = corners[k], corners[(k + 1) % len(corners)]
        signs.append((bx - ax) * (py - ay) - (by - ay) * (px - ax))
    stacked = np.stack(signs)
    inside = (stacked >= 0).all(0) | (stacked <= 0).all(0)
    out[lo[0] : hi[0], lo[1] : hi[1]] = inside
    return out


def quaternion_matrix(q: npt.ArrayLike) -> FloatArray:
    """The 3×3 rotation of a unit quaternion ``(w, x, y, z)`` (nuScenes' convention).

    >>> (np.round(quaternion_matrix([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]), 6) + 0.0).tolist()  # + 0.0: no -0.0
    [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    quaternion = np.asarray(q, dtype=np.float64)
    w, x, y, z = quaternion / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def pose_matrix(translation: npt.ArrayLike, rotation: npt.ArrayLike) -> FloatArray:
    """The 4×4 homogeneous transform of a nuScenes record (``translation``, quaternion ``rotation``)."""
    out = np.eye(4)
    out[:3, :3] = quaternion_matrix(rotation)
    out[:3, 3] = np.asarray(translation, dtype=np.float64)
    return out


def box_bottom_corners(translation: npt.ArrayLike, size: npt.ArrayLike, rotation: npt.ArrayLike) -> FloatArray:
    """``[4, 3]`` bottom corners of a nuScenes box (``size = (width, length, height)``), in its record's frame."""
    width, length, height = np.asarray(size, dtype=np.float64)
    local = np.array(
        [[length / 2, width / 2, -height / 2], [length / 2, -width / 2, -height / 2],
         [-length / 2, -width / 2, -height / 2], [-length / 2, width / 2, -height / 2]]
    )  # fmt: skip
    out: FloatArray = local @ quaternion_matrix(rotation).T + np.asarray(translation, dtype=np.float64)
    return out
