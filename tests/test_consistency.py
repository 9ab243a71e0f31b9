"""One consistent world (issue 11): a regression test per numbered item. Two apps on one state dir stand for two
workers (each has its own SQLite connection and its own in-process state, as worker processes do); the real
multi-process run with kill -9 is in test_consistency_workers.py."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_training_support import KEY, MIME, OTHER_KEY, Api, image_bytes

from mockserver.core.world import MAX_CLOCK
from mockserver.spec import MAX_ERRORS
from mockserver.testing import MockServer, in_process, run_server

INSTANT = {"x-mock-profile": "instant"}
PRIVATE_MODEL = "urn:aaid:sc:VA6C2:c41e8d2a-0b6f-4a8e-9d3c-7e5f1a2b9c30"
HUGE = "9" * 5000  # more digits than int() converts (4,300)


@contextmanager
def worker(state_dir: Path, **settings: Any) -> Iterator[MockServer]:
    with in_process(state_dir=str(state_dir), **settings) as mock:
        yield mock


def world(mock: MockServer) -> Any:
    return mock.app.state.ctx.world  # type: ignore[attr-defined]


def image_urls(mock: MockServer, headers: dict[str, str], prompt: str = "one world") -> list[str]:
    job = mock.http.post("/v3/images/generate-async", json={"prompt": prompt}, headers={**headers, **INSTANT})
    assert job.status_code == 202, job.text
    status = mock.http.get(f"/v3/status/{job.json()['jobId']}", headers=headers).json()
    return [o["image"]["url"] for o in status["result"]["outputs"]]


def download(mock: MockServer, url: str) -> httpx.Response:
    return mock.http.get(url.replace("http://testserver", ""))


# --- 1. the URL signing key belongs to the world ----------------------------------------------------------------


def test_signed_urls_work_on_every_worker_and_after_a_restart(tmp_path):
    with worker(tmp_path) as first, worker(tmp_path) as second:
        urls = image_urls(first, first.headers())
        assert download(second, urls[0]).status_code == 200
    with worker(tmp_path) as restarted:
        assert download(restarted, urls[0]).status_code == 200
        restarted.reset()  # a full reset keeps the key: old URLs now name missing objects (404), not forgeries
        missing = download(restarted, urls[0])
        assert missing.status_code == 404 and b"NoSuchKey" in missing.content


def paths(urls: list[str]) -> list[str]:
    return [url.split("?")[0] for url in urls]  # the expiry follows the real clock, which differs by a second or so


def test_seeded_servers_sign_alike():
    with in_process(seed=11) as one, in_process(seed=11) as two:
        assert paths(image_urls(one, one.headers())) == paths(image_urls(two, two.headers()))
        assert world(one).signer.key == world(two).signer.key
        one.reset(seed=12)
        two.reset(seed=12)
        assert world(one).signer.key == world(two).signer.key != world(one)._random_key


# --- 2. fault rule ids come from the store --------------------------------------------------------------------


def test_fault_rule_ids_are_never_reused(tmp_path):
    with worker(tmp_path) as first, worker(tmp_path) as second:
        added = [(first if i % 2 else second).faults.add(path=f"/rule{i}", status=500)["id"] for i in range(6)]
        assert len(set(added)) == 6
        assert [r["id"] for r in first.faults.list()] == added == [r["id"] for r in second.faults.list()]
        first.http.delete(f"/__admin/faults/{added[1]}")
    with worker(tmp_path) as restarted:
        again = restarted.faults.add(path="/after-restart", status=500)["id"]
        assert again not in added
        assert len(restarted.faults.list()) == 6


# --- 3. one training at a time, checked and inserted atomically -------------------------------------------------


def test_two_workers_never_start_two_trainings_of_one_model(tmp_path):
    """Both workers are asked to start a training of the same model at the same moment, for many models: at most
    one start per model is accepted, and the model never has two trainings at once."""
    with run_server(state_dir=str(tmp_path)) as first, run_server(state_dir=str(tmp_path)) as second:
        first.clock.freeze()  # trainings stay queued: every second start must be refused
        api = Api(first.http)
        models = [api.create_model(f"race {i}")["id"] for i in range(15)]
        for model_id in models:
            assert api.upload(model_id).status_code == 201
        for model_id in models:
            barrier = threading.Barrier(2)
            answers: list[int] = []
            threads = [
                threading.Thread(target=start_training, args=(m.base_url, model_id, barrier, answers))
                for m in (first, second)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert sorted(answers) == [202, 409], (model_id, answers)
            assert len(api.call("GET", f"/models/{model_id}/trainings").json()) == 1


def start_training(base: str, model_id: str, barrier: threading.Barrier, answers: list[int]) -> None:
    barrier.wait(timeout=30)
    answer = httpx.post(f"{base}/models/{model_id}/trainings", json={}, headers={"x-api-key": KEY}, timeout=30)
    answers.append(answer.status_code)


# --- 4. a replacement upload in flight cannot bring a deleted image back -----------------------------------------


class SlowBody:
    """A request body that sends its first bytes, then waits for `go` before sending the rest."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.go = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self.data[:10]
        assert self.go.wait(timeout=30)
        yield self.data[10:]


