"""MNIST-C corruptions: each test checks a defining property against an independent reference, on synthetic strokes."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
import torch
from scipy import stats

from onen.robustness import mnist_c as C
from onen.robustness.mnist_c import CORRUPTIONS, FAMILIES, PARAMETERS, corrupt

DETERMINISTIC = {"scale", "brightness", "stripe", "canny_edges"}
GRID = torch.arange(28, dtype=torch.float32)


def _segment(r0: float, c0: float, r1: float, c1: float, thickness: float) -> torch.Tensor:
    """An anti-aliased stroke between two points: 1 within ``thickness`` / 2 of the segment, ramping to 0 over 1 px."""
    rows, cols = GRID[:, None], GRID[None, :]
    dr, dc = r1 - r0, c1 - c0
    t = (((rows - r0) * dr + (cols - c0) * dc) / max(dr * dr + dc * dc, 1e-9)).clamp(0, 1)
    dist = torch.hypot(rows - (r0 + t * dr), cols - (c0 + t * dc))
    return (thickness / 2 + 0.5 - dist).clamp(0, 1)


def digits(n: int = 24, seed: int = 0) -> torch.Tensor:
    """Digit-like images [n, 1, 28, 28]: two or three thick strokes between random points of the central 16 x 16."""
    rng = np.random.default_rng(seed)
    out = torch.zeros(n, 1, 28, 28)
    for i in range(n):
        for _ in range(rng.integers(2, 4)):
            r0, c0, r1, c1 = rng.uniform(6, 21, size=4)
            out[i, 0] = torch.maximum(out[i, 0], _segment(r0, c0, r1, c1, rng.uniform(1.5, 3.0)))
    return out


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return digits()


def centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """[B, 2] (row, col) centre of mass of each image."""
    mass = images.sum(dim=(1, 2, 3))
    rows = (images.sum(dim=(1, 3)) * GRID).sum(1) / mass
    cols = (images.sum(dim=(1, 2)) * GRID).sum(1) / mass
    return torch.stack([rows, cols], 1)


# ----------------------------------------------------------------------------------------------------------------------
# the API


def test_names_families_and_parameters() -> None:
    assert len(CORRUPTIONS) == len(set(CORRUPTIONS)) == 16
    assert tuple(n for names in FAMILIES.values() for n in names) == CORRUPTIONS
    assert set(FAMILIES) == {"noise", "blur", "geometry", "other"}
    assert set(PARAMETERS) == set(CORRUPTIONS)
    assert all(len(v) == 5 for v in PARAMETERS.values())


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_dtype_range_and_determinism(name: str, batch: torch.Tensor) -> None:
    before = batch.clone()
    out = corrupt(batch, name, 3, seed=7)
    assert out.shape == batch.shape and out.dtype == batch.dtype and out.device == batch.device
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(batch, before), "the input must not be modified"
    assert torch.equal(out, corrupt(batch, name, 3, seed=7))
    assert not torch.equal(out, batch)
    double = corrupt(batch.double(), name, 3, seed=7)
    assert double.dtype == torch.float64
    assert (double.float() - out).abs().max() < 1e-3 or name in {"canny_edges", "shot_noise"}


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - DETERMINISTIC))
def test_different_seeds_differ(name: str, batch: torch.Tensor) -> None:
    assert not torch.equal(corrupt(batch, name, 3, seed=0), corrupt(batch, name, 3, seed=1))


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_corruptions_ignore_the_seed(name: str, batch: torch.Tensor) -> None:
    assert torch.equal(corrupt(batch, name, 3, seed=0), corrupt(batch, name, 3, seed=1))


def test_rejects_bad_input(batch: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="shot_noise.*canny_edges"):
        corrupt(batch, "frost")
    for severity in (0, 6, 2.0, True, -1):
        with pytest.raises(ValueError, match="severity"):
            corrupt(batch, "fog", severity)  # type: ignore[arg-type]
    for bad_value in (float("nan"), float("inf"), 1.01, -0.01):
        broken = batch.clone()
        broken[3, 0, 4, 5] = bad_value
        with pytest.raises(ValueError):
            corrupt(broken, "rotate")
    for shape in ((4, 28, 28), (4, 3, 28, 28), (4, 1, 32, 32), (0, 1, 28, 28), (1, 1, 1, 28, 28)):
        with pytest.raises(ValueError, match="shape"):
            corrupt(torch.zeros(shape), "rotate")
    with pytest.raises(ValueError):
        corrupt(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "rotate")
    slightly_over = batch.clone()
    slightly_over[0, 0, 14, 14] = 1 + 1e-7  # within the 1e-6 tolerance
    assert corrupt(slightly_over, "rotate").max() <= 1


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_is_monotone(name: str, batch: torch.Tensor) -> None:
    change = [(corrupt(batch, name, s, seed=3) - batch).abs().mean().item() for s in range(1, 6)]
    assert all(a < b for a, b in zip(change, change[1:])), change


# ----------------------------------------------------------------------------------------------------------------------
# noise


def test_impulse_noise_sets_a_fraction_of_pixels_to_0_or_1() -> None:
    grey = torch.full((200, 1, 28, 28), 0.5)
    for severity in (1, 3, 5):
        out = corrupt(grey, "impulse_noise", severity, seed=severity)
        changed = out != grey
        assert torch.isin(out[changed], torch.tensor([0.0, 1.0])).all()
        amount, n = PARAMETERS["impulse_noise"][severity - 1], grey.numel()
        assert abs(changed.float().mean().item() - amount) < 4 * math.sqrt(amount * (1 - amount) / n)
        assert abs((out[changed] == 1).float().mean().item() - 0.5) < 4 * math.sqrt(0.25 / changed.sum().item())


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_shot_noise_is_poisson_with_the_stated_count(severity: int) -> None:
    level = 0.2
    photons = PARAMETERS["shot_noise"][severity - 1]
    out = corrupt(torch.full((100, 1, 28, 28), level), "shot_noise", severity, seed=1).double()
    counts = out * photons
    assert torch.allclose(counts, counts.round(), atol=1e-4), "values must be multiples of 1 / photons"
    # the exact mean and variance of min(N, photons) / photons for N ~ Poisson(level * photons), clipping included
    support = np.arange(0, 200)
    pmf = stats.poisson.pmf(support, level * photons)
    values = np.minimum(support, photons) / photons
    mean, var = (pmf * values).sum(), (pmf * values**2).sum() - (pmf * values).sum() ** 2
    n = out.numel()
    assert abs(out.mean().item() - mean) < 5 * math.sqrt(var / n)
    if stats.poisson.sf(photons, level * photons) < 1e-3:  # clipping negligible: Poisson noise is unbiased
        assert abs(out.mean().item() - level) < 5 * math.sqrt(level / photons / n)
    assert abs(out.var().item() / var - 1) < 0.05


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_gaussian_noise_has_the_stated_sigma(severity: int) -> None:
    sigma = PARAMETERS["gaussian_noise"][severity - 1]
    out = corrupt(torch.full((100, 1, 28, 28), 0.5), "gaussian_noise", severity, seed=2).double()
    # residual of clip(0.5 + sigma Z, 0, 1): the clipped (censored) normal's mean and std by quadrature
    z = np.linspace(-12, 12, 200001)
    weights = stats.norm.pdf(z) * (z[1] - z[0])
    residual = np.clip(0.5 + sigma * z, 0, 1) - 0.5
    mean = (weights * residual).sum()
    std = math.sqrt((weights * residual**2).sum() - mean**2)
    assert abs((out - 0.5).std().item() / std - 1) < 0.02
    assert abs((out - 0.5).mean().item() - mean) < 0.005
    if severity == 1:
        assert abs(std / sigma - 1) < 0.02, "before clipping matters the residual std is sigma itself"


# ----------------------------------------------------------------------------------------------------------------------
# blur


def test_glass_blur_keeps_mass_and_position(batch: torch.Tensor) -> None:
    out = corrupt(batch, "glass_blur", 3, seed=0)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), batch.sum(dim=(1, 2, 3)), rtol=0.01)
    assert (centre_of_mass(out) - centre_of_mass(batch)).abs().max() < 0.5
    assert out.amax(dim=(1, 2, 3)).mean() < batch.amax(dim=(1, 2, 3)).mean()  # blurred: lower peaks


def test_motion_blur_streaks_to_one_side_by_the_kernel_mean(batch: torch.Tensor) -> None:
    radius, sigma = PARAMETERS["motion_blur"][2]
    taps = np.arange(2 * radius + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    reach = (weights * taps).sum() / weights.sum()  # mean offset of the one-sided kernel, in pixels
    out = corrupt(batch, "motion_blur", 3, seed=0)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), batch.sum(dim=(1, 2, 3)), rtol=0.01)
    shift = centre_of_mass(out) - centre_of_mass(batch)
    # angles in [-45, 45] degrees: the content moves left by reach * cos(angle) and vertically by reach * sin(angle)
    assert (shift[:, 1] < -reach * math.cos(math.pi / 4) + 0.3).all() and (shift[:, 1] > -reach - 0.3).all()
    assert (shift.norm(dim=1) - reach).abs().max() < 0.4


# ----------------------------------------------------------------------------------------------------------------------
# geometry


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotate_by_multiples_of_90_equals_rot90(k: int, batch: torch.Tensor) -> None:
    assert torch.allclose(C.rotate_by(batch, 90 * k), torch.rot90(batch, k, (-2, -1)), atol=1e-5)


def _orientation(images: torch.Tensor) -> torch.Tensor:
    """Principal-axis angle (radians, counter-clockwise as displayed) of each image from its central moments."""
    rows, cols = GRID.view(1, 1, 28, 1), GRID.view(1, 1, 1, 28)
    com = centre_of_mass(images)
    y = -(rows - com[:, 0].view(-1, 1, 1, 1))  # up is positive
    x = cols - com[:, 1].view(-1, 1, 1, 1)
    mu20, mu02, mu11 = (images * x * x).sum((1, 2, 3)), (images * y * y).sum((1, 2, 3)), (images * x * y).sum((1, 2, 3))
    return 0.5 * torch.atan2(2 * mu11, mu20 - mu02)


def test_rotate_turns_the_principal_axis_and_keeps_the_radial_mass() -> None:
    bars = torch.stack([_segment(14 - 6 * math.sin(a), 13.5 - 6 * math.cos(a), 14 + 6 * math.sin(a),
                                 13.5 + 6 * math.cos(a), 2.0) for a in np.linspace(0, 1.2, 8)])[:, None]
    angle = PARAMETERS["rotate"][2]
    out = corrupt(bars, "rotate", 3, seed=0)
    turn = torch.remainder(_orientation(out) - _orientation(bars) + math.pi / 2, math.pi) - math.pi / 2
    assert torch.allclose(turn.abs(), torch.full_like(turn, angle), atol=0.03)
    assert (turn > 0).any() and (turn < 0).any(), "the sign is random per image"
    assert torch.allclose(out.sum(dim=(1, 2, 3)), bars.sum(dim=(1, 2, 3)), rtol=0.02)
    # mass in rings around the centre (13.5, 13.5) is what a rotation about it cannot change
    radius = torch.hypot(GRID[:, None] - 13.5, GRID[None, :] - 13.5)
    rings = [(radius >= lo) & (radius < lo + 3) for lo in range(0, 12, 3)]
    before = torch.stack([(bars[:, 0] * r).sum((1, 2)) for r in rings], 1)
    after = torch.stack([(out[:, 0] * r).sum((1, 2)) for r in rings], 1)
    assert (after - before).abs().max() < 0.06 * bars.sum(dim=(1, 2, 3)).min()


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_translate_moves_the_centre_of_mass_by_the_stated_shift(severity: int, batch: torch.Tensor) -> None:
    shift = PARAMETERS["translate"][severity - 1]
    out = corrupt(batch, "translate", severity, seed=4)
    moved = centre_of_mass(out) - centre_of_mass(batch)
    assert torch.allclose(moved.abs(), torch.full_like(moved, float(shift)), atol=1e-3)
    assert (moved[:, 0] > 0).any() and (moved[:, 0] < 0).any() and (moved[:, 1] > 0).any() and (moved[:, 1] < 0).any()
    assert torch.allclose(out.sum(dim=(1, 2, 3)), batch.sum(dim=(1, 2, 3)))


def test_translate_by_direction(batch: torch.Tensor) -> None:
    moved = centre_of_mass(C.translate_by(batch, 2, -1)) - centre_of_mass(batch)
    assert torch.allclose(moved, torch.tensor([-1.0, 2.0]).expand_as(moved), atol=1e-3)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_scale_multiplies_the_second_moment_by_the_factor_squared(severity: int, batch: torch.Tensor) -> None:
    factor = PARAMETERS["scale"][severity - 1]
    out = corrupt(batch, "scale", severity)
    centre = torch.tensor(13.5)

    def second_moment(images: torch.Tensor) -> torch.Tensor:
        r2 = (GRID[:, None] - centre) ** 2 + (GRID[None, :] - centre) ** 2
        return (images[:, 0] * r2).sum((1, 2)) / images.sum(dim=(1, 2, 3))

    ratio = second_moment(out) / second_moment(batch)
    # bilinear sampling adds a little spread (about 1/6 px^2 per axis), hence the tolerance
    assert torch.allclose(ratio, torch.full_like(ratio, factor**2), rtol=0.05)
    mass_ratio = out.sum(dim=(1, 2, 3)) / batch.sum(dim=(1, 2, 3))  # area shrinks by factor^2, up to aliasing
    assert torch.allclose(mass_ratio, torch.full_like(mass_ratio, factor**2), rtol=0.1)
    assert torch.allclose(centre_of_mass(out) - 13.5, factor * (centre_of_mass(batch) - 13.5), atol=0.25)


def test_shear_tilts_a_vertical_bar_by_tan_angle() -> None:
    bar = _segment(4, 13.5, 23, 13.5, 2.0)[None, None].repeat(16, 1, 1, 1)
    angle = PARAMETERS["shear"][2]
    out = corrupt(bar, "shear", 3, seed=0)
    rows = torch.arange(7, 21)
    col_of_row = (out[:, 0, rows] * GRID).sum(-1) / out[:, 0, rows].sum(-1)  # [16, rows]
    height = 13.5 - rows.float()  # rows above the centre are positive
    slope = ((col_of_row - col_of_row.mean(1, keepdim=True)) * (height - height.mean())).sum(1) / (
        (height - height.mean()) ** 2).sum()
    assert torch.allclose(slope.abs(), torch.full_like(slope, math.tan(angle)), atol=0.02)
    assert (slope > 0).any() and (slope < 0).any()
    explicit = C.shear_by(bar[:1], angle)
    assert (explicit[0, 0, 6] * GRID).sum() / explicit[0, 0, 6].sum() > 13.5 + 0.9 * math.tan(angle) * 7.5


# ----------------------------------------------------------------------------------------------------------------------
# others


def test_brightness_matches_the_hsv_round_trip(batch: torch.Tensor) -> None:
    means = [corrupt(batch, "brightness", s).mean().item() for s in range(1, 6)]
    assert batch.mean().item() < means[0] and all(a < b for a, b in zip(means, means[1:]))
    shift = PARAMETERS["brightness"][2]
    weights = (0.2125, 0.7154, 0.0721)  # skimage's rgb2gray

    def hsv_round_trip(grey: float) -> float:
        """MNIST-C's definition: grey -> RGB -> HSV, V + shift clipped, -> RGB -> grey."""
        h, s, v = colorsys.rgb_to_hsv(grey, grey, grey)
        return sum(w * c for w, c in zip(weights, colorsys.hsv_to_rgb(h, s, min(v + shift, 1.0))))

    index = torch.arange(0, batch.numel(), 7)
    reference = torch.tensor([hsv_round_trip(v) for v in batch.flatten()[index].tolist()])
    assert torch.allclose(corrupt(batch, "brightness", 3).flatten()[index], reference, atol=1e-5)


