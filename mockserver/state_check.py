"""Checks for an imported state document: an object that decodes is not yet one the routes can serve.

`PUT /__admin/state` replaces the whole world, so every object is checked before anything changes: field types
(from the dataclasses' annotations), numbers finite and in range, enums, the keys surfaces read without a default,
and references between objects. A refused import changes nothing.
"""

from __future__ import annotations

import dataclasses
import math
import time
import types
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from .core import outputs
from .core.assets import EXTENSIONS, Asset
from .core.faults import FaultRule, rule_from
from .core.jobs import Job
from .core.registry import Model, TrainingImage
from .core.tenants import Token
from .core.uploads import Upload
from .core.world import MAX_CLOCK, Picture
from .spec import Spec

MAX_INT = 2**53  # larger integers do not survive a JSON round trip through most clients
MAX_SIDE = 8192  # generated images are rendered on download: their size is bounded like any request's
MAX_DURATION = 365 * 86400.0  # a job's pending or running time (the slowest profile needs minutes)
_MIMES = frozenset(EXTENSIONS)
_IMAGE_KINDS = ("firefly.expand", "firefly.fill", "firefly.similar", "firefly.composite", "firefly.video")
_JOB_KINDS = ("firefly.generate", *_IMAGE_KINDS, "training", "prediction", "scenario.generate")
_ENUMS: dict[str, tuple[str, ...]] = {
    "training_mode": ("subject", "style"),
    "published_state": ("never", "published", "unpublished"),
}
# Keys a surface reads from a job without a default, by job kind: (field, key, expected type).
_JOB_KEYS: dict[str, list[tuple[str, str, Any]]] = {
    "firefly.generate": [("inputs", "size", dict), ("inputs", "version", str), ("inputs", "mime", str)],
    "training": [
        ("extra", "model_id", str),
        ("extra", "trigger_word", str),
        ("extra", "strength", int),
        ("extra", "speed", str),
    ],
    "prediction": [
        ("inputs", "seed", int),
        ("inputs", "size", dict),
        ("inputs", "format", str),
        ("extra", "models", list),
    ],
    "scenario.generate": [],
    **{kind: [("inputs", "size", dict), ("inputs", "mime", str)] for kind in _IMAGE_KINDS},
}


class StateError(ValueError):
    """Why an imported state cannot be served."""


def check_objects(
    objects: list[tuple[str, str, str, Any]], specs: dict[str, Spec], pictures: Mapping[str, Picture]
) -> None:
    """Raise StateError naming the first object that the routes could not serve. `pictures`: the world's, per job
    kind that draws its outputs (`World.draws_outputs`)."""
    keys = {(kind, key) for kind, key, _, _ in objects}
    if len(keys) < len(objects):
        seen: set[tuple[str, str]] = set()
        for index, (kind, key, _, _) in enumerate(objects):
            if (kind, key) in seen:
                raise StateError(f"objects.{index} ({kind} {key!r}): the same kind and key appear twice")
            seen.add((kind, key))
    for index, (kind, key, tenant, obj) in enumerate(objects):
        try:
            _check(kind, key, tenant, obj, keys, specs)
            if isinstance(obj, Job) and any("asset" not in output for output in obj.outputs):
                _check_drawn(kind, obj, keys, specs, pictures)
        except StateError as exc:
            raise StateError(f"objects.{index} ({kind} {key!r}): {exc}") from None


def check_clock(offset: Any, frozen_at: Any) -> None:
    """The imported clock must read between the epoch and MAX_CLOCK."""
    for name, value in (("offset", offset), ("frozen_at", frozen_at)):
        if value is not None and not _number(value, MAX_CLOCK):
            raise StateError(f"clock.{name} must be a finite number of at most {MAX_CLOCK:.0f}")
    now = frozen_at if frozen_at is not None else time.time() + (offset or 0.0)
    if not 0 <= now <= MAX_CLOCK:
        raise StateError(f"the clock would read {now:.0f}, outside 0..{MAX_CLOCK:.0f}")


