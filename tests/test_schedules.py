"""gd.optim.schedules against the closed forms of torch's StepLR, CosineAnnealingLR, LinearLR."""

import math

import pytest

import graphdiff as gd

S = gd.optim.schedules


def test_step_is_steplr():
    s = S.step(0.5, step_size=3, gamma=0.2)
    for t in range(20):
        assert s(t) == pytest.approx(0.5 * 0.2 ** (t // 3), rel=1e-15)
    assert S.step(1.0, 1)(1) == pytest.approx(0.1)


def test_cosine_is_cosineannealinglr():
    s = S.cosine(0.3, T_max=7, eta_min=0.01)
    for t in range(15):
        ref = 0.01 + (0.3 - 0.01) * (1 + math.cos(math.pi * t / 7)) / 2
        assert s(t) == pytest.approx(ref, rel=1e-15)
    assert s(0) == pytest.approx(0.3) and s(7) == pytest.approx(0.01)


def test_warmup_is_linearlr_from_one_over_warmup_steps():
    s = S.warmup(0.2, 5)
    for t in range(12):
        ref = 0.2 * (1 / 5 + (1 - 1 / 5) * min(t, 5) / 5)   # torch LinearLR closed form
        assert s(t) == pytest.approx(ref, rel=1e-15)
    assert s(0) == pytest.approx(0.2 / 5)
    assert s(5) == s(100) == 0.2
    assert S.warmup(0.2, 0)(0) == 0.2
    assert all(S.warmup(1.0, 10)(t) < S.warmup(1.0, 10)(t + 1) for t in range(10))


def test_bad_arguments():
    with pytest.raises(ValueError, match="step_size"):
        S.step(0.1, 0)
    with pytest.raises(ValueError, match="T_max"):
        S.cosine(0.1, 2.5)
    with pytest.raises(ValueError, match="warmup_steps"):
        S.warmup(0.1, -1)
    with pytest.raises(ValueError, match="step number"):
        S.step(0.1, 2)(-1)
