"""mockserver: a stateful local fake of Adobe Firefly v3, a custom-model training API and Scenario."""

__version__ = "0.1.0"
