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
