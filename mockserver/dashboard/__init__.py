"""The web dashboard at /__admin/ui (jobs, images, requests, models, controls) over the same core as the APIs."""

from .pages import Dashboard

__all__ = ["Dashboard"]
