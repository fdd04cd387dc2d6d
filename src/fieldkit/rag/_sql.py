"""Table-name validation and every SQL statement of the store, composed with ``psycopg.sql``.

Identifiers are never formatted into SQL text: a name is validated (plain Postgres identifier,
optionally schema-qualified), folded to lower case exactly as Postgres folds unquoted names
(so tables created with unquoted names are found), then quoted with ``sql.Identifier``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from psycopg import sql

from fieldkit.rag._types import RAGError

__all__ = ["STORAGE_TYPES", "TableName", "parse_table_name"]

# Column types the ``embedding`` column can have: ``vector`` (4-byte floats) or ``halfvec``
# (2-byte floats: half the table and index memory, for a small loss of recall).
STORAGE_TYPES = ("vector", "halfvec")

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_IDENT = 63


@dataclass(frozen=True, slots=True)
class TableName:
    """A validated, lower-cased table name and the names of its indexes."""

    schema: str | None
    name: str

    @property
    def ident(self) -> sql.Composable:
        """The quoted (optionally schema-qualified) table identifier."""
        if self.schema is None:
            return sql.Identifier(self.name)
        return sql.Identifier(self.schema, self.name)

    @property
    def qualified(self) -> str:
        """``schema.name`` or ``name`` (for messages and ``to_regclass``)."""
        return self.name if self.schema is None else f"{self.schema}.{self.name}"

    @property
    def regclass(self) -> sql.Literal:
        """The quoted identifier as a string literal, the argument ``to_regclass`` takes."""
        return sql.Literal(self.ident.as_string(None))

    def index_qualified(self, kind: str) -> sql.Identifier:
        """The index name qualified with the table's schema (for DROP INDEX)."""
        name = self.index_name(kind)
        if self.schema is None:
            return sql.Identifier(name)
        return sql.Identifier(self.schema, name)

    def index_name(self, kind: str) -> str:
        """A per-table index name that stays within 63 bytes and is unique per table."""
        digest = hashlib.sha1(self.qualified.encode()).hexdigest()[:8]
        return f"{self.name[:40]}_{digest}_{kind}"

    def index(self, kind: str) -> sql.Identifier:
        """The quoted index name (see ``index_name``)."""
        return sql.Identifier(self.index_name(kind))


def parse_table_name(table: object) -> TableName:
    """Validate ``table`` (``name`` or ``schema.name``); RAGError naming the problem otherwise."""
    if not isinstance(table, str):
        raise RAGError(f"table name must be a string, got {type(table).__name__}")
    parts = table.split(".")
    if len(parts) > 2 or not all(_IDENT.match(p) and len(p.encode()) <= _MAX_IDENT for p in parts):
        raise RAGError(
            f"invalid table name {table!r}: use letters, digits and underscores "
            "(not starting with a digit, at most 63 characters), optionally as schema.table"
        )
    low = [p.lower() for p in parts]
    if len(low) == 2:
        return TableName(schema=low[0], name=low[1])
    return TableName(schema=None, name=low[0])


def _type(storage: str) -> sql.SQL:
    if storage not in STORAGE_TYPES:
        raise ValueError(f"storage must be one of {', '.join(STORAGE_TYPES)}; got {storage!r}")
    return sql.SQL(storage)


def _q(storage: str) -> sql.Composable:
    """The query vector parameter, cast to the column's type (the HNSW index needs it so)."""
    return sql.SQL("%(q)b") if storage == "vector" else sql.SQL("%(q)b::halfvec")


