"""Hot routes entered directly by the gateway answer exactly as through the app: refusals, wrong methods and
unknown paths in the provider's format, and every request journaled."""

from __future__ import annotations

from mockserver.testing import in_process


def test_hot_routes_answer_as_the_app_does() -> None:
    with in_process() as mock:
        headers = mock.headers()
        direct = mock.app.direct
        assert direct is not None and any(direct.routes.values())
        job = mock.http.post("/v3/images/generate-async", json={"prompt": "x"}, headers=headers).json()
        assert mock.http.get(job["statusUrl"], headers=headers).status_code == 200
        unknown = mock.http.get("/v3/status/nope", headers=headers)
        assert unknown.status_code == 404 and unknown.json()["error_code"] == "unknown_job_id"
        wrong_method = mock.http.delete(job["statusUrl"], headers=headers)  # the router's 405, not the hot route
        assert wrong_method.status_code == 405
        assert mock.http.get("/v3/status/x", headers={}).status_code == 401
        assert mock.http.get("/files/nope.jpg").status_code == 403
        listing = mock.http.get("/v3/custom-models", headers={**headers, "accept": "text/html"})
        assert listing.status_code == 406
        assert mock.count(path="/v3/status/*") == 4


def test_a_route_without_parameters_is_found_by_its_path_unless_an_earlier_route_matches_it() -> None:
    """The lookup by path finds what the router's walk would find: the first route in order that matches."""
    from types import SimpleNamespace

    from starlette.routing import Route

    from mockserver.direct import Direct

    async def endpoint(request: object) -> None: ...

    async def other(request: object) -> None: ...

    routes = [
        Route("/a/{rest:path}", other, methods=["GET"]),
        Route("/a/b", endpoint, methods=["GET"]),  # shadowed by the route before it
        Route("/c", endpoint, methods=["POST"]),
    ]
    surface = object()
    mount = SimpleNamespace(surface=surface, router=SimpleNamespace(routes=routes))
    direct = Direct(None, [mount], ("/a/{rest:path}", "/a/b", "/c"))  # type: ignore[list-item]
    assert set(direct.literal[id(surface)]) == {"/c"}

    def found(method: str, path: str) -> object:
        hit = direct.find({"method": method, "path": path}, surface)  # type: ignore[arg-type]
        return None if hit is None else (hit[0].endpoint, hit[1])

    assert found("POST", "/c") == (endpoint, {})
    assert found("GET", "/c") is None  # the router answers 405
    assert found("GET", "/a/b") == (other, {"rest": "b"})


def test_hot_routes_answer_byte_for_byte_as_through_the_app() -> None:
    """The same seeded requests, once entered directly and once through Starlette's layers (direct entry off):
    the same statuses, headers (but the request id's value), bodies and journal entries."""

    def session(direct: bool) -> tuple[list[tuple[int, list[tuple[str, str]], bytes]], list[dict]]:
        with in_process(seed=7, profile="instant") as mock:
            if not direct:
                mock.app.direct = None
            mock.clock.freeze()
            mock.clock.advance(1_900_000_000 - mock.clock.now())  # the same instant in both sessions
            headers = mock.headers()
            answers = [
                mock.http.post("/v3/images/generate-async", json={"prompt": "x", "numVariations": 2}, headers=headers),
                mock.http.post("/v3/images/generate-async", json={"prompt": ""}, headers=headers),
                mock.http.get("/v3/custom-models", headers=headers),
            ]
            answers.append(mock.http.get(answers[0].json()["statusUrl"], headers=headers))
            answers.append(mock.http.get(answers[-1].json()["result"]["outputs"][0]["image"]["url"]))
            shown = [
                (r.status_code, [(k, v) for k, v in r.headers.items() if k != "x-request-id"], r.content)
                for r in answers
            ]
            assert all(r.headers["x-request-id"] for r in answers)
            varying = ("latency_ms", "request_id", "time", "headers")  # the token (in the headers) is random
            journal = [{k: v for k, v in e.items() if k not in varying} for e in mock.requests()]
            return shown, journal

    assert session(direct=True) == session(direct=False)
