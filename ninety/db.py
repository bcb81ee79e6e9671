"""The ledger database: engine, sessions and schema migrations (Alembic).

SQLite is the embedded default (a file under the data dir, WAL journal so the API reads
while the indexer writes); any PostgreSQL URL works too.
"""
from __future__ import annotations

import ast
import logging
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import Session

from ninety.errors import ConfigError, NinetyError
from ninety.paths import ROOT

log = logging.getLogger(__name__)


class SchemaError(NinetyError, RuntimeError):
    """The database schema is not the one this version of Ninety expects."""


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except Exception as e:
        raise ConfigError(f"not a database URL: {url!r} ({e})") from e
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def redact_url(url: str) -> str:
    """The URL without its password, for logs and banners."""
    try:
        return make_url(normalise_url(url)).render_as_string(hide_password=True)
    except Exception:
        return "<database URL>"


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


# ------------------------------------------------------------------ migrations


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision, in one transaction (on SQLite too: a crash
    mid-way leaves the schema as it was, never half built)."""
    from alembic import command

    if engine.dialect.name != "sqlite":
        command.upgrade(_alembic_config(engine), "head")
        return
    ddl = _sqlite_transactional(engine)
    try:
        command.upgrade(_alembic_config(ddl), "head")
    finally:
        ddl.dispose()


def _sqlite_transactional(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose transactions include DDL. Python's sqlite3
    driver commits before every CREATE or ALTER on its own, so a process killed during the
    first migration left tables without a schema version; with the driver's own
    transaction handling off and an explicit BEGIN, SQLite's journal undoes all of it."""
    ddl = make_engine(engine.url.render_as_string(hide_password=False))

    @event.listens_for(ddl, "connect")
    def _no_driver_transactions(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None

    @event.listens_for(ddl, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return ddl


_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


def _scripts_head() -> str | None:
    """The head revision from the migration files' `revision` / `down_revision` lines, read
    as text: importing Alembic and loading its script directory took a third of a second of
    every `ninety index` start. None when the files do not say plainly (Alembic decides then)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in (ROOT / "migrations" / "versions").glob("*.py"):
            found = {k: ast.literal_eval(v) for k, v in _REVISION_LINE.findall(path.read_text())}
            rev, down = found["revision"], found.get("down_revision")
            if not isinstance(rev, str):
                return None
            revisions.add(rev)
            parents |= {down} if isinstance(down, str) else set(down or ())
    except (OSError, KeyError, ValueError, SyntaxError, TypeError):
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(engine: Engine) -> str | None:
    """The revision in Alembic's version table, read with one query (None: no table or no row)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return rows[0][0] if len(rows) == 1 else None


# One script per dialect holding the schema the migrations build (tools/schema_snapshot.py
# writes them; a test fails when one differs from what the migrations build).
SNAPSHOTS = ROOT / "migrations" / "schema"


def snapshot_header(revision: str) -> str:
    return f"-- Ninety's schema at revision {revision}: written by tools/schema_snapshot.py, do not edit"


def _snapshot(dialect: str, head: str) -> str | None:
    """The script that creates revision `head` on `dialect`, if there is one for exactly it."""
    try:
        script = (SNAPSHOTS / f"{dialect}.sql").read_text()
    except OSError:
        return None
    return script if script.split("\n", 1)[0] == snapshot_header(head) else None


def _statements(script: str) -> list[str]:
    """A SQLite script's statements, split where SQLite itself says one is complete."""
    out, pending = [], ""
    for line in script.splitlines(keepends=True):
        if line.startswith("--") and not pending:
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    if pending.strip():
        raise SchemaError(f"the schema snapshot ends in an incomplete statement: {pending.strip()[:200]}")
    return out


def _create_from_snapshot(engine: Engine, script: str) -> bool:
    """Run a snapshot in one transaction: a crash mid-way leaves the database empty. The
    script stamps the revision itself (it ends by filling alembic_version). False, with
    nothing done, when another process created a schema first (an API and an indexer
    started together on a new database): the caller then checks that one."""
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        if engine.dialect.name == "sqlite":
            driver.execute("BEGIN IMMEDIATE")  # one creator at a time (the busy timeout waits)
            exists = "SELECT count(*) FROM sqlite_master"
            statements = _statements(script)
        else:
            driver.execute("SELECT pg_advisory_xact_lock(7395471902273450305)")  # 'ninety schema' creators
            exists = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            statements = [script]  # psycopg runs a parameterless script in one go
        try:
            if driver.execute(exists).fetchone()[0]:
                driver.rollback()
                return False
            for statement in statements:
                driver.execute(statement)
            driver.commit()
        except BaseException:
            driver.rollback()
            raise
        return True
    finally:
        raw.close()


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one at another revision."""
    fast = _scripts_head()
    if fast is not None:
        stored = _stored_revision(engine)
        if stored == fast:
            return  # the usual case, settled without Alembic
        if stored is None and not inspect(engine).get_table_names():
            script = _snapshot(engine.dialect.name, fast)
            if script is not None:
                log.info("creating the ledger schema (revision %s)", fast)
                if _create_from_snapshot(engine, script):
                    return
                # Another process made a schema meanwhile: checked below like any other.
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        if inspect(engine).get_table_names():
            raise SchemaError(
                "the database has tables but no Ninety schema version; point NINETY_DB_URL "
                "at an empty database or at a Ninety ledger"
            )
        log.info("creating the ledger schema (revision %s)", head)
        migrate(engine)
        return
    raise SchemaError(
        f"the database schema is at revision {current}, this version of Ninety needs {head}: "
        "run `ninety migrate` (back up the database first)"
    )
