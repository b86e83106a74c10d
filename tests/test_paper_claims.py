"""The committed paper-profile results, read through the code the chapters call, against an independent computation.

The chapters glue their verdicts from :func:`onen.analysis.report.claims_table` (section 4.1, "What reproduced") and
:func:`onen.analysis.control.paper_control` (the control chapter). nbval compares two executions over the same cache,
so a deterministic wrong number would pass it. Here every effect is computed again from the stored per-image
outcomes with a plain loop (accuracy per radius, the first crossing of half the clean accuracy, linear in between,
the difference paired by seed, Vanilla's frontier interpolated by hand), and every verdict is derived again from its
interval by the rule the chapters state. A damaged committed result fails loudly: the cache reports it by name.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from onen.analysis import control, profiles, report
from onen.calibration import Estimator
from onen.runs.experiments import stored_seeds

FOLDER = profiles.committed_results("paper")
SEEDS = profiles.seeds("paper")
pytestmark = pytest.mark.skipif(not (FOLDER / "runs").is_dir(), reason="no committed paper results in this checkout")


def naive_eps50(eps: np.ndarray, correct: np.ndarray) -> float:
    """The first radius where accuracy falls to half the clean one, linear between grid points (a plain loop)."""
    accuracy = [sum(bool(v) for v in row) / len(row) for row in correct]
    half = accuracy[0] / 2
    for i, a in enumerate(accuracy):
        if a <= half:
            if i == 0:
                return float(eps[0])
            a0, a1, e0, e1 = accuracy[i - 1], a, float(eps[i - 1]), float(eps[i])
            return e0 + (a0 - half) * (e1 - e0) / (a0 - a1)
    return math.nan


def eps50_by_seed(runs) -> dict[int, float]:
    return {report.seed_of(r): naive_eps50(r.arrays["eps_pgd"], r.arrays["correct_pgd"]) for r in runs}


def rule(n_seeds: int, mean: float, low: float, high: float, sign: int) -> str:
    """The verdict rule as the chapters state it, written out again."""
    if n_seeds < 2:
        return "not enough seeds"
    if low > 0 and sign > 0 or high < 0 and sign < 0:
        return "reproduced"
    if low > 0 or high < 0:
        return "contradicted"
    return "not resolved"


def check_interval(per_seed: list[float], mean: float, low: float, high: float) -> None:
    """The mean is the seeds' mean; with two seeds or more the interval is at least the t-interval over seeds (the
    test images' bootstrap only widens it) and centred on the mean."""
    assert mean == pytest.approx(float(np.mean(per_seed)), abs=1e-12)
    if len(per_seed) >= 2:
        half_t = stats.t.ppf(0.975, len(per_seed) - 1) * np.std(per_seed, ddof=1) / math.sqrt(len(per_seed))
        assert high - mean == pytest.approx(mean - low, abs=1e-12)
        assert high - mean >= half_t - 1e-12


@pytest.fixture(scope="module")
def shallow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a damaged or edited committed result warns by name: fail on it
        results, _ = stored_seeds(profiles.shallow_variants("paper"), profiles.evaluation("paper"), SEEDS,
                                  str(FOLDER))
    return results


def test_section_4_1_claims_equal_an_independent_computation(shallow) -> None:
    claims = profiles.shallow_claims("paper")
    table = report.claims_table(shallow, claims, "section 4.1")
    checked = 0
    for treated, reference, sign in claims:
        if treated not in shallow or reference not in shallow:
            assert table.verdicts[treated] == "not computed"
            continue
        a, b = eps50_by_seed(shallow[treated]), eps50_by_seed(shallow[reference])
        per_seed = [a[s] - b[s] for s in sorted(set(a) & set(b))]
        effect = table.effects[treated]
        assert effect.n_seeds == len(per_seed)
        check_interval(per_seed, effect.mean, effect.low, effect.high)
        expected = rule(len(per_seed), effect.mean, effect.low, effect.high, sign)
        verdict = table.verdicts[treated]
        assert verdict == expected or (verdict == "not tested: spectrum not reached" and expected != "")
        checked += 1
    assert checked == len(claims), "every section-4.1 claim has its networks committed"


def test_the_control_chapters_claims_equal_an_independent_computation(shallow) -> None:
    gate = Estimator("1/n", 12, 2000)
    pc = control.paper_control(gate)
    assert pc.frontier is not None
    vanilla = {report.seed_of(r): r for r in shallow["Vanilla"]}

    def frontier_at(seed: int, accuracy: float) -> float:
        points = []
        for epochs, runs in pc.frontier_runs.items():
            own = [r for r in runs if report.seed_of(r) == seed] or runs
            points.append((np.mean([r.arrays["correct_pgd"][0].mean() for r in own]),
                           np.mean([naive_eps50(r.arrays["eps_pgd"], r.arrays["correct_pgd"]) for r in own])))
        v = vanilla[seed] if seed in vanilla else shallow["Vanilla"][0]
        points.append((v.arrays["correct_pgd"][0].mean(), naive_eps50(v.arrays["eps_pgd"], v.arrays["correct_pgd"])))
        points.sort()
        if not points[0][0] <= accuracy <= points[-1][0]:
            return math.nan
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            if x0 <= accuracy <= x1:
                return y0 + (accuracy - x0) * (y1 - y0) / (x1 - x0)
        raise AssertionError("unreachable")

    everyone = {**pc.shallow, **pc.shaped}
    judged = 0
    for treated, reference, sign, words in pc.claims:
        if treated not in everyone or reference not in everyone or words not in pc.effects:
            assert pc.verdicts.get(words, ("missing", "missing"))[0] in ("missing", "not tested")
            continue
        raw, above = pc.effects[words]
        a = {report.seed_of(r): r for r in everyone[treated]}
        b = {report.seed_of(r): r for r in everyone[reference]}
        seeds = sorted(set(a) & set(b))
        raw_seed, above_seed = [], []
        for s in seeds:
            ea, eb = (naive_eps50(r.arrays["eps_pgd"], r.arrays["correct_pgd"]) for r in (a[s], b[s]))
            raw_seed.append(ea - eb)
            fa = frontier_at(s, a[s].arrays["correct_pgd"][0].mean())
            fb = frontier_at(s, b[s].arrays["correct_pgd"][0].mean())
            above_seed.append((ea - fa) - (eb - fb))
        np.testing.assert_allclose(raw.per_seed, raw_seed, atol=1e-12)
        np.testing.assert_allclose(above.per_seed, above_seed, atol=1e-12, equal_nan=True)
        check_interval([v for v in raw_seed if np.isfinite(v)], raw.mean, raw.low, raw.high)
        finite = [v for v in above_seed if np.isfinite(v)]
        if finite:
            check_interval(finite, above.mean, above.low, above.high)
        verdict_raw, verdict_above = pc.verdicts[words]
        gated = treated in pc.passes and not pc.passes[treated]
        n_raw = int(np.isfinite(raw_seed).sum())
        assert verdict_raw == ("not tested" if gated else rule(n_raw, raw.mean, raw.low, raw.high, sign))
        expected_above = ("not tested" if gated else "outside the frontier" if not finite
                          else rule(len(finite), above.mean, above.low, above.high, sign))
        assert verdict_above == expected_above
        judged += 1
    assert judged >= len(profiles.shallow_claims("paper")), "every section-4.1 claim is judged in the control chapter"
