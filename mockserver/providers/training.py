"""The custom-model training surface: models, training images, trainings and predictions.

A thin translator over the shared core. Models are the registry's `Model` records (so Firefly sees them), training
images are `TrainingImage` records holding an uploaded `Asset`, and trainings and predictions are `Job`s whose
status is derived from the clock. Error bodies come from `training_errors`; request body rules come from
`openapi/training.yaml`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..bodies import read_json
from ..context import Context
from ..core import trainings
from ..core.assets import URL_LIFETIME, Asset
from ..core.jobs import Job, Phase, State, phase_of
from ..core.registry import Model, TrainingImage
from ..core.tenants import CredentialError
from ..core.trainings import TrainingRecord, TrainingState
from ..http import BodyTooLarge, base_url, is_json_type, json
from ..operations import operations
from ..surface import NO_RATE_LIMITS, SurfaceError
from ..uploads import UPLOAD_TYPES, Problem, UploadedImage, UploadRefused, receive_image
from . import training_errors as errors

SPEC = "training.yaml"
SURFACE = "training"
TRAINING = trainings.KIND
PREDICTION = "prediction"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# customModelType is "reserved for future use" (seed 003): any string is kept and echoed; these two also set
# the model's Firefly trainingMode, anything else trains as a style model.
TRAINING_MODES = ("subject", "style")
_OUTPUT_MIME = {"jpeg": "image/jpeg", "png": "image/png"}
_STATUS = {
    Phase.PENDING: "queued",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "succeeded",
    Phase.FAILED: "failed",
    Phase.TIMEOUT: "failed",
    Phase.CANCELED: "cancelled",
}
_MODEL_STATUS = {
    TrainingState.NONE: "untrained",
    TrainingState.QUEUED: "queued",
    TrainingState.TRAINING: "training",
    TrainingState.READY: "ready",
    TrainingState.FAILED: "failed",
    TrainingState.CANCELLED: "cancelled",
}
DEFAULT_SIZE = 1024

Handler = Callable[[Request], Awaitable[Response]]


class Training:
    surface = SURFACE
    prefixes = ("/models", "/predictions")
    rate_limits = NO_RATE_LIMITS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.spec = ctx.specs[SPEC]
        self.operations = operations(self.spec)

    def routes(self) -> list[Route]:
        """One route per path, so a wrong method answers 405 with the path's full Allow list (the app renders
        unrouted paths and methods through `error`)."""
        table: list[tuple[str, dict[str, Handler]]] = [
            ("/models", {"POST": self.create_model}),
            ("/models/{model_id}", {"GET": self.get_model, "PATCH": self.rename_model, "DELETE": self.delete_model}),
            ("/models/{model_id}/training-data", {"POST": self.upload_image, "GET": self.list_images}),
            (
                "/models/{model_id}/training-data/{data_id}",
                {"GET": self.get_image, "PUT": self.replace_image, "DELETE": self.delete_image},
            ),
            ("/models/{model_id}/trainings", {"POST": self.start_training, "GET": self.list_trainings}),
            ("/models/{model_id}/trainings/{training_id}", {"GET": self.get_training, "DELETE": self.delete_training}),
            ("/models/{model_id}/trainings/{training_id}/cancel", {"POST": self.cancel_training}),
            ("/predictions", {"POST": self.create_prediction}),
            ("/predictions/{prediction_id}", {"GET": self.get_prediction, "DELETE": self.delete_prediction}),
        ]
        return [Route(path, _dispatch(handlers), methods=list(handlers)) for path, handlers in table]

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        return errors.render(status, code, message, headers, **extra)

    # --- shared request handling ---------------------------------------------------------------------------

    def _tenant(self, request: Request) -> str:
        key = request.headers.get("x-api-key", "").strip()
        if not key:
            raise errors.missing_key()
        try:
            tenant = self.world.tenants.known_key(key)
        except CredentialError:
            raise errors.invalid_key() from None
        request.scope["mock.tenant"] = tenant
        return tenant

    def _find_model(self, tenant: str, model_id: str) -> Model | None:
        model = self.world.registry.model(tenant, model_id, include_public=False)
        if model is None or model.id != model_id or SURFACE not in model.surfaces:
            return None
        return model

    def _model(self, request: Request) -> tuple[str, Model]:
        tenant = self._tenant(request)
        model_id = request.path_params["model_id"]
        model = self._find_model(tenant, model_id)
        if model is None:
            raise errors.model_not_found(model_id)
        return tenant, model

    async def _json(self, request: Request, operation: str) -> dict[str, Any]:
        """The JSON body and parameters checked against the operation in the spec. An empty body counts as `{}`
        (so a missing required field is reported by name); a non-empty one must be declared as JSON."""
        limit = self.ctx.settings.max_json_bytes
        try:
            body = await read_json(request, limit)
        except BodyTooLarge:
            raise errors.body_too_large(limit) from None
        value: Any = {}
        if not body.empty:
            content_type = request.headers.get("content-type", "")
            if not is_json_type(content_type):
                raise errors.not_json_type(content_type)
            if body.error is not None:
                raise errors.invalid_json()
            value = body.value
        op = self.operations[operation]
        problems = errors.from_schema(op.body_errors(value))
        problems += errors.from_parameters(op.parameters(request)[1])
        if problems:
            raise errors.validation(problems)
        return value

    def _now(self) -> float:
        return self.world.clock.now()

    def _url(self, request: Request, asset: Asset, now: float) -> str:
        return base_url(request, self.ctx.settings.public_url) + self.world.signer.path(asset, now)

    # --- models --------------------------------------------------------------------------------------------

    async def create_model(self, request: Request) -> Response:
        tenant = self._tenant(request)
        body = await self._json(request, "createModel")
        world, now = self.world, self._now()
        key = world.ids.uuid()
        kind: str = body.get("customModelType", "style")
        model = Model(
            id=_short_id(world),
            asset_id=f"urn:aaid:sc:VA6C2:{key}",
            tenant=tenant,
            display_name=body["displayName"],
            training_mode=kind if kind in TRAINING_MODES else "style",
            published_state="never",
            ready=False,
            surfaces=["firefly", SURFACE],
            created_at=now,
            modified_at=now,
            etag=f'"{world.ids.uuid().replace("-", "")}"',
            extra={"customModelType": kind},
        )
        with world.store.transaction():
            if not self._room_for_model(tenant):
                limit = self.ctx.settings.max_models
                raise errors.error(422, "limit_exceeded", f"A tenant can have at most {limit} models.")
            world.registry.add_model(model)
        return json(self._model_json(model), 201)

    def _room_for_model(self, tenant: str) -> bool:
        """Whether the tenant may create one more model. Deleted models stay hidden in the store until the tenant
        reaches `max_models`; then the oldest deleted ones (with their images) make room."""
        limit = self.ctx.settings.max_models
        if not limit or self.world.store.count("model", tenant) < limit:
            return True
        owned = self.world.store.items("model", tenant)
        deleted = sorted((m for m in owned if m.deleted), key=lambda m: (m.modified_at, m.id))
        for model in deleted[: len(owned) - limit + 1]:
            for asset_id in self.world.registry.remove_model(model):
                self.world.assets.forget(asset_id)
        return len(deleted) > len(owned) - limit

    async def get_model(self, request: Request) -> Response:
        found = self._model(request)
        return json(self._model_json(found[1]))

    async def rename_model(self, request: Request) -> Response:
        found = self._model(request)
        body = await self._json(request, "renameModel")
        model = found[1]
        with self.world.store.transaction():
            model.display_name = body["updatedDisplayName"]
            model.modified_at = self._now()
            self.world.registry.save(model)
        return json(self._model_json(model))

    async def delete_model(self, request: Request) -> Response:
        found = self._model(request)
        model = found[1]
        with self.world.store.transaction():
            model.deleted = True
            model.modified_at = self._now()
            self.world.registry.save(model)
        return Response(status_code=204)

    def _model_json(self, model: Model) -> dict[str, Any]:
        return {
            "id": model.id,
            "displayName": model.display_name,
            "customModelType": model.extra.get("customModelType", model.training_mode),
            "assetId": model.asset_id,
            "status": _MODEL_STATUS[self.world.training_state(model)],
            "triggerWord": self.world.trigger_word(model),
            "createdAt": _iso(model.created_at),
            "updatedAt": _iso(model.modified_at),
        }

    # --- training images -----------------------------------------------------------------------------------

    async def _image_upload(self, request: Request) -> UploadedImage:
        """Read and check an image body (the checks every upload shares), refused in this API's words."""
        try:
            return await receive_image(request, MAX_IMAGE_BYTES)
        except UploadRefused as refused:
            raise _upload_error(refused) from None

    def _store_image(self, tenant: str, model: Model, image: UploadedImage, now: float) -> Asset:
        asset = Asset(
            id=self.world.ids.uuid(),
            tenant=tenant,
            mime=image.mime,
            width=image.width,
            height=image.height,
            created_at=now,
            meta={"kind": "training_image", "model_id": model.id},
        )
        return self.world.assets.add(asset, image.data)

    async def upload_image(self, request: Request) -> Response:
        found = self._model(request)
        tenant, model = found
        checked = await self._image_upload(request)
        now = self._now()
        limit = self.ctx.settings.max_training_images
        with self.world.store.transaction():
            if self._find_model(tenant, model.id) is None:  # deleted while the upload was read
                raise errors.model_not_found(model.id)
            if limit and len(self.world.registry.images(tenant, model.id)) >= limit:
                raise errors.error(422, "limit_exceeded", f"A model can have at most {limit} training images.")
            asset = self._store_image(tenant, model, checked, now)
            image = TrainingImage(
                id=_short_id(self.world), model_id=model.id, tenant=tenant, asset_id=asset.id, created_at=now
            )
            self.world.registry.add_image(image)
        return json(self._image_json(image, asset), 201)

    def _image(self, request: Request) -> tuple[str, Model, TrainingImage]:
        found = self._model(request)
        tenant, model = found
        data_id = request.path_params["data_id"]
        image = self.world.registry.image(tenant, model.id, data_id)
        if image is None:
            raise errors.image_not_found(model.id, data_id)
        return tenant, model, image

    async def list_images(self, request: Request) -> Response:
        found = self._model(request)
        tenant, model = found
        items = []
        for image in self.world.registry.images(tenant, model.id):
            asset = self.world.assets.get(image.asset_id)
            if asset is not None:
                items.append(self._image_json(image, asset))
        return json(items)

    async def get_image(self, request: Request) -> Response:
        found = self._image(request)
        image = found[2]
        asset = self.world.assets.get(image.asset_id)
        if asset is None:
            raise errors.image_not_found(image.model_id, image.id)
        now = self._now()
        return json(
            {
                **self._image_json(image, asset),
                "dataUrl": self._url(request, asset, now),
                "dataUrlExpiresAt": _iso(int(now) + URL_LIFETIME),
            }
        )

    async def replace_image(self, request: Request) -> Response:
        found = self._image(request)
        tenant, model, image = found
        checked = await self._image_upload(request)
        now = self._now()
        registry = self.world.registry
        with self.world.store.transaction():
            # Re-read at commit time: the upload was awaited, and a delete or another replacement may have won.
            current = registry.image(tenant, model.id, image.id)
            if current is None:
                raise errors.image_not_found(model.id, image.id)
            old = self.world.assets.get(current.asset_id)
            asset = self._store_image(tenant, model, checked, now)
            current.asset_id = asset.id
            registry.add_image(current)
            if old is not None:
                self.world.assets.remove(old)
        return json(self._image_json(current, asset))

    async def delete_image(self, request: Request) -> Response:
        found = self._image(request)
        tenant, model, image = found
        registry = self.world.registry
        with self.world.store.transaction():
            current = registry.image(tenant, model.id, image.id)
            if current is None:
                raise errors.image_not_found(model.id, image.id)
            asset = self.world.assets.get(current.asset_id)
            registry.remove_image(current)
            if asset is not None:
                self.world.assets.remove(asset)
        return Response(status_code=204)

    def _image_json(self, image: TrainingImage, asset: Asset) -> dict[str, Any]:
        return {
            "dataId": image.id,
            "modelId": image.model_id,
            "contentType": asset.mime,
            "width": asset.width,
            "height": asset.height,
            "size": asset.size,
            "createdAt": _iso(image.created_at),
            "updatedAt": _iso(asset.created_at),
        }

    # --- trainings -----------------------------------------------------------------------------------------

    def _trainings(self, tenant: str, model: Model) -> list[Job]:
        return sorted(trainings.of_model(self.world.jobs.list(tenant, TRAINING), model.id), key=trainings.order)

    def _started(self, tenant: str, model: Model) -> int:
        """The highest number given to one of the model's trainings, hidden ones included (numbers them in start
        order; evicted old trainings never make a number come back)."""
        every = self.world.jobs.list(tenant, TRAINING, include_deleted=True)
        return max((TrainingRecord.of(j).seq for j in trainings.of_model(every, model.id)), default=0)

    async def start_training(self, request: Request) -> Response:
        found = self._model(request)
        tenant, model = found
        body = await self._json(request, "startTraining")
        world = self.world
        strength = int(body.get("trainingStrength", 5))
        speed = body.get("trainingSpeed", "fast")
        profile = request.headers.get("x-mock-profile")
        # Check and insert in one transaction (BEGIN IMMEDIATE on SQLite): two workers cannot both see "no
        # training running" and both start one.
        with world.store.transaction():
            if self._find_model(tenant, model.id) is None:  # deleted by another worker meanwhile
                raise errors.model_not_found(model.id)
            images = world.registry.images(tenant, model.id)
            if not images:
                raise errors.no_training_data(model.id)
            now = self._now()
            for job in self._trainings(tenant, model):
                phase = phase_of(job, now).phase
                if not phase.terminal:
                    raise errors.training_in_progress(model.id, job.id, _STATUS[phase])
            job = Job(
                id=_short_id(world),
                tenant=tenant,
                kind=TRAINING,
                created_at=now,
                plan=world.plan("training" if speed == "fast" else "training_hq", profile),
                inputs={"data_ids": [i.id for i in images]},
                outcome=request.scope.get("mock.job_outcome"),
                extra={
                    **TrainingRecord(model.id, world.ids.trigger_word(), self._started(tenant, model) + 1).fields(),
                    "strength": strength,
                    "speed": speed,
                },
            )
            world.jobs.add(job)
        return json({"trainingId": job.id, "status": _STATUS[phase_of(job, now).phase]}, 202)

    def _training(self, request: Request) -> tuple[str, Model, Job]:
        found = self._model(request)
        tenant, model = found
        training_id = request.path_params["training_id"]
        job = self.world.jobs.get(tenant, training_id, TRAINING)
        if job is None or TrainingRecord.of(job).model_id != model.id:
            raise errors.training_not_found(model.id, training_id)
        return tenant, model, job

    async def list_trainings(self, request: Request) -> Response:
        found = self._model(request)
        tenant, model = found
        now = self._now()
        return json(
            [
                {"id": j.id, "status": _STATUS[phase_of(j, now).phase], "createdAt": _iso(j.created_at)}
                for j in self._trainings(tenant, model)
            ]
        )

    async def get_training(self, request: Request) -> Response:
        found = self._training(request)
        job = found[2]
        with self.world.store.transaction():
            state = self.world.jobs.observe(job)
        return json(_training_json(job, state))

    async def cancel_training(self, request: Request) -> Response:
        found = self._training(request)
        job = found[2]
        with self.world.store.transaction():
            winner = self.world.jobs.cancel(job)
        if winner is not None:
            raise errors.training_finished(job.id, _STATUS[winner])
        return json(_training_json(job, phase_of(job, self._now())))

    async def delete_training(self, request: Request) -> Response:
        found = self._training(request)
        with self.world.store.transaction():
            self.world.jobs.delete(found[2])
        return Response(status_code=204)

    # --- predictions ---------------------------------------------------------------------------------------

    async def create_prediction(self, request: Request) -> Response:
        tenant = self._tenant(request)
        body = await self._json(request, "createPrediction")
        world, now = self.world, self._now()
        prompt = body["prompt"]
        models: list[dict[str, Any]] = []
        problems: list[errors.Detail] = []
        missing = False
        for slot, config in sorted(body["scaleConfigs"].items(), key=lambda kv: int(kv[0])):
            where = f"scaleConfigs.{slot}"
            model = self._find_model(tenant, config["modelId"])
            if model is None:
                missing = True
                problems.append(errors.detail(f"{where}.modelId", f"Model {config['modelId']} was not found."))
                continue
            job = world.jobs.get(tenant, config["trainingId"], TRAINING)
            if job is None or TrainingRecord.of(job).model_id != model.id:
                missing = True
                problems.append(
                    errors.detail(
                        f"{where}.trainingId", f"Training {config['trainingId']} of model {model.id} was not found."
                    )
                )
                continue
            phase = phase_of(job, now).phase
            if phase is not Phase.SUCCEEDED:
                problems.append(
                    errors.detail(
                        f"{where}.trainingId",
                        f"Training {job.id} of model {model.id} has not succeeded (status: {_STATUS[phase]}).",
                    )
                )
                continue
            word = TrainingRecord.of(job).trigger_word
            models.append(
                {
                    "modelId": model.id,
                    "trainingId": job.id,
                    "scale": config.get("scale", 1),
                    "triggerWord": word,
                    "triggerWordInPrompt": _mentions(prompt, word),
                    "displayName": model.display_name,
                }
            )
        if problems:
            raise errors.bad_references(problems, missing)
        job = self._prediction_job(tenant, body, models, request, now)
        return json({"predictionId": job.id, "status": _STATUS[phase_of(job, now).phase]}, 202)

    def _prediction_job(
        self, tenant: str, body: dict[str, Any], models: list[dict[str, Any]], request: Request, now: float
    ) -> Job:
        world = self.world
        size = body.get("image_size") or {"width": DEFAULT_SIZE, "height": DEFAULT_SIZE}
        width, height = int(size["width"]), int(size["height"])
        fmt = body.get("output_format", "jpeg")
        mime = _OUTPUT_MIME[fmt]
        seed = int(body["seed"]) if "seed" in body else world.ids.seed_value()
        steps = int(body.get("num_inference_steps", 28))
        guidance = body.get("guidance_scale", 3.5)
        prompt = body["prompt"]
        model_lines = [
            f"Model {m['displayName']} ({m['modelId']}, training {m['trainingId']}) x{m['scale']}: trigger word "
            f"{m['triggerWord']} "
            + ("IN the prompt (active)" if m["triggerWordInPrompt"] else "NOT in the prompt (inactive)")
            for m in models
        ]
        outputs = []
        for index in range(int(body.get("num_images", 1))):
            image_seed = (seed + index) % 2**31
            lines = [
                f"Prompt: {prompt}",
                f"Seed: {image_seed}   Size: {width}x{height} {fmt}",
                f"Steps: {steps}   Guidance: {guidance}",
                *model_lines,
                "Training API prediction (mock)",
            ]
            asset = world.assets.add(
                Asset(
                    id=world.ids.uuid(),
                    tenant=tenant,
                    mime=mime,
                    width=width,
                    height=height,
                    created_at=now,
                    render={"key": "training|" + "|".join(lines), "lines": lines},
                )
            )
            outputs.append({"seed": image_seed, "asset": asset.id})
        job = Job(
            id=_short_id(world),
            tenant=tenant,
            kind=PREDICTION,
            created_at=now,
            plan=world.plan("generate", request.headers.get("x-mock-profile")),
            inputs={
                "prompt": prompt,
                "seed": seed,
                "size": {"width": width, "height": height},
                "format": fmt,
                "steps": steps,
                "guidance": guidance,
            },
            outputs=outputs,
            outcome=request.scope.get("mock.job_outcome"),
            extra={"models": [{k: v for k, v in m.items() if k != "displayName"} for m in models]},
        )
        with world.store.transaction():
            world.jobs.add(job)
        return job

    def _prediction(self, request: Request) -> Job:
        tenant = self._tenant(request)
        prediction_id = request.path_params["prediction_id"]
        job = self.world.jobs.get(tenant, prediction_id, PREDICTION)
        if job is None:
            raise errors.prediction_not_found(prediction_id)
        return job

    async def get_prediction(self, request: Request) -> Response:
        job = self._prediction(request)
        with self.world.store.transaction():
            state = self.world.jobs.observe(job)
        images = []
        if state.phase is Phase.SUCCEEDED:
            now = self._now()
            for out in job.outputs:
                asset = self.world.assets.get(out["asset"])
                if asset is not None:
                    images.append(self._url(request, asset, now))
        body: dict[str, Any] = {
            "id": job.id,
            "status": _STATUS[state.phase],
            "outputImages": images,
            "seed": job.inputs["seed"],
            "imageSize": job.inputs["size"],
            "outputFormat": job.inputs["format"],
            "models": job.extra["models"],
            "progress": round(state.progress * 100, 1),
            "createdAt": _iso(job.created_at),
        }
        failure = _failure(job, state)
        if failure:
            body["error"] = failure
        return json(body)

    async def delete_prediction(self, request: Request) -> Response:
        job = self._prediction(request)
        with self.world.store.transaction():
            self.world.jobs.delete(job)
        return Response(status_code=204)


