"""Property tests of the derived job state machine: forward only, terminal is final, cancel XOR completion."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mockserver.core.jobs import ORDER, Job, Outcome, Phase, Plan, finished, history, phase_of

durations = st.floats(min_value=0, max_value=100, allow_nan=False)
plans = st.builds(Plan, durations, durations, st.just("seconds"))
outcomes = st.none() | st.builds(
    Outcome,
    st.sampled_from(["fail", "timeout"]),
    st.just("runtime_error"),
    st.just("boom"),
    st.floats(min_value=0, max_value=1),
)
times = st.lists(st.floats(min_value=0, max_value=300, allow_nan=False), min_size=1, max_size=30).map(sorted)


def _job(plan: Plan, outcome: Outcome | None) -> Job:
    return Job(id="j", tenant="t", kind="k", created_at=1000.0, plan=plan, outcome=outcome)


@given(plans, outcomes, times, st.none() | st.floats(min_value=0, max_value=300, allow_nan=False))
def test_status_only_moves_forward_and_terminal_is_final(plan, outcome, instants, cancel_at):
    job = _job(plan, outcome)
    if cancel_at is not None and not phase_of(job, 1000.0 + cancel_at).phase.terminal:
        job.canceled_at = 1000.0 + cancel_at
    seen = [phase_of(job, 1000.0 + t) for t in instants]
    for before, after in zip(seen, seen[1:], strict=False):
        assert ORDER[after.phase] >= ORDER[before.phase]
        if before.phase.terminal:
            assert after.phase is before.phase and after.progress == before.progress
        if before.phase is after.phase is Phase.RUNNING:
            assert after.progress >= before.progress
    for state in seen:
        assert 0.0 <= state.progress <= 1.0


@given(plans, outcomes, st.floats(min_value=0, max_value=300, allow_nan=False), times)
def test_cancel_and_completion_never_both_win(plan, outcome, cancel_at, instants):
    job = _job(plan, outcome)
    at_cancel = phase_of(job, 1000.0 + cancel_at)
    if at_cancel.phase.terminal:
        return  # a cancel now is refused (409); nothing is recorded
    job.canceled_at = 1000.0 + cancel_at
    final = {phase_of(job, 1000.0 + t).phase for t in instants if t >= cancel_at}
    assert final <= {Phase.CANCELED}
    assert Phase.SUCCEEDED not in {phase_of(job, 1000.0 + t).phase for t in [*instants, 10_000]}


@given(plans, outcomes, times)
def test_history_matches_the_clock(plan, outcome, instants):
    job = _job(plan, outcome)
    for t in instants:
        steps = history(job, 1000.0 + t)
        phases = [p for p, _ in steps]
        assert phases[0] is Phase.PENDING and phases[-1] is phase_of(job, 1000.0 + t).phase
        assert len(set(phases)) == len(phases)
        instants_seen = [when for _, when in steps]
        assert instants_seen == sorted(instants_seen)
        assert all(1000.0 <= when <= 1000.0 + t + 1e-9 for when in instants_seen)


@given(
    st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=12)
)
def test_polls_plan_moves_one_step_per_poll(pending, running, polls):
    job = Job(id="j", tenant="t", kind="k", created_at=0.0, plan=Plan(pending, running, unit="polls"), polls=polls)
    state = phase_of(job, 123456.0)  # the clock does not matter for a polls plan
    if polls >= pending + running:
        assert state.phase is Phase.SUCCEEDED
    elif polls >= pending:
        assert state.phase is Phase.RUNNING
    else:
        assert state.phase is Phase.PENDING


@given(
    plans | st.builds(Plan, st.integers(0, 3), st.integers(0, 3), st.just("polls")),
    outcomes,
    st.none() | st.floats(min_value=0, max_value=300, allow_nan=False),
    st.integers(min_value=0, max_value=12),
    times,
)
def test_finished_is_the_phase_being_terminal(plan, outcome, cancel_at, polls, instants):
    """Eviction's quick question gives the answer of the full computation, cancelled, faulted or neither, on
    either kind of plan, at every instant (the boundaries included: the instants are drawn around them too)."""
    job = _job(plan, outcome)
    job.polls = polls
    if cancel_at is not None:
        job.canceled_at = float(polls) if plan.unit == "polls" else 1000.0 + cancel_at
    edges = [plan.pending, plan.pending + plan.running]
    for t in [*instants, *edges, *(e - 1e-9 for e in edges)]:
        assert finished(job, 1000.0 + t) is phase_of(job, 1000.0 + t).phase.terminal