def _check(kind: str, key: str, tenant: str, obj: Any, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    if kind == "rate":
        raise StateError("rate-limit windows are not part of a state")
    if kind in ("blob", "model_alias"):
        if kind == "model_alias" and ("model", obj) not in keys:
            raise StateError(f"points at model {obj!r}, which is not in the state")
        return
    _conforms(obj, type(obj), "")
    if not isinstance(obj, FaultRule) and obj.tenant != tenant:  # a rule's tenant is what it matches, not its owner
        raise StateError("its tenant differs from the object's own tenant")
    own_key = obj.value if isinstance(obj, Token) else obj.id
    if own_key != key:
        raise StateError("its key differs from the object's own id")
    extra_check = _CHECKS.get(type(obj))
    if extra_check is not None:
        extra_check(kind, obj, keys, specs)


def _check_asset(kind: str, asset: Asset, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    if asset.mime not in _MIMES:
        raise StateError(f"mime must be one of {', '.join(sorted(_MIMES))}")
    if not (1 <= asset.width <= MAX_SIDE and 1 <= asset.height <= MAX_SIDE):
        raise StateError(f"width and height must be between 1 and {MAX_SIDE}")
    render = asset.render
    if render is not None and not (
        isinstance(render.get("key"), str)
        and isinstance(render.get("lines"), list)
        and all(isinstance(line, str) for line in render["lines"])
    ):
        raise StateError("render needs a string key and a list of string lines")
    if render is not None and not (isinstance(render.get("crf", 0), int) and 0 <= render.get("crf", 0) <= 63):
        raise StateError("render.crf must be an integer between 0 and 63")
    if render is not None and not _layers_ok(render.get("layers", [])):
        raise StateError(
            "render.layers must be a list of {asset, box: [x0, y0, x1, y1] inside the image, mask, keep: dark|light, "
            "outline: bool}, asset and mask an asset id or null"
        )
    if asset.blob is not None and ("blob", asset.blob) not in keys:
        raise StateError(f"its blob {asset.blob!r} is not in the state")


def _layers_ok(layers: Any) -> bool:
    """Uploaded pixels drawn into a picture (Firefly image-to-image outputs): a box the renderer can paste into."""
    if not isinstance(layers, list):
        return False
    for layer in layers:
        if not isinstance(layer, dict):
            return False
        box = layer.get("box")
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v, MAX_SIDE) and int(v) == v for v in box)):
            return False
        if not (0 <= box[0] < box[2] <= MAX_SIDE and 0 <= box[1] < box[3] <= MAX_SIDE):
            return False
        refs_ok = all(layer.get(name) is None or isinstance(layer.get(name), str) for name in ("asset", "mask"))
        if not refs_ok or layer.get("keep", "dark") not in ("dark", "light"):
            return False
        if not isinstance(layer.get("outline", True), bool):
            return False
    return True


