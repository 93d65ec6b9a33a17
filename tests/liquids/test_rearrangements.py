"""p_hop against a direct loop and an analytic hop; labels; balanced sets."""

import numpy as np
import pytest

from liquids.rearrangements import (
    HopIndicator,
    evenly_spaced_frames,
    label_rearrangements,
    p_hop,
    training_set,
)
from liquids.simulation import frame_steps


def direct_p_hop(x, window):
    half = window // 2
    out = []
    for t in range(half, x.shape[0] - half):
        a = x[t - half : t + 1]
        b = x[t : t + half + 1]
        spread_a = np.mean(np.sum((a - b.mean(axis=0)) ** 2, axis=-1), axis=0)
        spread_b = np.mean(np.sum((b - a.mean(axis=0)) ** 2, axis=-1), axis=0)
        out.append(np.sqrt(spread_a * spread_b))
    return np.array(out)


def test_matches_direct_loop_on_random_walks():
    rng = np.random.default_rng(0)
    x = 50.0 + np.cumsum(rng.normal(scale=0.1, size=(40, 7, 3)), axis=0)
    hop = p_hop(x, window=10)
    np.testing.assert_allclose(hop.values, direct_p_hop(x, 10), rtol=1e-9)
    np.testing.assert_array_equal(hop.frames, np.arange(5, 35))


@pytest.mark.parametrize("window", [2, 10])
def test_single_hop_gives_analytic_peak_summed_over_dimensions(window):
    frames, jump_at, size = 30, 15, 0.9
    x = np.zeros((frames, 2, 3))
    x[jump_at:, 0] = size / np.sqrt(3)  # a diagonal hop of length 0.9
    hop = p_hop(x, window)
    half = window // 2
    peak = size**2 * (half / (half + 1)) ** 1.5
    assert hop.values[:, 0].max() == pytest.approx(peak, rel=1e-12)
    row = np.nonzero(hop.frames == jump_at)[0][0]
    assert hop.values[row, 0] == pytest.approx(peak, rel=1e-12)
    assert np.all(hop.values[:, 1] == 0)
    far = np.abs(hop.frames - jump_at) > half
    assert np.all(hop.values[far, 0] < 1e-12)


def test_window_errors():
    x = np.zeros((10, 3, 3))
    with pytest.raises(ValueError, match="too short"):
        p_hop(x, window=10)
    with pytest.raises(ValueError, match="even"):
        p_hop(x, window=3)


def make_hop(values):
    values = np.asarray(values, float)
    return HopIndicator(values=values, frames=np.arange(values.shape[0]) + 1, window=2)


def test_labels_rearranging_quiet_and_edges():
    values = np.full((9, 3), 0.01)
    values[4, 0] = 0.5  # particle 0 hops at time 4
    values[1, 1] = 0.1  # particle 1 is not quiet near time 1
    labels = label_rearrangements(make_hop(values), p_c=0.2, p_low=0.05, quiet_window=3)
    assert labels[4, 0] == 1
    assert np.all(labels[[3, 5], 0] == -1)  # within one frame of the hop
    assert np.all(labels[[0, 8], :] == -1)  # window does not fit at the ends
    assert np.all(labels[1:3, 1] == -1) and np.all(labels[3:8, 1] == 0)
    assert np.all(labels[1:8, 2] == 0)


def test_training_set_is_balanced_per_species_and_seeded():
    rng = np.random.default_rng(1)
    values = rng.exponential(0.05, size=(60, 40))
    hop = make_hop(values)
    labels = label_rearrangements(hop, p_c=0.1, p_low=0.1, quiet_window=1)
    species = (np.arange(40) >= 30).astype(int)
    ts = training_set(hop, labels, species, max_per_class=50, min_per_class=5, seed=4)
    for s in (0, 1):
        mine = ts.species == s
        assert np.sum(ts.labels[mine] == 1) == np.sum(ts.labels[mine] == 0) > 0
    np.testing.assert_array_equal(ts.species, species[ts.particles])
    rows = np.searchsorted(hop.frames, ts.frames)
    np.testing.assert_array_equal(labels[rows, ts.particles], ts.labels)
    again = training_set(
        hop, labels, species, max_per_class=50, min_per_class=5, seed=4
    )
    np.testing.assert_array_equal(again.particles, ts.particles)


def test_too_few_rearrangements_is_a_clear_error():
    values = np.full((20, 10), 0.01)
    values[5, 3] = 1.0
    hop = make_hop(values)
    labels = label_rearrangements(hop, p_c=0.2, p_low=0.05, quiet_window=5)
    with pytest.raises(ValueError, match="too few samples to train for species 0"):
        training_set(hop, labels, np.zeros(10, int), min_per_class=5)


def test_evenly_spaced_subsequence_of_log_blocks():
    offsets = np.array([0, 1, 2, 4, 8, 16])  # log-spaced inside blocks of 32
    steps = (np.arange(0, 320, 32)[:, None] + offsets).ravel()
    times = 0.005 * np.append(steps, 320)
    picked = evenly_spaced_frames(times)
    np.testing.assert_allclose(np.diff(times[picked]), 0.005 * 16)
    assert times[picked][0] == 0 and times[picked][-1] == pytest.approx(1.6)
    np.testing.assert_array_equal(evenly_spaced_frames(np.arange(6.0)), np.arange(6))


def test_softness_grade_linear_frames_are_picked_over_block_starts():
    # Log blocks of 256 steps plus 40 linear frames every 20 steps, as the
    # sweep records them: p_hop must get the 20-step frames, not the blocks.
    steps = frame_steps(2000, 256, 12, linear_frame_steps=20, linear_frames=40)
    np.testing.assert_array_equal(
        np.intersect1d(steps, 20 * np.arange(40)), 20 * np.arange(40)
    )
    picked = evenly_spaced_frames(0.005 * steps)
    np.testing.assert_array_equal(steps[picked], 20 * np.arange(40))
    # Without linear frames the block starts are the longest even run.
    plain = frame_steps(2000, 256, 12)
    np.testing.assert_array_equal(
        plain[evenly_spaced_frames(0.005 * plain)], np.arange(0, 2000, 256)
    )
