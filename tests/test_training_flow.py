"""The training API end to end over a real socket: lifecycle, one registry with Firefly, jobs on the shared clock,
soft deletes, faults, journal and state export. Time is moved with the control API, never slept."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from PIL import Image
from test_training_support import KEY, MIME, OTHER_KEY, Api, decode, image_bytes

from mockserver.testing import in_process

TRIGGER = re.compile(r"^[A-Z0-9]{7}$")


@pytest.fixture
def api(mockserver) -> Api:
    return Api(mockserver.http)


def _ctx(mock):
    return mock.app.state.ctx


def test_full_lifecycle_over_a_socket(mockserver):
    client = httpx.Client(base_url=mockserver.base_url, headers={"x-api-key": KEY}, timeout=10)
    mockserver.clock.freeze()

    created = client.post("/models", json={"displayName": "Ceramic mugs", "customModelType": "subject"})
    assert created.status_code == 201, created.text
    model = created.json()
    model_id = model["id"]
    assert model["displayName"] == "Ceramic mugs" and model["customModelType"] == "subject"
    assert model["status"] == "untrained" and model["triggerWord"] is None
    assert re.match(r"^urn:aaid:sc:VA6C2:[0-9a-f-]{36}$", model["assetId"])
    assert client.get(f"/models/{model_id}").json() == model

    uploads = {}
    for index, fmt in enumerate(("PNG", "JPEG", "WEBP")):
        data = image_bytes(fmt, (64 + index, 48), (40 * index, 90, 200))
        r = client.post(f"/models/{model_id}/training-data", content=data, headers={"content-type": MIME[fmt]})
        assert r.status_code == 201, r.text
        item = r.json()
        assert item["contentType"] == MIME[fmt] and (item["width"], item["height"]) == (64 + index, 48)
        assert item["size"] == len(data) and item["modelId"] == model_id
        uploads[item["dataId"]] = data
    listed = client.get(f"/models/{model_id}/training-data").json()
    assert sorted(i["dataId"] for i in listed) == sorted(uploads)
    for data_id, data in uploads.items():
        one = client.get(f"/models/{model_id}/training-data/{data_id}").json()
        download = httpx.get(one["dataUrl"])  # pre-signed: no headers
        assert download.status_code == 200 and download.content == data
        assert download.headers["content-type"] == one["contentType"]

    started = client.post(f"/models/{model_id}/trainings", json={"trainingStrength": 7, "trainingSpeed": "fast"})
    assert started.status_code == 202, started.text
    training_id = started.json()["trainingId"]
    assert started.json()["status"] == "queued"
    status = client.get(f"/models/{model_id}/trainings/{training_id}").json()
    assert status["status"] == "queued" and status["triggerWord"] is None and status["progress"] == 0
    assert (status["trainingStrength"], status["trainingSpeed"]) == (7, "fast")
    mockserver.clock.advance(0.6)
    status = client.get(f"/models/{model_id}/trainings/{training_id}").json()
    assert status["status"] == "processing" and 0 < status["progress"] < 100
    processing_word = status["triggerWord"]  # seed 003: {"status": "processing", "triggerWord": "FJA90AB"}
    assert processing_word is not None and TRIGGER.match(processing_word)
    model_now = client.get(f"/models/{model_id}").json()
    assert model_now["status"] == "training" and model_now["triggerWord"] is None  # the model's: newest succeeded
    mockserver.clock.advance(5)
    status = client.get(f"/models/{model_id}/trainings/{training_id}").json()
    assert status["status"] == "succeeded" and status["progress"] == 100
    word = status["triggerWord"]
    assert TRIGGER.match(word) and word == processing_word
    assert client.get(f"/models/{model_id}/trainings").json() == [
        {"id": training_id, "status": "succeeded", "createdAt": status["createdAt"]}
    ]
    trained = client.get(f"/models/{model_id}").json()
    assert trained["status"] == "ready" and trained["triggerWord"] == word

    predicted = client.post(
        "/predictions",
        json={
            "scaleConfigs": {"1": {"scale": 0.8, "modelId": model_id, "trainingId": training_id}},
            "prompt": f"a photo of {word} on an oak table",
            "seed": 42,
            "image_size": {"width": 768, "height": 512},
            "num_images": 2,
            "output_format": "png",
            "guidance_scale": 4.5,
            "num_inference_steps": 30,
        },
    )
    assert predicted.status_code == 202, predicted.text
    prediction_id = predicted.json()["predictionId"]
    pending = client.get(f"/predictions/{prediction_id}").json()
    assert pending["status"] == "queued" and pending["outputImages"] == []
    mockserver.clock.advance(2)
    done = client.get(f"/predictions/{prediction_id}").json()
    assert done["status"] == "succeeded" and len(done["outputImages"]) == 2
    assert done["seed"] == 42 and done["imageSize"] == {"width": 768, "height": 512}
    assert done["models"] == [
        {"modelId": model_id, "trainingId": training_id, "scale": 0.8, "triggerWord": word, "triggerWordInPrompt": True}
    ]
    pictures = []
    for url in done["outputImages"]:
        download = httpx.get(url)
        assert download.status_code == 200 and download.headers["content-type"] == "image/png"
        image = decode(download.content)
        assert image.format == "PNG" and image.size == (768, 512)
        pictures.append(download.content)
    assert pictures[0] != pictures[1]
    client.close()


def test_trained_model_is_a_firefly_custom_model(firefly_mock, auth):
    api = Api(firefly_mock.http, firefly_mock.client_id)
    firefly_mock.clock.freeze()
    model = api.create_model("Brand style")  # customModelType defaults to style
    asset_id = model["assetId"]

    def listed(state: str, headers: dict[str, str] = auth) -> dict[str, dict]:
        r = firefly_mock.http.get("/v3/custom-models", params={"publishedState": state, "limit": 50}, headers=headers)
        assert r.status_code == 200, r.text
        return {m["assetId"]: m for m in r.json()["custom_models"]}

    assert asset_id not in listed("all")  # never trained: not a Firefly custom model yet
    assert firefly_mock.http.get(f"/v3/custom-models/{asset_id}", headers=auth).status_code == 404
    api.upload(model["id"])
    training_id = api.train(model["id"]).json()["trainingId"]
    assert asset_id in listed("queued")
    firefly_mock.clock.advance(0.6)
    assert asset_id in listed("training") and asset_id not in listed("ready")
    while_training = listed("all")[asset_id]
    assert while_training["publishedState"] == "never" and while_training["samplePrompt"] == ""

    firefly_mock.clock.advance(5)
    word = api.training(model["id"], training_id).json()["triggerWord"]
    ready = listed("ready")[asset_id]
    assert asset_id not in listed("training")
    assert ready["displayName"] == "Brand style" and ready["trainingMode"] == "style"
    # a style model has no concept to name (conceptId ""), as in Adobe's tutorial listing
    assert ready["samplePrompt"] == f"a photo of {word}" and ready["conceptId"] == ""
    assert ready["assetName"] == "Brand style.ffcustommodel" and ready["size"] > 10**9
    assert re.fullmatch(r'"[0-9a-f]{32}"', ready["etag"]), ready["etag"]
    assert firefly_mock.http.get(f"/v3/custom-models/{asset_id}", headers=auth).json()["assetId"] == asset_id

    other = firefly_mock.headers("other-client-id", "other-client-secret")
    assert asset_id not in listed("all", other)

    api.call("PATCH", f"/models/{model['id']}", json={"updatedDisplayName": "Brand style v2"})
    assert listed("ready")[asset_id]["displayName"] == "Brand style v2"

    accepted = firefly_mock.http.post(
        "/v3/images/generate-async",
        headers={**auth, "x-model-version": "image3_custom"},
        json={"prompt": f"a poster, {word}", "customModelId": asset_id},
    )
    assert accepted.status_code == 202, accepted.text
    firefly_mock.clock.advance(5)
    status = firefly_mock.http.get(f"/v3/status/{accepted.json()['jobId']}", headers=auth).json()
    assert status["status"] == "succeeded"
    image = decode(httpx.get(status["result"]["outputs"][0]["image"]["url"]).content)
    assert image.size == (2048, 2048)

    assert api.call("DELETE", f"/models/{model['id']}").status_code == 204
    assert asset_id not in listed("all")
    refused = firefly_mock.http.post(
        "/v3/images/generate-async",
        headers={**auth, "x-model-version": "image3_custom"},
        json={"prompt": "a poster", "customModelId": asset_id},
    )
    assert refused.status_code == 404


def test_subject_models_and_failed_or_cancelled_trainings_show_in_firefly(firefly_mock, auth):
    api = Api(firefly_mock.http, firefly_mock.client_id)
    firefly_mock.clock.freeze()
    subject = api.create_model("Mug", "subject")
    api.upload(subject["id"])
    training_id = api.train(subject["id"]).json()["trainingId"]
    assert api.call("POST", f"/models/{subject['id']}/trainings/{training_id}/cancel").json()["status"] == "cancelled"

    def state_of(asset_id: str) -> list[str]:
        found = []
        for state in ("queued", "training", "ready", "failed", "cancelled"):
            r = firefly_mock.http.get("/v3/custom-models", params={"publishedState": state, "limit": 50}, headers=auth)
            if asset_id in [m["assetId"] for m in r.json()["custom_models"]]:
                found.append(state)
        return found

    assert state_of(subject["assetId"]) == ["cancelled"]
    assert api.call("GET", f"/models/{subject['id']}").json()["status"] == "cancelled"
    firefly_mock.faults.add(
        effect="job",
        surface="training",
        method="POST",
        path="/models/*/trainings",
        outcome="fail",
        error_code="training_diverged",
        message="Loss went to NaN.",
        times=1,
    )
    firefly_mock.clock.advance(0.01)
    failed_id = api.train(subject["id"]).json()["trainingId"]
    firefly_mock.clock.advance(5)
    failed = api.training(subject["id"], failed_id).json()
    assert failed["status"] == "failed" and failed["triggerWord"] is None
    assert failed["error"] == {"code": "training_diverged", "message": "Loss went to NaN."}
    assert state_of(subject["assetId"]) == ["failed"]
    firefly_mock.clock.advance(0.01)
    good_id = api.train(subject["id"]).json()["trainingId"]
    firefly_mock.clock.advance(5)
    assert api.training(subject["id"], good_id).json()["status"] == "succeeded"
    assert state_of(subject["assetId"]) == ["ready"]
    listing = firefly_mock.http.get(
        "/v3/custom-models", params={"publishedState": "ready", "limit": 50}, headers=auth
    ).json()["custom_models"]
    assert [m["trainingMode"] for m in listing if m["assetId"] == subject["assetId"]] == ["subject"]
    word = api.training(subject["id"], good_id).json()["triggerWord"]
    assert [m["conceptId"] for m in listing if m["assetId"] == subject["assetId"]] == [word]  # a subject has one


def test_high_quality_takes_longer_than_fast(mockserver, api):
    mockserver.clock.freeze()
    trainings = {}
    for speed in ("fast", "high_quality"):
        model = api.create_model(speed)
        api.upload(model["id"])
        trainings[speed] = (model["id"], api.train(model["id"], speed).json()["trainingId"])
    mockserver.clock.advance(1.6)
    assert api.training(*trainings["fast"]).json()["status"] == "succeeded"
    assert api.training(*trainings["high_quality"]).json()["status"] == "processing"
    mockserver.clock.advance(2)
    assert api.training(*trainings["high_quality"]).json()["status"] == "succeeded"


def test_cancel_in_progress_then_train_again(mockserver, api):
    mockserver.clock.freeze()
    model = api.create_model()
    api.upload(model["id"])
    first = api.train(model["id"]).json()["trainingId"]
    busy = api.train(model["id"])
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "training_in_progress"
    mockserver.clock.advance(0.5)
    cancelled = api.call("POST", f"/models/{model['id']}/trainings/{first}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    mockserver.clock.advance(10)
    assert api.training(model["id"], first).json()["status"] == "cancelled"
    again = api.call("POST", f"/models/{model['id']}/trainings/{first}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "training_finished"
    second = api.train(model["id"]).json()["trainingId"]
    mockserver.clock.advance(10)
    statuses = {t["id"]: t["status"] for t in api.call("GET", f"/models/{model['id']}/trainings").json()}
    assert statuses == {first: "cancelled", second: "succeeded"}


def test_polls_profile_moves_a_training_one_step_per_status_read(mockserver, api):
    model = api.create_model()
    api.upload(model["id"])
    training_id = api.train(model["id"], x_mock_profile="polls").json()["trainingId"]
    seen = [api.training(model["id"], training_id).json()["status"] for _ in range(4)]
    assert seen == ["processing", "processing", "succeeded", "succeeded"]


def test_trigger_words_and_ids_repeat_under_a_seed(mockserver):
    def run(http: httpx.Client) -> tuple[str, str, str]:
        return Api(http).trained_model()

    mockserver.reset(seed=7)
    first = run(mockserver.http)
    mockserver.reset(seed=7)
    assert run(mockserver.http) == first
    with in_process(seed=7) as fresh:
        assert run(fresh.http) == first
    assert TRIGGER.match(first[2])


@pytest.mark.mockserver(profile="instant")
def test_prediction_combines_models_and_tells_which_trigger_words_were_present(mockserver, api):
    mug_id, mug_training, mug_word = api.trained_model("Mug", "subject")
    style_id, style_training, style_word = api.trained_model("Watercolour")
    r = api.predict(
        [(mug_id, mug_training), (style_id, style_training)], f"{mug_word.lower()} on a shelf", num_images=1, seed=5
    )
    assert r.status_code == 202, r.text
    done = api.call("GET", f"/predictions/{r.json()['predictionId']}").json()
    assert [(m["modelId"], m["triggerWordInPrompt"]) for m in done["models"]] == [(mug_id, True), (style_id, False)]
    job = _ctx(mockserver).world.jobs.get(KEY, r.json()["predictionId"], "prediction")
    asset = _ctx(mockserver).world.assets.get(job.outputs[0]["asset"])
    lines = "\n".join(asset.render["lines"])
    assert f"Model Mug ({mug_id}" in lines and f"Model Watercolour ({style_id}" in lines
    assert f"{mug_word} IN the prompt" in lines and f"{style_word} NOT in the prompt" in lines
    image = decode(httpx.get(done["outputImages"][0]).content)
    assert image.format == "JPEG" and image.size == (1024, 1024)  # the defaults


@pytest.mark.mockserver(profile="instant")
def test_soft_deletes_hide_but_keep(mockserver, api):
    store = _ctx(mockserver).world.store
    model_id, training_id, word = api.trained_model()
    prediction_id = api.predict([(model_id, training_id)], f"{word} at dusk").json()["predictionId"]

    assert api.call("DELETE", f"/models/{model_id}/trainings/{training_id}").status_code == 204
    assert api.training(model_id, training_id).status_code == 404
    assert api.call("GET", f"/models/{model_id}/trainings").json() == []
    assert api.call("GET", f"/models/{model_id}").json()["status"] == "untrained"
    assert store.get("job:training", training_id).deleted is True
    refused = api.predict([(model_id, training_id)], word)
    assert refused.status_code == 404

    assert api.call("DELETE", f"/models/{model_id}").status_code == 204
    assert api.call("GET", f"/models/{model_id}").status_code == 404
    assert api.call("GET", f"/models/{model_id}/training-data").status_code == 404
    assert store.get("model", model_id).deleted is True
    survived = api.call("GET", f"/predictions/{prediction_id}")
    assert survived.status_code == 200 and survived.json()["status"] == "succeeded"
    assert httpx.get(survived.json()["outputImages"][0]).status_code == 200

    assert api.call("DELETE", f"/predictions/{prediction_id}").status_code == 204
    assert api.call("GET", f"/predictions/{prediction_id}").status_code == 404
    assert api.call("DELETE", f"/predictions/{prediction_id}").status_code == 404
    assert store.get("job:prediction", prediction_id).deleted is True


def test_replace_and_delete_training_images(mockserver, api):
    model = api.create_model()
    data_id = api.upload(model["id"], "PNG").json()["dataId"]
    old_asset = _ctx(mockserver).world.registry.image(KEY, model["id"], data_id).asset_id
    jpeg = image_bytes("JPEG", (80, 60))
    replaced = api.call(
        "PUT", f"/models/{model['id']}/training-data/{data_id}", content=jpeg, headers={"content-type": "image/jpg"}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["dataId"] == data_id and replaced.json()["contentType"] == "image/jpeg"
    assert (replaced.json()["width"], replaced.json()["height"]) == (80, 60)
    url = api.call("GET", f"/models/{model['id']}/training-data/{data_id}").json()["dataUrl"]
    assert httpx.get(url).content == jpeg
    assert _ctx(mockserver).world.assets.get(old_asset) is None  # the old bytes are gone

    assert api.call("DELETE", f"/models/{model['id']}/training-data/{data_id}").status_code == 204
    assert api.call("GET", f"/models/{model['id']}/training-data").json() == []
    assert api.call("GET", f"/models/{model['id']}/training-data/{data_id}").status_code == 404
    assert httpx.get(url).status_code == 404  # permanently removed, bytes included
    assert api.train(model["id"]).json()["error"]["code"] == "no_training_data"


def test_tenants_are_isolated(mockserver, api):
    model_id, training_id, word = api.trained_model()
    data_id = api.call("GET", f"/models/{model_id}/training-data").json()[0]["dataId"]
    prediction_id = api.predict([(model_id, training_id)], word).json()["predictionId"]
    other = Api(mockserver.http, OTHER_KEY)
    for method, path in (
        ("GET", f"/models/{model_id}"),
        ("PATCH", f"/models/{model_id}"),
        ("DELETE", f"/models/{model_id}"),
        ("GET", f"/models/{model_id}/training-data"),
        ("GET", f"/models/{model_id}/training-data/{data_id}"),
        ("DELETE", f"/models/{model_id}/training-data/{data_id}"),
        ("GET", f"/models/{model_id}/trainings/{training_id}"),
        ("POST", f"/models/{model_id}/trainings/{training_id}/cancel"),
        ("GET", f"/predictions/{prediction_id}"),
        ("DELETE", f"/predictions/{prediction_id}"),
    ):
        kwargs = {"json": {"updatedDisplayName": "x"}} if method == "PATCH" else {}
        assert other.call(method, path, **kwargs).status_code == 404, (method, path)
    assert other.predict([(model_id, training_id)], word).status_code == 404
    assert api.call("GET", f"/models/{model_id}").status_code == 200  # nothing changed for the owner


def test_faults_journal_and_state_export_apply(mockserver, api):
    mockserver.faults.add(effect="http", surface="training", path="/predictions", status=429, times=1)
    model_id, training_id, word = api.trained_model()
    limited = api.predict([(model_id, training_id)], word)
    assert limited.status_code == 429 and limited.headers["retry-after"]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert api.predict([(model_id, training_id)], word).status_code == 202

    journal = mockserver.requests(path="/models")
    assert journal and journal[0]["surface"] == "training" and journal[0]["tenant"] == KEY
    assert mockserver.count(path="/predictions", method="POST") == 2

    state = mockserver.export_state()
    mockserver.reset()
    assert api.call("GET", f"/models/{model_id}").status_code == 404
    mockserver.import_state(state)
    restored = api.call("GET", f"/models/{model_id}").json()
    assert restored["status"] == "ready" and restored["triggerWord"] == word
    data_id = api.call("GET", f"/models/{model_id}/training-data").json()[0]["dataId"]
    url = api.call("GET", f"/models/{model_id}/training-data/{data_id}").json()["dataUrl"]
    assert decode(httpx.get(url).content).format == "PNG"


def test_restart_at_the_same_frozen_instant_shows_the_newest_training(firefly_mock, auth):
    api = Api(firefly_mock.http, firefly_mock.client_id)
    firefly_mock.clock.freeze()
    model = api.create_model()
    api.upload(model["id"])
    started = []
    for _ in range(3):  # start and cancel twice, then start again, all at one instant
        started.append(api.train(model["id"]).json()["trainingId"])
        if len(started) < 3:
            api.call("POST", f"/models/{model['id']}/trainings/{started[-1]}/cancel")
    listing = api.call("GET", f"/models/{model['id']}/trainings").json()
    assert [t["id"] for t in listing] == started
    assert [t["status"] for t in listing] == ["cancelled", "cancelled", "queued"]
    assert api.call("GET", f"/models/{model['id']}").json()["status"] == "queued"
    queued = firefly_mock.http.get("/v3/custom-models", params={"publishedState": "queued"}, headers=auth).json()
    assert model["assetId"] in [m["assetId"] for m in queued["custom_models"]]


def test_camera_jpegs_with_extra_frames_count_as_jpeg(mockserver, api):
    model = api.create_model()
    out = io.BytesIO()
    Image.new("RGB", (40, 30)).save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (40, 30))])
    r = api.call(
        "POST", f"/models/{model['id']}/training-data", content=out.getvalue(), headers={"content-type": "image/jpeg"}
    )
    assert r.status_code == 201, r.text
    assert (r.json()["contentType"], r.json()["width"], r.json()["height"]) == ("image/jpeg", 40, 30)