def watch_uploads(mock: MockServer) -> threading.Semaphore:
    """Released each time the training surface starts reading an upload: the image was looked up by then."""
    training = next(s for s in mock.app.state.surfaces if s.surface == "training")  # type: ignore[attr-defined]
    original = training._image_upload
    entered = threading.Semaphore(0)

    async def upload(request: Any) -> Any:
        entered.release()
        return await original(request)

    training._image_upload = upload
    return entered


def start_replacement(
    base: str, model_id: str, data_id: str, body: SlowBody, entered: threading.Semaphore
) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def send() -> None:
        result["response"] = httpx.put(
            f"{base}/models/{model_id}/training-data/{data_id}",
            content=iter(body),
            headers={"x-api-key": KEY, "content-type": MIME["PNG"]},
            timeout=30,
        )

    result["thread"] = threading.Thread(target=send)
    result["thread"].start()
    assert entered.acquire(timeout=30)
    return result


def finish(result: dict[str, Any], body: SlowBody) -> httpx.Response:
    body.go.set()
    result["thread"].join(timeout=30)
    return result["response"]


def training_assets(mock: MockServer) -> tuple[set[str], set[str]]:
    store = world(mock).store
    assets = {a.id for a in store.items("asset") if a.meta.get("kind") == "training_image"}
    blobs = {key for kind, key, _, _ in store.dump() if kind == "blob"}
    return assets, blobs


@pytest.mark.parametrize("durable", [False, True])
def test_delete_wins_over_a_replacement_in_flight(tmp_path, durable):
    with run_server(state_dir=str(tmp_path) if durable else None) as mock:
        api = Api(mock.http)
        model = api.create_model()
        data_id = api.upload(model["id"]).json()["dataId"]
        body = SlowBody(image_bytes("PNG", (40, 40)))
        pending = start_replacement(mock.base_url, model["id"], data_id, body, watch_uploads(mock))
        assert api.call("DELETE", f"/models/{model['id']}/training-data/{data_id}").status_code == 204
        assert finish(pending, body).status_code == 404
        assert api.call("GET", f"/models/{model['id']}/training-data/{data_id}").status_code == 404
        assert training_assets(mock) == (set(), set())


@pytest.mark.parametrize("durable", [False, True])
def test_overlapping_replacements_leave_one_asset(tmp_path, durable):
    with run_server(state_dir=str(tmp_path) if durable else None) as mock:
        api = Api(mock.http)
        model = api.create_model()
        data_id = api.upload(model["id"]).json()["dataId"]
        bodies = [SlowBody(image_bytes("PNG", (30 + i, 30))) for i in range(2)]
        entered = watch_uploads(mock)
        pending = [start_replacement(mock.base_url, model["id"], data_id, b, entered) for b in bodies]
        answers = [finish(p, b) for p, b in zip(pending, bodies, strict=True)]
        assert [a.status_code for a in answers] == [200, 200]
        image = world(mock).registry.image(KEY, model["id"], data_id)
        assert training_assets(mock) == ({image.asset_id}, {image.asset_id})
        one = api.call("GET", f"/models/{model['id']}/training-data/{data_id}").json()
        assert one["width"] == 31 and httpx.get(one["dataUrl"]).status_code == 200


# --- 5. clock changes and seeded resets reach every worker --------------------------------------------------------


