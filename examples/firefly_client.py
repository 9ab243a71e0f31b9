"""A small Firefly client, as an application might write it: the code under test in the pytest example of README.md
and docs/pytest-plugin.md (tests/test_readme_example.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed", "canceled", "timeout"}


class FireflyClient:
    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        sleep: Callable[[float], Any] = time.sleep,
        now: Callable[[], float] = time.monotonic,
        max_retries: int = 3,
    ) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.sleep, self.now, self.max_retries = sleep, now, max_retries
        self._token: str | None = None

    def __enter__(self) -> FireflyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            r = self.http.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "scope": "firefly_api",
                },
            )
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return {"x-api-key": self.client_id, "authorization": f"Bearer {self._token}"}

    def generate(self, prompt: str, **options: Any) -> dict[str, Any]:
        """Submit a job, retrying 429s after the server's retry-after."""
        for attempt in range(self.max_retries + 1):
            r = self.http.post("/v3/images/generate-async", json={"prompt": prompt, **options}, headers=self._headers())
            if r.status_code == 429 and attempt < self.max_retries:
                self.sleep(float(r.headers.get("retry-after", "1")))
                continue
            r.raise_for_status()
            return r.json()
        raise RuntimeError("unreachable")

    def wait(self, job: dict[str, Any], interval: float = 1.0, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until the job ends; raise TimeoutError if it takes longer than `timeout` seconds."""
        deadline = self.now() + timeout
        while True:
            status = self.http.get(job["statusUrl"], headers=self._headers()).json()
            if status["status"] in TERMINAL:
                return status
            if self.now() >= deadline:
                raise TimeoutError(f"job {job['jobId']} still {status['status']} after {timeout}s")
            self.sleep(interval)

    def cancel(self, job: dict[str, Any]) -> bool:
        return self.http.put(job["cancelUrl"], headers=self._headers()).status_code == 200
