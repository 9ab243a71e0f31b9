"""The pytest example in README.md, which tests/test_docs_examples.py checks is quoted from this file."""

import httpx


def test_a_job_finishes_when_the_test_moves_the_clock(firefly_mock):
    firefly_mock.clock.freeze()  # the fake's time now moves only when the test says so
    headers = firefly_mock.headers()  # x-api-key and a fresh bearer token
    job = httpx.post(f"{firefly_mock.base_url}/v3/images/generate-async", headers=headers, json={"prompt": "a kite"})
    assert job.status_code == 202

    def status():
        return httpx.get(job.json()["statusUrl"], headers=headers).json()["status"]

    assert status() == "pending"
    firefly_mock.clock.advance(1)  # the default "fast" profile: 0.2 s pending, then 0.6 s running
    assert status() == "succeeded"
    assert firefly_mock.count(path="/v3/status/*") == 2
