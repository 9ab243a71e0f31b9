"""Models and their training images: one registry that every surface reads.

A model's training state is not stored on the model: it is derived from its newest training job, so a model trained
through one surface is seen with the right state by all the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PUBLIC = ""  # the owner of models every tenant can see (fixture models without a tenant)


@dataclass(slots=True)
class Model:
    id: str
    asset_id: str
    tenant: str
    display_name: str
    training_mode: str = "style"  # subject | style
    base_model: dict[str, str] = field(default_factory=lambda: {"name": "clio_v2", "version": "2.0.0"})
    sample_prompt: str = ""
    concept_id: str = ""
    published_state: str = "never"  # never | published | unpublished
    created_at: float = 0.0
    modified_at: float = 0.0
    size: int = 0
    etag: str = ""
    version: str = "1"
    deleted: bool = False
    ready: bool = False  # fixture models are ready without a training job
    surfaces: list[str] = field(default_factory=lambda: ["firefly", "training"])
    extra: dict[str, Any] = field(default_factory=dict)  # surface-specific fixture data, passed through


@dataclass(slots=True)
class TrainingImage:
    id: str
    model_id: str
    tenant: str
    asset_id: str
    created_at: float
    deleted: bool = False


class Registry:
    """Model and training-image records. Visibility: a tenant sees its own models and public ones."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def add_model(self, model: Model) -> Model:
        self.store.put("model", model.id, model, model.tenant)
        if model.asset_id and model.asset_id != model.id:
            self.store.put("model_alias", model.asset_id, model.id, model.tenant)
        return model

    def save(self, model: Model) -> None:
        self.store.put("model", model.id, model, model.tenant)

    def model(self, tenant: str, model_id: str, include_public: bool = True) -> Model | None:
        """A live model the tenant may see, looked up by id or by its Adobe asset id."""
        model: Model | None = self.store.get("model", model_id)
        if model is None:
            alias = self.store.get("model_alias", model_id)
            model = self.store.get("model", alias) if alias else None
        if model is None or model.deleted:
            return None
        if model.tenant == tenant or (include_public and model.tenant == PUBLIC):
            return model
        return None

    def models(self, tenant: str, surface: str) -> list[Model]:
        own = self.store.items("model", tenant)
        public = self.store.items("model", PUBLIC) if tenant != PUBLIC else []
        return [m for m in (*own, *public) if not m.deleted and surface in m.surfaces]

    def remove_model(self, model: Model) -> list[str]:
        """Forget a model, its alias and its training images; return the images' asset ids (for the caller to
        remove). Its trainings stay until job eviction takes them."""
        self.store.delete("model", model.id)
        if self.store.get("model_alias", model.asset_id) == model.id:
            self.store.delete("model_alias", model.asset_id)
        images = [i for i in self.store.items("training_image", model.tenant) if i.model_id == model.id]
        for image in images:
            self.store.delete("training_image", image.id)
        return [i.asset_id for i in images]

    def add_image(self, image: TrainingImage) -> None:
        self.store.put("training_image", image.id, image, image.tenant)

    def image(self, tenant: str, model_id: str, image_id: str) -> TrainingImage | None:
        image: TrainingImage | None = self.store.get("training_image", image_id)
        if image is None or image.deleted or image.tenant != tenant or image.model_id != model_id:
            return None
        return image

    def images(self, tenant: str, model_id: str) -> list[TrainingImage]:
        found = self.store.items("training_image", tenant)
        return sorted(
            (i for i in found if i.model_id == model_id and not i.deleted), key=lambda i: (i.created_at, i.id)
        )

    def remove_image(self, image: TrainingImage) -> None:
        self.store.delete("training_image", image.id)
