"""great-expectations once per batch, on the rows the batch loaded into the target: an independent check of what
was loaded, through GX's SQL execution engine (SQLite, PostgreSQL, MariaDB/MySQL).

The row-level findings come from the compiled checks of :mod:`handover.pipeline.expectations` on every extracted
row; this module gives the auditors' report true GX results. Each suite's ``[[expectations]]`` run against a GX
table asset over a view, made for the validation and dropped after it, that selects the suite's columns of the
entity's table (``dossiers`` / ``records``; the suites' canonical fields are the tables' column names,
:mod:`handover.target.schema`) where the batch inserted or last updated the row (``batch_id`` /
``updated_batch_id``). great-expectations is imported here only, when a batch
that loaded something gets this far.

One entry per expectation, the keys the reports read: suite, expectation, check, column, success,
unexpected_count and element_count (over the loaded rows), plus ``scope`` ("loaded rows"), ``flagged`` and
``rows`` (what the compiled check flagged among the rows this run validated, and how many those were). When GX
cannot run (a dialect it does not handle, a column the table lacks), the batch goes on: the entries say so with
``success`` None and an ``error``, and :func:`check_loaded` returns a notice for the run's result.

On MariaDB/MySQL, GX's ExpectColumnValueLengthsToBeBetween measures ``LENGTH()``, which counts bytes (a
Vietnamese letter takes 2–3): there the expectation reads the column converted to a one-byte character set
(``CONVERT(column USING latin1)``, each character one byte, those outside it a "?"), so that it counts characters
as the compiled check does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from handover.models import Entity

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from handover.pipeline.suite import SuiteSpec

SCOPE = "loaded rows"
# the result format: counts only (no unexpected values, no row lists)
_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


def _gx() -> Any:
    """Import great-expectations with analytics off (the variable must be set before the import)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    return gx


def _context(gx: Any) -> Any:
    """An in-memory context, configured through GX's public project config: no usage statistics sent, no progress
    bars on the console."""
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars={"globally": False, "metric_calculations": False},
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _source(context: Any, engine: Engine) -> Any:
    """GX's data source for the target: GX's SQLite and PostgreSQL sources, its generic SQL source otherwise
    (MariaDB/MySQL). No temporary tables: the rows are read through a view (:func:`_loaded_rows_view`)."""
    url = engine.url.render_as_string(hide_password=False)
    sources = context.data_sources
    if engine.dialect.name == "sqlite":
        return sources.add_sqlite("target", connection_string=url, create_temp_table=False)
    if engine.dialect.name == "postgresql":
        return sources.add_postgres("target", connection_string=url, create_temp_table=False)
    return sources.add_sql("target", connection_string=url, create_temp_table=False)


_LENGTHS = "ExpectColumnValueLengthsToBeBetween"


def _measures_bytes(engine: Engine) -> bool:
    """True where SQL ``LENGTH()`` counts bytes: MariaDB / MySQL."""
    return engine.dialect.name in ("mysql", "mariadb")


def _chars_column(column: str) -> str:
    """The name of the one-byte-per-character copy of ``column`` a length expectation reads on MariaDB/MySQL."""
    return f"{column}__chars"


def loaded_rows_query(
    engine: Engine, entity: Entity, columns: list[str], batch_id: str, char_columns: list[str] = ()
) -> str:
    """The SELECT of the suite's columns over the rows the batch inserted or last updated, as SQL text for the
    engine's dialect (the batch id a quoted literal). ``char_columns``: columns also selected as
    :func:`_chars_column`, converted to one byte per character (MariaDB/MySQL)."""
    from sqlalchemy import literal_column, or_, select

    from handover.target.schema import dossiers, records

    table = dossiers if entity is Entity.DOSSIER else records
    quote = engine.dialect.identifier_preparer.quote
    chars = [
        literal_column(f"CONVERT({quote(c)} USING latin1)").label(_chars_column(c)) for c in char_columns
    ]
    stmt = select(*(table.c[c] for c in columns), *chars).where(
        or_(table.c.batch_id == batch_id, table.c.updated_batch_id == batch_id)
    )
    return str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _entry(
    suite: SuiteSpec, e: Any, flagged: dict[tuple[str, str], int], rows: dict[str, int]
) -> dict[str, Any]:
    return {
        "suite": suite.suite.name,
        "expectation": e.expectation,
        "check": e.check,
        "column": e.column,
        "success": None,
        "unexpected_count": None,
        "element_count": None,
        "scope": SCOPE,
        "flagged": int(flagged.get((suite.suite.entity.value, e.check), 0)),
        "rows": int(rows.get(suite.suite.entity.value, 0)),
    }