def create_table(t: TableName, dim: int, storage: str = "vector") -> sql.Composed:
    """Statement: the table with the published API's columns, in their order."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {t} ("
        "id BIGINT PRIMARY KEY, label TEXT, text TEXT NOT NULL, "
        "embedding {ty}({dim}) NOT NULL)"
    ).format(t=t.ident, ty=_type(storage), dim=sql.Literal(dim))


def add_columns(t: TableName) -> dict[str, sql.Composed]:
    """Column name → statement adding a column legacy tables lack (legacy rows keep NULLs)."""
    return {
        "doc_id": sql.SQL("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS doc_id BIGINT").format(
            t=t.ident
        ),
        "chunk_index": sql.SQL(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS chunk_index INTEGER"
        ).format(t=t.ident),
        "tsv": sql.SQL(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        ).format(t=t.ident),
    }


def create_indexes(t: TableName, storage: str = "vector") -> dict[str, sql.Composed]:
    """Index name → statement creating it."""
    plain = {
        "doc": sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (doc_id)"),
        "label": sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (label)"),
        "tsv": sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} USING gin (tsv)"),
    }
    out = {
        t.index_name(kind): stmt.format(i=t.index(kind), t=t.ident) for kind, stmt in plain.items()
    }
    out[t.index_name("hnsw")] = create_hnsw(t, storage)
    return out


def table_exists(t: TableName) -> sql.Composed:
    """Query: whether the table exists."""
    return sql.SQL("SELECT to_regclass({q}) IS NOT NULL").format(q=t.regclass)


def columns(t: TableName) -> sql.Composed:
    """Query: per column of the table, its name, type modifier (a vector's dimension) and type
    name (no rows if the table does not exist)."""
    return sql.SQL(
        "SELECT attname, atttypmod, atttypid::regtype::text FROM pg_attribute "
        "WHERE attrelid = to_regclass({q}) AND attnum > 0 AND NOT attisdropped"
    ).format(q=t.regclass)


def existing_indexes(t: TableName) -> sql.Composed:
    """Query: the names of the table's indexes."""
    return sql.SQL(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = to_regclass({q})"
    ).format(q=t.regclass)


def create_hnsw(t: TableName, storage: str = "vector") -> sql.Composed:
    """Statement: the HNSW (cosine) index on ``embedding``."""
    return sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} USING hnsw (embedding {ops})").format(
        i=t.index("hnsw"), t=t.ident, ops=sql.SQL(f"{_type(storage).as_string(None)}_cosine_ops")
    )


def has_index(t: TableName, kind: str) -> sql.Composed:
    """Query: whether the table has its ``kind`` index (e.g. ``hnsw``) and it is valid
    (NULL when there is no such table)."""
    return sql.SQL(
        "SELECT CASE WHEN to_regclass({q}) IS NULL THEN NULL ELSE EXISTS ("
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = to_regclass({q}) AND c.relname = {n} AND i.indisvalid) END"
    ).format(q=t.regclass, n=sql.Literal(t.index_name(kind)))


def drop_hnsw(t: TableName) -> sql.Composed:
    """Statement: drop the HNSW index (bulk loads rebuild it once at the end)."""
    return sql.SQL("DROP INDEX IF EXISTS {i}").format(i=t.index_qualified("hnsw"))


def is_empty(t: TableName) -> sql.Composed:
    """Query: whether the table has no rows."""
    return sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {t})").format(t=t.ident)


def create_stage(dim: int, storage: str = "vector") -> sql.Composed:
    """A per-transaction staging table the COPY writes into before the checked merge."""
    return sql.SQL(
        "CREATE TEMP TABLE fk_rag_stage (id BIGINT, doc_id BIGINT, chunk_index INTEGER, "
        "label TEXT, text TEXT, embedding {ty}({dim})) ON COMMIT DROP"
    ).format(ty=_type(storage), dim=sql.Literal(dim))


COPY_STAGE = sql.SQL(
    "COPY fk_rag_stage (id, doc_id, chunk_index, label, text, embedding) FROM STDIN "
    "WITH (FORMAT BINARY)"
)
COPY_TYPES = ["int8", "int8", "int4", "text", "text", "vector"]


def copy_types(storage: str) -> list[str]:
    """The binary COPY column types for a table of *storage*."""
    return [*COPY_TYPES[:-1], _type(storage).as_string(None)]


