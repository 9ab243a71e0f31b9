"""`python -m bench.writes` reads a WAL's frames as SQLite wrote them: the commits since the WAL last started over, and
the table or index each written page belongs to."""

from __future__ import annotations

from pathlib import Path

from bench.writes import pages_per_commit, wal_frames
from mockserver.store_sqlite import PAGE_SIZE, connect


def test_frames_are_the_commits_since_the_wal_started_over_and_pages_are_named_by_their_table(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    db = connect(str(path))  # the store's settings: no automatic checkpoint this small
    try:
        db.execute("CREATE TABLE things (key TEXT PRIMARY KEY, data BLOB)")
        db.execute("CREATE INDEX things_by_data ON things (data)")
        for commit in range(3):
            db.execute("BEGIN")
            for i in range(40):  # a few pages of each
                db.execute("INSERT INTO things VALUES (?, ?)", (f"{commit}-{i}", bytes([i]) * 100))
            db.execute("COMMIT")
        page_size, frames = wal_frames(path.with_name("x.db-wal"))
        assert page_size == PAGE_SIZE
        assert sum(1 for _, ends in frames if ends) == 5  # the two CREATEs and the three transactions
        size, commits, pages = pages_per_commit(path)
        assert (size, commits) == (PAGE_SIZE, 5)
        assert {"things", "sqlite_autoindex_things_1", "things_by_data", "page 1"} <= set(pages)
        assert round(sum(pages.values()) * commits) == len(frames)
        # A checkpoint that lets the WAL start over: the next commit's frames overwrite the first ones, and the
        # older frames after them (other salts) are not counted
        db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        db.execute("INSERT INTO things VALUES ('last', x'00')")
        _, frames = wal_frames(path.with_name("x.db-wal"))
        assert sum(1 for _, ends in frames if ends) == 1 and 0 < len(frames) < 6
        assert path.with_name("x.db-wal").stat().st_size > (len(frames) + 6) * PAGE_SIZE  # the old frames remain
    finally:
        db.close()
    short = tmp_path / "short-wal"
    short.write_bytes(b"\x37\x7f\x06\x82")  # a header cut short: no frames
    assert wal_frames(short) == (0, [])
