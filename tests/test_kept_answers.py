"""Answers kept for the routes clients hit in loops (a finished job's status, the custom-models listing, a generated
picture's download) are byte for byte what the full path computes, and never outlive what they were computed from:
the credentials, the store, the clock, the URL's expiry, the caller's address."""

from __future__ import annotations

from typing import Any

import httpx

from mockserver.testing import MockServer, in_process

SAME = ("content-type", "content-length", "link", "cache-control", "etag")


def _finished_job(mock: MockServer, headers: dict[str, str]) -> str:
    job = mock.http.post("/v3/images/generate-async", json={"prompt": "kept"}, headers=headers).json()
    return str(job["statusUrl"])


def _same(first: httpx.Response, second: httpx.Response) -> None:
    assert second.status_code == first.status_code
    assert second.content == first.content
    assert {k: second.headers.get(k) for k in SAME} == {k: first.headers.get(k) for k in SAME}
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def _fresh(mock: MockServer, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The same request with every kept answer forgotten: what the full path answers."""
    for surface in mock.app.state.surfaces:
        for memo in ("statuses", "answers", "listings"):
            if hasattr(surface, memo):
                getattr(surface, memo)._entries.clear()
    return mock.http.request(method, url, **kwargs)


def test_status_kept_answer_is_the_full_answer_and_checks_credentials() -> None:
    with in_process(profile="instant") as mock:
        mock.clock.freeze()
        headers = mock.headers()
        url = _finished_job(mock, headers)
        first = mock.http.get(url, headers=headers)
        assert first.json()["status"] == "succeeded"
        _same(first, mock.http.get(url, headers=headers))  # kept
        _same(_fresh(mock, "GET", url, headers=headers), mock.http.get(url, headers=headers))
        # other credentials are checked, not answered from what the good ones got
        assert mock.http.get(url, headers={**headers, "x-api-key": "someone-else"}).status_code == 403
        assert mock.http.get(url, headers={**headers, "authorization": "Bearer nope"}).status_code == 401
        # the address the client used is in the answer's URLs
        other = mock.http.get(url, headers={**headers, "host": "elsewhere:9"})
        assert "http://elsewhere:9/files/" in other.text and "http://elsewhere:9/files/" not in first.text
        # a new second signs new URLs; a write (here the job's tenant reset) is seen at once
        mock.clock.advance(1)
        later = mock.http.get(url, headers=headers)
        assert (
            later.json()["result"]["outputs"][0]["image"]["url"] != first.json()["result"]["outputs"][0]["image"]["url"]
        )
        polls = mock.requests(path="/v3/status/*", status=200)  # kept answers are journaled with their tenant
        assert len(polls) == 6 and all(p["tenant"] == polls[0]["tenant"] and p["tenant"] for p in polls)
        mock.reset()
        assert mock.http.get(url, headers=mock.headers()).status_code == 404


def test_listing_kept_answer_follows_the_store_and_the_request() -> None:
    with in_process(profile="instant") as mock:
        headers = mock.headers()
        first = mock.http.get("/v3/custom-models", headers=headers)
        assert first.status_code == 200
        _same(first, mock.http.get("/v3/custom-models", headers=headers))
        _same(
            _fresh(mock, "GET", "/v3/custom-models", headers=headers),
            mock.http.get("/v3/custom-models", headers=headers),
        )
        assert mock.http.get("/v3/custom-models", headers={**headers, "accept": "text/html"}).status_code == 406
        assert mock.http.get("/v3/custom-models", headers={**headers, "x-api-key": "other"}).status_code == 403
        assert mock.http.get("/v3/custom-models?limit=1", headers=headers).json()["total_count"] == 2
        state = mock.export_state()
        for obj in state["objects"]:
            if obj["kind"] == "model" and obj["data"]["display_name"] == "Warm Custom Model":
                obj["data"]["display_name"] = "Renamed Model"
        mock.import_state(state)
        renamed = mock.http.get("/v3/custom-models?publishedState=all", headers=headers)
        assert "Renamed Model" in renamed.text and "Renamed Model" not in first.text
        # the token's lifetime ends the kept answer as it ends the token (the clock moves past it)
        mock.clock.advance(86_400)
        assert mock.http.get("/v3/custom-models", headers=headers).status_code == 401


def test_download_kept_answer_expires_and_follows_the_image_cache() -> None:
    with in_process(profile="instant") as mock:
        mock.clock.freeze()
        headers = mock.headers()
        url = _finished_job(mock, headers)
        picture = mock.http.get(url, headers=headers).json()["result"]["outputs"][0]["image"]["url"]
        first = mock.http.get(picture)
        assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
        _same(first, mock.http.get(picture))
        mock.app.ctx.images.clear()  # evicted from the image cache: rendered again, the same bytes
        _same(first, mock.http.get(picture))
        tampered = picture.replace("signature=", "signature=0")
        assert mock.http.get(tampered).status_code == 403
        head = mock.http.head(picture)
        assert head.status_code == 200 and head.headers["content-length"] == first.headers["content-length"]
        _pass_time(mock, 3601)  # real time passing writes nothing, yet the URL expires
        expired = mock.http.get(picture)
        assert expired.status_code == 403 and b"Request has expired" in expired.content


def _pass_time(mock: MockServer, seconds: float) -> None:
    """Move the frozen clock as real time moves an unfrozen one: without a store write (a control-API move writes
    the clock to the store, which alone would retire every kept answer)."""
    clock = mock.app.ctx.world.clock
    revision = mock.app.ctx.world.store.revision()
    clock.state.frozen_at += seconds
    assert mock.app.ctx.world.store.revision() == revision


def test_kept_listing_ends_with_the_token_as_real_time_passes() -> None:
    with in_process(profile="instant") as mock:
        mock.clock.freeze()
        headers = mock.headers()
        assert mock.http.get("/v3/custom-models", headers=headers).status_code == 200
        assert mock.http.get("/v3/custom-models", headers=headers).status_code == 200  # kept
        _pass_time(mock, 86_400)
        assert mock.http.get("/v3/custom-models", headers=headers).status_code == 401


def test_kept_status_never_outlives_the_token_within_its_last_second() -> None:
    with in_process(profile="instant") as mock:
        mock.clock.freeze()
        clock = mock.app.ctx.world.clock
        _pass_time(mock, 1_800_000_000.5 - clock.now())  # a token issued at .5 expires at .5 of a second
        headers = mock.headers()
        url = _finished_job(mock, headers)
        expires = mock.app.ctx.world.tenants.token_expiry(headers["authorization"][7:])
        _pass_time(mock, expires - 0.25 - clock.now())
        assert mock.http.get(url, headers=headers).status_code == 200
        _pass_time(mock, 0.35)  # the same second, the token now expired
        assert mock.http.get(url, headers=headers).status_code == 401
