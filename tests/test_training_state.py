"""A Hypothesis state machine: random sequences of training-API operations and clock moves, checked against a
small model of what the fake should hold (in process, on a frozen clock, for speed and exactness)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, multiple, precondition, rule
from test_training_support import KEY, MIME, Api, image_bytes

from mockserver.core.ids import Ids
from mockserver.core.profiles import plan_for
from mockserver.testing import MockServer, in_process

PROFILE = "fast"
_IDS = Ids(0)
PLANS = {
    speed: plan_for(PROFILE, "training" if speed == "fast" else "training_hq", _IDS)
    for speed in ("fast", "high_quality")
}
GENERATE = plan_for(PROFILE, "generate", _IDS)
_FIREFLY_STATE = {"queued": "queued", "processing": "training", "failed": "failed", "cancelled": "cancelled"}
IMAGES = {(fmt, shade): image_bytes(fmt, (16 + shade, 12), (shade * 40, 80, 160)) for fmt in MIME for shade in range(3)}


def _status(created: float, pending: float, running: float, now: float, cancelled_at: float | None) -> str:
    """The phase a job should be in, computed exactly as the core does (same floats, same comparisons)."""
    t = now - created
    end = pending + running
    if cancelled_at is not None:
        cancel_t = cancelled_at - created
        if t >= cancel_t and cancel_t < end:
            return "cancelled"
    if t >= end:
        return "succeeded"
    return "processing" if t >= pending else "queued"


@dataclass
class Image:
    id: str
    data: bytes
    mime: str
    created: float


@dataclass
class Training:
    id: str
    model: str
    speed: str
    created: float
    seq: int
    cancelled_at: float | None = None
    deleted: bool = False
    word: str | None = None

    @property
    def order(self) -> tuple[float, int]:
        return (self.created, self.seq)

    def status(self, now: float) -> str:
        plan = PLANS[self.speed]
        return _status(self.created, plan.pending, plan.running, now, self.cancelled_at)


@dataclass
class Model:
    id: str
    asset_id: str
    name: str
    kind: str
    deleted: bool = False
    images: dict[str, Image] = field(default_factory=dict)
    trainings: list[Training] = field(default_factory=list)

    def visible(self) -> list[Training]:
        return [t for t in self.trainings if not t.deleted]

    def status(self, now: float) -> str:
        shown = self.visible()
        if not shown:
            return "untrained"
        if any(t.status(now) == "succeeded" for t in shown):
            return "ready"
        newest = max(shown, key=lambda t: t.order)
        return {"processing": "training"}.get(newest.status(now), newest.status(now))


@dataclass
class Prediction:
    id: str
    created: float
    count: int
    deleted: bool = False

    def status(self, now: float) -> str:
        return _status(self.created, GENERATE.pending, GENERATE.running, now, None)


class TrainingMachine(RuleBasedStateMachine):
    server: MockServer  # set once per module by the fixture below

    models = Bundle("models")
    images = Bundle("images")
    trainings = Bundle("trainings")
    predictions = Bundle("predictions")

    def __init__(self) -> None:
        super().__init__()
        self.mock = self.server
        self.api = Api(self.mock.http)
        self.world: dict[str, Model] = {}
        self.predicted: dict[str, Prediction] = {}

    @initialize(target=models)
    def start(self):
        """A fresh server state on a frozen clock, and one model with a training image to work on."""
        self.mock.reset()
        self.mock.profile(PROFILE)
        self.mock.clock.freeze()
        self.now = self.mock.clock.now()
        self.token = self.mock.token()
        model_id = self.create_model("first", None)
        self.upload(model_id, "PNG", 0)
        return model_id

    # --- models ------------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.world) < 4)  # a few models, each taken further
    @rule(target=models, name=st.text(min_size=1, max_size=20), kind=st.sampled_from([None, "subject", "style"]))
    def create_model(self, name, kind):
        body = self.api.create_model(name, kind)
        assert body["displayName"] == name and body["status"] == "untrained"
        self.world[body["id"]] = Model(body["id"], body["assetId"], name, kind or "style")
        return body["id"]

    @rule(model_id=models, name=st.text(min_size=1, max_size=20))
    def rename_model(self, model_id, name):
        model = self.world[model_id]
        r = self.api.call("PATCH", f"/models/{model_id}", json={"updatedDisplayName": name})
        if model.deleted:
            assert r.status_code == 404
            return
        assert r.status_code == 200 and r.json()["displayName"] == name
        model.name = name

    @precondition(lambda self: not any(m.deleted for m in self.world.values()))  # one deletion per run is enough
    @rule(model_id=models)
    def delete_model(self, model_id):
        model = self.world[model_id]
        assert self.api.call("DELETE", f"/models/{model_id}").status_code == (404 if model.deleted else 204)
        model.deleted = True

    @rule(model_id=models)
    def get_model(self, model_id):
        model = self.world[model_id]
        r = self.api.call("GET", f"/models/{model_id}")
        if model.deleted:
            assert r.status_code == 404
            return
        body = r.json()
        assert (body["displayName"], body["customModelType"]) == (model.name, model.kind)
        assert body["status"] == model.status(self.now)
        done = [t for t in model.visible() if t.status(self.now) == "succeeded"]
        if not done:
            assert body["triggerWord"] is None
        else:
            newest = max(done, key=lambda t: t.order)
            assert body["triggerWord"] is not None
            if newest.word is not None:
                assert body["triggerWord"] == newest.word

    # --- training images ---------------------------------------------------------------------------------

    @rule(target=images, model_id=models, fmt=st.sampled_from(sorted(MIME)), shade=st.integers(0, 2))
    def upload(self, model_id, fmt, shade):
        model = self.world[model_id]
        data = IMAGES[(fmt, shade)]
        r = self.api.upload(model_id, fmt, data)
        if model.deleted:
            assert r.status_code == 404
            return multiple()
        assert r.status_code == 201, r.text
        data_id = r.json()["dataId"]
        model.images[data_id] = Image(data_id, data, MIME[fmt], self.now)
        return (model_id, data_id)

    @rule(image=images, fmt=st.sampled_from(sorted(MIME)), shade=st.integers(0, 2))
    def replace(self, image, fmt, shade):
        model_id, data_id = image
        model = self.world[model_id]
        data = IMAGES[(fmt, shade)]
        r = self.api.call(
            "PUT", f"/models/{model_id}/training-data/{data_id}", content=data, headers={"content-type": MIME[fmt]}
        )
        if model.deleted or data_id not in model.images:
            assert r.status_code == 404
            return
        assert r.status_code == 200 and r.json()["contentType"] == MIME[fmt]
        model.images[data_id].data, model.images[data_id].mime = data, MIME[fmt]

    @rule(image=images)
    def delete_image(self, image):
        model_id, data_id = image
        model = self.world[model_id]
        r = self.api.call("DELETE", f"/models/{model_id}/training-data/{data_id}")
        gone = model.deleted or data_id not in model.images
        assert r.status_code == (404 if gone else 204)
        model.images.pop(data_id, None)

    @rule(image=images)
    def get_image(self, image):
        model_id, data_id = image
        model = self.world[model_id]
        r = self.api.call("GET", f"/models/{model_id}/training-data/{data_id}")
        if model.deleted or data_id not in model.images:
            assert r.status_code == 404
            return
        body = r.json()
        assert body["contentType"] == model.images[data_id].mime
        download = self.mock.http.get(body["dataUrl"])
        assert download.status_code == 200 and download.content == model.images[data_id].data

    @rule(model_id=models)
    def list_images(self, model_id):
        model = self.world[model_id]
        r = self.api.call("GET", f"/models/{model_id}/training-data")
        if model.deleted:
            assert r.status_code == 404
            return
        expected = sorted(model.images.values(), key=lambda i: (i.created, i.id))
        assert [i["dataId"] for i in r.json()] == [i.id for i in expected]

    # --- trainings ---------------------------------------------------------------------------------------

    @rule(
        target=trainings, model_id=models, speed=st.sampled_from(["fast", "high_quality"]), strength=st.integers(0, 10)
    )
    def start_training(self, model_id, speed, strength):
        model = self.world[model_id]
        r = self.api.train(model_id, speed, strength)
        if model.deleted:
            assert r.status_code == 404
            return multiple()
        if not model.images:
            assert r.status_code == 409 and r.json()["error"]["code"] == "no_training_data"
            return multiple()
        if any(t.status(self.now) in ("queued", "processing") for t in model.visible()):
            assert r.status_code == 409 and r.json()["error"]["code"] == "training_in_progress"
            return multiple()
        assert r.status_code == 202, r.text
        training = Training(r.json()["trainingId"], model_id, speed, self.now, len(model.trainings) + 1)
        model.trainings.append(training)
        return training.id

    def _training(self, training_id: str) -> Training:
        return next(t for m in self.world.values() for t in m.trainings if t.id == training_id)

    def _hidden(self, training: Training) -> bool:
        return training.deleted or self.world[training.model].deleted

    @rule(training_id=trainings)
    def get_training(self, training_id):
        training = self._training(training_id)
        r = self.api.training(training.model, training_id)
        if self._hidden(training):
            assert r.status_code == 404
            return
        body = r.json()
        assert body["status"] == training.status(self.now), (body, training, self.now)
        if body["status"] in ("processing", "succeeded"):  # the word exists while processing (seed 003)
            assert body["triggerWord"] and (training.word in (None, body["triggerWord"]))
            training.word = body["triggerWord"]
        else:
            assert body["triggerWord"] is None

    @rule(model_id=models)
    def list_trainings(self, model_id):
        model = self.world[model_id]
        r = self.api.call("GET", f"/models/{model_id}/trainings")
        if model.deleted:
            assert r.status_code == 404
            return
        expected = sorted(model.visible(), key=lambda t: t.order)
        assert [(t["id"], t["status"]) for t in r.json()] == [(t.id, t.status(self.now)) for t in expected]

    @rule(training_id=trainings)
    def cancel_training(self, training_id):
        training = self._training(training_id)
        r = self.api.call("POST", f"/models/{training.model}/trainings/{training_id}/cancel")
        if self._hidden(training):
            assert r.status_code == 404
        elif training.status(self.now) in ("queued", "processing"):
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
            training.cancelled_at = self.now
        else:
            assert r.status_code == 409 and r.json()["error"]["code"] == "training_finished"

    @rule(training_id=trainings)
    def delete_training(self, training_id):
        training = self._training(training_id)
        r = self.api.call("DELETE", f"/models/{training.model}/trainings/{training_id}")
        assert r.status_code == (404 if self._hidden(training) else 204)
        training.deleted = True

    # --- predictions -------------------------------------------------------------------------------------

    @rule(
        target=predictions,
        picked=st.lists(trainings, min_size=1, max_size=3),
        count=st.integers(1, 2),
        mention=st.booleans(),
    )
    def predict(self, picked, count, mention):
        """Any trainings at all: refused unless every one is visible and succeeded."""
        return self._predict([self._training(t) for t in picked], count, mention)

    def _ready(self) -> list[Training]:
        return [
            t
            for m in self.world.values()
            for t in m.trainings
            if not self._hidden(t) and t.status(self.now) == "succeeded"
        ]

    @precondition(lambda self: self._ready())
    @rule(target=predictions, data=st.data(), count=st.integers(1, 2), mention=st.booleans())
    def predict_with_ready_trainings(self, data, count, mention):
        chosen = data.draw(st.lists(st.sampled_from(self._ready()), min_size=1, max_size=2))
        return self._predict(chosen, count, mention)

    def _predict(self, chosen: list[Training], count: int, mention: bool):
        words = [t.word for t in chosen if t.word] if mention else []
        r = self.api.predict(
            [(t.model, t.id) for t in chosen],
            " ".join(["a photo of", *words]),
            num_images=count,
            image_size={"width": 512, "height": 512},
        )
        if any(self._hidden(t) for t in chosen):
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
            return multiple()
        if any(t.status(self.now) != "succeeded" for t in chosen):
            assert r.status_code == 409 and r.json()["error"]["code"] == "training_not_succeeded", r.text
            return multiple()
        assert r.status_code == 202, r.text
        prediction = Prediction(r.json()["predictionId"], self.now, count)
        self.predicted[prediction.id] = prediction
        body = self.api.call("GET", f"/predictions/{prediction.id}").json()
        in_prompt = [m["triggerWordInPrompt"] for m in body["models"]]
        assert in_prompt == [bool(mention and t.word) for t in chosen]
        return prediction.id

    @rule(prediction_id=predictions)
    def get_prediction(self, prediction_id):
        prediction = self.predicted[prediction_id]
        r = self.api.call("GET", f"/predictions/{prediction_id}")
        if prediction.deleted:
            assert r.status_code == 404
            return
        body = r.json()
        assert body["status"] == prediction.status(self.now)
        assert len(body["outputImages"]) == (prediction.count if body["status"] == "succeeded" else 0)

    @rule(prediction_id=predictions)
    def delete_prediction(self, prediction_id):
        prediction = self.predicted[prediction_id]
        assert self.api.call("DELETE", f"/predictions/{prediction_id}").status_code == (
            404 if prediction.deleted else 204
        )
        prediction.deleted = True

    # --- the clock and the Firefly view ------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1.0, 0.4, 3.0, 0.05, 0.2, 10.0]))
    def advance(self, seconds):
        self.now = self.mock.clock.advance(seconds)["now"]

    @rule()
    def firefly_sees_the_same_models(self):
        headers = {"x-api-key": KEY, "authorization": f"Bearer {self.token}"}
        for state in ("queued", "training", "ready", "failed", "cancelled"):
            r = self.mock.http.get("/v3/custom-models", params={"publishedState": state, "limit": 50}, headers=headers)
            listed = {m["assetId"] for m in r.json()["custom_models"]}
            expected = {
                m.asset_id
                for m in self.world.values()
                if not m.deleted and m.status(self.now) == _FIREFLY_STATE.get(state, state)
            }
            ours = {m.asset_id for m in self.world.values()}
            assert listed & ours == expected, state


@pytest.fixture(scope="module")
def server():
    with in_process(profile=PROFILE) as mock:
        yield mock


def test_random_operation_sequences(server):
    TrainingMachine.server = server
    runner = TrainingMachine.TestCase
    runner.settings = settings(
        max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
    )
    runner().runTest()