def test_stripe_inverts_the_side_bands(batch: torch.Tensor) -> None:
    for severity in (1, 3, 5):
        width = PARAMETERS["stripe"][severity - 1]
        out = corrupt(batch, "stripe", severity).numpy()
        x = batch.numpy()
        band = np.zeros(28, dtype=bool)
        band[:width] = band[28 - width:] = True
        assert np.allclose(out[..., band], 1 - x[..., band]) and np.array_equal(out[..., ~band], x[..., ~band])
    assert PARAMETERS["stripe"][2] == 7  # MNIST-C's columns 0-6 and 21-27


def test_canny_edges_are_binary_and_trace_a_square() -> None:
    square = torch.zeros(4, 1, 28, 28)
    square[:, :, 8:20, 8:20] = 1.0
    square[1] *= 0.6
    out = corrupt(square, "canny_edges", 3)
    assert torch.isin(out, torch.tensor([0.0, 1.0])).all()
    rows, cols = GRID[:, None], GRID[None, :]
    # distance of each pixel centre to the square's boundary, which runs along 7.5 and 19.5
    inside = (rows >= 8) & (rows < 20) & (cols >= 8) & (cols < 20)
    to_edge = torch.minimum(torch.minimum((rows - 7.5).abs(), (rows - 19.5).abs()),
                            torch.minimum((cols - 7.5).abs(), (cols - 19.5).abs()))
    outside_box = (rows < 7) | (rows > 20) | (cols < 7) | (cols > 20)
    near = torch.where(inside, to_edge, torch.where(outside_box, torch.tensor(99.0), to_edge))
    for image in out[:, 0]:
        assert image[near > 1.0].sum() == 0, "edge pixels only within a pixel of the boundary"
        for side in (image[7:9, 10:18], image[19:21, 10:18], image[10:18, 7:9].T, image[10:18, 19:21].T):
            assert (side.sum(0) >= 1).all(), "each side traced without gaps"
    assert out.sum() > 0 and corrupt(torch.zeros(2, 1, 28, 28), "canny_edges").sum() == 0


