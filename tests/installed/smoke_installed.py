"""Smoke test of a regular (non-editable) install, run by .ci/run from a fresh virtual environment outside the
checkout: `python -m pytest smoke_installed.py`. Its name keeps it out of the normal test run, which uses the
checkout.

It checks that the package came from site-packages with its bundled fixtures, specs and dashboard files, that the
pytest plugin's fixtures work, and that the Docker image's own command and environment start a working server.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

import mockserver
from mockserver.settings import bundled
from mockserver.testing import serve_process


def test_the_package_is_installed_with_its_data() -> None:
    assert "site-packages" in mockserver.__file__, mockserver.__file__
    assert (Path(bundled("fixtures")) / "default.yaml").is_file()
    assert {p.name for p in Path(bundled("openapi")).glob("*.yaml")} >= {"firefly-v3.yaml", "admin.yaml"}


@pytest.mark.mockserver(profile="instant", seed=4)
def test_plugin_fixture_runs_the_generate_flow(firefly_mock) -> None:
    headers = {"x-api-key": firefly_mock.client_id, "authorization": f"Bearer {firefly_mock.access_token}"}
    job = firefly_mock.http.post("/v3/images/generate-async", json={"prompt": "from a wheel"}, headers=headers)
    assert job.status_code == 202, job.text
    status = firefly_mock.http.get(job.json()["statusUrl"], headers=headers).json()
    assert status["status"] == "succeeded"
    image = httpx.get(status["result"]["outputs"][0]["image"]["url"])
    assert Image.open(io.BytesIO(image.content)).format == "JPEG"
    # the dashboard's templates and static files ship in the wheel
    page = firefly_mock.http.get("/__admin/ui/images")
    assert page.status_code == 200 and "from a wheel" in page.text, page.text[:500]
    assert "refresh" in firefly_mock.http.get("/__admin/ui/static/app.js").text


def test_docker_command_and_environment_serve() -> None:
    """The Dockerfile's CMD with its ENV, as the container runs them; only the fixtures folder (copied to /fixtures
    in the image) and the port (tests bind to loopback on a free port) stand in for the image's."""
    text = Path(os.environ["MOCKSERVER_DOCKERFILE"]).read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line[4:])))
    [command] = [json.loads(line[4:]) for line in text.splitlines() if line.startswith("CMD ")]
    env.update(MOCKSERVER_HOST="127.0.0.1", MOCKSERVER_PORT="0", MOCKSERVER_FIXTURES=bundled("fixtures"))
    command[0] = str(Path(sys.executable).parent / command[0])  # the venv's own console script
    with serve_process(command, env) as (_, base):
        assert httpx.get(f"{base}/ready").json() == {"status": "ready"}
        models = httpx.get(f"{base}/v3/custom-models", headers={"x-api-key": "k"})
        assert models.status_code == 401  # Firefly's own answer, not a missing route
