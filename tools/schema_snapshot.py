"""Write migrations/schema/{sqlite,postgresql}.sql: the schema the migrations build, as one
script per dialect, which `ninety.db.ensure_schema` runs to create an empty database in one
step (16 Alembic migrations took a quarter to a third of a second of every fresh
`ninety index`). tests/indexer/test_migrations.py fails when a snapshot differs from what the
migrations build, so run this after adding a migration:

    .venv/bin/python tools/schema_snapshot.py [POSTGRESQL_URL]

The PostgreSQL URL defaults to NINETY_TEST_PG_URL, then the local test database; pg_dump
(Debian's postgresql-client) writes that dialect's script.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from ninety.db import SNAPSHOTS, head_revision, make_engine, migrate, snapshot_header  # noqa: E402


def sqlite_script() -> str:
    """The statements of a migrated SQLite database's sqlite_master, in the order they ran."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/schema.db")
        migrate(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")).all()
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
    # sqlite_sequence belongs to SQLite (made with the first AUTOINCREMENT table).
    statements = [sql.strip() + ";" for name, sql in rows if name != "sqlite_sequence"]
    return "\n".join([*statements, f"INSERT INTO alembic_version (version_num) VALUES ('{version}');"])


# What pg_dump writes for the session and the schema itself, not for the objects in it.
_PG_SKIP = re.compile(r"^(SET |SELECT pg_catalog\.set_config|CREATE SCHEMA |COMMENT ON SCHEMA |ALTER SCHEMA )")


def postgresql_script(url: str) -> str:
    """pg_dump of a schema of its own that the migrations built, unqualified (the script
    creates its objects in the first schema of the search path, as the migrations do)."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise SystemExit("pg_dump not found (Debian: apt-get install postgresql-client)")
    schema = f"ninety_snapshot_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        engine.dispose()
        plain = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
        dump = subprocess.run([pg_dump, "--schema-only", "--no-owner", "--no-privileges", "--no-comments",
                               f"--schema={schema}", plain], check=True, capture_output=True, text=True).stdout
        data = subprocess.run([pg_dump, "--data-only", "--inserts", "--no-owner", f"--table={schema}.alembic_version",
                               plain], check=True, capture_output=True, text=True).stdout
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    lines = []
    for line in (dump + "\n" + data).splitlines():
        if line.startswith(("--", "\\")) or _PG_SKIP.match(line):  # \restrict: psql meta-commands
            continue
        lines.append(line.replace(f"{schema}.", ""))
    script = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if schema in script:
        raise SystemExit(f"the dump still names the schema {schema}: {script[:500]}")
    return script


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("NINETY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    head = head_revision()
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    for dialect, script in (("sqlite", sqlite_script()), ("postgresql", postgresql_script(url))):
        path = SNAPSHOTS / f"{dialect}.sql"
        path.write_text(f"{snapshot_header(head)}\n{script}\n")
        print(f"wrote {path.relative_to(ROOT)} (revision {head}, {path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
