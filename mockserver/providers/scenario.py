"""The Scenario surface (/v1): generate with a model, poll and cancel jobs, read models and the produced assets.

Parses and validates requests as Scenario does, calls the core, and renders Scenario's JSON. Error bodies come from
`scenario_errors`. Query parameters and the small request bodies are checked against `openapi/scenario.yaml`; the
generate body is checked against a JSON schema built from the model's own declared `inputs`.

Models are core `Model` records with `surfaces=["scenario"]`; their wire shape lives in `model.extra["wire"]`.
Jobs are core `Job`s of kind `scenario.generate`; their status is derived from the clock, never stored.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import itertools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..bodies import read_json
from ..context import Context
from ..core.assets import Asset
from ..core.jobs import Job, Phase, history, phase_of
from ..core.jwt import claims as jwt_claims
from ..core.registry import PUBLIC, Model
from ..core.tenants import CredentialError
from ..files import asset_bytes
from ..fixtures import FixtureError
from ..http import BodyTooLarge, base_url, is_json_type, json
from ..operations import operations
from ..spec import MAX_ERRORS, describe
from ..surface import NO_RATE_LIMITS
from . import scenario_errors as errors

SPEC = "scenario.yaml"
SURFACE = "scenario"
JOB_KIND = "scenario.generate"
JOB_TYPE = "custom"
DEFAULT_UNITS = 5.0  # creative units per output image when a fixture model names none
QUALITY_GATE = 1.75  # the flat quality-gate fee the real API adds to every generation
MAX_OUTPUTS = 16
MAX_SIDE = 4096
BASE_AREA = 1024 * 1024  # an aspect ratio W:H renders at about one megapixel, at exactly that ratio
MIME = "image/png"
FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}
EDIT_CAPABILITIES = [
    "DETECTION",
    "GENERATIVE_FILL",
    "PIXELATE",
    "PROMPT_EDITING",
    "REFINE",
    "REFRAME",
    "REMOVE_BACKGROUND",
    "SEGMENTATION",
    "UPSCALE",
    "VECTORIZATION",
]
_STATUS = {
    Phase.PENDING: "queued",
    Phase.RUNNING: "in-progress",
    Phase.SUCCEEDED: "success",
    Phase.FAILED: "failure",
    Phase.TIMEOUT: "failure",
    Phase.CANCELED: "canceled",
}
_FIXTURE_ONLY = ("tenant", "creativeUnits", "loraCreativeUnits")
# What every recorded real model record carries (blender-plugin tests/fixtures/models): `trainingProgress` is {}
# on all of them; `complianceMetadata` as on Scenario-hosted base models such as model_bfl-flux-1-dev.
_COMPLIANCE = {
    "enterpriseStatus": "Ready",
    "dataProcessingComment": "temporaryRetention",
    "maintainer": "Scenario",
    "subProcessor": "Modal",
    "licenseTerms": "https://www.scenario.com/terms-and-conditions",
    "modelProvider": "Scenario",
}
# A record carrying this key is a scrubbed recording (the blender-plugin recorder lists the fields the real record
# had and keeps only some values): it is served exactly as recorded, without defaults filled in.
_SCRUBBED = "observedFields"
_WIRE_ORDER = (
    "id",
    "userId",
    "authorId",
    "ownerId",
    "createdAt",
    "updatedAt",
    "name",
    "shortDescription",
    "type",
    "privacy",
    "capabilities",
    "source",
    "status",
    "trainingProgress",
    "parameters",
    "trainingImagesNumber",
    "trainingImagePairs",
    "tags",
    "collectionIds",
    "exampleAssetIds",
    "custom",
    "accessRestrictions",
    "complianceMetadata",
)
_FIXTURE_DATE = "2025-01-01T00:00:00.000Z"
_CATALOG_OWNER = ("apiu_MockScenarioCatalog000000", "proj_MockScenarioCatalog000000")
_RATIO = re.compile(r"(\d{1,4}):(\d{1,4})")
_INTEGER = re.compile(r"[+-]?\d{1,18}")
_B62 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class Scenario:
    surface = SURFACE
    prefixes = ("/v1",)
    rate_limits = NO_RATE_LIMITS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.spec = ctx.specs[SPEC]
        self.spec.validator("Model")  # fixture models are checked against it; compiled once
        self.operations = operations(self.spec, _describe)
        self._inputs: dict[tuple[str, bytes], Draft202012Validator] = {}
        self._routes = [
            Route("/v1/generate/custom/{model_id}", self.generate, methods=["POST"]),
            Route("/v1/jobs", self.list_jobs, methods=["GET"]),
            Route("/v1/jobs/{job_id}", self.get_job, methods=["GET"]),
            Route("/v1/jobs/{job_id}/action", self.job_action, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id}", self.get_model, methods=["GET"]),
            Route("/v1/assets/{asset_id}", self.get_asset, methods=["GET"]),
            Route("/v1/assets/{asset_id}/download", self.download, methods=["POST"]),
        ]
        self.world.seeders.append(self.seed)

    def routes(self) -> list[Route]:
        return list(self._routes)  # unknown paths and methods reach `error` through the app's 404/405 handler

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        return errors.for_path(path, status, code, message, headers, **extra)

    # --- fixtures ------------------------------------------------------------------------------------------

    def seed(self, world: Any, fixtures: Any, only: str | None = None) -> None:
        """Load `scenario.models` from the fixtures into the shared registry, each checked against the spec's
        Model schema once its defaults are filled in (all tenants', or only tenant `only`'s)."""
        seen: set[str] = set()
        costs = _costs(fixtures.scenario.get("costs", []))
        for index, raw in enumerate(fixtures.scenario.get("models", [])):
            where = f"scenario/models/{index}"
            if not isinstance(raw, dict):
                raise FixtureError(f"{where}: must be a mapping")
            tenant = raw.get("tenant", PUBLIC)
            if not isinstance(tenant, str):
                raise FixtureError(f"{where}: field tenant: must be a string")
            price = {**costs.get(str(raw.get("id")), {}), **{k: raw[k] for k in _FIXTURE_ONLY[1:] if k in raw}}
            units = price.get("creativeUnits", DEFAULT_UNITS)
            lora_units = price.get("loraCreativeUnits", units)
            for name, value in (("creativeUnits", units), ("loraCreativeUnits", lora_units)):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise FixtureError(f"{where}: field {name}: must be a non-negative number")
            scrubbed = _SCRUBBED in raw
            wire = {k: v for k, v in raw.items() if k not in _FIXTURE_ONLY} if scrubbed else _complete(raw, tenant)
            problems = self.spec.errors("Model", wire)
            if scrubbed:  # fields the recording left out are not required, but those it kept must be right
                problems = [p for p in problems if p["type"] != "value_error.missing" or p["loc"][-1] == "id"]
            if problems:
                field = "/".join(str(p) for p in problems[0]["loc"][1:]) or "(model)"
                raise FixtureError(f"{where} ({raw.get('id')}): field {field}: {problems[0]['msg']}")
            if wire["id"] in seen:
                raise FixtureError(f"{where}: duplicate model id {wire['id']}")
            seen.add(wire["id"])
            if only is not None and tenant != only:
                continue
            try:
                created = _timestamp(wire.get("createdAt", _FIXTURE_DATE))
                modified = _timestamp(wire.get("updatedAt", wire.get("createdAt", _FIXTURE_DATE)))
            except ValueError:
                raise FixtureError(
                    f"{where} ({wire['id']}): createdAt and updatedAt must be ISO 8601 date-times"
                ) from None
            world.registry.add_model(
                Model(
                    id=wire["id"],
                    asset_id=wire["id"],
                    tenant=tenant,
                    display_name=wire.get("name", wire["id"]),
                    created_at=created,
                    modified_at=modified,
                    ready=True,
                    surfaces=[SURFACE],
                    extra={
                        "wire": wire,
                        "creativeUnits": float(units),
                        "loraCreativeUnits": float(lora_units),
                        "rank": index,
                    },
                )
            )

    # --- auth and request parsing --------------------------------------------------------------------------

    def _tenant(self, request: Request) -> str:
        scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "basic":
            try:
                key, sep, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, ValueError):
                raise errors.unauthorized("Malformed Basic credentials: expected base64(apiKey:apiSecret)") from None
            if not sep:
                raise errors.unauthorized("Malformed Basic credentials: expected base64(apiKey:apiSecret)")
            try:
                tenant = self.world.tenants.authenticate(key, secret).tenant
            except CredentialError:
                raise errors.unauthorized("Invalid API key or secret") from None
        elif scheme == "bearer":
            if self.world.tenants.mode == "strict":
                raise errors.unauthorized("Bearer tokens are not accepted in strict auth mode: use an API key pair")
            claims = jwt_claims(value)
            subject = claims.get("sub") if claims else None
            if not isinstance(subject, str) or not subject:
                raise errors.unauthorized("Invalid bearer token: expected a JWT with a sub claim")
            expires = claims.get("exp") if claims else None
            if isinstance(expires, int | float) and not isinstance(expires, bool) and expires <= self.world.clock.now():
                raise errors.unauthorized("Bearer token expired")
            tenant = subject
        else:
            raise errors.unauthorized("Missing credentials: send Authorization: Basic base64(apiKey:apiSecret)")
        request.scope["mock.tenant"] = tenant
        return tenant

    def _parameters(self, request: Request, operation: str) -> dict[str, Any]:
        """The operation's query and header parameters, typed and checked against the spec (the first problem
        is refused); parameters the spec does not declare are ignored."""
        values, problems = self.operations[operation].parameters(request)
        if problems:
            raise errors.parameter_problem(problems[0])
        return values

    async def _body(self, request: Request, operation: str) -> dict[str, Any]:
        """A JSON object body (an empty body is `{}`), checked against the operation's schema."""
        try:
            body = await read_json(request, self.ctx.settings.max_json_bytes)
        except BodyTooLarge:
            raise errors.too_large() from None
        value: Any = {}
        if not body.empty:
            if not is_json_type(request.headers.get("content-type")):
                raise errors.not_json()
            if body.error is not None:
                raise errors.invalid_json()
            value = body.value
        if not isinstance(value, dict):
            raise errors.not_an_object()
        problems = self.operations[operation].body_errors(value)
        if problems:
            raise errors.input_problem(problems[0])
        return value

    def _model(self, tenant: str, model_id: str) -> Model | None:
        model = self.world.registry.model(tenant, model_id)
        if model is None or SURFACE not in model.surfaces or "wire" not in model.extra:
            return None
        return model

    # --- generate ------------------------------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        tenant = self._tenant(request)
        query = self._parameters(request, "generateRunModel")
        profile = query.get("x-mock-profile")
        body = await self._body(request, "generateRunModel")
        model_id = request.path_params["model_id"]
        model = self._model(tenant, model_id)
        if model is None:
            raise errors.not_found("Model", model_id)
        wire = model.extra["wire"]
        if not wire.get("custom", True):
            raise errors.custom_only()
        if wire.get("status") != "trained":
            raise errors.model_not_ready(model.id, str(wire.get("status")))
        given = {k: v for k, v in body.items() if v is not None}
        problem = self._input_problem(model, given)
        if problem is not None:
            raise errors.bad_request(problem)
        declared = wire.get("inputs") or []
        referenced = self._referenced_models(tenant, declared, given)
        resolved = {i["name"]: copy.deepcopy(i["default"]) for i in declared if "default" in i}
        resolved.update(given)
        wanted = resolved.get("numOutputs")
        count = min(max(int(wanted), 1), MAX_OUTPUTS) if _is_number(wanted) else 1
        cost = _cost(model, count, with_loras=bool(referenced))
        if query.get("dryRun"):
            return json(cost, 269)
        job = self._create_job(tenant, model, resolved, count, cost, profile, request.scope.get("mock.job_outcome"))
        now = self.world.clock.now()
        return json({"job": self._job_json(job, now), **cost})

    def _input_problem(self, model: Model, given: dict[str, Any]) -> str | None:
        """Why these inputs are not acceptable to this model, as one sentence naming the field, or None."""
        declared = model.extra["wire"].get("inputs") or []
        validator = self._inputs_validator(model.id, declared)
        found = sorted(
            itertools.islice(validator.iter_errors(given), MAX_ERRORS),
            key=lambda e: (len(e.absolute_path) > 0, [str(p) for p in e.absolute_path]),
        )
        if found:
            return errors.sentence(_describe(found[0]))
        for spec in declared:
            name, rule = spec["name"], spec.get("required") or {}
            if name in given or not isinstance(rule, dict):
                continue
            for other in rule.get("ifDefined") or {}:
                if other in given:
                    return f"Input {name} is required when {other} is provided"
            for other in rule.get("ifNotDefined") or {}:
                if other not in given:
                    return f"Input {name} is required when {other} is not provided"
            for condition in (rule.get("conditional"), {"values": rule.get("when")} if rule.get("when") else None):
                if isinstance(condition, dict) and _condition_holds(condition, given, declared):
                    return f"Input {name} is required with these inputs"
        return None

    def _referenced_models(self, tenant: str, declared: list[dict[str, Any]], given: dict[str, Any]) -> list[Model]:
        """Resolve the `model` and `model_array` inputs (LoRAs, compositions) as the real API does: an unknown id
        is a 404; then every id must have a type some model input allows, then the type its own input allows,
        each refused with the recorded `Invalid model(s): <ids>.\nAllowed model types: <types>`."""
        refs: list[tuple[dict[str, Any], list[str]]] = []
        for spec in declared:
            if spec.get("type") not in ("model", "model_array"):
                continue
            value = given.get(spec["name"])
            ids = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
            refs.append((spec, [i for i in ids if isinstance(i, str) and i]))
        found: dict[str, Model] = {}
        for _, ids in refs:
            for model_id in ids:
                model = self._model(tenant, model_id)
                if model is None:
                    raise errors.not_found("Model", model_id)
                found[model_id] = model
        union = list(dict.fromkeys(t for spec, _ in refs for t in spec.get("modelTypes") or []))
        checks = [(union, [i for _, ids in refs for i in ids])] if union else []
        checks += [(spec["modelTypes"], ids) for spec, ids in refs if spec.get("modelTypes")]
        for allowed, ids in checks:
            bad = list(dict.fromkeys(i for i in ids if found[i].extra["wire"].get("type") not in allowed))
            if bad:
                raise errors.invalid_models(bad, allowed)
        return list(found.values())

    def _inputs_validator(self, model_id: str, declared: list[dict[str, Any]]) -> Draft202012Validator:
        key = (model_id, orjson.dumps(declared, option=orjson.OPT_SORT_KEYS))
        found = self._inputs.get(key)
        if found is None:
            if len(self._inputs) > 256:
                self._inputs.clear()
            found = Draft202012Validator(inputs_schema(declared))
            self._inputs[key] = found
        return found

    def _create_job(
        self,
        tenant: str,
        model: Model,
        resolved: dict[str, Any],
        count: int,
        cost: dict[str, Any],
        profile: str | None,
        outcome: Any,
    ) -> Job:
        world = self.world
        now = world.clock.now()
        width, height, ratio = _size(resolved)
        prompt = str(resolved.get("prompt", ""))
        seeds = _seeds(resolved.get("seed"), count, world.ids)
        job_id = f"job_{world.ids.token(24)}"
        name = model.extra["wire"].get("name", model.id)
        kind = "img2img" if any(resolved.get(k) for k in ("image", "referenceImages")) else "txt2img"
        outputs = []
        for index, value in enumerate(seeds):
            asset = world.assets.add(
                Asset(
                    id=f"asset_{world.ids.token(24)}",
                    tenant=tenant,
                    mime=MIME,
                    width=width,
                    height=height,
                    created_at=now,
                    render={
                        "key": f"scenario|{model.id}|{prompt}|{value}|{width}x{height}",
                        "lines": [
                            f"Prompt: {prompt}",
                            f"Seed: {value}",
                            f"Model: {name} ({model.id})",
                            f"Size: {width}x{height}" + (f" ({ratio})" if ratio else ""),
                            f"Output {index + 1} of {count}",
                            "Scenario (mock)",
                        ],
                    },
                    meta={
                        "surface": SURFACE,
                        "job": job_id,
                        "index": index,
                        "seed": value,
                        "modelId": model.id,
                        "prompt": prompt,
                        "aspectRatio": ratio,
                        "type": kind,
                        "numOutputs": count,
                        "negativePrompt": resolved.get("negativePrompt"),
                    },
                )
            )
            outputs.append({"asset": asset.id, "seed": value})
        job = Job(
            id=job_id,
            tenant=tenant,
            kind=JOB_KIND,
            created_at=now,
            plan=world.plan("generate", profile),
            inputs=resolved,
            outputs=outputs,
            outcome=outcome,
            extra={"modelId": model.id, "cost": cost["creativeUnitsCost"], "costDetails": cost["costDetails"]},
        )
        return world.jobs.add(job)

    # --- jobs ----------------------------------------------------------------------------------------------

    def _job_json(self, job: Job, now: float) -> dict[str, Any]:
        state = phase_of(job, now)
        steps = [{"date": _iso(at), "status": _STATUS[phase]} for phase, at in history(job, now)]
        metadata: dict[str, Any] = {"input": job.inputs}
        if state.phase is Phase.SUCCEEDED:
            metadata["assetIds"] = [out["asset"] for out in job.outputs]
        elif state.phase is Phase.FAILED:
            metadata["error"] = job.outcome.message if job.outcome else "The job failed"
        elif state.phase is Phase.TIMEOUT:
            metadata["error"] = "The job timed out"
        user, owner = _account(job.tenant)
        return {
            "jobId": job.id,
            "jobType": JOB_TYPE,
            "status": _STATUS[state.phase],
            "progress": round(state.progress, 4),
            "metadata": metadata,
            "statusHistory": steps,
            "createdAt": _iso(job.created_at),
            "updatedAt": steps[-1]["date"],
            "authorId": user,
            "ownerId": owner,
            "billing": _billing(job, state.phase),
        }

    def _job(self, tenant: str, request: Request) -> Job:
        job_id = request.path_params["job_id"]
        job = self.world.jobs.get(tenant, job_id, JOB_KIND)
        if job is None:
            raise errors.not_found("Job", job_id)
        return job

    async def get_job(self, request: Request) -> Response:
        tenant = self._tenant(request)
        self._parameters(request, "getJob")
        job = self._job(tenant, request)
        self.world.jobs.observe(job)  # a status read: under the "polls" profile it moves the job one step
        return json({"job": self._job_json(self._reread(job), self.world.clock.now())})

    async def job_action(self, request: Request) -> Response:
        tenant = self._tenant(request)
        self._parameters(request, "triggerJobAction")
        await self._body(request, "triggerJobAction")
        job = self._job(tenant, request)
        winner = self.world.jobs.cancel(job)
        if winner is not None and winner is not Phase.CANCELED:
            raise errors.cannot_cancel(job.id, _STATUS[winner])
        return json({"job": self._job_json(self._reread(job), self.world.clock.now())})

    def _reread(self, job: Job) -> Job:
        """The stored job after a write (with a shared store the core updates a fresh copy, not ours)."""
        return self.world.jobs.get(job.tenant, job.id, JOB_KIND) or job

    async def list_jobs(self, request: Request) -> Response:
        tenant = self._tenant(request)
        q = self._parameters(request, "listJobs")
        now = self.world.clock.now()
        wanted_types = set(q.get("types") or []) | ({q["type"]} if "type" in q else set())
        if (wanted_types and JOB_TYPE not in wanted_types) or q.get("workflowId"):
            return json({"jobs": []})
        rows = []
        for job in self.world.jobs.list(tenant, JOB_KIND):
            body = self._job_json(job, now)
            if "status" in q and body["status"] != q["status"]:
                continue
            if "authorId" in q and body["authorId"] != q["authorId"]:
                continue
            if "createdAfter" in q and job.created_at <= q["createdAfter"]:
                continue
            if "updatedAfter" in q and _timestamp(body["updatedAt"]) <= q["updatedAfter"]:
                continue
            rows.append((job.created_at, job.id, body))
        rows.sort(key=lambda r: (-r[0], r[1]))
        page = _page([r[2] for r in rows], q, default_size=50)
        items, token = page
        return json({"jobs": items, **({"nextPaginationToken": token} if token else {})})

    # --- models --------------------------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        tenant = self._tenant(request)
        q = self._parameters(request, "listModels")
        privacy = q.get("privacy", "private")
        types = set(q.get("types") or []) | ({q["type"]} if "type" in q else set())
        tags = {t.strip() for t in q.get("tags", "").split(",") if t.strip()}
        collections = {
            c.strip() for c in f"{q.get('collectionId', '')},{q.get('collectionIds', '')}".split(",") if c.strip()
        }
        rows = []
        for model in self.world.registry.models(tenant, SURFACE):
            wire = model.extra.get("wire")
            if wire is None:
                continue
            public = wire.get("privacy") == "public"
            if (privacy == "public") != public or (not public and model.tenant != tenant):
                continue
            if "status" in q and wire.get("status") != q["status"]:
                continue
            if types and wire.get("type") not in types:
                continue
            if tags and not tags & set(wire.get("tags", [])):
                continue
            if collections and not collections & set(wire.get("collectionIds", [])):
                continue
            if not _within(model.created_at, q.get("createdAfter"), q.get("createdBefore")):
                continue
            if not _within(model.modified_at, q.get("updatedAfter"), q.get("updatedBefore")):
                continue
            rows.append(model)
        sort_by = q.get("sortBy") or ("score" if privacy == "public" else "createdAt")
        if sort_by == "score":
            rows.sort(key=lambda m: (m.extra.get("rank", 0), m.id))
        else:
            field = "created_at" if sort_by == "createdAt" else "modified_at"
            rows.sort(key=lambda m: (getattr(m, field), m.id), reverse=q.get("sortDirection", "desc") == "desc")
        page = _page(rows, q, default_size=100)
        items, token = page
        models = [{k: v for k, v in m.extra["wire"].items() if k not in ("inputs", "uiConfig")} for m in items]
        return json({"models": models, **({"nextPaginationToken": token} if token else {})})

    async def get_model(self, request: Request) -> Response:
        tenant = self._tenant(request)
        self._parameters(request, "getModel")
        model_id = request.path_params["model_id"]
        model = self._model(tenant, model_id)
        if model is None:
            raise errors.not_found("Model", model_id)
        return json({"model": model.extra["wire"]})

    # --- assets --------------------------------------------------------------------------------------------

    def _asset(self, tenant: str, asset_id: str) -> tuple[Asset, Job, float] | None:
        """An output of one of the tenant's jobs, once that job has succeeded (with the instant it did)."""
        asset = self.world.assets.get(asset_id)
        if asset is None or asset.tenant != tenant or asset.meta.get("surface") != SURFACE:
            return None
        job = self.world.jobs.get(tenant, asset.meta.get("job", ""), JOB_KIND)
        if job is None:
            return None
        state = phase_of(job, self.world.clock.now())
        if state.phase is not Phase.SUCCEEDED:
            return None
        done = job.created_at + (state.since if job.plan.unit == "seconds" else 0.0)
        return asset, job, done

    def _signed(self, request: Request, asset: Asset) -> str:
        base = base_url(request, self.ctx.settings.public_url)
        return f"{base}{self.world.signer.path(asset, self.world.clock.now())}"

    async def get_asset(self, request: Request) -> Response:
        tenant = self._tenant(request)
        self._parameters(request, "getAsset")
        asset_id = request.path_params["asset_id"]
        found = self._asset(tenant, asset_id)
        if found is None:
            raise errors.not_found("Asset", asset_id)
        asset, job, done = found
        data = await asset_bytes(self.ctx, asset)
        meta = asset.meta
        user, owner = _account(tenant)
        metadata: dict[str, Any] = {
            "kind": "image",
            "type": meta.get("type", "txt2img"),
            "modelId": meta["modelId"],
            "prompt": meta.get("prompt", ""),
            "seed": str(meta.get("seed")),
            "width": asset.width,
            "height": asset.height,
        }
        if meta.get("aspectRatio"):
            metadata["aspectRatio"] = meta["aspectRatio"]
        if meta.get("negativePrompt"):
            metadata["negativePrompt"] = meta["negativePrompt"]
        metadata.update(numOutputs=meta.get("numOutputs", 1), outputIndex=meta.get("index", 0), parentJobId=job.id)
        stamp = _iso(done)
        return json(
            {
                "asset": {
                    "id": asset.id,
                    "url": self._signed(request, asset),
                    "mimeType": asset.mime,
                    "kind": "image",
                    "status": "success",
                    "properties": {
                        "size": len(data or b""),
                        "width": asset.width,
                        "height": asset.height,
                        "format": asset.mime.split("/")[1],
                    },
                    "metadata": metadata,
                    "authorId": user,
                    "ownerId": owner,
                    "privacy": "private",
                    "source": meta.get("type", "txt2img"),
                    "tags": [],
                    "collectionIds": [],
                    "editCapabilities": EDIT_CAPABILITIES,
                    "outputIndex": meta.get("index", 0),
                    "createdAt": stamp,
                    "updatedAt": stamp,
                }
            }
        )

    async def download(self, request: Request) -> Response:
        tenant = self._tenant(request)
        self._parameters(request, "requestAssetDownload")
        body = await self._body(request, "requestAssetDownload")
        asset_id = request.path_params["asset_id"]
        found = self._asset(tenant, asset_id)
        if found is None:
            raise errors.not_found("Asset", asset_id)
        asset = found[0]
        target = body.get("targetFormat")
        if target is not None and target not in FORMATS:
            raise errors.unsupported_format(target)
        mime = FORMATS.get(target or "", asset.mime)
        if mime != asset.mime:
            asset = self._converted(asset, mime)
        return json({"url": self._signed(request, asset), "mimeType": mime})

    def _converted(self, asset: Asset, mime: str) -> Asset:
        """The same picture in another format: a derived asset the /files route serves like any other."""
        derived_id = f"{asset.id}_{mime.split('/')[1]}"
        assets = self.world.assets
        with self.world.store.transaction():
            existing = assets.get(derived_id)
            if existing is not None:
                return existing
            source = assets.get(asset.id) or asset
            # Listed on its source, so evicting the job's outputs evicts the conversions too.
            source.meta["derived"] = [*source.meta.get("derived", []), derived_id]
            self.world.store.put("asset", source.id, source, source.tenant)
            return assets.add(
                Asset(
                    id=derived_id,
                    tenant=asset.tenant,
                    mime=mime,
                    width=asset.width,
                    height=asset.height,
                    created_at=self.world.clock.now(),
                    render=asset.render,
                    meta={"surface": "scenario.converted", "of": asset.id},
                )
            )


