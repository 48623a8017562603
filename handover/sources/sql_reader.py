"""District databases: a table or a SELECT, read in a read-only transaction with a server-side cursor.

A row's number is its identity in the district system: the ``row_id`` column named in the configuration, else
the table's single-column integer primary key, else its position in the result. With ``base_table`` or
``count_query`` the source's physical rows are the district system's own count, taken in the same read-only
transaction, so that rows a JOIN or WHERE leaves out show as a difference in the balance (and a
``sql_rows_not_read`` finding).

The fingerprint is the SHA-256 over the rows as read (a table in primary-key order; a query in its own
ORDER BY): each row JSON-encoded on one line (``json.dumps(values, default=str, ensure_ascii=False)``). It is
computed by a separate streaming pass when asked for before the chunks have all been read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from handover.models import Finding, RowAccount, Severity, SourceFingerprint
from handover.redact import mask_url
from handover.sources.base import RawRow, SourceReader


def _readonly_sqlite(url: Any) -> Any:
    """sqlite:///path → the same file opened with mode=ro (the district database is never written)."""
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return url
    # mode=ro as a query argument: the driver adds the URL's other arguments after it, joined rightly
    return url.set(database=f"file:{db}", query={**url.query, "mode": "ro", "uri": "true"})


class SqlReader(SourceReader):
    kind = "sql"
    footer_detection = False
    header_in_source = False  # column names, not a row of the table

    def _prepare(self) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        assert self.cfg.url is not None
        try:
            url = make_url(self.cfg.url)
        except ArgumentError as exc:
            raise self.error(
                "The database URL of this source is not a valid SQLAlchemy URL.",
                hint="Write it like postgresql+psycopg://user@host/db or sqlite:///district.db.",
                column="url",
            ) from exc
        self.location = mask_url(url)
        self.file = None
        self.report["file"] = self.location
        self.report["encoding"] = "database (Unicode through the driver)"
        self.report["encoding_evidence"] = "text columns arrive decoded; cells checked for TCVN3/VNI"
        self.backend = url.get_backend_name()
        if self.backend == "sqlite":
            db = url.database
            from pathlib import Path

            if db and db != ":memory:" and not Path(db).is_file():
                raise self.error(
                    f"The SQLite database '{db}' does not exist.",
                    hint="Check the url of this source (relative paths start at the config file's folder).",
                    column="url",
                )
            url = _readonly_sqlite(url)
        try:
            self.engine = create_engine(url)
        except (NoSuchModuleError, ImportError) as exc:
            raise self.error(
                f"No database driver for '{self.backend}'.",
                hint="Use postgresql+psycopg://, mysql+pymysql:// or sqlite:///.",
                column="url",
            ) from exc
        self._hash: str | None = None
        self._count = 0
        self._identity: str | None = self.cfg.row_id
        self._identity_index: int | None = None
        self._base: int | None = None

    def _statement(self) -> Any:
        from sqlalchemy import MetaData, Table, select, text

        if self.cfg.query:
            self.report["query"] = self.cfg.query
            return text(self.cfg.query)
        md = MetaData()
        try:
            table = Table(self.cfg.table, md, autoload_with=self.engine)
        except Exception as exc:
            raise self.error(
                f"The table '{self.cfg.table}' cannot be read from {self.location}: {type(exc).__name__}.",
                hint="Check the table name (and the server address and user) in the source config.",
                column="table",
            ) from exc
        order = list(table.primary_key.columns) or list(table.columns)
        self.report["table"] = self.cfg.table
        self.report["order_by"] = [c.name for c in order]
        pk = list(table.primary_key.columns)
        if self.cfg.row_id is None and len(pk) == 1:
            try:
                integer = pk[0].type.python_type is int
            except NotImplementedError:
                integer = False
            if integer:
                self._identity = pk[0].name
        return select(table).order_by(*order)

    def _base_count(self, conn: Any) -> int | None:
        """The district system's own row count (``base_table`` / ``count_query``), or None."""
        from sqlalchemy import func, select, table, text

        if self.cfg.count_query:
            stmt: Any = text(self.cfg.count_query)
            what = "count_query"
        elif self.cfg.base_table:
            stmt = select(func.count()).select_from(table(self.cfg.base_table))
            what = "base_table"
        else:
            return None
        try:
            value = conn.execute(stmt).scalar()
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError

            if not isinstance(exc, SQLAlchemyError):
                raise
            raise self.error(
                f"The {what} of this source cannot be counted: {str(exc).splitlines()[0][:200]}",
                hint="Check the table name or the count query (a SELECT returning one number).",
                column=what,
            ) from exc
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.error(
                f"The {what} of this source did not return a row count (it returned {value!r}).",
                hint="Give a SELECT that returns one whole number, e.g. SELECT count(*) FROM ho_so.",
                column=what,
            )
        self.report["base_count"] = {"by": what, "rows": value}
        return value

    def _identity_of(self, row: Any, position: int) -> int:
        """The row's number: its identity column's value (a positive whole number), else its position."""
        if self._identity_index is None:
            return position
        value = row[self._identity_index]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.isdigit() and int(value) > 0:
            return int(value)
        raise self.error(
            f"Row {position:,} of the result has {value!r} in its identity column '{self._identity}', not a "
            "positive whole number, so its rows cannot be numbered by it.",
            hint="Name another column as row_id in the source config (or none: rows are then numbered by their "
            "position in the result).",
            column=self._identity,
            row=position,
        )

    def _begin_read_only(self, conn: Any) -> None:
        from sqlalchemy import text

        if self.backend == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = 1")
        elif self.backend == "postgresql":
            conn.execute(text("SET TRANSACTION READ ONLY"))
        elif self.backend in ("mysql", "mariadb"):
            conn.execute(text("SET SESSION TRANSACTION READ ONLY"))

    def _rows(self) -> Iterator[RawRow]:
        stmt = self._statement()
        digest = hashlib.sha256()
        count = 0
        try:
            with self.engine.connect() as conn:
                self._begin_read_only(conn)
                base = self._base_count(conn)
                result = conn.execution_options(stream_results=True, yield_per=self.chunk_size).execute(stmt)
                names = list(result.keys())
                self._identity_index = self._identity_column(names)
                yield 0, names, False
                for row in result:
                    count += 1
                    values = list(row)
                    digest.update((json.dumps(values, default=str, ensure_ascii=False) + "\n").encode())
                    yield self._identity_of(values, count), values, False
                conn.rollback()
        except GeneratorExit:
            raise
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError

            if not isinstance(exc, SQLAlchemyError):
                raise
            raise self.error(
                f"Reading from {self.location} failed: {str(exc).splitlines()[0][:200]}",
                hint="Check the query or table, and that the database is reachable with this user.",
            ) from exc
        self._hash = digest.hexdigest()
        self._count = count
        self._base = base

    def _identity_column(self, names: list[str]) -> int | None:
        if self._identity is None:
            return None
        if self._identity not in names:
            raise self.error(
                f"The row_id column '{self._identity}' is not in the result (columns: {', '.join(names)}).",
                hint="Name a column of the table or query as row_id, or remove row_id.",
                column="row_id",
            )
        self.report["row_id"] = self._identity
        return names.index(self._identity)

    def _finish_rows(self) -> None:
        super()._finish_rows()
        if self._base is None or self._base == self._count:
            return
        by = self.report["base_count"]["by"]
        what = f"base_table {self.cfg.base_table}" if by == "base_table" else "count_query"
        fewer = self._base > self._count
        diff = abs(self._base - self._count)
        self._pending_findings.append(
            Finding(
                source_id=self.cfg.id,
                row=None,
                check="sql_rows_not_read" if fewer else "sql_rows_repeated",
                severity=Severity.WARNING,
                message_vi=(
                    f"Truy vấn trả về {self._count:,} dòng, hệ thống của huyện có {self._base:,} ({what}): "
                    + (
                        f"{diff:,} dòng không được đọc (JOIN hoặc WHERE đã bỏ chúng)."
                        if fewer
                        else f"thừa {diff:,} dòng (JOIN đã nhân bản dòng)."
                    )
                ),
                message_en=(
                    f"The query returned {self._count:,} rows; the district system holds {self._base:,} ({what}): "
                    + (
                        f"{diff:,} rows were not read (a JOIN or WHERE left them out)."
                        if fewer
                        else f"{diff:,} rows too many (a JOIN repeated rows)."
                    )
                ),
            )
        )

    def row_account(self) -> RowAccount:
        """The rows read; with ``base_table``/``count_query`` the physical rows are the district system's
        count, so a difference stays unbalanced (rows a JOIN or WHERE left out are not 'non-data')."""
        account = super().row_account()
        if self._base is None:
            return account
        return account.model_copy(update={"physical_rows": self._base})

    def _choose_header(self, head):  # type: ignore[no-untyped-def]
        from handover.sources.headers import find_header

        choice = find_header(head[:1], self.matcher)
        if choice is None:
            return super()._choose_header([])
        return choice

    def _compute_fingerprint(self) -> SourceFingerprint:
        if self._hash is None:
            for _ in self._rows():
                pass
        assert self._hash is not None
        return SourceFingerprint(
            source_id=self.cfg.id,
            kind="sql",
            location=self.location,
            entity=self.entity,
            sha256=self._hash,
            size_bytes=None,
        )
