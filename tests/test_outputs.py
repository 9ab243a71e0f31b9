"""Outputs a job draws (core.outputs): ids that find their job, pictures rendered as an asset per output was, one
object a generate, and state files that still name an asset per output."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import generate, with_picture
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

from mockserver.core import outputs
from mockserver.core.jobs import Job, Plan
from mockserver.files import render_key
from mockserver.providers.firefly import picture_of
from mockserver.testing import run_server


@given(st.text(max_size=80))
def test_any_name_parses_to_an_output_or_to_none(name: str) -> None:
    """Whatever a download's path names, parsing it never fails, and what parses is an output id as made."""
    parsed = outputs.parse(name)
    if parsed is not None:
        token, index = parsed
        assert outputs.output_id(f"urn:ff:jobs:ue1:{token}", index) == name


@given(st.uuids(), st.integers(min_value=0, max_value=9999))
def test_an_output_id_names_its_job_and_index(uuid: object, index: int) -> None:
    job_id = f"urn:ff:jobs:ue1:{uuid}"
    assert outputs.parse(outputs.output_id(job_id, index)) == (str(uuid), index)


def test_names_that_are_not_output_ids() -> None:
    for name in ("", "_1", "abc", "abc_", "abc_x", "abc_1.5", "abc_١", "abc_12345", "abc_01", "asset_abc"):
        assert outputs.parse(name) is None, name


def test_a_generate_draws_the_picture_an_asset_of_its_own_held() -> None:
    """The render spec (and so the picture's bytes and its cache key) is the one each output's asset held before
    outputs were drawn: `{"key": "firefly|<prompt>|<seed>|<model>|<WxH>|<mime>", "lines": [...]}`."""
    inputs = {
        "prompt": "a fox",
        "size": {"width": 1024, "height": 768},
        "version": "image4_standard",
        "mime": "image/png",
    }
    job = Job("urn:ff:jobs:ue1:u", "t", "firefly.generate", 5.0, Plan(0, 0), inputs, [{"seed": 7}, {"seed": 9}])
    asset = outputs.drawn(job, 1, picture_of(job))
    assert asset is not None
    assert (asset.id, asset.tenant, asset.mime, asset.width, asset.height, asset.created_at) == (
        "u_1",
        "t",
        "image/png",
        1024,
        768,
        5.0,
    )
    assert asset.render == {
        "key": "firefly|a fox|9|image4_standard|1024x768|image/png",
        "lines": [
            "Prompt: a fox",
            "Seed: 9",
            "Model: image4_standard",
            "Size: 1024x768 image/png",
            "Adobe Firefly (mock)",
        ],
    }
    job.extra["model"] = "image4_custom / My style"
    renamed = outputs.drawn(job, 0, picture_of(job))
    assert renamed is not None and renamed.render is not None
    assert renamed.render["lines"][2] == "Model: image4_custom / My style"
    assert render_key(renamed) != render_key(asset)
    assert outputs.drawn(job, 2, picture_of(job)) is None  # no third output


def test_a_state_file_whose_outputs_name_assets_still_serves_them() -> None:
    """Jobs exported before outputs were drawn keep an asset per output: imported, their status signs that asset's
    URL, it downloads, and eviction forgets it with its job."""
    with run_server(profile="instant", max_jobs=3) as mock:
        headers = mock.headers()
        job = generate(mock, {"prompt": "from before"}, headers).json()
        state = mock.export_state()
        objects = []
        for obj in state["objects"]:
            if obj["kind"] == "job:firefly.generate":
                data = obj["data"]
                asset = {
                    "id": "legacy-asset",
                    "tenant": obj["tenant"],
                    "mime": "image/jpeg",
                    "width": 64,
                    "height": 48,
                    "created_at": data["created_at"],
                    "render": {"key": "firefly|from before|5|image3|64x48|image/jpeg", "lines": ["Seed: 5"]},
                    "blob": None,
                    "size": 0,
                    "meta": {},
                }
                objects.append({"kind": "asset", "key": "legacy-asset", "tenant": obj["tenant"], "data": asset})
                obj = {**obj, "data": {**data, "outputs": [{"seed": 5, "asset": "legacy-asset"}]}}
            objects.append(obj)
        assert mock.http.put("/__admin/state", json={**state, "objects": objects}).status_code == 200
        status = mock.http.get(job["statusUrl"], headers=headers).json()
        url = status["result"]["outputs"][0]["image"]["url"]
        assert "/files/legacy-asset.jpg?" in url and status["result"]["outputs"][0]["seed"] == 5
        got = httpx.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and got.content[:2] == b"\xff\xd8"
        store = mock.app.state.ctx.world.store
        assert store.count("asset") == 1
        for i in range(4):  # past the limit of 3: the imported job is the oldest, and goes with its asset
            generate(mock, {"prompt": f"newer {i}"}, headers)
        assert mock.http.get(job["statusUrl"], headers=headers).status_code == 404
        assert store.count("asset") == 0 and httpx.get(url).status_code == 404


