"""The dashboard's routes in process: what the pages list, the thumbnail cache, refusals, and the admin token.

The browser tests (test_dashboard_browser.py) drive the same pages in Chromium against a real server."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator

import pytest
from PIL import Image

from mockserver.admin_auth import COOKIE, UI_HEADER
from mockserver.dashboard.views import curl
from mockserver.testing import MockServer, in_process

UI = "/__admin/ui"
SCENARIO = {"authorization": "Basic " + base64.b64encode(b"scenario-api-key:scenario-api-secret").decode()}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with in_process(seed=3) as mock:
        yield mock


@pytest.fixture
def mock(server: MockServer) -> MockServer:
    server.reset()
    return server


def firefly_job(mock: MockServer, prompt: str, **body: object) -> str:
    response = mock.http.post("/v3/images/generate-async", headers=mock.headers(), json={"prompt": prompt, **body})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def scenario_job(mock: MockServer, prompt: str) -> str:
    response = mock.http.post(
        "/v1/generate/custom/model_imagen4-ultra", headers=SCENARIO, json={"prompt": prompt, "numOutputs": 1}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["job"]["jobId"])


def test_jobs_page_lists_every_surface_newest_first_with_status_and_filters(mock: MockServer) -> None:
    mock.clock.freeze()
    older = firefly_job(mock, "an old lighthouse")
    mock.clock.advance(30)
    newer = scenario_job(mock, "a copper kettle")
    html = mock.http.get(f"{UI}/jobs").text
    assert html.index(newer) < html.index(older)  # newest first
    assert f'data-job="{older}" data-status="succeeded"' in html
    assert f'data-job="{newer}" data-status="pending"' in html
    assert "an old lighthouse" in html and "a copper kettle" in html
    only = mock.http.get(f"{UI}/jobs", params={"surface": "scenario"}).text
    assert newer in only and older not in only
    done = mock.http.get(f"{UI}/jobs/rows", params={"status": "succeeded"})
    assert older in done.text and newer not in done.text
    assert done.headers["x-total"] == "1" and "<html" not in done.text  # the fragment the page's script polls
    assert mock.http.get(f"{UI}/jobs", params={"tenant": "nobody"}).text.count("data-job=") == 0


def test_polled_rows_are_not_rendered_again_while_nothing_moves(mock: MockServer) -> None:
    mock.clock.freeze()
    job = firefly_job(mock, "a frozen job")
    first = mock.http.get(f"{UI}/jobs/rows")
    etag = first.headers["etag"]
    unchanged = mock.http.get(f"{UI}/jobs/rows", headers={"if-none-match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    mock.clock.advance(0.3)  # into its running phase
    moved = mock.http.get(f"{UI}/jobs/rows", headers={"if-none-match": etag})
    assert moved.status_code == 200 and f'data-job="{job}" data-status="running"' in moved.text
    assert moved.headers["etag"] != etag


def test_what_clients_sent_is_escaped(mock: MockServer) -> None:
    firefly_job(mock, '<img src=x onerror="alert(1)">')
    mock.http.get("/<script>alert(1)</script>")
    for page in ("jobs", "requests"):
        html = mock.http.get(f"{UI}/{page}").text
        assert "<img src=x" not in html and "<script>alert" not in html, page
        assert "&lt;img src=x onerror=" in html, page  # shown, as text


def test_timeline_follows_the_fake_clock(mock: MockServer) -> None:
    mock.clock.freeze()
    job = firefly_job(mock, "a timeline")

    def steps() -> list[str]:
        row = re.search(rf'<tr data-job="{re.escape(job)}".*?</tr>', mock.http.get(f"{UI}/jobs/rows").text, re.S)
        assert row is not None
        return re.findall(r'<li class="st-(\w+)"', row.group(0))

    assert steps() == ["pending"]
    mock.clock.advance(60)
    assert steps() == ["pending", "running", "succeeded"]


def test_images_gallery_thumbnails_are_small_and_cached(mock: MockServer) -> None:
    mock.clock.freeze()
    firefly_job(mock, "a red fox in snow", numVariations=2, size={"width": 1024, "height": 1024})
    assert "data-asset=" not in mock.http.get(f"{UI}/images").text  # not finished: nothing to show yet
    mock.clock.advance(60)
    assets = re.findall(r'data-asset="([^"]+)"', mock.http.get(f"{UI}/images").text)
    assert len(assets) == 2
    thumbs = mock.app.state.surfaces.all  # type: ignore[attr-defined]
    dashboard = next(s for s in thumbs if s.surface == "dashboard")
    before = dashboard.thumbnails.rendered
    first = mock.http.get(f"{UI}/thumbs/{assets[0]}")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(first.content)).size) == 256
    again = mock.http.get(f"{UI}/thumbs/{assets[0]}")
    assert again.content == first.content and dashboard.thumbnails.rendered == before + 1  # from the cache
    detail = mock.http.get(f"{UI}/images/{assets[0]}").text
    assert "a red fox in snow" in detail and "1024×1024" in detail and "image3" in detail
    full = mock.http.get(f"{UI}/files/{assets[0]}")
    assert Image.open(io.BytesIO(full.content)).size == (1024, 1024)


def test_image_details_name_the_model_and_uploads_have_thumbnails_only(mock: MockServer) -> None:
    mock.clock.freeze()
    scenario_job(mock, "a copper kettle")
    mock.clock.advance(60)
    [asset] = re.findall(r'data-asset="([^"]+)"', mock.http.get(f"{UI}/images").text)
    detail = mock.http.get(f"{UI}/images/{asset}").text
    assert "model_imagen4-ultra" in detail and "a copper kettle" in detail
    picture = io.BytesIO()
    Image.new("RGB", (600, 300), (10, 200, 30)).save(picture, "PNG")
    upload = mock.upload(picture.getvalue())
    thumb = mock.http.get(f"{UI}/thumbs/{upload}")
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (256, 128)
    assert mock.http.get(f"{UI}/images/{upload}").status_code == 404  # an upload, not a job's output


def test_curl_redacts_secrets_and_notes_truncated_bodies() -> None:
    entry = {
        "method": "POST",
        "path": "/v1/generate",
        "query": "dryRun=true",
        "surface": "scenario",
        "headers": {"x-api-key": "k-123", "cookie": "session=abc", "content-type": "application/json", "host": "h"},
        "body": {"_truncated": 70000},
    }
    command = curl(entry, "http://127.0.0.1:9")
    assert command.startswith("curl -X POST 'http://127.0.0.1:9/v1/generate?dryRun=true'")
    assert "k-123" not in command and "abc" not in command and "host: h" not in command
    assert "'authorization: <redacted>'" in command and "<70000 bytes, not journaled>" in command


def test_requests_page_shows_unrouted_requests_and_redacted_curl(mock: MockServer) -> None:
    headers = mock.headers()
    mock.http.post("/v3/images/generate-async", headers=headers, json={"prompt": "curl me"})
    mock.http.get("/v9/typo")
    html = mock.http.get(f"{UI}/requests").text
    assert 'data-surface="none"' in html and "/v9/typo" in html
    assert headers["authorization"].split()[1] not in html  # the bearer token never shows
    assert "x-api-key: &lt;redacted&gt;" in html and "authorization: &lt;redacted&gt;" in html
    assert "curl -X POST" in html and "curl me" in html
    only = mock.http.get(f"{UI}/requests", params={"surface": "none"}).text
    assert "/v9/typo" in only and "generate-async" not in only
    assert "<code>/__admin" not in html  # the dashboard's own requests are not journaled


def test_credentials_in_the_query_are_redacted_on_the_page_and_in_curl(mock: MockServer) -> None:
    """IMS takes client_id/client_secret in the query too: the secret must not show on the Requests page."""
    query = "grant_type=client_credentials&client_id=mock-client-id&client_secret=mock-client-secret"
    assert mock.http.post(f"/ims/token/v3?{query}").status_code == 200
    html = mock.http.get(f"{UI}/requests").text
    assert "/ims/token/v3" in html and "mock-client-secret" not in html
    assert "client_secret=&lt;redacted&gt;" in html and "client_id=mock-client-id" in html


def test_models_page_shows_the_registry_per_tenant(mock: MockServer) -> None:
    html = mock.http.get(f"{UI}/models").text
    for name in ("Warm Custom Model", "Private Logo Style", "Imagen 4 Ultra", "Copper Style (private)"):
        assert name in html
    scenario_only = mock.http.get(f"{UI}/models", params={"tenant": "scenario-api-key"}).text
    assert "Copper Style (private)" in scenario_only and "Private Logo Style" not in scenario_only


def test_controls_page_lists_faults_with_counts(mock: MockServer) -> None:
    rule = mock.faults.add(effect="http", status=503, path="/v3/images/generate-async")
    assert mock.http.post("/v3/images/generate-async", headers=mock.headers(), json={"prompt": "x"}).status_code == 503
    html = mock.http.get(f"{UI}/controls").text
    row = re.search(rf'<tr data-fault="{rule["id"]}">.*?</tr>', html, re.S)
    assert row is not None
    assert '<td class="num matched">1</td>' in row.group(0) and '<td class="num fired">1</td>' in row.group(0)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/jobs", {"status": "done"}, 400, "status must be one of"),
        ("/jobs", {"surface": "aws"}, 400, "surface must be one of"),
        ("/jobs/rows", {"status": "x" * 5000}, 400, "status must be one of"),
        ("/requests", {"status": "abc"}, 400, "status must be an HTTP status code"),
        ("/requests", {"method": "GET /x"}, 400, "method must be an HTTP method"),
        ("/thumbs/nope", {}, 404, "No image has this id."),
        ("/images/nope", {}, 404, "No generated image has this id."),
        ("/files/nope", {}, 404, "No image has this id."),
        ("/static/pages.py", {}, 404, "No such file."),
        ("/nothing-here", {}, 404, "not found"),
    ],
)
def test_bad_input_is_a_clear_html_error(
    mock: MockServer, path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = mock.http.get(f"{UI}{path}", params=params)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert message.lower() in response.text.lower()


def test_pages_load_nothing_from_elsewhere(mock: MockServer) -> None:
    for page in ("jobs", "images", "requests", "models", "controls"):
        response = mock.http.get(f"{UI}/{page}")
        assert response.status_code == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert not re.search(r'(src|href)="(https?:)?//', response.text), page
    assert mock.http.get(f"{UI}/static/app.js").headers["content-type"].startswith("text/javascript")
    assert mock.http.get(UI, follow_redirects=False).headers["location"] == f"{UI}/jobs"


def test_admin_token_guards_every_page_and_the_login_cookie_works() -> None:
    with in_process(admin_token="s3cret") as mock:
        http = mock.http
        http.headers.pop("authorization", None)
        for page in ("jobs", "jobs/rows", "images", "requests", "models", "controls", "thumbs/x", "files/x"):
            refused = http.get(f"{UI}/{page}")
            assert refused.status_code == 401 and 'name="token"' in refused.text, page
        assert http.get("/__admin/clock").status_code == 401
        wrong = http.post(f"{UI}/login", data={"token": "guess", "next": f"{UI}/models"}, follow_redirects=False)
        assert (
            wrong.status_code == 401
            and "not the admin token" in wrong.text
            and COOKIE not in wrong.headers.get("set-cookie", "")
        )
        good = http.post(f"{UI}/login", data={"token": "s3cret", "next": f"{UI}/models"}, follow_redirects=False)
        assert good.status_code == 303 and good.headers["location"] == f"{UI}/models"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/__admin" in cookie
        assert "s3cret" not in cookie  # an HMAC of the token, not the token
        assert http.get(f"{UI}/models").status_code == 200  # the client keeps the cookie
        assert http.get("/__admin/clock").status_code == 200  # reads with the cookie alone
        # a change needs the cookie *and* the dashboard's header (a cross-site form cannot send it)
        assert http.post("/__admin/clock/freeze").status_code == 401
        assert http.post("/__admin/clock/freeze", headers={UI_HEADER: "1"}).json()["frozen"] is True
        for target in ("https://evil.example/", f"{UI}//evil.example/"):
            elsewhere = http.post(f"{UI}/login", data={"token": "s3cret", "next": target}, follow_redirects=False)
            assert elsewhere.headers["location"] == f"{UI}/jobs"  # never sent to another site after logging in
        http.post(f"{UI}/logout")
        assert http.get(f"{UI}/jobs").status_code == 401
        assert http.get(f"{UI}/jobs", headers={"authorization": "Bearer s3cret"}).status_code == 200
        huge = http.post(f"{UI}/login", content=b"token=" + b"x" * 10_000)
        assert huge.status_code == 400 and "too large" in huge.text


def test_without_a_token_the_login_page_sends_you_on() -> None:
    with in_process() as mock:
        response = mock.http.get(f"{UI}/login", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"{UI}/jobs"


def test_no_admin_means_no_dashboard() -> None:
    with in_process(no_admin=True) as mock:
        response = mock.http.get(f"{UI}/jobs")
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_an_upload_thumbnail_follows_the_upload_behind_a_reused_id(mock: MockServer) -> None:
    """Seeded ids repeat after a reset: an upload of the same size under the same id must not get the old one's
    thumbnail from the cache."""

    def upload(colour: str) -> tuple[str, tuple[int, int, int]]:
        data = io.BytesIO()
        Image.new("RGB", (64, 64), colour).save(data, "PNG", compress_level=0)  # same size whatever the colour
        headers = {**mock.headers(), "content-type": "image/png"}
        uploaded = mock.http.post("/v2/storage/image", headers=headers, content=data.getvalue()).json()
        asset = uploaded["images"][0]["id"]
        thumb = mock.http.get(f"{UI}/thumbs/{asset}")
        assert thumb.status_code == 200
        with Image.open(io.BytesIO(thumb.content)) as small:
            return asset, small.convert("RGB").getpixel((32, 32))

    red_id, red = upload("red")
    red_tag = mock.http.get(f"{UI}/thumbs/{red_id}").headers["etag"]
    mock.reset()
    blue_id, blue = upload("blue")
    assert blue_id == red_id and blue[2] > 200 and blue[0] < 50, (red, blue)
    # the browser must not keep the red one either: it revalidates, and the tag moved with the pixels
    for route in ("thumbs", "files"):
        fresh = mock.http.get(f"{UI}/{route}/{blue_id}")
        assert "no-cache" in fresh.headers["cache-control"] and fresh.headers["etag"] != red_tag
        again = mock.http.get(f"{UI}/{route}/{blue_id}", headers={"if-none-match": fresh.headers["etag"]})
        assert again.status_code == 304 and not again.content
    assert mock.http.get(f"{UI}/thumbs/{blue_id}", headers={"if-none-match": red_tag}).status_code == 200
