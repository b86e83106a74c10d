"""onen.analysis.corruption_frontier: Vanilla's mCA-against-clean-accuracy frontier and effects above it, against
hand computations, numpy's np.interp and a loop over resamples with onen.analysis.stats.bootstrap_se."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onen.analysis import corruption_frontier as cf
from onen.analysis.stats import bootstrap_se, combined_interval
from onen.cache import CachedResult
from onen.runs.config import TrainConfig

N = 100


def net(clean: float | list[float], mca: float | list[float], seeds: tuple[int, ...] | None = None) -> cf.Scored:
    """A network whose seed s classifies the first clean[s] * N clean images correctly and every image under a
    fraction mca[s] of the corruptions."""
    clean, mca = np.atleast_1d(clean), np.atleast_1d(mca)
    rows = [(np.arange(N) < round(c * N)).astype(float) for c in clean]
    return cf.Scored(seeds or tuple(range(len(clean))), np.stack(rows), np.repeat(mca[:, None], N, axis=1))


def line(seeds: tuple[int, ...] = (0,)) -> cf.CorruptionFrontier:
    """A linear frontier: mCA = clean - 0.3, from clean 0.6 (1 epoch) over 0.8 to 1.0 (full length)."""
    return cf.CorruptionFrontier(tuple(net([c] * len(seeds), [c - 0.3] * len(seeds), seeds) for c in (0.6, 0.8, 1.0)))


def test_interpolation_by_hand_and_against_numpy() -> None:
    xs, ys = np.array([0.6, 0.7, 0.9]), np.array([0.2, 0.5, 0.6])
    # 0.65: halfway between 0.2 and 0.5; 0.8: halfway between 0.5 and 0.6
    assert cf.interpolate(xs, ys, np.asarray(0.65)) == pytest.approx(0.35)
    assert cf.interpolate(xs, ys, np.asarray(0.8)) == pytest.approx(0.55)
    at = np.linspace(0.6, 0.9, 31)
    batched = cf.interpolate(np.broadcast_to(xs, (31, 3)), np.broadcast_to(ys, (31, 3)), at)
    np.testing.assert_allclose(batched, np.interp(at, xs, ys), rtol=0, atol=1e-15)
    assert np.isnan(cf.interpolate(xs, ys, np.asarray(0.59))) and np.isnan(cf.interpolate(xs, ys, np.asarray(0.91)))
    # two points at the same accuracy: the first of them gives the value there
    assert cf.interpolate(np.array([0.5, 0.7, 0.7]), np.array([0.1, 0.3, 0.9]), np.asarray(0.7)) == pytest.approx(0.3)


def test_frontier_at_matches_a_hand_computation() -> None:
    frontier = cf.CorruptionFrontier((net(1.0, 0.7), net(0.6, 0.3)))  # given out of order: sorted by accuracy
    assert frontier.at(0.8) == pytest.approx(0.5)
    assert frontier.at(0.6) == pytest.approx(0.3) and frontier.at(1.0) == pytest.approx(0.7)
    assert math.isnan(frontier.at(0.55))
    acc, mca = frontier.mean_curve()
    np.testing.assert_allclose(acc, [0.6, 1.0])
    np.testing.assert_allclose(mca, [0.3, 0.7])


def test_a_network_on_the_frontier_has_no_effect_and_one_above_it_its_shift() -> None:
    frontier = line()
    on = cf.above_frontier([(+1.0, net(0.7, 0.4), frontier)], n_boot=20)
    assert on.per_seed[0] == pytest.approx(0.0, abs=1e-12)
    vanilla = frontier.points[-1]  # the full-length Vanilla is the frontier's last point
    assert cf.above_frontier([(+1.0, vanilla, frontier)], n_boot=20).per_seed[0] == pytest.approx(0.0, abs=1e-12)
    shifted = cf.above_frontier([(+1.0, net(0.9, 0.6 + 0.05), frontier)], n_boot=20)
    assert shifted.per_seed[0] == pytest.approx(0.05)
    # a contrast is the difference of the two networks' values above the frontier; its raw effect the mCA difference
    contrast = cf.above_frontier([(+1.0, net(0.9, 0.65), frontier), (-1.0, net(0.7, 0.37), frontier)], n_boot=20)
    assert contrast.per_seed[0] == pytest.approx(0.05 - (-0.03))
    raw = cf.raw_effect([(+1.0, net(0.9, 0.65)), (-1.0, net(0.7, 0.37))], n_boot=20)
    assert raw.per_seed[0] == pytest.approx(0.28)


def test_outside_the_range_and_one_seed() -> None:
    frontier = line()
    outside = cf.above_frontier([(+1.0, net(0.5, 0.9), frontier)], n_boot=20)
    assert np.isnan(outside.per_seed[0]) and math.isnan(outside.mean)
    assert outside.verdict(+1) == "outside the frontier"
    more_accurate = cf.above_frontier([(+1.0, net(1.0, 0.9), frontier), (-1.0, net(0.7, 0.4), frontier)], n_boot=20)
    assert more_accurate.verdict(+1) == "not enough seeds"  # 1.0 is the frontier's last point: inside
    one = cf.above_frontier([(+1.0, net(0.8, 0.9), frontier)], n_boot=20)
    assert one.n_seeds == 1 and one.mean == pytest.approx(0.4) and one.verdict(+1) == "not enough seeds"
    assert cf.raw_effect([(+1.0, net(0.8, 0.9)), (-1.0, net(0.8, 0.1))], n_boot=20).verdict(+1) == "not enough seeds"


def test_each_seed_is_measured_against_the_frontier_of_the_same_seed() -> None:
    """Seed 0's Vanilla is less accurate than seed 1's; each sits on its own seed's frontier (effect 0). A point that
    lacks a seed enters as its mean over the seeds it has."""
    early = net([0.6, 0.6], [0.3, 0.3], (0, 1))
    vanilla = net([0.8, 1.0], [0.5, 0.8], (0, 1))
    frontier = cf.CorruptionFrontier((early, vanilla))
    assert np.allclose(cf.above_frontier([(+1.0, vanilla, frontier)], n_boot=20).per_seed, 0.0)
    # at clean 0.7: seed 0's frontier 0.4 (0.3 to 0.5), seed 1's 0.3 + 0.25 * 0.5 = 0.425
    treated = net([0.7, 0.7], [0.5, 0.5], (0, 1))
    np.testing.assert_allclose(cf.above_frontier([(+1.0, treated, frontier)], n_boot=20).per_seed, [0.1, 0.075])
    partial = cf.CorruptionFrontier((net([0.6], [0.2], (0,)), vanilla))  # seed 1 takes seed 0's 0.2 at 0.6
    assert partial.at(0.7, seed=1) == pytest.approx(0.2 + 0.25 * 0.6)
    assert partial.at(0.7) == pytest.approx(0.2 + (0.7 - 0.6) / (0.9 - 0.6) * (0.65 - 0.2))  # means of the seeds


def test_seeds_are_paired_by_value() -> None:
    frontier = line((0, 1, 2))
    treated = net([0.8, 0.8, 0.8], [0.6, 0.7, 0.8], (0, 1, 2))
    reference = net([0.8, 0.8], [0.5, 0.45], (2, 1))  # rows in another order, seed 0 missing
    effect = cf.above_frontier([(+1.0, treated, frontier), (-1.0, reference, frontier)], n_boot=20)
    np.testing.assert_allclose(effect.per_seed, [0.7 - 0.45, 0.8 - 0.5])  # seeds 1 and 2


def test_interval_against_a_loop_over_resamples() -> None:
    """Random per-image outcomes on three seeds: the interval is combined_interval of the per-seed effects and the
    bootstrap SE that stats.bootstrap_se finds by resampling image indices, recomputed here with np.interp."""
    rng = np.random.default_rng(1)
    seeds = (0, 1, 2)

    def random_net(p_clean: float, p_corrupted: float) -> cf.Scored:
        return cf.Scored(seeds, (rng.random((3, N)) < p_clean).astype(float), rng.random((3, N)) * p_corrupted)

    points = (random_net(0.5, 0.4), random_net(0.7, 0.6), random_net(0.95, 0.9))
    frontier, treated = cf.CorruptionFrontier(points), random_net(0.8, 0.95)

    def reference(images: np.ndarray) -> np.ndarray:
        out = []
        for s in range(3):
            acc = np.array([p.clean[s, images].mean() for p in points])
            mca = np.array([p.corrupted[s, images].mean() for p in points])
            order = np.argsort(acc)
            x = treated.clean[s, images].mean()
            inside = acc.min() <= x <= acc.max()
            out.append(treated.corrupted[s, images].mean() - np.interp(x, acc[order], mca[order]) if inside else np.nan)
        return np.array(out)

    per_seed = reference(np.arange(N))
    assert np.all(np.isfinite(per_seed))
    se = bootstrap_se(lambda i: float(np.nanmean(reference(i))) if np.isfinite(reference(i)).any() else math.nan,
                      N, n_boot=60, seed=3)
    mean, low, high = combined_interval(per_seed, se)
    effect = cf.above_frontier([(+1.0, treated, frontier)], n_boot=60, seed=3)
    np.testing.assert_allclose(effect.per_seed, per_seed, rtol=0, atol=1e-12)
    assert (effect.mean, effect.low, effect.high) == pytest.approx((mean, low, high), abs=1e-12)
    assert effect.verdict(+1) == ("reproduced" if low > 0 else "contradicted" if high < 0 else "not resolved")


def test_verdicts_with_three_seeds() -> None:
    frontier = line((0, 1, 2))
    up = cf.above_frontier([(+1.0, net([0.8] * 3, [0.6, 0.61, 0.62], (0, 1, 2)), frontier)], n_boot=20)
    assert cf.effect_words(up.verdict(+1)) == "helps"
    down = cf.above_frontier([(+1.0, net([0.8] * 3, [0.4, 0.41, 0.42], (0, 1, 2)), frontier)], n_boot=20)
    assert cf.effect_words(down.verdict(+1)) == "hurts"
    mixed = cf.above_frontier([(+1.0, net([0.8] * 3, [0.4, 0.6, 0.5], (0, 1, 2)), frontier)], n_boot=20)
    assert mixed.verdict(+1) == "not resolved"


def run(seed: int, correct: np.ndarray, clean: np.ndarray, severities: list[int]) -> CachedResult:
    config = TrainConfig(widths=[40], seed=seed)
    return CachedResult(arrays={"correct": correct, "accuracy": correct.mean(axis=2), "clean_correct": clean},
                        meta={"clean_accuracy": float(clean.mean()), "corruptions": ["a", "b", "c"],
                              "severities": severities},
                        provenance={"config": {"train": config.to_dict(), "corruptions": {}}, "seed": seed})


def test_scored_from_cached_runs_is_the_chapters_mca() -> None:
    rng = np.random.default_rng(0)
    runs = [run(s, rng.random((3, 2, 50)) < 0.7, rng.random(50) < 0.9, [1, 3]) for s in (4, 7)]
    scored = cf.scored(runs, severity=3)
    assert scored.seeds == (4, 7)
    np.testing.assert_allclose(scored.mca, [r.arrays["accuracy"][:, 1].mean() for r in runs])
    np.testing.assert_allclose(scored.clean_accuracy, [r.meta["clean_accuracy"] for r in runs])
    with pytest.raises(ValueError, match="severity 5 was not scored"):
        cf.scored(runs, severity=5)
    with pytest.raises(ValueError, match="at least one run"):
        cf.scored([], severity=3)


def test_bad_input_fails_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="distinct"):
        cf.Scored((0, 0), np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        cf.Scored((0,), np.ones((1, 3)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="finite values in"):
        cf.Scored((0,), np.array([[1.0, np.nan]]), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"\[seeds, images\]"):
        cf.Scored((0,), np.ones((1, 0)), np.ones((1, 0)))
    with pytest.raises(ValueError, match="at least two"):
        cf.CorruptionFrontier((net(0.8, 0.5),))
    with pytest.raises(ValueError, match="numbers of images"):
        cf.CorruptionFrontier((net(0.8, 0.5), cf.Scored((0,), np.ones((1, 3)), np.ones((1, 3)))))
    with pytest.raises(ValueError, match="finite"):
        line().at(math.nan)
    with pytest.raises(ValueError, match="sign"):
        cf.above_frontier([(0.0, net(0.8, 0.5), line())])
    with pytest.raises(ValueError, match="no seed in common"):
        cf.raw_effect([(+1.0, net(0.8, 0.5, (0,))), (-1.0, net(0.8, 0.5, (1,)))])
    with pytest.raises(ValueError, match="n_boot"):
        cf.raw_effect([(+1.0, net(0.8, 0.5))], n_boot=1)
    with pytest.raises(ValueError, match="ascending"):
        cf.interpolate(np.array([0.9, 0.6]), np.array([0.1, 0.2]), np.asarray(0.7))
    with pytest.raises(ValueError, match="no verdicts"):
        cf.survival_sentence({})


def test_survival_sentence() -> None:
    none = cf.survival_sentence({"A": ("not enough seeds", "not enough seeds"), "B": ("not enough seeds",
                                                                                    "outside the frontier")})
    assert none.startswith("No effect on mCA survives") and "0 of the 2 were resolved raw" in none
    assert '1 "not enough seeds", 1 "outside the frontier"' in none
    some = cf.survival_sentence({"A": ("helps", "helps"), "B": ("hurts", "not resolved"), "C": ("hurts", "hurts")})
    assert some.startswith("2 of the 3 effects on mCA survive") and "(A, C)" in some
    assert "3 of the 3 were resolved raw" in some