def test_fog_is_a_smooth_field_added_then_rescaled(batch: torch.Tensor) -> None:
    weight = PARAMETERS["fog"][2][0]
    out = corrupt(batch, "fog", 3, seed=5).double()
    x = batch.double()
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    field = (out * (peak + weight) / peak - x) / weight  # invert y = (x + w f) * peak / (peak + w)
    assert field.min() > -1e-5 and field.max() < 1 + 1e-5
    # a plasma fractal is smooth: neighbouring values are far more alike than independent ones
    f = field[:, 0]
    right = torch.corrcoef(torch.stack([f[:, :, :-1].flatten(), f[:, :, 1:].flatten()]))[0, 1]
    assert right > 0.8
    assert not torch.allclose(field[0], field[1])


def test_fog_window_equals_the_whole_torus() -> None:
    """The fractal's last two refinement steps run on a window; with no jitter they must match the whole map."""
    generator = torch.Generator().manual_seed(0)
    grid = torch.zeros(8, 1, 1)
    for step in range(6):
        grid = C._refine(grid, 100.0 / 1.4**step, generator)
    whole = C._refine(C._refine(grid, 0.0, generator), 0.0, generator)[:, :28, :28]
    window = C._refine(C._refine(grid.roll((2, 2), (1, 2))[:, :12, :12], 0.0, generator), 0.0, generator)
    assert torch.allclose(window[:, 8:36, 8:36], whole)


