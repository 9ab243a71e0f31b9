"""Benchmarks of the fake over real sockets, against a bare Starlette app on the same Uvicorn settings.

Run `python -m bench` (or `python -m bench --quick`) from the repository root; see bench/run.py.
"""