def check_loaded(
    engine: Engine,
    batch_id: str,
    suites: list[SuiteSpec],
    flagged: dict[tuple[str, str], int],
    rows: dict[str, int],
) -> tuple[list[dict[str, Any]], str | None]:
    """Run every suite's expectations with great-expectations on the rows ``batch_id`` loaded: (one entry per
    expectation, a notice when GX could not check everything, else None). ``flagged``: rows each compiled check
    flagged, by (entity, check); ``rows``: rows validated per entity, both for this run."""
    from handover.target.schema import dossiers, records

    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    runnable: list[tuple[SuiteSpec, list[dict[str, Any]]]] = []
    for suite in suites:
        table = dossiers if suite.suite.entity is Entity.DOSSIER else records
        todo = []
        for e in suite.expectations:
            entry = _entry(suite, e, flagged, rows)
            entries.append(entry)
            if e.column not in table.c:
                entry["error"] = f"column {e.column} is not stored in table {table.name}"
                problems.append(f"{e.check}: {entry['error']}")
            else:
                todo.append(entry)
        if todo:
            runnable.append((suite, todo))
    if runnable:
        source = None
        try:
            gx = _gx()
            context = _context(gx)
            source = _source(context, engine)
            for suite, todo in runnable:
                problems.extend(_validate(gx, context, source, engine, batch_id, suite, todo))
        except Exception as exc:  # GX or the database: the loaded rows stay as they are, the report says so
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            for _, todo in runnable:
                for entry in todo:
                    if entry["success"] is None and "error" not in entry:
                        entry["error"] = message
            problems.append(message)
        finally:
            if source is not None:  # GX's own engine: its connections closed now, not when collected
                source.get_engine().dispose()
    if not problems:
        return entries, None
    return entries, (
        "great-expectations could not check every expectation on the loaded rows (the summary's GX results "
        f"name them): {'; '.join(problems[:3])}. The row checks ran on every extracted row all the same."
    )


def _validate(
    gx: Any, context: Any, source: Any, engine: Engine, batch_id: str, suite: SuiteSpec, todo: list[dict]
) -> list[str]:
    """One GX validation of one suite over the loaded rows of its table; fills ``todo``'s entries. Problems."""
    by_check = {e.check: e for e in suite.expectations}
    entity = suite.suite.entity
    columns = sorted({entry["column"] for entry in todo})
    char_columns = sorted(
        {entry["column"] for entry in todo if by_check[entry["check"]].expectation == _LENGTHS}
        if _measures_bytes(engine)
        else ()
    )
    query = loaded_rows_query(engine, entity, columns, batch_id, char_columns)
    with _loaded_rows_view(engine, batch_id, entity, query) as view:
        asset = source.add_table_asset(entity.value, table_name=view)
        batch = asset.add_batch_definition_whole_table("loaded").get_batch()
        return _run_suite(gx, context, batch, suite, todo, char_columns)


@contextmanager
def _loaded_rows_view(engine: Engine, batch_id: str, entity: Entity, query: str) -> Iterator[str]:
    """A view of ``query`` in the target for the time of one GX validation (dropped after, also on error): GX
    reads a table asset's columns from the database's catalogue, where it would run a query asset once whole to
    learn them, which the server drivers' cursors read entirely into memory (≈ 300 MB per million rows)."""
    digest = hashlib.sha256(f"{batch_id}\x00{entity.value}".encode()).hexdigest()[:16]
    view = f"handover_gx_{digest}"
    quoted = engine.dialect.identifier_preparer.quote(view)
    if engine.dialect.paramstyle in ("format", "pyformat"):  # psycopg, PyMySQL: a literal % is written %%
        query = query.replace("%", "%%")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {quoted}")  # a crashed run's
        conn.exec_driver_sql(f"CREATE VIEW {quoted} AS {query}")
    try:
        yield view
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {quoted}")


def _run_suite(
    gx: Any, context: Any, batch: Any, suite: SuiteSpec, todo: list[dict], char_columns: list[str]
) -> list[str]:
    """Validate ``batch`` against the suite's expectations in ``todo``; fills their entries. Problems."""
    by_check = {e.check: e for e in suite.expectations}
    gx_suite = gx.ExpectationSuite(name=f"{suite.suite.name}-loaded")
    for entry in todo:
        e = by_check[entry["check"]]
        cls = getattr(gx.expectations, e.expectation)
        column = (
            _chars_column(e.column) if e.column in char_columns and e.expectation == _LENGTHS else e.column
        )
        gx_suite.add_expectation(cls(column=column, meta={"check": e.check}, **e.kwargs))
    gx_suite = context.suites.add(gx_suite)
    result = batch.validate(gx_suite, result_format=_RESULT_FORMAT)
    by_entry = {entry["check"]: entry for entry in todo}
    problems = []
    for res in result.results:
        entry = by_entry.get((res.expectation_config.meta or {}).get("check"))
        if entry is None:
            continue
        info = res.exception_info or {}
        if info.get("raised_exception"):
            entry["error"] = str(info.get("exception_message") or "great-expectations raised an error")[:300]
            problems.append(f"{entry['check']}: {entry['error']}")
            continue
        r = res.result or {}
        entry["success"] = bool(res.success)
        entry["unexpected_count"] = int(r.get("unexpected_count") or 0)
        entry["element_count"] = int(r.get("element_count") or 0)
    return problems
