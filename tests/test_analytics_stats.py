"""Student's t without SciPy, checked against printed tables and closed forms."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tempo.analytics.stats import linear_fit, mean_interval, t_cdf, t_quantile
from tests.fixtures.analytics import t_975

# Two-sided 95 % critical values, t(0.975, df), as printed in any statistics table.
T_TABLE = {
    1: 12.7062047, 2: 4.3026527, 3: 3.1824463, 4: 2.7764451, 5: 2.5705818, 10: 2.2281389,
    20: 2.0859634, 30: 2.0422725, 60: 2.0002978, 120: 1.9799304,
}  # fmt: skip


@pytest.mark.parametrize(("df", "expected"), sorted(T_TABLE.items()))
def test_t_quantiles_match_the_printed_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-7)


@pytest.mark.parametrize("df", [1000, 4450, 5746, 30_000, 1_000_000])
def test_large_samples_match_the_cornish_fisher_expansion(df: int) -> None:
    assert t_quantile(0.975, df) == pytest.approx(t_975(df), abs=1e-9)


@given(st.floats(min_value=0.001, max_value=0.999))
def test_one_and_two_degrees_of_freedom_have_closed_forms(p: float) -> None:
    # Cauchy: tan(π(p − ½)); df = 2: (2p − 1)·√(2 / (4p(1 − p))).
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9, abs=1e-9)
    two = (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p)))
    assert t_quantile(p, 2) == pytest.approx(two, rel=1e-9, abs=1e-9)


@given(st.floats(min_value=0.01, max_value=0.99), st.integers(min_value=1, max_value=10_000))
@example(p=0.50005, df=956)  # once off by 1.5e-10: the CDF's own accuracy is the limit
def test_the_quantile_inverts_the_cdf_and_is_symmetric(p: float, df: int) -> None:
    t = t_quantile(p, df)
    assert t_cdf(t, df) == pytest.approx(p, abs=1e-9)
    assert t_quantile(1 - p, df) == pytest.approx(-t, rel=1e-9, abs=1e-9)


def test_bad_arguments_are_refused() -> None:
    for p in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="strictly between"):
            t_quantile(p, 5)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.9, 0)


def test_a_mean_interval_by_hand() -> None:
    # 20 and 80: mean 50, s = 30·√2, s/√n = 30, so 50 ± 30·t(0.975, 1).
    interval = mean_interval(2, 50.0, 30 * math.sqrt(2))
    assert interval.low == pytest.approx(50 - 30 * T_TABLE[1], abs=1e-5)
    assert interval.high == pytest.approx(50 + 30 * T_TABLE[1], abs=1e-5)
    assert mean_interval(1, 7.0, None).low is None
    zero = mean_interval(3, 80.0, 0.0)
    assert (zero.low, zero.high) == (80.0, 80.0)


def test_a_least_squares_line_matches_the_standard_library() -> None:
    xs = [0.1, 0.25, 0.4, 0.55, 0.9]
    ys = [72_000.0, 61_000.0, 58_500.0, 45_000.0, 38_000.0]
    fit = linear_fit(xs, ys)
    expected = statistics.linear_regression(xs, ys)
    assert fit.slope == pytest.approx(expected.slope)
    assert fit.intercept == pytest.approx(expected.intercept)
    assert fit.r == pytest.approx(statistics.correlation(xs, ys))
    assert fit.at(0.5) == pytest.approx(expected.intercept + expected.slope * 0.5)
    with pytest.raises(ValueError, match="two different x"):
        linear_fit([1.0, 1.0], [2.0, 3.0])
