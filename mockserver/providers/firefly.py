"""The Adobe Firefly v3 surface: IMS tokens, custom models, generate-async, status and cancel.

Parses and validates requests as Firefly does, calls the core, and renders Adobe's JSON. Error bodies come from
`firefly_errors`; request body rules come from `openapi/firefly-v3.yaml`.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import Context
from ..core import outputs
from ..core.jobs import Job, Phase
from ..core.memo import Memo
from ..core.outputs import PICTURE
from ..core.registry import Model
from ..core.tenants import CredentialError
from ..core.trainings import TrainingState
from ..http import BodyTooLarge, Prepared, base_url, header, is_count, json, read_body
from ..operations import operations
from . import firefly_errors as errors
from .firefly_fixtures import seed_custom_models
from .firefly_multipart import Files, fill_sources, read_request, store_files
from .firefly_uploads import bearer, tenant_of, unknown_upload, uploads

SPEC = "firefly-v3.yaml"
_JSON_TYPE = (b"content-type", b"application/json")
GENERATE = "firefly.generate"
VIDEO_KIND = "firefly.video"  # its status has an integer progress and outputs[].video.url (generate_video_api.json)
# Every Firefly async operation's job kind: they share /v3/status and /v3/cancel (firefly_async starts the
# image-to-image ones, firefly_video the videos).
JOB_PREFIX = "urn:ff:jobs:ue1:"  # every Firefly job id: this and a UUID
JOB_KINDS = (GENERATE, "firefly.expand", "firefly.fill", "firefly.similar", "firefly.composite", VIDEO_KIND)
CUSTOM_VERSIONS = ("image3_custom", "image4_custom")
REFERENCE_SOURCES = (("style", "imageReference", "source"), ("structure", "imageReference", "source"))
# From the `size` description of Adobe's GenerateImagesRequestV3 (the newer spec, with image4 and custom models).
_IMAGE3_SIZES = {
    (2048, 2048),
    (1024, 1024),
    (2304, 1792),
    (1792, 2304),
    (2688, 1536),
    (2688, 1512),
    (1344, 768),
    (1344, 756),
    (1152, 896),
    (896, 1152),
}
_IMAGE4_SIZES = {(2048, 2048), (2304, 1792), (1792, 2304), (2688, 1536), (1440, 2560)}
SIZES = {
    "image3": _IMAGE3_SIZES,
    "image3_custom": _IMAGE3_SIZES,
    "image4_standard": _IMAGE4_SIZES,
    "image4_ultra": _IMAGE4_SIZES,
    "image4_custom": _IMAGE4_SIZES,
}
# The storage domains PublicBinaryInputV3.url may point at, from the description of Adobe's newer spec.
SOURCE_DOMAINS = ("amazonaws.com", "windows.net", "dropboxusercontent.com", "storage.googleapis.com")
SORT_KEYS = {
    "assetName": lambda m: m.display_name.lower(),
    "createdDate": lambda m: m.created_at,
    "modifiedDate": lambda m: m.modified_at,
}
PUBLISHED_STATES = ("all", "ready", "published", "unpublished", "queued", "training", "failed", "cancelled")
# The publishedState filter values that select by training state rather than by publication.
_TRAINING_FILTERS = {
    "ready": TrainingState.READY,
    "queued": TrainingState.QUEUED,
    "training": TrainingState.TRAINING,
    "failed": TrainingState.FAILED,
    "cancelled": TrainingState.CANCELLED,
}
MEDIA_TYPE = "application/vnd.adobe.ffmodel+dcx"
ASSET_SUFFIX = ".ffcustommodel"  # the tutorial's assetName: "Warm Custom Model.ffcustommodel"
_STATUS = {
    Phase.PENDING: "pending",
    Phase.RUNNING: "running",
    Phase.SUCCEEDED: "succeeded",
    Phase.FAILED: "failed",
    Phase.CANCELED: "canceled",
    Phase.TIMEOUT: "timeout",
}


class Firefly(errors.FireflyErrorRendering):
    surface = "firefly"
    prefixes = ("/ims", "/v3")
    # Firefly's published limits per organisation, applied with --rate-limits realistic
    rate_limits = {("POST", "/v3/images/generate-async"): [(60.0, 4), (86400.0, 9000)]}

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.spec = ctx.specs[SPEC]
        self.operations = operations(self.spec)
        self.world.seeders.append(seed_custom_models)
        self.uploads = uploads(ctx)
        self.listings = Memo(self.world.store, self.world.clock)  # custom-model listings, per tenant and order
        self.statuses = Memo(self.world.store, self.world.clock)  # finished jobs' status answers
        self.answers = Memo(self.world.store, self.world.clock)  # whole listing answers
        self.world.draws_outputs(JOB_PREFIX, JOB_KINDS, picture_of)

    def routes(self) -> list[Route]:
        return [
            Route("/ims/token/v3", self.token, methods=["POST"]),
            Route("/v3/custom-models", self.list_models, methods=["GET"]),
            Route("/v3/custom-models/{asset_id:path}", self.get_model, methods=["GET"]),
            Route("/v3/images/generate-async", self.generate, methods=["POST"]),
            Route("/v3/status/{job_id:path}", self.status, methods=["GET"]),
            Route("/v3/cancel/{job_id:path}", self.cancel, methods=["PUT"]),
        ]

    # --- IMS -----------------------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        fields = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        try:
            raw = await read_body(request, self.ctx.settings.max_json_bytes)
        except BodyTooLarge:
            raise errors.ims(413, "invalid_request", "request body too large") from None
        if raw:
            if not content_type.startswith("application/x-www-form-urlencoded"):
                raise errors.ims(415, "invalid_request", "content type must be application/x-www-form-urlencoded")
            try:
                fields.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise errors.ims(400, "invalid_request", "request body is not valid form data") from None
        if fields.get("grant_type") != "client_credentials":
            raise errors.ims(400, "unsupported_grant_type", "unsupported grant_type parameter")
        try:
            client = self.world.tenants.authenticate(fields.get("client_id", ""), fields.get("client_secret", ""))
        except CredentialError as exc:
            which = "client_secret" if exc.reason == "bad_secret" else "client_id"
            raise errors.ims(400, "invalid_client", f"invalid {which} parameter") from None
        request.scope["mock.tenant"] = client.tenant
        token = self.world.tenants.issue_token(client, fields.get("scope", ""))
        return json({"access_token": token.value, "token_type": "bearer", "expires_in": 86399})

    def _tenant(self, request: Request) -> str:
        return tenant_of(self.ctx, request)

    # --- custom models -------------------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        # The whole answer is kept per credentials, Accept and query until the store changes (or, for listings
        # with trainings in progress, the clock moves), while the token lasts.
        scope = request.scope
        key = (
            header(request, b"authorization"),
            header(request, b"x-api-key"),
            header(request, b"accept"),
            scope["query_string"],
        )
        revision = self.world.store.revision()
        kept = self.answers.kept(key, revision)
        if kept is not None and self.world.clock.now() < kept[3]:
            scope["mock.tenant"] = kept[0]
            return Prepared(kept[1], kept[2])
        at = self.world.clock.now()
        response, timed = self._list_models(request)
        expiry = self.world.tenants.token_expiry(bearer(request))
        self.answers.keep(
            key, revision, (scope["mock.tenant"], response.body, response.raw_headers, expiry), at if timed else None
        )
        return response

    def _list_models(self, request: Request) -> tuple[Response, bool]:
        tenant = self._tenant(request)
        if not accepts_json(request.headers.get("accept")):
            raise errors.reason(406)
        q = request.query_params
        start, limit = q.get("start", "0"), q.get("limit", "20")
        sort_by, state = q.get("sortBy", "modifiedDate"), q.get("publishedState", "published")
        if not is_count(start):
            raise errors.reason(400, "The 'start' parameter must be a non-negative integer.")
        if not is_count(limit) or not 1 <= int(limit) <= 50:
            raise errors.reason(400, "The 'limit' parameter must be an integer between 1 and 50.")
        if sort_by.lstrip("-") not in SORT_KEYS:
            raise errors.reason(400, "The 'sortBy' parameter must be one of assetName, createdDate, modifiedDate.")
        if state not in PUBLISHED_STATES:
            raise errors.reason(400, f"The 'publishedState' parameter must be one of {', '.join(PUBLISHED_STATES)}.")
        first, size = int(start), int(limit)
        models, timed = self.listings.get((tenant, state, sort_by), lambda: self._listing(tenant, state, sort_by))
        extra = "".join(f"&{k}={quote(v)}" for k, v in (("sortBy", sort_by), ("publishedState", state)) if k in q)
        body = self.listings.get(
            (tenant, state, sort_by, first, size, extra), lambda: (self._page(models, first, size, extra), timed)
        )
        return Response(body, media_type="application/json"), timed

    def _listing(self, tenant: str, state: str, sort_by: str) -> tuple[tuple[list[dict[str, Any]], bool], bool]:
        """Every model the listing shows, filtered, sorted and rendered; and (twice: the value carries it to the
        pages made from it) whether that depends on the time (a model with trainings, not ready from the start)."""
        every = self.world.registry.models(tenant, "firefly")
        models = [m for m in every if self._matches(m, state)]
        key = SORT_KEYS[sort_by.lstrip("-")]
        models.sort(key=lambda m: (key(m), m.id), reverse=sort_by.startswith("-"))
        timed = any(not m.ready and self.world.model_trainings(m) for m in every)
        return ([self._model_json(m) for m in models], timed), timed

    def _page(self, models: list[dict[str, Any]], first: int, size: int, extra: str) -> bytes:
        links: dict[str, Any] = {
            "page": {"href": "/v3/custom-models?start={start}&limit={limit}", "rel": "page", "templated": True}
        }
        if first + size < len(models):
            links["next"] = {"href": f"/v3/custom-models?start={first + size}&limit={size}{extra}", "rel": "next"}
        page = models[first : first + size]
        return orjson.dumps({"custom_models": page, "_links": links, "total_count": len(models)})  # as json() does

    async def get_model(self, request: Request) -> Response:
        tenant = self._tenant(request)
        if not accepts_json(request.headers.get("accept")):
            raise errors.reason(406)
        model = self.world.registry.model(tenant, request.path_params["asset_id"])
        if model is None or "firefly" not in model.surfaces or self.world.training_state(model) is TrainingState.NONE:
            raise errors.reason(404)
        return json(self._model_json(model))

    def _matches(self, model: Model, state: str) -> bool:
        if state == "all":
            return self.world.training_state(model) is not TrainingState.NONE
        if state in ("published", "unpublished"):
            return model.published_state == state
        return self.world.training_state(model) is _TRAINING_FILTERS[state]

    def _model_json(self, model: Model) -> dict[str, Any]:
        trigger = self.world.trigger_word(model)
        sample = model.sample_prompt or (f"a photo of {trigger}" if trigger else "")
        # Only a subject model has a concept (the word a prompt must name); a style model's is "", as in the
        # tutorial's listing.
        concept = model.concept_id or (trigger if model.training_mode == "subject" else None) or ""
        return {
            "version": model.version,
            "assetName": model.extra.get("assetName", f"{model.display_name}{ASSET_SUFFIX}"),
            "size": model.size or (trained_size(model.asset_id) if trigger else 0),
            "etag": quoted_etag(model.etag),
            "trainingMode": model.training_mode,
            "assetId": model.asset_id,
            "mediaType": MEDIA_TYPE,
            "createdDate": int(model.created_at * 1000),
            "modifiedDate": int(model.modified_at * 1000),
            "publishedState": model.published_state,
            "baseModel": model.base_model,
            "samplePrompt": sample,
            "displayName": model.display_name,
            "conceptId": concept,
        }

    # --- generate, status, cancel --------------------------------------------------------------------------

    async def _accept(
        self, request: Request, operation: str
    ) -> tuple[str, dict[str, Any], dict[str, Any], Files | None]:
        """What every async operation checks first, as Firefly does: the caller, then a JSON (or multipart) body
        (415, the API gateway's 413, 400 when empty or unreadable), then its header parameters and body against the
        operation in the spec (one 422 listing every problem). Returns tenant, parameters (defaults filled in),
        body and the multipart files (None for a JSON body)."""
        tenant = tenant_of(self.ctx, request)
        settings = self.ctx.settings
        body, files = await read_request(request, settings.max_json_bytes, settings.max_body_bytes)
        op = self.operations[operation]
        params, problems = op.parameters(request, defaults=True)
        if not isinstance(body, dict):
            raise errors.validation(
                [*problems, {"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]
            )
        problems += op.body_errors(body)
        if problems:
            raise errors.validation(problems)
        return tenant, params, whole_numbers(body), files

    async def generate(self, request: Request) -> Response:
        tenant, params, body, files = await self._accept(request, "generateImagesV3Async")
        version, mime = params["x-model-version"], params["x-accept-mimetype"]
        problems = _semantic_errors(body, version)
        if files is not None and not problems:  # multipart: the files fill the empty style, then structure, sources
            stored = await store_files(self.world, self.uploads, tenant, files)
            problems = fill_sources(body, stored, True, REFERENCE_SOURCES)
        problems = problems or self._unknown_uploads(tenant, body)
        if problems:
            raise errors.validation(problems)
        model = self._custom_model(tenant, body["customModelId"]) if version in CUSTOM_VERSIONS else None
        profile, outcome = params.get("x-mock-profile"), request.scope.get("mock.job_outcome")
        with self.world.store.transaction():
            job = self._create_job(tenant, body, version, mime, model, profile, outcome)
        return self._accepted(request, job)

    def _unknown_uploads(self, tenant: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """A reference image's `uploadId` must name a live upload of the caller (`POST /v2/storage/image`)."""
        found: list[dict[str, Any]] = []
        if "style" not in body and "structure" not in body:
            return found
        for path in REFERENCE_SOURCES:
            source = ((body.get(path[0]) or {}).get(path[1]) or {}).get(path[2]) or {}
            upload_id = source.get("uploadId")
            if isinstance(upload_id, str) and self.uploads.get(tenant, upload_id) is None:
                found.append(unknown_upload(list(path)))
        return found

    def _custom_model(self, tenant: str, asset_id: str) -> Model:
        """A custom model the caller may generate with: known, a Firefly model, and trained."""
        model = self.world.registry.model(tenant, asset_id)
        if (
            model is None
            or "firefly" not in model.surfaces
            or self.world.training_state(model) is not TrainingState.READY
        ):
            raise errors.api(404, "not_found", f"Custom model {asset_id} was not found.")
        return model

    def _accepted(self, request: Request, job: Job) -> Response:
        """The 202 of every async operation: where to poll and where to cancel (rendered here as `json()` would
        render it: orjson, then the headers in Starlette's order)."""
        base = base_url(request, self.ctx.settings.public_url)
        status_url, cancel_url = f"{base}/v3/status/{job.id}", f"{base}/v3/cancel/{job.id}"
        body = orjson.dumps({"jobId": job.id, "statusUrl": status_url, "cancelUrl": cancel_url})
        link = f'<{status_url}>; rel="status", <{cancel_url}>; rel="cancel"'  # as _links
        length = str(len(body)).encode()
        return Prepared(body, [(b"link", link.encode("latin-1")), (b"content-length", length), _JSON_TYPE], 202)

    def _create_job(
        self,
        tenant: str,
        body: dict[str, Any],
        version: str,
        mime: str,
        model: Model | None,
        profile: str | None,
        outcome: Any,
    ) -> Job:
        """The job, which draws its outputs (`core.outputs`)."""
        world = self.world
        ids = world.ids
        seeds = body.get("seeds")
        if seeds:
            seeds = list(seeds)
        else:  # a loop, not a comprehension (a function call of its own before Python 3.12)
            seeds = []
            for _ in range(body.get("numVariations") or 1):
                seeds.append(ids.seed_value())
        size = body.get("size")
        width, height = (size["width"], size["height"]) if size else (2048, 2048)
        now = world.clock.now()
        job_id = f"{JOB_PREFIX}{ids.uuid()}"
        prompt = body["prompt"]
        drawn = [{"seed": seed} for seed in seeds]
        inputs = {
            "prompt": prompt,
            "size": dict(size) if size else {"width": 2048, "height": 2048},
            "contentClass": body.get("contentClass"),
            "version": version,
            "mime": mime,
        }
        plan = world.plan("generate", profile)
        # id, tenant, kind, created_at, plan, inputs, outputs, outcome, canceled_at, polls, deleted, extra
        # (positional: cheaper than keywords)
        job = Job(job_id, tenant, GENERATE, now, plan, inputs, drawn, outcome)
        if model is not None:  # its name as it was (a model can be renamed): in the picture's caption
            job.extra["model"] = f"{version} / {model.display_name}"
        return world.jobs.add(job)

    def _job(self, request: Request) -> tuple[str, Job]:
        tenant = self._tenant(request)
        job = self.world.jobs.get(tenant, request.path_params["job_id"], JOB_KINDS)
        if job is None:
            raise errors.api(404, "unknown_job_id")
        return tenant, job

    async def status(self, request: Request) -> Response:
        # A finished job's answer changes only with the store (a write) and, through its signed URLs' expiry and
        # the token's, with the second: kept per credentials, job, address and second, and sent again as
        # rendered, the checks that led to it included (polling loops mostly ask about finished jobs).
        scope = request.scope
        now = self.world.clock.now()
        base = base_url(request, self.ctx.settings.public_url)
        auth, api_key = header(request, b"authorization"), header(request, b"x-api-key")
        key = (auth, api_key, request.path_params["job_id"], base, int(now))
        revision = self.world.store.revision()
        kept = self.statuses.kept(key, revision)
        if kept is not None:
            scope["mock.tenant"] = kept[0]
            return Prepared(kept[1], kept[2])
        tenant, job = self._job(request)
        state = self.world.jobs.observe(job)
        response = self._status(job, state, base, now)
        if state.phase.terminal and self.world.tenants.token_expiry(bearer(request)) > int(now) + 1:
            self.statuses.keep(key, revision, (tenant, bytes(response.body), response.raw_headers))
        return response

    def _status(self, job: Job, state: Any, base: str, now: float) -> Response:
        body: dict[str, Any] = {
            "jobId": job.id,
            "status": _STATUS[state.phase],
            "progress": round(state.progress * 100, 1) if job.kind != VIDEO_KIND else round(state.progress * 100),
        }
        if state.phase is Phase.SUCCEEDED:
            body["result"] = self._result(job, base, now)
        elif state.phase is Phase.FAILED and job.outcome is not None:
            body.update(error_code=job.outcome.error_code, message=job.outcome.message)
        elif state.phase is Phase.TIMEOUT:
            body.update(error_code="timeout_error", message="The job timed out.")
        return json(body, headers={"Link": self._links(None, job, base)})

    def _links(self, request: Request | None, job: Job, base: str | None = None) -> str:
        """The `Link` header Adobe's spec declares on the 202 of generate-async and the 200 of status."""
        if base is None:
            assert request is not None
            base = base_url(request, self.ctx.settings.public_url)
        return f'<{base}/v3/status/{job.id}>; rel="status", <{base}/v3/cancel/{job.id}>; rel="cancel"'

    def _result(self, job: Job, base: str, now: float) -> dict[str, Any]:
        found = []
        for index, out in enumerate(job.outputs):
            if "asset" not in out:  # drawn: signed as it is, its job at hand
                url = f"{base}{self.world.signer.sign(outputs.output_id(job.id, index), job.inputs['mime'], now)}"
            else:  # an asset of its own (a job from a state file written before outputs were drawn)
                asset = self.world.assets.get(out["asset"])
                url = f"{base}{self.world.signer.path(asset, now)}" if asset else ""
            found.append({"seed": out["seed"], "video" if job.kind == VIDEO_KIND else "image": {"url": url}})
        result: dict[str, Any] = {"size": job.inputs["size"], "outputs": found}
        if job.kind == GENERATE:
            result.update(promptHasDeniedWords=False, promptHasBlockedArtists=False)
            result["contentClass"] = job.inputs.get("contentClass") or "photo"
        elif job.inputs.get("contentClass"):  # object composite's result has one; expand, fill and similar have none
            result["contentClass"] = job.inputs["contentClass"]
        return result

    async def cancel(self, request: Request) -> Response:
        found = self._job(request)
        _, job = found
        with self.world.store.transaction():
            winner = self.world.jobs.cancel(job)
        if winner is None:
            return json({})
        if winner is Phase.TIMEOUT:
            raise errors.api(410, "job_timeout")
        code = {Phase.CANCELED: "job_already_canceled", Phase.SUCCEEDED: "job_completed"}.get(
            winner, "job_cancel_failed"
        )
        raise errors.api(409, code)


def picture_of(job: Job) -> dict[str, Any] | None:
    """What a Firefly job's outputs show (`core.outputs`): a generate's, from its inputs; an image-to-image
    operation's or a video's, kept with the job."""
    if job.kind != GENERATE:
        picture: dict[str, Any] | None = job.extra.get(PICTURE)
        return picture
    inputs = job.inputs
    prompt, mime, size = inputs["prompt"], inputs["mime"], inputs["size"]
    label, dimensions = job.extra.get("model") or inputs["version"], f"{size['width']}x{size['height']}"
    key = (f"firefly|{prompt}|", f"|{label}|{dimensions}|{mime}")
    lines = [f"Prompt: {prompt}"], [f"Model: {label}", f"Size: {dimensions} {mime}", "Adobe Firefly (mock)"]
    return outputs.describe(mime, size["width"], size["height"], key, lines)


def quoted_etag(etag: str) -> str:
    """An HTTP entity tag as the custom-models listing shows it: 32 hex digits in double quotes."""
    if etag.startswith('"'):
        return etag
    digits = etag.replace("-", "").lower()
    if len(digits) != 32:
        digits = hashlib.md5(etag.encode(), usedforsecurity=False).hexdigest()
    return f'"{digits}"'


def trained_size(asset_id: str) -> int:
    """The stored size of a model trained here: stable per model, of the order of the tutorial's 16,513,991,265
    bytes (a model file is gigabytes, not the 0 an empty record would say)."""
    digest = hashlib.sha256(asset_id.encode()).digest()
    return 15_000_000_000 + int.from_bytes(digest[:4], "big") % 3_000_000_000


def accepts_json(accept: str | None) -> bool:
    """Whether an `Accept` header admits JSON (absent or empty admits anything). The custom-models service
    answers 406 otherwise, as Adobe's custom_models_listing.json documents."""
    if not accept or not accept.strip():
        return True
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        media = media.lower()
        if not refused and (media in ("*/*", "application/*", "application/json") or media.endswith("+json")):
            return True
    return False


def whole_numbers(body: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema counts 2.0 as an integer, and Firefly (pydantic) accepts it as 2: make such numbers ints (in a
    copy; a body without any, the usual one, is returned as it is)."""

    def whole(value: Any) -> Any:
        return int(value) if isinstance(value, float) else value

    changed: dict[str, Any] = {}
    for key in ("numVariations", "visualIntensity"):
        if isinstance(body.get(key), float):
            changed[key] = int(body[key])
    if "seeds" in body and any(isinstance(v, float) for v in body["seeds"]):
        changed["seeds"] = [whole(v) for v in body["seeds"]]
    if "size" in body and (isinstance(body["size"]["width"], float) or isinstance(body["size"]["height"], float)):
        changed["size"] = {
            **body["size"],
            "width": whole(body["size"]["width"]),
            "height": whole(body["size"]["height"]),
        }
    for key in ("style", "structure"):
        if isinstance(body.get(key), dict) and isinstance(body[key].get("strength"), float):
            changed[key] = {**body[key], "strength": int(body[key]["strength"])}
    return {**body, **changed} if changed else body


def _semantic_errors(body: dict[str, Any], version: str) -> list[dict[str, Any]]:
    """Rules that span fields or depend on the model version, which a JSON schema cannot say."""
    found: list[dict[str, Any]] = []
    seeds, count = body.get("seeds"), body.get("numVariations")
    if seeds is not None and count is not None and len(seeds) != count:
        found.append(
            {"loc": ["body", "seeds"], "msg": "the number of seeds must equal numVariations", "type": "value_error"}
        )
    size = body.get("size")
    if size is not None and (size["width"], size["height"]) not in SIZES[version]:
        allowed = ", ".join(f"{w}x{h}" for w, h in sorted(SIZES[version]))
        found.append(
            {
                "loc": ["body", "size"],
                "msg": f"size {size['width']}x{size['height']} is not supported by "
                f"{version}; supported sizes: {allowed}",
                "type": "value_error",
                "ctx": {"supported": allowed.split(", ")},
            }
        )
    if version == "image4_custom" and "visualIntensity" in body:
        found.append(
            {
                "loc": ["body", "visualIntensity"],
                "msg": "visualIntensity is not supported by image4_custom",
                "type": "value_error",
            }
        )
    if version != "image4_custom" and "upsamplerType" in body:
        found.append(
            {
                "loc": ["body", "upsamplerType"],
                "msg": "upsamplerType is only supported by image4_custom",
                "type": "value_error",
            }
        )
    if version in CUSTOM_VERSIONS and not body.get("customModelId"):
        found.append({"loc": ["body", "customModelId"], "msg": "field required", "type": "value_error.missing"})
    for key in ("style", "structure"):
        if key not in body:
            continue
        source = ((body[key] or {}).get("imageReference") or {}).get("source") or {}
        if isinstance(source.get("url"), str):
            problem = source_url_error(source["url"])
            if problem is not None:
                found.append({"loc": ["body", key, "imageReference", "source", "url"], **problem})
    return found


def source_url_error(url: str) -> dict[str, Any] | None:
    """A reference image URL must be an absolute URL on one of the storage domains Adobe lists."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").lower()
    except ValueError:
        host = ""
    if not parts.scheme or not host:
        return {"msg": "invalid or missing URL scheme", "type": "value_error.url.scheme"}
    if parts.scheme.lower() not in ("http", "https"):  # maxLength 2083 in Adobe's schema is pydantic v1's HttpUrl
        return {
            "msg": "URL scheme not permitted",
            "type": "value_error.url.scheme",
            "ctx": {"allowed_schemes": ["http", "https"]},
        }
    if not any(host == d or host.endswith(f".{d}") for d in SOURCE_DOMAINS):
        return {
            "msg": f"URL domain {host} is not allowed; allowed domains: {', '.join(SOURCE_DOMAINS)}",
            "type": "value_error.url.host",
            "ctx": {"allowed_domains": list(SOURCE_DOMAINS)},
        }
    return None
