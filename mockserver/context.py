"""What every request handler shares: settings, the world, the loaded specs, the image cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .core.world import World
from .images import ImageCache
from .journal import Journal
from .settings import Settings
from .spec import Spec


@dataclass
class Context:
    settings: Settings
    world: World
    specs: dict[str, Spec]
    images: ImageCache
    journal: Journal
    extras: dict[str, Any] = field(default_factory=dict)