def test_clock_advances_re_read_the_shared_clock(tmp_path):
    with worker(tmp_path) as first, worker(tmp_path) as second:
        start = first.clock.freeze()["now"]
        stale = world(second)  # has not seen the freeze: no request went through its gateway since
        for _ in range(5):
            world(first).advance_clock(1)
            stale.advance_clock(1)
        assert first.clock.now() == second.clock.now() == start + 10


def test_a_seeded_reset_reseeds_every_worker(tmp_path):
    with worker(tmp_path) as first, worker(tmp_path) as second:
        runs = []
        for resetter, creator in ((first, second), (second, first), (first, first)):
            resetter.reset(seed=7)
            runs.append(paths(image_urls(creator, creator.headers("seeded", "x"))))
        assert runs[0] == runs[1] == runs[2]


# --- 6. the render cache is keyed by what a picture shows ---------------------------------------------------------


def test_import_never_serves_another_jobs_cached_picture():
    with in_process(seed=3) as mock:
        headers = mock.headers()
        cat = download(mock, image_urls(mock, headers, "a cat")[0]).content
        with_cat = mock.export_state()
        mock.reset(seed=3)
        headers = mock.headers()
        dog_url = image_urls(mock, headers, "a dog")[0]
        dog = download(mock, dog_url).content  # cached under the same asset id (same seed)
        assert dog != cat
        mock.import_state(with_cat)
        assert download(mock, dog_url).content == cat


# --- 7. every kind of object is bounded ---------------------------------------------------------------------------


def test_tokens_are_evicted_expired_first():
    with in_process(max_tokens=20) as mock:
        store = world(mock).store
        mock.clock.freeze()
        for _ in range(10):
            mock.token()
        mock.clock.advance(86400)  # those ten expire
        kept = mock.token()
        for _ in range(10):  # the 21st token makes room by dropping the expired ones only
            mock.token()
        assert store.count("token") == 11
        headers = {"x-api-key": mock.client_id, "authorization": f"Bearer {kept}"}
        assert mock.http.get("/v3/custom-models", headers=headers).status_code == 200
        counts = []
        for _ in range(100):
            newest = mock.token()
            counts.append(store.count("token"))
        assert max(counts) <= 20
        headers["authorization"] = f"Bearer {newest}"
        assert mock.http.get("/v3/custom-models", headers=headers).status_code == 200


def scenario_basic() -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(b"scenario-api-key:scenario-api-secret").decode()}


def test_scenario_conversions_are_evicted_with_their_jobs():
    with in_process(max_jobs=5, profile="instant") as mock:
        for i in range(20):
            job = mock.http.post(
                "/v1/generate/custom/model_imagen4-ultra", json={"prompt": f"p{i}"}, headers=scenario_basic()
            ).json()["job"]
            done = mock.http.get(f"/v1/jobs/{job['jobId']}", headers=scenario_basic()).json()["job"]
            for asset_id in done["metadata"]["assetIds"]:
                for fmt in ("jpeg", "webp"):
                    r = mock.http.post(
                        f"/v1/assets/{asset_id}/download", json={"targetFormat": fmt}, headers=scenario_basic()
                    )
                    assert r.status_code == 200, r.text
        outputs = len(done["metadata"]["assetIds"])
        assets = world(mock).store.items("asset")
        converted = [a for a in assets if a.meta.get("surface") == "scenario.converted"]
        sources = {a.id for a in assets}
        assert converted and all(a.meta["of"] in sources for a in converted)
        assert len(assets) <= 5 * outputs * 3  # at most max_jobs jobs, each output with two conversions


