"""Schemathesis over openapi/training.yaml against the running app (a real socket): no 5xx, and every response
conforms to the spec (status code, content type, headers, body schema), for valid and invalid requests alike.

Random ids would only ever reach 404s, so for schema-valid cases the test swaps in ids of real resources made
for the case (a model with an image, a succeeded training, a prediction) and real image bytes for uploads; the
server then has to accept them. Invalid cases are sent as generated. The server runs in strict auth mode, so a
made-up key is refused and Schemathesis's auth checks mean something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from test_training_support import KEY, Api, image_bytes

from mockserver.testing import run_server

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "training.yaml"
schema = schemathesis.openapi.from_path(SPEC)
schemathesis.serializer.alias("image/jpg", "application/octet-stream")  # a non-standard type the API accepts
_UPLOAD_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/webp": "WEBP"}


@pytest.fixture(scope="module")
def live():
    with run_server(auth_mode="strict", profile="instant") as mock:
        yield mock


def _resources(api: Api) -> dict[str, str]:
    model_id, training_id, word = api.trained_model("schemathesis")
    data_id = api.call("GET", f"/models/{model_id}/training-data").json()[0]["dataId"]
    prediction = api.predict([(model_id, training_id)], word or "x").json()["predictionId"]
    return {"modelId": model_id, "trainingId": training_id, "dataId": data_id, "predictionId": prediction}


def _make_real(case: Any, api: Api) -> dict[str, Any]:
    """Point a case at resources that exist: its path ids unless the path itself is the invalid part, and its
    body references and upload bytes when the whole case is valid (so the server is then expected to accept it).
    An upload's bytes go to the transport, as Schemathesis cannot judge binary bodies itself."""
    meta = case.meta
    if meta is None:
        return {}
    if case.path_parameters and not meta.is_negative_at(ParameterLocation.PATH):
        real = _resources(api)
        for name in case.path_parameters:
            case.path_parameters[name] = real[name]
        if case.operation.path.startswith("/models/{modelId}/trainings") and case.method.upper() != "GET":
            # a fresh model with an image (so a training can start) and, for the training routes, a training
            # still queued (so it can be cancelled)
            fresh = api.create_model("fresh")["id"]
            api.upload(fresh)
            case.path_parameters["modelId"] = fresh
            if "trainingId" in case.path_parameters:
                started = api.train(fresh, x_mock_profile="fast").json()["trainingId"]
                case.path_parameters["trainingId"] = started
    if not _is_positive(case):
        return {}
    if case.operation.path == "/predictions" and isinstance(case.body, dict):
        real = _resources(api)
        for config in (case.body.get("scaleConfigs") or {}).values():
            config.update(modelId=real["modelId"], trainingId=real["trainingId"])
    if case.media_type in _UPLOAD_FORMATS:
        return {"data": image_bytes(_UPLOAD_FORMATS[case.media_type])}
    return {}


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return (
        meta is not None
        and meta.generation.mode.is_positive
        and not any(component.mode.is_negative for component in meta.components.values())
    )


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_training_api_conforms(case, live):
    extra = _make_real(case, Api(live.http))
    headers = {"x-api-key": KEY}
    if case.headers:
        headers.update({k: v for k, v in case.headers.items() if k.lower() != "x-api-key"})
    case.call_and_validate(base_url=live.base_url, headers=headers, **extra)
