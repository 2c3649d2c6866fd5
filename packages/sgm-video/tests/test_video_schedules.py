"""SV4D and SV4D 2.0 sampling plans: the reference scripts' schedules and their invariants."""

import pytest

from sgm.core.errors import SgmError
from sgm.video.schedules import autoregressive_plan, sv4d_plan


def test_sv4d_plan_is_the_reference_schedule():
    plan = sv4d_plan(21, 5)
    assert plan.anchors.frames == (4, 8, 12, 16, 20) and plan.anchors.reference_frame == 0
    assert [w.forward.frames for w in plan.dense] == [tuple(range(t, t + 5)) for t in (0, 4, 8, 12, 16)]
    assert [w.backward.reference_frame for w in plan.dense] == [4, 8, 12, 16, 20]
    # even steps run backward (reversed frames), odd steps forward
    window = plan.dense[1]
    assert window.pass_for_step(0).frames == (8, 7, 6, 5, 4) and window.pass_for_step(1).frames == (4, 5, 6, 7, 8)


def test_sv4d_plan_invariants():
    plan = sv4d_plan(21, 5)
    generated = {0}  # frame 0's novel views come from SV3D
    assert plan.anchors.reference_frame in generated
    generated |= set(plan.anchors.frames)
    covered = []
    for window in plan.dense:
        for sampling_pass in (window.forward, window.backward):
            assert sampling_pass.reference_frame in generated  # conditioned only on views already made
            assert sampling_pass.reference_frame in (sampling_pass.frames[0], sampling_pass.frames[-1])
        assert set(window.forward.frames) == set(window.backward.frames)
        covered.extend(window.forward.frames[1:] if covered else window.forward.frames)
    assert covered == list(range(21))  # neighbouring windows share exactly their end frame


@pytest.mark.parametrize("n_frames", [20, 4, 25])
def test_sv4d_plan_rejects_frame_counts_that_do_not_fit(n_frames):
    with pytest.raises(SgmError):
        sv4d_plan(n_frames, 5)


def test_sv4d2_plans_are_the_reference_schedules():
    four_view = autoregressive_plan(21, 12)
    assert [p.frames[0] for p in four_view] == [0, 9] and four_view[-1].frames[-1] == 20
    eight_view = autoregressive_plan(21, 5)
    assert [p.frames[0] for p in eight_view] == [0, 4, 8, 12, 16]


@pytest.mark.parametrize("n_frames, frames_per_pass", [(21, 12), (21, 5), (24, 12), (12, 12), (30, 5), (7, 3)])
def test_autoregressive_plan_invariants(n_frames, frames_per_pass):
    plan = autoregressive_plan(n_frames, frames_per_pass)
    assert not plan[0].generated_reference
    generated: set[int] = set()
    final_owner = {}
    for index, sampling_pass in enumerate(plan):
        assert len(sampling_pass.frames) == frames_per_pass
        assert sampling_pass.frames == tuple(range(sampling_pass.frames[0], sampling_pass.frames[-1] + 1))
        assert sampling_pass.reference_frame == sampling_pass.frames[0]
        if index:
            assert sampling_pass.generated_reference and sampling_pass.reference_frame in generated
        generated |= set(sampling_pass.frames)
        final_owner.update({t: index for t in sampling_pass.frames})
    assert sorted(final_owner) == list(range(n_frames))  # every output frame is made, the last write wins


def test_autoregressive_plan_needs_enough_frames():
    with pytest.raises(SgmError, match="at least"):
        autoregressive_plan(4, 5)
