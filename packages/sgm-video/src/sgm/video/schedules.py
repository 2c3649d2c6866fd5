"""Which frames each SV4D / SV4D 2.0 sampling pass generates, and which generated views condition it.

An output is a grid of frames x views; view 0 is the input video. Each pass samples `T` frames x `V` novel
views at once, conditioned on the input frames it covers (`cond_motion`) and on the novel views of one
`reference_frame` (`cond_view`) that an earlier stage has already produced. Plans are pure data so they can be
checked without a network.
"""

from dataclasses import dataclass

from sgm.core.errors import SgmError


@dataclass(frozen=True)
class SamplingPass:
    """One pass: `frames` in the order the network sees them; the novel views of `reference_frame` condition it.

    `generated_reference`: the reference views come from an earlier pass (else from outside: SV3D for SV4D,
    nothing for SV4D 2.0's first window, whose view conditioning is zeroed).
    """

    frames: tuple[int, ...]
    reference_frame: int
    generated_reference: bool


@dataclass(frozen=True)
class DenseWindow:
    """SV4D's dense pass over `forward.frames`: sampling steps alternate between the backward pass (even steps,
    frames reversed, conditioned on the later anchor) and the forward pass (odd steps, on the earlier one)."""

    forward: SamplingPass
    backward: SamplingPass

    def pass_for_step(self, step: int) -> SamplingPass:
        return self.forward if step % 2 == 1 else self.backward


@dataclass(frozen=True)
class SV4DPlan:
    anchors: SamplingPass
    dense: tuple[DenseWindow, ...]


def sv4d_plan(n_frames: int = 21, frames_per_pass: int = 5) -> SV4DPlan:
    """SV4D's anchor-then-dense schedule (Xie et al. 2024, "SV4D", section 3.3).

    Anchors are every `(T - 1)`-th frame after the first, sampled in one pass conditioned on frame 0's SV3D
    views. Then each window `[t0, t0 + T - 1]` between consecutive anchors is sampled densely, conditioned on the
    views of its end frames; windows share their end frames, which each window regenerates.
    """
    step = frames_per_pass - 1
    if frames_per_pass < 2 or n_frames < frames_per_pass or (n_frames - 1) % step:
        raise SgmError(
            f"SV4D samples {frames_per_pass} frames per pass; n_frames must be 1 + a multiple of {step} "
            f"(at least {frames_per_pass}), got {n_frames}"
        )
    anchor_frames = tuple(range(step, n_frames, step))
    if len(anchor_frames) != frames_per_pass:
        raise SgmError(
            f"SV4D's anchor pass samples {frames_per_pass} frames, so n_frames must be {step * frames_per_pass + 1}, "
            f"got {n_frames}"
        )
    anchors = SamplingPass(anchor_frames, reference_frame=0, generated_reference=False)
    windows = []
    for t0 in range(0, n_frames - 1, step):
        frames = tuple(range(t0, t0 + frames_per_pass))
        forward = SamplingPass(frames, reference_frame=t0, generated_reference=t0 != 0)
        backward = SamplingPass(frames[::-1], reference_frame=frames[-1], generated_reference=True)
        windows.append(DenseWindow(forward, backward))
    return SV4DPlan(anchors, tuple(windows))


def autoregressive_plan(n_frames: int, frames_per_pass: int) -> tuple[SamplingPass, ...]:
    """SV4D 2.0's windows of `T` frames, each conditioned on the views of its first frame, which the window
    before produced (the first window has no view conditioning). Windows start every `T - 1` frames (sharing
    one frame, which the later window regenerates); the last is moved back to end at the final frame.

    For the reference's 21 frames this is its schedule: frames 0-11 then 9-20 for SV4D 2.0 (T = 12), and
    0-4, 4-8, ..., 16-20 for the 8-view model (T = 5).
    """
    if frames_per_pass < 2:
        raise SgmError(f"frames_per_pass must be at least 2, got {frames_per_pass}")
    if n_frames < frames_per_pass:
        raise SgmError(f"this model samples {frames_per_pass} frames per pass; give at least that many")
    starts = list(range(0, n_frames - frames_per_pass + 1, frames_per_pass - 1))
    if starts[-1] + frames_per_pass < n_frames:
        starts.append(n_frames - frames_per_pass)
    return tuple(
        SamplingPass(tuple(range(t0, t0 + frames_per_pass)), reference_frame=t0, generated_reference=t0 != 0)
        for t0 in starts
    )
