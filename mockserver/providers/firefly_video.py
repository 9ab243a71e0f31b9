"""Firefly's video generation: `POST /v3/videos/generate` (Adobe's `generate_video_api.json`).

A job on the shared clock, profiles and faults, read through `/v3/status` (integer `progress`, outputs with
`video.url`) and `/v3/cancel`. The result is a real MP4 (`mockserver.video`, PyAV's optional extra); without PyAV
the route answers 501 `not_implemented`, a status the spec documents. This API answers request validation with 400
`bad_request` and `validation_errors`, as its spec's example shows, not 422 (which it keeps for unreadable media).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import video
from ..bodies import read_json
from ..context import Context
from ..core import outputs
from ..core.assets import Asset, sources
from ..core.jobs import Job
from ..core.outputs import PICTURE
from ..http import BodyTooLarge, base_url, is_json_type, json
from ..operations import operations
from ..surface import SurfaceError
from . import firefly_errors as errors
from .firefly import JOB_PREFIX, SPEC, VIDEO_KIND, whole_numbers
from .firefly_uploads import authenticate, unknown_upload, uploads

OPERATION = "generateVideoV3"
# Adobe's usage notes, "Supported aspect ratios" of the Generate Video API
SIZES = {
    (1920, 1080),
    (1280, 720),
    (960, 540),
    (1080, 1920),
    (720, 1280),
    (540, 960),
    (1080, 1080),
    (720, 720),
    (540, 540),
}
DEFAULT_SIZE = {"width": 1920, "height": 1080}


def bad_request(problems: list[dict[str, Any]]) -> SurfaceError:
    return errors.api(400, "bad_request", "Invalid request parameters", validation_errors=problems)


class FireflyVideo(errors.FireflyErrorRendering):
    surface = "firefly"
    prefixes = ("/v3/videos/",)  # before `Firefly` (prefix `/v3`) in the app's list
    rate_limits = {("POST", "/v3/videos/generate"): [(60.0, 4), (86400.0, 9000)]}

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.operation = operations(ctx.specs[SPEC])[OPERATION]
        self.uploads = uploads(ctx)

    def routes(self) -> list[Route]:
        return [Route("/v3/videos/generate", self.generate, methods=["POST"])]

    async def generate(self, request: Request) -> Response:
        tenant = authenticate(self.ctx, request)
        if tenant == "":
            headers = {"x-access-error": "invalid_ims_scope"}
            raise errors.api(403, "access_error", "The token lacks the firefly_api scope.", headers)
        if not video.available():
            message = "Video generation needs the optional extra: pip install 'mockserver[video]'."
            raise errors.api(501, "not_implemented", message)
        if not is_json_type(request.headers.get("content-type")):
            raise errors.api(415, "invalid_content_type", "Unsupported media type")
        try:
            parsed = await read_json(request, self.ctx.settings.max_json_bytes)
        except BodyTooLarge:
            raise errors.too_large() from None
        if parsed.empty:
            raise errors.api(400, "empty_input_body")
        if parsed.error is not None:
            raise errors.api(400, "bad_request")
        body = parsed.value
        params, problems = self.operation.parameters(request, defaults=True)
        if not isinstance(body, dict):
            raise bad_request(
                [*problems, {"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
            )
        problems += self.operation.body_errors(body)
        if not problems:
            body = whole_numbers(body)
            problems = self._rules(body)
        if problems:
            raise bad_request(problems)
        conditions = (body.get("image") or {}).get("conditions") or []
        found: dict[str, Asset] = {}
        for index, condition in enumerate(conditions):
            upload_id = condition["source"].get("uploadId")
            if upload_id is not None:
                live = self.uploads.get(tenant, upload_id)
                if live is None:
                    problems.append(unknown_upload(["image", "conditions", index, "source"]))
                else:
                    found[upload_id] = live[1]
        if problems:
            raise bad_request(problems)
        profile, outcome = params.get("x-mock-profile"), request.scope.get("mock.job_outcome")
        with self.world.store.transaction():
            job = self._create_job(tenant, body, conditions, found, profile, outcome)
        base = base_url(request, self.ctx.settings.public_url)
        status_url, cancel_url = f"{base}/v3/status/{job.id}", f"{base}/v3/cancel/{job.id}"
        link = f'<{status_url}>; rel="status", <{cancel_url}>; rel="cancel"'
        return json({"jobId": job.id, "statusUrl": status_url, "cancelUrl": cancel_url}, 202, {"Link": link})

    def _rules(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        conditions = (body.get("image") or {}).get("conditions") or []
        if not body.get("prompt") and not conditions:
            found.append({"loc": ["body", "prompt"], "msg": "Field required", "type": "value_error.missing"})
        for index, size in enumerate(body.get("sizes") or []):
            if (size["width"], size["height"]) not in SIZES:
                allowed = ", ".join(f"{w}x{h}" for w, h in sorted(SIZES))
                found.append(
                    {
                        "loc": ["body", "sizes", index],
                        "msg": f"size {size['width']}x{size['height']} is not supported; supported sizes: {allowed}",
                        "type": "value_error",
                    }
                )
        for index, condition in enumerate(conditions):
            source = condition["source"]
            if not any(key in source for key in ("uploadId", "url", "creativeCloudFileId")):
                loc = ["body", "image", "conditions", index, "source"]
                msg = "one of uploadId, url or creativeCloudFileId is required"
                found.append({"loc": loc, "msg": msg, "type": "value_error"})
        return found

    def _create_job(
        self,
        tenant: str,
        body: dict[str, Any],
        conditions: list[dict[str, Any]],
        found: dict[str, Asset],
        profile: str | None,
        outcome: Any,
    ) -> Job:
        world = self.world
        seed = (body.get("seeds") or [world.ids.seed_value()])[0]
        size = (body.get("sizes") or [DEFAULT_SIZE])[0]
        width, height = size["width"], size["height"]
        now = world.clock.now()
        prompt = body.get("prompt") or ""
        settings = body.get("videoSettings") or {}
        lines = ["Generate Video", f"Prompt: {prompt}"] if prompt else ["Generate Video"]
        known = ("cameraMotion", "promptStyle", "shotAngle", "shotSize")  # other keys are ignored, not drawn
        lines += [f"{key}: {settings[key]}" for key in known if key in settings]
        layers: list[dict[str, Any]] = []
        for condition in conditions:
            source = condition["source"]
            where = f"keyframe at {condition['placement']['position']:g}"
            named = f"upload {source['uploadId']}" if "uploadId" in source else "URL" if "url" in source else "CC file"
            lines.append(f"{where}: {named}")
            if not layers and "uploadId" in source:  # the first uploaded keyframe is the backdrop
                layers.append(
                    {"asset": source["uploadId"], "box": [0, 0, width, height], "mask": None, "outline": False}
                )
        picture = outputs.describe(
            "video/mp4",
            width,
            height,
            (f"{VIDEO_KIND}|{prompt}|", f"|{width}x{height}"),
            (lines, [f"Size: {width}x{height} video/mp4, 5 s", "Adobe Firefly (mock)"]),
            layers=layers,
            crf=body.get("bitRateFactor", 18),
            sources=sources(found),
        )
        job = Job(
            id=f"{JOB_PREFIX}{world.ids.uuid()}",
            tenant=tenant,
            kind=VIDEO_KIND,
            created_at=now,
            plan=world.plan("video", profile),
            inputs={"size": {"width": width, "height": height}, "mime": "video/mp4", "prompt": prompt},
            outputs=[{"seed": seed}],
            outcome=outcome,
            extra={PICTURE: picture},
        )
        return world.jobs.add(job)
