"""The shared journal's rows: what it stores for an entry is what the in-memory journal shows for it."""

from __future__ import annotations

import orjson

from mockserver.journal import FIELDS, as_dict, readable


def test_a_stored_row_is_the_entry_as_the_journal_shows_it_with_readable_headers() -> None:
    headers = [(b"x-api-key", b"key"), (b"authorization", b"Bearer secret"), (b"x-long", b"v" * 600)]
    entry = (1.5, "firefly", "POST", "/v3/x", b"a=%C3", "t", 202, 0.0012345, "rid", {"prompt": "p"}, headers)
    expected = dict(zip(FIELDS, entry, strict=True))  # each field by its name, transformed as the journal shows it
    expected.update(query="a=%C3", latency_ms=1.234, headers=readable(headers))
    row = as_dict(entry, readable_headers=True)
    assert as_dict(entry) == {**row, "headers": headers}
    assert list(row) == list(FIELDS)
    assert orjson.dumps(row) == orjson.dumps(expected)  # the same bytes in the file, key order included
    assert row["headers"] == {"x-api-key": "key", "x-long": "v" * 512}
