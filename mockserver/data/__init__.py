"""The default seed data and OpenAPI specs, shipped inside the package.

`fixtures` and `openapi` here are links to the repository's top-level folders (the ones people read and edit);
building a wheel copies their files in, so a regular install carries them.
"""
