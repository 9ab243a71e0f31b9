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