# --- helpers -------------------------------------------------------------------------------------------------


def inputs_schema(declared: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema for a generate body, from a model's declared `inputs`."""
    properties = {spec["name"]: _input_schema(spec) for spec in declared}
    required = [
        spec["name"] for spec in declared if isinstance(spec.get("required"), dict) and spec["required"].get("always")
    ]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _input_schema(spec: dict[str, Any]) -> dict[str, Any]:
    kind = spec["type"]
    allowed = spec.get("allowedValues")
    count = {
        k: v for k, v in (("maxItems", spec.get("maxLength")), ("minItems", spec.get("minLength"))) if v is not None
    }
    if kind == "string":
        schema: dict[str, Any] = {"type": "string"}
        schema.update({k: int(spec[k]) for k in ("maxLength", "minLength") if spec.get(k) is not None})
        if allowed:
            schema["enum"] = list(allowed)
        return schema
    if kind == "number":
        return _number_schema(spec)
    if kind == "boolean":
        return {"type": "boolean"}
    if kind in ("file", "model"):
        return {"type": "string", "minLength": 1}
    if kind in ("file_array", "model_array"):
        return {"type": "array", "items": {"type": "string", "minLength": 1}, **_ints(count)}
    if kind == "number_array":
        # Recorded reality checks `max` on each item but not `min` (lorasScale [-0.5] is accepted, [3.0] is not).
        item = _number_schema({k: v for k, v in spec.items() if k not in ("allowedValues", "min")})
        return {"type": "array", "items": item, **_ints(count)}
    if kind == "string_array":
        item = {"type": "string", **({"enum": list(allowed)} if allowed else {})}
        return {"type": "array", "items": item, **_ints(count)}
    return {"type": "array", "items": {"type": "object"}, **_ints(count)}  # inputs_array


def _number_schema(spec: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    low, high, step = spec.get("min"), spec.get("max"), spec.get("step")
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if (
        isinstance(step, int | float)
        and step >= 1
        and float(step).is_integer()
        and (low is None or float(low) % step == 0)
    ):
        schema["multipleOf"] = int(step)  # whole steps only: fractional multipleOf trips on float rounding
    if spec.get("allowedValues"):
        schema["enum"] = list(spec["allowedValues"])
    return schema


def _ints(values: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in values.items()}


def _condition_holds(condition: dict[str, Any], given: dict[str, Any], declared: list[dict[str, Any]]) -> bool:
    values = condition.get("values")
    if not isinstance(values, dict) or not values:
        return False
    defaults = {i["name"]: i["default"] for i in declared if "default" in i}
    current = {**defaults, **given}
    checks = [
        name in current and current[name] in (wanted if isinstance(wanted, list) else [wanted])
        for name, wanted in values.items()
    ]
    return all(checks) if condition.get("operator") == "and" else any(checks)


def _describe(error: ValidationError) -> dict[str, Any]:
    found = describe(error)
    if error.validator == "multipleOf":
        found["ctx"] = {"multiple_of": error.validator_value}
    return found


def _size(resolved: dict[str, Any]) -> tuple[int, int, str | None]:
    """The output size: exactly the asked aspect ratio at about a megapixel, else width/height, else 1024²."""
    ratio = resolved.get("aspectRatio")
    ratio = ratio if isinstance(ratio, str) else None
    match = _RATIO.fullmatch(ratio or "")
    if match and int(match[1]) > 0 and int(match[2]) > 0:
        divisor = math.gcd(int(match[1]), int(match[2]))
        w, h = int(match[1]) // divisor, int(match[2]) // divisor
        k = min(math.isqrt(BASE_AREA // (w * h)) if w * h <= BASE_AREA else 0, MAX_SIDE // max(w, h))
        if k >= 1:
            return k * w, k * h, ratio
    width, height = resolved.get("width"), resolved.get("height")
    if _is_number(width) and _is_number(height) and width >= 1 and height >= 1:
        return min(int(width), MAX_SIDE), min(int(height), MAX_SIDE), ratio
    return 1024, 1024, ratio


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _seeds(seed: Any, count: int, ids: Any) -> list[int]:
    """Output seeds: consecutive from the given seed (numbers as is, anything else hashed), else random."""
    if seed is None:
        return [ids.seed_value() for _ in range(count)]
    if _is_number(seed) or (isinstance(seed, str) and _INTEGER.fullmatch(seed.strip())):
        start = int(seed)
    else:
        start = int.from_bytes(hashlib.sha256(str(seed).encode()).digest()[:4], "big") >> 1
    return [start + i for i in range(count)]


def _cost(model: Model, count: int, with_loras: bool = False) -> dict[str, Any]:
    """The quote: creative units per output (another price when LoRAs or a composition are applied, as the
    recorded dry runs of model_flux-kontext-editing show: 11 alone, 16 with a LoRA) plus the quality gate."""
    units = model.extra.get("creativeUnits", DEFAULT_UNITS)
    if with_loras:
        units = model.extra.get("loraCreativeUnits", units)
    generation = units * count
    return {
        "creativeUnitsCost": _number(generation + QUALITY_GATE),
        "creativeUnitsDiscount": 0,
        "costDetails": {"custom-generation": _number(generation), "quality-gate": QUALITY_GATE},
    }


def _billing(job: Job, phase: Phase) -> dict[str, Any]:
    """`cuCost` is the main action alone; the add-ons (the quality gate) are in `cuCostDetails`, refunded to 0
    when the job failed or was cancelled (scenario-sdk's JobBilling documents both)."""
    details = dict(job.extra.get("costDetails") or {})
    main = details.pop("custom-generation", job.extra.get("cost", 0))
    billing: dict[str, Any] = {"cuCost": main, "cuDiscount": 0}
    if details:
        refunded = phase in (Phase.FAILED, Phase.TIMEOUT, Phase.CANCELED)
        billing["cuCostDetails"] = {k: 0 if refunded else v for k, v in details.items()}
    return billing


def _costs(entries: list[Any]) -> dict[str, dict[str, Any]]:
    """`scenario.costs` fixture entries, `{model, creativeUnits?, loraCreativeUnits?}`, by model id: prices for
    model records loaded unchanged (a recorded `GET /v1/models/{id}` reply carries no price)."""
    found: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise FixtureError(f"scenario/costs/{index}: must be a mapping with a model id")
        unknown = set(entry) - {"model", *_FIXTURE_ONLY[1:]}
        if unknown:
            raise FixtureError(f"scenario/costs/{index}: unknown field {sorted(unknown)[0]}")
        found[entry["model"]] = {k: v for k, v in entry.items() if k != "model"}
    return found


def _number(value: float) -> float | int:
    value = round(value, 4)
    return int(value) if float(value).is_integer() else value


def _complete(raw: dict[str, Any], tenant: str) -> dict[str, Any]:
    """A fixture model with every required wire field filled in, keys in the order the real API sends them."""
    given = {k: v for k, v in raw.items() if k not in _FIXTURE_ONLY}
    user, owner = _account(tenant) if tenant else _CATALOG_OWNER
    created = given.get("createdAt", _FIXTURE_DATE)
    defaults = {
        "userId": user,
        "authorId": user,
        "ownerId": owner,
        "createdAt": created,
        "updatedAt": created,
        "type": "custom",
        "privacy": "private" if tenant else "public",
        "capabilities": ["txt2img"],
        "source": "other",
        "status": "trained",
        "parameters": {},
        "trainingImagesNumber": 0,
        "trainingImagePairs": [],
        "tags": [],
        "collectionIds": [],
        "exampleAssetIds": [],
        "custom": True,
        "accessRestrictions": 0,
        "trainingProgress": {},
        "complianceMetadata": dict(_COMPLIANCE),
    }
    merged = {**defaults, **given}
    ordered = {k: merged[k] for k in _WIRE_ORDER if k in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return ordered


def _account(tenant: str) -> tuple[str, str]:
    """Stable Scenario-style user and project ids for a tenant."""
    return f"apiu_{_b62(f'user:{tenant}')}", f"proj_{_b62(f'project:{tenant}')}"


def _b62(text: str, length: int = 24) -> str:
    number = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(_B62))
        out.append(_B62[digit])
    return "".join(out)


def _page(rows: list[Any], q: dict[str, Any], default_size: int) -> tuple[list[Any], str | None]:
    """One page by offset. The token is base64 JSON `{"offset":N,"limit":L}`, like the real API's; a page is
    never empty while a token is handed out."""
    offset, limit = 0, q.get("pageSize")
    token = q.get("paginationToken")
    if token:
        try:
            decoded = orjson.loads(base64.b64decode(token + "=" * (-len(token) % 4), validate=True))
            offset = decoded["offset"]
            if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                raise ValueError(offset)
            saved = decoded.get("limit")
            if limit is None and isinstance(saved, int) and not isinstance(saved, bool) and 1 <= saved <= 500:
                limit = saved
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise errors.bad_token("paginationToken") from None
    limit = limit or default_size
    items = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    next_token = base64.b64encode(orjson.dumps({"offset": offset + limit, "limit": limit})).decode() if more else None
    return items, next_token


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _within(value: float, after: float | None, before: float | None) -> bool:
    return (after is None or value > after) and (before is None or value < before)


def _iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
