"""The example shown in README.md and docs/pytest-plugin.md (tests/test_docs_examples.py checks that they quote this
file): testing real client code, examples/firefly_client.py (on the path through pytest's `pythonpath`), against
the fake without ever sleeping."""

import pytest
from firefly_client import FireflyClient


@pytest.fixture
def client(firefly_mock):
    firefly_mock.clock.freeze()  # time moves only when the client "sleeps"
    with FireflyClient(
        firefly_mock.base_url,
        firefly_mock.token_url,
        firefly_mock.client_id,
        firefly_mock.client_secret,
        sleep=firefly_mock.clock.advance,
        now=firefly_mock.clock.now,
    ) as client:
        yield client


def test_retries_429_honouring_retry_after(firefly_mock, client):
    firefly_mock.faults.add(path="/v3/images/generate-async", status=429, retry_after=30, times=2)
    start = firefly_mock.clock.now()
    job = client.generate("a red bicycle")
    assert client.wait(job)["status"] == "succeeded"
    attempts = firefly_mock.requests(method="POST", path="/v3/images/generate-async")
    assert [r["status"] for r in attempts] == [429, 429, 202]
    assert firefly_mock.clock.now() - start >= 60  # it waited out both retry-after periods


def test_failed_job(firefly_mock, client):
    firefly_mock.faults.add(prompt="unsafe", outcome="fail", error_code="prompt_unsafe", message="Unsafe prompt.")
    final = client.wait(client.generate("an unsafe prompt"))
    assert final["status"] == "failed" and final["error_code"] == "prompt_unsafe"


def test_cancel(firefly_mock, client):
    job = client.generate("cancel me")
    assert client.cancel(job)
    assert client.wait(job)["status"] == "canceled"


def test_client_gives_up_on_a_slow_job(firefly_mock, client):
    firefly_mock.profile("realistic")
    job = client.generate("slow")
    with pytest.raises(TimeoutError):
        client.wait(job, interval=1, timeout=2)
    assert firefly_mock.count(path="/v3/status/*") == 3


def test_server_side_job_timeout(firefly_mock, client):
    firefly_mock.faults.add(outcome="timeout", path="/v3/images/generate-async")
    assert client.wait(client.generate("never finishes"))["status"] == "timeout"