def test_a_durable_generate_is_one_row_and_its_outputs_download_after_a_restart(tmp_path) -> None:
    with run_server(profile="instant", state_dir=str(tmp_path), seed=3) as mock:
        headers = mock.headers()
        jobs = [generate(mock, {"prompt": f"row {i}", "numVariations": 2}, headers).json() for i in range(3)]
        store = mock.app.state.ctx.world.store
        assert store.count("job:firefly.generate") == 3 and store.count("asset") == 0
        first = mock.http.get(jobs[0]["statusUrl"], headers=headers).json()["result"]["outputs"]
        before = [httpx.get(out["image"]["url"]).content for out in first]
        assert len(set(before)) == 2  # two seeds, two pictures
    with run_server(profile="instant", state_dir=str(tmp_path), seed=3) as again:
        path = jobs[0]["statusUrl"].replace(mock.base_url, "")  # the same job, asked of the restarted server
        outs = again.http.get(path, headers=headers).json()["result"]["outputs"]
        assert [httpx.get(out["image"]["url"]).content for out in outs] == before


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_PICTURES = (
    st.fixed_dictionaries(
        {},
        optional={
            "mime": st.sampled_from(["image/jpeg", "image/png", "video/mp4", "text/plain"]) | _JSON,
            "width": st.integers(-5, 10_000) | _JSON,
            "height": st.integers(-5, 10_000) | _JSON,
            "key": st.lists(st.text(max_size=6), min_size=2, max_size=2) | _JSON,
            "lines": st.lists(st.lists(st.text(max_size=6), max_size=2), min_size=2, max_size=2) | _JSON,
            "layers": _JSON,
            "crf": st.integers(-5, 80) | _JSON,
            "sources": _JSON,
        },
    )
    | st.fixed_dictionaries(
        {  # a description the import takes, at sizes small enough to render quickly
            "mime": st.sampled_from(["image/jpeg", "image/png", "image/webp"]),
            "width": st.integers(1, 300),
            "height": st.integers(1, 300),
            "key": st.lists(st.text(max_size=6), min_size=2, max_size=2),
            "lines": st.lists(st.lists(st.text(max_size=12), max_size=3), min_size=2, max_size=2),
        },
        optional={"layers": st.just([]) | _JSON, "crf": st.integers(0, 63), "sources": _JSON},
    )
    | _JSON
)


@pytest.fixture(scope="module")
def expanded() -> Iterator[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """A server with one expand job (its picture kept with it), and the state it exported."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "PNG")
    with run_server(profile="instant") as mock:
        headers = mock.headers()
        upload_id = mock.upload(buf.getvalue())
        body = {"image": {"source": {"uploadId": upload_id}}, "size": {"width": 1024, "height": 1024}}
        job = mock.http.post("/v3/images/expand-async", headers=headers, json=body).json()
        yield mock, job, mock.export_state()


@settings(max_examples=60, deadline=None)
@given(_PICTURES)
def test_an_imported_picture_is_refused_or_drawn_never_a_500(expanded, drawn: Any) -> None:
    """Whatever a state file says a job's outputs show, the import is refused (422, naming it) or the outputs
    are signed and drawn: the status answers 200, the download 200 or 404, never a 500."""
    mock, job, state = expanded
    imported = mock.http.put("/__admin/state", json=with_picture(state, "job:firefly.expand", lambda _: drawn))
    assert imported.status_code in (200, 422), imported.text
    event(f"import {imported.status_code}")
    if imported.status_code == 422:
        return
    status = mock.http.get(job["statusUrl"], headers=mock.headers())
    assert status.status_code == 200
    url = status.json()["result"]["outputs"][0]["image"]["url"]
    assert httpx.get(url, timeout=30).status_code in (200, 404)