# --- helpers -----------------------------------------------------------------------------------------------


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint


def _short_id(world: Any) -> str:
    """Short lower-case ids like the reference's "abc123" (48 random bits, repeatable under --seed)."""
    return world.ids.uuid().replace("-", "")[:12]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _mentions(prompt: str, word: str) -> bool:
    """Whether the prompt holds the trigger word as a word of its own (any letter case)."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", prompt, re.IGNORECASE) is not None


def _failure(job: Job, state: State) -> dict[str, str] | None:
    if state.phase is Phase.FAILED:
        outcome = job.outcome
        return {
            "code": outcome.error_code if outcome else "runtime_error",
            "message": outcome.message if outcome else "The job failed.",
        }
    if state.phase is Phase.TIMEOUT:
        return {"code": "timeout", "message": "The job timed out."}
    return None


def _training_json(job: Job, state: State) -> dict[str, Any]:
    record = TrainingRecord.of(job)
    body: dict[str, Any] = {
        "id": job.id,
        "modelId": record.model_id,
        "status": _STATUS[state.phase],
        # Seed 003's only status example is {"status": "processing", "triggerWord": "FJA90AB"}: the word exists
        # while the training runs and once it succeeded; a queued, failed or cancelled one has none.
        "triggerWord": record.trigger_word if state.phase in (Phase.RUNNING, Phase.SUCCEEDED) else None,
        "trainingStrength": job.extra["strength"],
        "trainingSpeed": job.extra["speed"],
        "progress": round(state.progress * 100, 1),
        "createdAt": _iso(job.created_at),
    }
    failure = _failure(job, state)
    if failure:
        body["error"] = failure
    return body


def _upload_error(refused: UploadRefused) -> SurfaceError:
    if refused.problem is Problem.UNSUPPORTED_TYPE:
        return errors.unsupported_image_type(refused.declared, tuple(UPLOAD_TYPES))
    if refused.problem is Problem.TOO_LARGE:
        return errors.image_too_large(MAX_IMAGE_BYTES)
    if refused.problem is Problem.UNSUPPORTED_FORMAT:
        return errors.unsupported_image_format(refused.actual)
    if refused.problem is Problem.TYPE_MISMATCH:
        return errors.image_type_mismatch(refused.declared, refused.actual)
    return errors.invalid_image(refused.reason)