def test_spatter_only_mixes_towards_mud_grey(batch: torch.Tensor) -> None:
    grey = 63 / 255
    out = corrupt(batch, "spatter", 3, seed=1)
    changed = (out - batch).abs() > 1e-6
    assert changed.any()
    away = (batch - grey).abs() > 0.05
    mix = (out - batch) / (grey - batch)  # the mask value m in x (1 - m) + grey m
    assert (mix[changed & away] > 0.8 - 1e-4).all() and (mix[changed & away] < 1 + 1e-4).all()


def test_dotted_line_is_a_dashed_straight_line() -> None:
    blank = torch.zeros(32, 1, 28, 28)
    out = corrupt(blank, "dotted_line", 3, seed=0)[:, 0]
    dashes = (torch.arange(28) // 2) % 2 == 1
    dashes[27] = False
    assert out[:, :, ~dashes].sum() == 0
    assert (out[:, :, dashes].sum(1) > 0).all(), "every kept column is crossed"
    cols = GRID[dashes]
    centre = (out[:, :, dashes] * GRID[None, :, None]).sum(1) / out[:, :, dashes].sum(1)  # [32, kept columns]
    for row in centre:
        fit = np.polyfit(cols.numpy(), row.numpy(), 1)
        assert np.abs(np.polyval(fit, cols.numpy()) - row.numpy()).max() < 0.6
    assert out.amax() == 1


def test_zigzag_spans_columns_2_to_25_and_zigzags() -> None:
    blank = torch.zeros(32, 1, 28, 28)
    out = corrupt(blank, "zigzag", 3, seed=0)[:, 0]
    ink = out.sum(1)  # [32, 28] per column
    assert ink[:, :2].sum() == 0 and ink[:, 26:].sum() == 0
    inside = (ink[:, 2:25] > 0).all(1)  # a zigzag starting near the top or bottom edge leaves the image
    assert inside.float().mean() > 0.7
    # the drawn rows swing back and forth: the row centre per column changes direction several times
    centre = (out[inside] * GRID[None, :, None]).sum(1) / ink[inside]
    steps = torch.sign(centre[:, 3:25].diff(dim=1))
    turns = (steps[:, 1:] * steps[:, :-1] < 0).sum(1)
    assert (turns >= 4).all()