def _check_upload(kind: str, upload: Upload, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    if ("asset", upload.asset_id) not in keys:
        raise StateError(f"its asset {upload.asset_id!r} is not in the state")
    if upload.expires_at < upload.created_at:
        raise StateError("expires_at must not be before created_at")


def _check_job(kind: str, job: Job, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    if kind != f"job:{job.kind}" or job.kind not in _JOB_KINDS:
        raise StateError(f"job kinds are {', '.join(_JOB_KINDS)}, stored as job:<kind>")
    durations = (job.plan.pending, job.plan.running)
    if job.plan.unit not in ("seconds", "polls") or not all(0 <= d <= MAX_DURATION for d in durations):
        raise StateError(f"plan needs a unit (seconds or polls) and durations between 0 and {MAX_DURATION:.0f}")
    if job.outcome is not None and job.outcome.kind not in ("fail", "timeout"):
        raise StateError("outcome.kind must be fail or timeout")
    if job.polls < 0:
        raise StateError("polls must not be negative")
    for output in job.outputs:
        if not _number(output.get("seed"), MAX_INT) or not isinstance(output.get("asset", ""), str):
            raise StateError("every output needs a numeric seed, and an asset id unless its job draws it")
    for field, name, expected in _JOB_KEYS[job.kind]:
        value = getattr(job, field).get(name)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise StateError(f"{field}.{name} must be a {expected.__name__}")
    size = job.inputs.get("size")
    if isinstance(size, dict) and not all(_number(size.get(side), MAX_SIDE) for side in ("width", "height")):
        raise StateError("inputs.size needs numeric width and height")
    if not _number(job.extra.get("seq", 0), MAX_INT):
        raise StateError("extra.seq must be a number")


def _check_drawn(
    kind: str, job: Job, keys: set[tuple[str, str]], specs: dict[str, Spec], pictures: Mapping[str, Picture]
) -> None:
    """Outputs a job draws (`core.outputs`, Firefly's): the description they are rendered from, checked as the
    assets they stand for would be."""
    picture_of = pictures.get(job.kind)
    if picture_of is None:
        raise StateError("outputs of this kind need an asset id")
    if job.kind == "firefly.generate":
        size = job.inputs["size"]
        if not isinstance(job.inputs.get("prompt"), str) or not isinstance(job.extra.get("model", ""), str):
            raise StateError("a generate that draws its outputs needs inputs.prompt (and extra.model) as strings")
        if not all(isinstance(size.get(side), int) for side in ("width", "height")):
            raise StateError("inputs.size needs integer width and height")
    else:
        picture = job.extra.get(outputs.PICTURE)
        if not (
            isinstance(picture, dict)
            and isinstance(picture.get("mime"), str)
            and all(isinstance(picture.get(side), int) for side in ("width", "height"))
            and _strings(picture.get("key"), 2)
            and isinstance(picture.get("lines"), list)
            and len(picture["lines"]) == 2
            and all(_strings(part) for part in picture["lines"])
        ):
            raise StateError(
                "extra.picture needs mime, integer width and height, key: [before, after] and "
                "lines: [[before...], [after...]], all strings"
            )
    picture = picture_of(job)
    for index in range(len(job.outputs)):
        asset = outputs.drawn(job, index, picture)
        if asset is not None:
            _check_asset(kind, asset, keys, specs)


def _strings(value: Any, length: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(isinstance(item, str) for item in value)
    )


def _check_model(kind: str, model: Model, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    for name, allowed in _ENUMS.items():
        if getattr(model, name) not in allowed:
            raise StateError(f"{name} must be one of {', '.join(allowed)}")
    if "scenario" in model.surfaces and "wire" in model.extra:
        problems = specs["scenario.yaml"].errors("Model", model.extra["wire"])
        if problems:
            where = ".".join(str(p) for p in problems[0]["loc"][1:]) or "wire"
            raise StateError(f"extra.wire.{where}: {problems[0]['msg']}")
    if not _number(model.extra.get("creativeUnits", 0), MAX_INT) or not _number(model.extra.get("rank", 0), MAX_INT):
        raise StateError("extra.creativeUnits and extra.rank must be numbers")


def _check_image(kind: str, image: TrainingImage, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    if ("asset", image.asset_id) not in keys or ("model", image.model_id) not in keys:
        raise StateError("its asset and model must be in the state")


def _check_fault(kind: str, rule: FaultRule, keys: set[tuple[str, str]], specs: dict[str, Spec]) -> None:
    data = {k: v for k, v in dataclasses.asdict(rule).items() if v is not None and k not in ("matched", "fired")}
    if not data.get("headers"):
        data.pop("headers", None)
    problems = specs["admin.yaml"].errors("FaultRule", data)
    if problems:
        where = ".".join(str(p) for p in problems[0]["loc"][1:]) or "rule"
        raise StateError(f"{where}: {problems[0]['msg']}")
    try:
        rule_from(data)
    except (ValueError, TypeError) as exc:
        raise StateError(str(exc)) from None
    if rule.matched < 0 or rule.fired < 0:
        raise StateError("matched and fired must not be negative")


_CHECKS: dict[type, Callable[[str, Any, set[tuple[str, str]], dict[str, Spec]], None]] = {
    Asset: _check_asset,
    Job: _check_job,
    Model: _check_model,
    TrainingImage: _check_image,
    FaultRule: _check_fault,
    Upload: _check_upload,
}


def _number(value: Any, bound: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and -bound <= value <= bound
    )


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _conforms(value: Any, hint: Any, where: str) -> None:
    """Raise StateError unless `value` has the annotated type (recursively, numbers finite and bounded)."""
    origin, args = get_origin(hint), get_args(hint)
    ok = True
    if hint is Any:
        return
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                _conforms(value, option, where)
                return
            except StateError:
                continue
        ok = False
    elif hint is type(None):
        ok = value is None
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and _number(value, MAX_INT)
    elif hint is float:  # instants, durations, fractions: none is negative, none passes the clock's maximum
        ok = _number(value, MAX_CLOCK) and value >= 0
    elif hint is str:
        ok = isinstance(value, str)
    elif origin is list:
        ok = isinstance(value, list)
        if ok:
            for index, item in enumerate(value):
                _conforms(item, args[0], f"{where}[{index}]")
    elif origin is dict:
        ok = isinstance(value, dict)
        if ok:
            for name, item in value.items():
                _conforms(name, args[0], where)
                _conforms(item, args[1], f"{where}.{name}" if where else str(name))
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        ok = isinstance(value, hint)
        if ok:
            for field in dataclasses.fields(hint):
                name = f"{where}.{field.name}" if where else field.name
                _conforms(getattr(value, field.name), _hints(hint)[field.name], name)
    if not ok:
        raise StateError(f"{where or 'the object'} has the wrong type")
