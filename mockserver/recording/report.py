"""The drift report: a terminal table (the default), JSON for machines, markdown for a CI summary or an issue."""

from __future__ import annotations

import json
from typing import Any

from .drift import OperationReport, Result


def render(result: Result, form: str) -> str:
    if form == "json":
        return json.dumps(as_json(result), indent=2) + "\n"
    if form == "markdown":
        return _markdown(result)
    return _table(result)


def summary(result: Result) -> str:
    drifted = sum(1 for op in result.operations.values() if op.differences)
    total = len(result.operations)
    verdict = f"{drifted} of {total} operations drifted" if drifted else f"no drift in {total} operations"
    return f"mockserver drift against {result.against}: {verdict}"


def as_json(result: Result) -> dict[str, Any]:
    return {
        "against": result.against,
        "drifted": result.drifted,
        "operations": [
            {
                "operation": op.operation,
                "calls": op.calls,
                "status": {"recorded": op.recorded, "replayed": op.replayed},
                "drifted": bool(op.differences),
                "differences": [
                    {"kind": d.kind, "where": d.where, "recorded": d.recorded, "replayed": d.replayed}
                    for d in op.differences
                ],
                "notes": op.notes,
            }
            for op in result.operations.values()
        ],
    }


def _statuses(op: OperationReport) -> str:
    recorded = ",".join(str(s) for s in op.recorded) or "-"
    replayed = ",".join(str(s) for s in op.replayed) or "-"
    return f"{recorded} -> {replayed}"


def _table(result: Result) -> str:
    rows = [("operation", "calls", "status", "differences")]
    for op in result.operations.values():
        lines = [d.describe() for d in op.differences] + [f"note: {n}" for n in op.notes] or ["none"]
        rows.append((op.operation, str(op.calls), _statuses(op), lines[0]))
        rows += [("", "", "", line) for line in lines[1:]]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    out = [summary(result), ""]
    for number, row in enumerate(rows):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
        if number == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    return "\n".join(line.rstrip() for line in out) + "\n"


def _markdown(result: Result) -> str:
    out = [f"## {summary(result)}", "", "| operation | calls | status | differences |", "|---|---|---|---|"]
    for op in result.operations.values():
        lines = [d.describe() for d in op.differences] + [f"note: {n}" for n in op.notes] or ["none"]
        cells = [f"`{op.operation}`", str(op.calls), _statuses(op), "<br>".join(_cell(line) for line in lines)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