def test_models_images_and_trainings_are_bounded():
    with in_process(max_models=3, max_training_images=2, max_jobs=3, profile="instant") as mock:
        api = Api(mock.http, "bounded-tenant")
        models = [api.create_model(f"m{i}")["id"] for i in range(3)]
        refused = api.call("POST", "/models", json={"displayName": "one too many"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "limit_exceeded"
        assert api.call("DELETE", f"/models/{models[0]}").status_code == 204
        assert api.call("POST", "/models", json={"displayName": "room again"}).status_code == 201
        assert len(world(mock).store.items("model", "bounded-tenant")) == 3  # the deleted one made room

        model = models[1]
        assert [api.upload(model).status_code for _ in range(3)] == [201, 201, 422]
        words = []
        for _ in range(6):
            started = api.train(model)
            assert started.status_code == 202, started.text
            words.append(api.training(model, started.json()["trainingId"]).json()["triggerWord"])
        assert world(mock).store.count("job:training") <= 3
        state = api.call("GET", f"/models/{model}").json()
        assert state["status"] == "ready" and state["triggerWord"] == words[-1]


def test_jobs_nobody_polls_are_bounded_too():
    with in_process(max_jobs=3, profile="polls") as mock:
        headers = mock.headers()
        for i in range(20):
            job = mock.http.post("/v3/images/generate-async", json={"prompt": f"never polled {i}"}, headers=headers)
            assert job.status_code == 202
        assert world(mock).store.count("job:firefly.generate") <= 6
        newest = job.json()["statusUrl"].replace("http://testserver", "")
        assert mock.http.get(newest, headers=headers).status_code == 200


def test_fault_rules_are_bounded():
    with in_process() as mock:
        for i in range(1000):
            mock.faults.add(path=f"/never/{i}", status=500)
        refused = mock.http.post("/__admin/faults", json={"path": "/one-more", "status": 500})
        assert refused.status_code == 400 and "1000" in refused.json()["message"]


# --- 8. numbers are range-checked before conversion; error lists are bounded -----------------------------------


def test_huge_numbers_are_refused_not_crashed_on(instant_mock):
    mock = instant_mock
    url = image_urls(mock, mock.headers())[0]
    path = url.split("?")[0].replace(mock.base_url, "")
    forged = mock.http.get(f"{path}?expires={HUGE}&signature=00")
    assert forged.status_code == 403 and b"SignatureDoesNotMatch" in forged.content
    headers = mock.headers()
    for query in (f"start={HUGE}", f"limit={HUGE}"):
        answer = mock.http.get(f"/v3/custom-models?{query}", headers=headers)
        assert answer.status_code == 400, answer.text
    assert mock.http.get(f"/__admin/requests?limit={HUGE}").status_code == 400  # refused, never converted
    assert mock.http.get(f"/__admin/requests?status={HUGE}").status_code == 400
    assert mock.http.get(f"/__admin/requests/count?status={HUGE}").status_code == 400


def test_a_body_full_of_bad_seeds_gets_a_short_error_list(instant_mock):
    body = {"prompt": "many seeds", "seeds": [-1] * 200_000}  # about 585 KB
    answer = generate_raw(instant_mock, body)
    assert answer.status_code == 422
    assert 1 <= len(answer.json()["validation_errors"]) <= MAX_ERRORS


def generate_raw(mock: MockServer, body: dict[str, Any]) -> httpx.Response:
    return mock.http.post("/v3/images/generate-async", json=body, headers=mock.headers())


# --- 9. the control API cannot break the world ---------------------------------------------------------------------


def test_the_clock_stops_at_its_maximum(instant_mock):
    mock = instant_mock
    mock.clock.freeze()
    answers = [mock.http.post("/__admin/clock/advance", json={"seconds": 315360000}) for _ in range(900)]
    refused = [a for a in answers if a.status_code != 200]
    assert refused and {a.status_code for a in refused} == {422}
    assert refused[0].json()["error"] == "clock_out_of_range"
    assert mock.clock.now() <= MAX_CLOCK
    urls = image_urls(mock, mock.headers())  # the world still works at the end of time
    assert download(mock, urls[0]).status_code == 200
    training = Api(mock.http).trained_model()
    assert Api(mock.http).call("GET", f"/models/{training[0]}/trainings/{training[1]}").status_code == 200


BAD_OBJECTS = [
    {"kind": "token", "key": "t", "data": {"value": "t", "client_id": 5, "tenant": "", "expires_at": 1.0}},
    {"kind": "token", "key": "t", "data": {"value": "other", "client_id": "c", "tenant": "", "expires_at": 1.0}},
    {
        "kind": "asset",
        "key": "a",
        "data": {"id": "a", "tenant": "", "mime": "image/png", "width": 10**9, "height": 10, "created_at": 0},
    },
    {
        "kind": "asset",
        "key": "a",
        "data": {"id": "a", "tenant": "", "mime": "text/html", "width": 10, "height": 10, "created_at": 0},
    },
    {
        "kind": "job:firefly.generate",
        "key": "j",
        "data": {
            "id": "j",
            "tenant": "",
            "kind": "firefly.generate",
            "created_at": 1e300,
            "plan": {"pending": 0, "running": 0},
        },
    },
    {
        "kind": "job:firefly.generate",
        "key": "j",
        "data": {"id": "j", "tenant": "", "kind": "firefly.generate", "created_at": 0, "plan": {"pending": 0}},
    },
    {
        "kind": "job:firefly.generate",
        "key": "j",
        "data": {
            "id": "j",
            "tenant": "",
            "kind": "firefly.generate",
            "created_at": 0,
            "plan": {"pending": 0, "running": 1e11},
            "inputs": {"size": {"width": 1024, "height": 1024}, "version": "image3", "mime": "image/jpeg"},
        },
    },
    {
        "kind": "token",
        "key": "t",
        "data": {"value": "t", "client_id": "c", "tenant": "", "expires_at": -1e11},
    },
    {"kind": "model_alias", "key": "x", "data": "no-such-model"},
    {"kind": "fault", "key": "f", "data": {"id": "f", "effect": "http", "status": 200}},
]


@pytest.mark.parametrize("bad", BAD_OBJECTS, ids=range(len(BAD_OBJECTS)))
def test_badly_typed_imports_are_refused_and_change_nothing(instant_mock, bad):
    mock = instant_mock
    image_urls(mock, mock.headers())
    before = mock.export_state()
    answer = mock.http.put("/__admin/state", json={**before, "objects": [*before["objects"], bad]})
    assert answer.status_code == 422 and answer.json()["error"] == "invalid_state", answer.text
    assert mock.export_state() == before


def test_an_exported_world_of_every_surface_imports_again(instant_mock):
    mock = instant_mock
    image_urls(mock, mock.headers())
    api = Api(mock.http)
    model_id, training_id, word = api.trained_model()
    assert api.predict([(model_id, training_id)], word).status_code == 202
    job = mock.http.post("/v1/generate/custom/model_imagen4-ultra", json={"prompt": "x"}, headers=scenario_basic())
    assert job.status_code == 200
    mock.faults.add(path="/never", status=503, tenant="someone")
    state = mock.export_state()
    mock.import_state(state)
    assert mock.export_state() == state
    for clock in ({"offset": 1e300, "frozen_at": None}, {"offset": 2.21e11}, {"offset": -1e10}, {"frozen_at": -1}):
        assert mock.http.put("/__admin/state", json={**state, "clock": clock}).status_code == 422, clock
    assert mock.export_state() == state


# --- 10. a per-tenant reset resets that tenant only ---------------------------------------------------------------


def test_per_tenant_reset_leaves_other_tenants_fixture_models_alone(instant_mock):
    mock = instant_mock
    owner = Api(mock.http, KEY)
    private = world(mock).registry.model(KEY, PRIVATE_MODEL)
    assert owner.call("PATCH", f"/models/{private.id}", json={"updatedDisplayName": "Renamed"}).status_code == 200
    mock.reset(tenant=OTHER_KEY)
    assert owner.call("GET", f"/models/{private.id}").json()["displayName"] == "Renamed"
    assert owner.call("DELETE", f"/models/{private.id}").status_code == 204
    mock.reset(tenant=OTHER_KEY)
    assert owner.call("GET", f"/models/{private.id}").status_code == 404
    mock.reset(tenant=KEY)  # its own reset brings the fixture back, as loaded
    assert owner.call("GET", f"/models/{private.id}").json()["displayName"] == "Private Logo Style"


def test_an_imported_world_survives_a_restart(tmp_path):
    with worker(tmp_path) as mock:
        owner = Api(mock.http, KEY)
        private = world(mock).registry.model(KEY, PRIVATE_MODEL)
        assert owner.call("PATCH", f"/models/{private.id}", json={"updatedDisplayName": "Imported"}).status_code == 200
        state = mock.export_state()
        mock.reset()
        mock.import_state(state)
    with worker(tmp_path) as restarted:  # a restart must not load the fixtures over what was imported
        assert Api(restarted.http, KEY).call("GET", f"/models/{private.id}").json()["displayName"] == "Imported"