def find_collision(t: TableName) -> sql.Composed:
    """Query: one staged row whose id is owned by a document already in the table that this
    batch does not replace (param: the batch's document ids, bigint[])."""
    return sql.SQL(
        "SELECT s.id, s.doc_id, c.doc_id FROM fk_rag_stage s JOIN {t} c ON c.id = s.id "
        "WHERE c.doc_id IS NOT NULL AND c.doc_id <> ALL(%s) LIMIT 1"
    ).format(t=t.ident)


def delete_docs(t: TableName) -> sql.Composed:
    """Delete every chunk of the given documents (param: bigint[]), and legacy rows (no
    doc_id, from legacy tables) whose ids are being rewritten."""
    return sql.SQL(
        "DELETE FROM {t} WHERE doc_id = ANY(%s) "
        "OR (doc_id IS NULL AND id IN (SELECT id FROM fk_rag_stage))"
    ).format(t=t.ident)


def delete_docs_only(t: TableName) -> sql.Composed:
    """Delete every chunk of the given documents (param: bigint[])."""
    return sql.SQL("DELETE FROM {t} WHERE doc_id = ANY(%s)").format(t=t.ident)


def copy_table(t: TableName) -> sql.Composed:
    """COPY (binary) straight into the table, same columns as the staging COPY."""
    return sql.SQL(
        "COPY {t} (id, doc_id, chunk_index, label, text, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ).format(t=t.ident)


def merge_stage(t: TableName) -> sql.Composed:
    """Move the staged rows into the table."""
    return sql.SQL(
        "INSERT INTO {t} (id, doc_id, chunk_index, label, text, embedding) "
        "SELECT id, doc_id, chunk_index, label, text, embedding FROM fk_rag_stage"
    ).format(t=t.ident)


def _label_filter(labels: bool) -> sql.Composable:
    return sql.SQL(" WHERE label = ANY(%(labels)s)") if labels else sql.SQL("")


def dense_query(t: TableName, *, labels: bool, storage: str = "vector") -> sql.Composed:
    """Query: nearest chunks by cosine distance (params: q, k[, labels])."""
    return sql.SQL(
        "SELECT id, label, text, embedding <=> {q} AS distance, doc_id, chunk_index "
        "FROM {t}{where} ORDER BY embedding <=> {q} LIMIT %(k)s"
    ).format(t=t.ident, where=_label_filter(labels), q=_q(storage))


# The query's lexemes OR-ed together (a question rarely shares every word with its passage;
# AND semantics as in plainto_tsquery miss most of them). Each lexeme is quoted for tsquery.
_OR_TSQUERY = (
    "(SELECT string_agg('''' || replace(replace(l, '\\', '\\\\'), '''', '''''') || '''', ' | ')"
    "::tsquery AS tsq FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS l)"
)


def lexical_query(
    t: TableName, *, labels: bool, with_distance: bool, storage: str = "vector"
) -> sql.Composed:
    """Query: chunks matching any query lexeme, best ``ts_rank_cd`` first (params: text, k
    [, labels][, q]). With ``with_distance`` the dense distance is computed for the hits."""
    dist = sql.SQL("embedding <=> ") + _q(storage) if with_distance else sql.SQL("NULL::float8")
    where = sql.SQL(" AND label = ANY(%(labels)s)") if labels else sql.SQL("")
    return sql.SQL(
        "SELECT id, label, text, {dist} AS distance, doc_id, chunk_index "
        "FROM {t}, " + _OR_TSQUERY + " AS qq "
        "WHERE tsv @@ qq.tsq{where} ORDER BY ts_rank_cd(tsv, qq.tsq) DESC, id LIMIT %(k)s"
    ).format(t=t.ident, dist=dist, where=where)


def drop_table(t: TableName) -> sql.Composed:
    """Statement: drop the table (and its indexes) if it exists."""
    return sql.SQL("DROP TABLE IF EXISTS {t}").format(t=t.ident)


def count_rows(t: TableName) -> sql.Composed:
    """Query: the number of stored chunks."""
    return sql.SQL("SELECT count(*) FROM {t}").format(t=t.ident)
