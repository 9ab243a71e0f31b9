"""Random sequences of clock moves, polls and cancels keep every job's history consistent with the clock."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.testing import in_process

ORDER = {"pending": 0, "running": 1, "succeeded": 2, "failed": 2, "canceled": 2, "timeout": 2}

operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(["fast", "realistic", "polls", "instant"]), st.booleans()),
        st.tuples(st.just("advance"), st.floats(min_value=0, max_value=20, allow_nan=False)),
        st.tuples(st.just("poll"), st.integers(min_value=0, max_value=7)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=7)),
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(scope="module")
def mock():
    with in_process() as handle:
        yield handle


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_sequences_keep_histories_consistent(mock, ops):
    mock.reset()
    mock.clock.freeze()
    headers = mock.headers()
    if any(op[0] == "create" and op[2] for op in ops):
        mock.faults.add(path="/v3/images/generate-async", prompt="doomed", outcome="fail", at_progress=0.5)
    jobs: list[dict] = []
    seen: dict[str, list[dict]] = {}
    cancelled: dict[str, str] = {}
    for op in ops:
        if op[0] == "create":
            prompt = "doomed" if op[2] else "fine"
            r = mock.http.post(
                "/v3/images/generate-async", json={"prompt": prompt}, headers={**headers, "x-mock-profile": op[1]}
            )
            assert r.status_code == 202
            jobs.append(r.json())
            seen[r.json()["jobId"]] = []
        elif op[0] == "advance":
            mock.clock.advance(op[1])
        elif not jobs:
            continue
        elif op[0] == "poll":
            job = jobs[op[1] % len(jobs)]
            r = mock.http.get(job["statusUrl"], headers=headers)
            assert r.status_code == 200
            seen[job["jobId"]].append(r.json())
        else:
            job = jobs[op[1] % len(jobs)]
            before = mock.http.get(job["statusUrl"], headers=headers).json()
            r = mock.http.put(job["cancelUrl"], headers=headers)
            after = mock.http.get(job["statusUrl"], headers=headers).json()
            if r.status_code == 200:
                cancelled[job["jobId"]] = "ok"
                assert ORDER[before["status"]] < 2 and after["status"] == "canceled"
            else:
                expected = {
                    "canceled": "job_already_canceled",
                    "succeeded": "job_completed",
                    "failed": "job_cancel_failed",
                    "timeout": "job_timeout",
                }[after["status"]]
                assert r.json()["error_code"] == expected
            seen[job["jobId"]] += [before, after]
    for job_id, states in seen.items():
        for a, b in zip(states, states[1:], strict=False):
            assert ORDER[b["status"]] >= ORDER[a["status"]], states
            if ORDER[a["status"]] == 2:
                assert b["status"] == a["status"]
            if a["status"] == b["status"] == "running":
                assert b["progress"] >= a["progress"]
        statuses = {s["status"] for s in states}
        assert not ({"canceled", "succeeded"} <= statuses)
        if cancelled.get(job_id):
            assert states[-1]["status"] == "canceled"
