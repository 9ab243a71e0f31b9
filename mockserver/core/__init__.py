"""The domain core: one small world (tenants, models, jobs, assets, clock) shared by every API surface.

Nothing in here knows about HTTP or any provider's wire names.
"""
