"""Rider parameters, presets and the batched rider controller."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from apexrl.riders import (
    PRESET_RANGES,
    RiderBatch,
    RiderParams,
    nominal_rider,
    sample_rider,
)
from apexrl.riders import haptics as hp
from apexrl.riders.profile import level_position
from apexrl.riders.rider import LINE_EDGE_MARGIN_M, target_speed
from apexrl.sim import BatchSim

NO_CUE = (0.0, 0.0, hp.NEUTRAL_HZ)


# ---------------------------------------------------------------------- parameters and presets
@pytest.mark.parametrize("preset", sorted(PRESET_RANGES))
def test_sampled_riders_lie_in_the_documented_ranges(preset):
    ranges = PRESET_RANGES[preset]
    assert set(ranges) == {f.name for f in dataclasses.fields(RiderParams)}
    rng = np.random.default_rng(0)
    for _ in range(200):
        rider = dataclasses.asdict(sample_rider(preset, rng))
        for name, (lo, hi) in ranges.items():
            assert lo <= rider[name] <= hi, name


def test_same_generator_state_gives_the_same_rider_and_presets_differ():
    a = sample_rider("amateur", np.random.default_rng(5))
    assert a == sample_rider("amateur", np.random.default_rng(5))
    assert a != sample_rider("amateur", np.random.default_rng(6))
    pro, amateur = nominal_rider("pro"), nominal_rider("amateur")
    assert pro.reaction_delay_s < amateur.reaction_delay_s
    assert pro.speed_fraction > amateur.speed_fraction
    assert pro.line_bias < amateur.line_bias
    assert pro.lean_noise_rad < amateur.lean_noise_rad


def test_unknown_preset_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown rider preset 'expert'; presets: pro, amateur"):
        sample_rider("expert", np.random.default_rng(0))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("speed_fraction", 1.2, "speed_fraction must be in"),
        ("speed_fraction", 0.3, "speed_fraction must be in"),
        ("grip_fraction", 0.0, "grip_fraction must be in"),
        ("line_bias", -0.1, "line_bias must be in"),
        ("haptic_latency_s", 0.9, "haptic_latency_s must be in"),
        ("lean_noise_rad", -0.01, "lean_noise_rad must be >= 0"),
        ("preview_s", math.nan, "preview_s must be finite"),
        ("misread_prob", True, "misread_prob must be a number"),
    ],
)
def test_bad_rider_parameters_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(nominal_rider("pro"), **{field: value})


# ---------------------------------------------------------------------- controller
def _ride(profile, riders, cue_fn, steps, seed=0):
    """Start one rider per RiderParams (same generator seed each) and ride ``steps`` steps."""
    sim = BatchSim(profile.track, "motorcycle", batch_size=len(riders))
    batch = RiderBatch(sim, profile)
    rngs = [np.random.default_rng(seed) for _ in riders]
    batch.start(np.arange(len(riders)), list(riders), rngs)
    log = []
    for t in range(steps):
        actions = batch.act(cue_fn(t, sim.telemetry)).copy()
        tel = sim.step(actions).copy()
        log.append((actions, tel))
    return sim, batch, log


def _cues(*per_rider):
    cues = np.array(per_rider, dtype=np.float64)
    return lambda t, tel: cues


def test_rolling_start_is_on_the_intended_line_at_the_target_speed(oval_profile):
    sim = BatchSim(oval_profile.track, "motorcycle", batch_size=2)
    batch = RiderBatch(sim, oval_profile)
    pro = dataclasses.replace(nominal_rider("pro"), line_bias=0.0, apex_error_m=0.0)
    batch.start(np.arange(2), [pro, nominal_rider("amateur")], [np.random.default_rng(0)] * 2)
    state = sim.state
    track = oval_profile.track
    on_line = np.clip(  # the racing line, kept LINE_EDGE_MARGIN_M inside the edges
        oval_profile.line_offset_m[0],
        LINE_EDGE_MARGIN_M - track.w_right_m[0],
        track.w_left_m[0] - LINE_EDGE_MARGIN_M,
    )
    assert state[0, 1] == pytest.approx(on_line, abs=1e-9)
    level = float(level_position(pro.speed_fraction))
    table, ds = oval_profile.speed_table_mps, oval_profile.track.ds_m
    v_target = target_speed(0.0, level, 0.0, pro.braking_point_error_m, table, ds)
    assert state[0, 3] == pytest.approx(v_target, rel=1e-12)
    assert 0 < state[1, 3] < state[0, 3]  # the amateur rolls off slower
    # Steady lean of the start curvature: a_y = g tan(roll).
    np.testing.assert_allclose(state[:, 7], 9.81 * np.tan(state[:, 4]))


def test_pro_laps_the_oval_near_the_optimum(oval_profile):
    pro = nominal_rider("pro")
    steps = int(1.3 * oval_profile.optimal_lap_time_s / 0.05)
    sim, _, log = _ride(oval_profile, [pro], _cues(NO_CUE), steps)
    laps = [tel.last_lap_time_s[0] for _, tel in log if tel.lap_completed[0]]
    assert not sim.telemetry.crashed[0]
    assert oval_profile.optimal_lap_time_s < laps[0] < 1.15 * oval_profile.optimal_lap_time_s


def test_zero_compliance_ignores_every_cue(oval_profile):
    deaf = dataclasses.replace(nominal_rider("amateur"), haptic_compliance=0.0, misread_prob=0.0)
    _, _, quiet = _ride(oval_profile, [deaf], _cues(NO_CUE), 200)
    _, _, loud = _ride(oval_profile, [deaf], _cues((1.0, 0.0, 300.0)), 200)
    for (a0, t0), (a1, t1) in zip(quiet, loud, strict=True):
        np.testing.assert_array_equal(a0, a1)
        np.testing.assert_array_equal(t0.n_m, t1.n_m)


def test_cues_move_the_rider_the_documented_way(oval_profile):
    rider = dataclasses.replace(nominal_rider("amateur"), misread_prob=0.0)
    cues = _cues(NO_CUE, (1.0, 0.0, 150.0), (0.0, 1.0, 150.0), (1.0, 1.0, 300.0), (1.0, 1.0, 50.0))
    _, _, log = _ride(oval_profile, [rider] * 5, cues, 80)  # 4 s
    tel = log[-1][1]
    none, left, right, brake, throttle = range(5)
    assert tel.n_m[left] > tel.n_m[none] + 0.5
    assert tel.n_m[right] < tel.n_m[none] - 0.5
    assert tel.speed_mps[brake] < tel.speed_mps[none] - 1.0
    assert tel.speed_mps[throttle] > tel.speed_mps[none] + 1.0


def test_the_response_waits_for_the_haptic_latency(oval_profile):
    rider = dataclasses.replace(nominal_rider("amateur"), misread_prob=0.0, haptic_latency_s=0.3)
    _, batch, log = _ride(oval_profile, [rider] * 2, _cues(NO_CUE, (1.0, 0.0, 150.0)), 12)
    delay_steps = round(0.3 / 0.05)
    assert batch.haptic_latency_s[0] == pytest.approx(delay_steps * 0.05)
    first_diff = next(t for t, (a, _) in enumerate(log) if not np.array_equal(a[0], a[1]))
    assert first_diff == delay_steps


def test_a_misread_cue_is_followed_mirrored_until_noticed(oval_profile):
    rider = dataclasses.replace(nominal_rider("amateur"), haptic_latency_s=0.2)
    riders = [dataclasses.replace(rider, misread_prob=p) for p in (0.0, 0.0, 1.0)]
    cues = _cues(NO_CUE, (1.0, 0.0, 150.0), (1.0, 0.0, 150.0))
    _, _, log = _ride(oval_profile, riders, cues, 100)
    early = log[round((0.2 + 0.8) / 0.05)][1]  # inside the misread second
    late = log[-1][1]
    assert early.n_m[2] < early.n_m[0] < early.n_m[1]  # misread: it first goes right
    assert late.n_m[2] > late.n_m[0]  # noticed: left as cued


def test_same_seed_same_ride_and_noise_depends_on_the_seed(oval_profile):
    rider = nominal_rider("amateur")
    _, _, a = _ride(oval_profile, [rider], _cues((0.3, 0.0, 100.0)), 100, seed=3)
    _, _, b = _ride(oval_profile, [rider], _cues((0.3, 0.0, 100.0)), 100, seed=3)
    _, _, c = _ride(oval_profile, [rider], _cues((0.3, 0.0, 100.0)), 100, seed=4)
    np.testing.assert_array_equal(np.array([x for x, _ in a]), np.array([x for x, _ in b]))
    assert not np.array_equal(np.array([x for x, _ in a]), np.array([x for x, _ in c]))


def test_riders_must_be_started_before_they_act(oval_profile):
    batch = RiderBatch(BatchSim(oval_profile.track, "motorcycle", batch_size=2), oval_profile)
    with pytest.raises(RuntimeError, match="start every rider"):
        batch.act(np.zeros((2, 3)))
