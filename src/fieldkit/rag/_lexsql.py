"""The SQL of the BM25 lexical index kept in Postgres beside a chunk table.

``<table>_lex`` holds one posting per (term, chunk): the term frequency and the chunk's length
(both as the in-memory ``Bm25Index`` counts them: the ``tsv`` lexemes with their position
counts, plus underscore-joined identifiers). ``<table>_lexstats`` holds one row: the number of
chunks and their total length. Statement-level triggers on the chunk table (running as the
table's owner, so any role that may write chunks keeps them current) maintain both in the
writing transaction, so every writer (ingest, file removal, plain SQL) updates them atomically:
a killed ingest rolls both back, concurrent ingests see consistent statistics. BM25 (Lucene
variant) is then one query: the postings of the query's terms, scored and ranked in SQL.
"""

from __future__ import annotations

import hashlib

from psycopg import sql

from fieldkit.rag._lexical import BM25_B, BM25_K1, IDENTIFIER_MAX
from fieldkit.rag._sql import TableName, table_exists

__all__ = [
    "backfill",
    "bm25_query",
    "create",
    "drop",
    "exists",
    "lex_tables",
    "mismatches",
    "side_table",
]

# Underscore-joined identifiers, as ``fieldkit.rag._lexical.identifier_terms`` finds them: a
# greedy leftmost match always starts where a run of [a-z0-9] starts, so no lookbehind is needed.
IDENTIFIER_RE = "[a-z0-9]+(?:_[a-z0-9]+)+"


def side_table(t: TableName, suffix: str) -> TableName:
    """``<name>_<suffix>`` in the same schema, shortened with a hash to fit 63 bytes."""
    name = f"{t.name}_{suffix}"
    if len(name) > 63:
        digest = hashlib.sha1(t.name.encode()).hexdigest()[:8]
        name = f"{t.name[: 63 - len(suffix) - 10]}_{digest}_{suffix}"
    return TableName(schema=t.schema, name=name)


def lex_tables(t: TableName) -> tuple[TableName, TableName, TableName]:
    """(postings table, statistics table, trigger function) of chunk table ``t``."""
    return side_table(t, "lex"), side_table(t, "lexstats"), side_table(t, "lexsync")


def _terms_of(rows: str) -> str:
    """SQL: ``(id, term, tf, dl)`` for every chunk of relation ``rows`` (id, tsv, text)."""
    return (
        "SELECT id, term, tf, sum(tf) OVER (PARTITION BY id)::int AS dl FROM ("
        "SELECT id, term, sum(tf)::int AS tf FROM ("
        f"SELECT r.id, l.lexeme AS term, coalesce(array_length(l.positions, 1), 1) AS tf "
        f"FROM {rows} r, unnest(r.tsv) l "
        "UNION ALL "
        f"SELECT r.id, m[1], 1 FROM {rows} r, "
        f"regexp_matches(lower(r.text), '{IDENTIFIER_RE}', 'g') m "
        f"WHERE length(m[1]) <= {int(IDENTIFIER_MAX)}"
        ") x GROUP BY id, term) y"
    )


def exists(t: TableName) -> sql.Composed:
    """Query: whether the statistics table (created last) exists."""
    return table_exists(lex_tables(t)[1])


def create(t: TableName) -> list[sql.Composed]:
    """Statements: the postings and statistics tables, the trigger function and its
    statement-level triggers (insert, delete, update, truncate); the chunk table must exist."""
    lex, stats, fn = lex_tables(t)
    body = (
        "BEGIN "
        "IF TG_OP = 'TRUNCATE' THEN "
        "TRUNCATE {lex}; UPDATE {stats} SET n = 0, total = 0; RETURN NULL; "
        "END IF; "
        "IF TG_OP IN ('DELETE', 'UPDATE') THEN "
        "WITH d AS MATERIALIZED (" + _terms_of("fk_old") + "), "
        "gone AS (DELETE FROM {lex} p USING d WHERE p.term = d.term AND p.id = d.id) "
        "UPDATE {stats} SET n = n - (SELECT count(*) FROM fk_old), "
        "total = total - (SELECT coalesce(sum(tf), 0) FROM d); "
        "END IF; "
        "IF TG_OP IN ('INSERT', 'UPDATE') THEN "
        "WITH a AS MATERIALIZED (" + _terms_of("fk_new") + "), "
        "added AS (INSERT INTO {lex} (term, id, tf, dl) SELECT term, id, tf, dl FROM a) "
        "UPDATE {stats} SET n = n + (SELECT count(*) FROM fk_new), "
        "total = total + (SELECT coalesce(sum(tf), 0) FROM a); "
        "END IF; "
        "RETURN NULL; "
        "END"
    )
    function = sql.SQL(
        "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path FROM CURRENT AS {body}"
    ).format(
        fn=fn.ident,
        body=sql.Literal(
            sql.SQL(body)
            .format(lex=lex.ident, stats=stats.ident)
            .as_string(None)  # identifiers only: no connection-dependent quoting
        ),
    )
    out = [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {lex} (term TEXT NOT NULL, id BIGINT NOT NULL, "
            "tf INTEGER NOT NULL, dl INTEGER NOT NULL, PRIMARY KEY (term, id) INCLUDE (tf, dl))"
        ).format(lex=lex.ident),
        function,
    ]
    for kind, event, ref in (
        ("ins", "INSERT", "NEW TABLE AS fk_new"),
        ("del", "DELETE", "OLD TABLE AS fk_old"),
        ("upd", "UPDATE", "OLD TABLE AS fk_old NEW TABLE AS fk_new"),
    ):
        name = sql.Identifier(f"fk_lex_{kind}")
        out.append(sql.SQL("DROP TRIGGER IF EXISTS {n} ON {t}").format(n=name, t=t.ident))
        out.append(
            sql.SQL(
                "CREATE TRIGGER {n} AFTER {ev} ON {t} REFERENCING {ref} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
            ).format(n=name, ev=sql.SQL(event), t=t.ident, ref=sql.SQL(ref), fn=fn.ident)
        )
    trunc = sql.Identifier("fk_lex_trunc")
    out.append(sql.SQL("DROP TRIGGER IF EXISTS {n} ON {t}").format(n=trunc, t=t.ident))
    out.append(
        sql.SQL(
            "CREATE TRIGGER {n} AFTER TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
        ).format(n=trunc, t=t.ident, fn=fn.ident)
    )
    out.append(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {s} (one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one), "
            "n BIGINT NOT NULL, total BIGINT NOT NULL)"
        ).format(s=stats.ident)
    )
    return out


def backfill(t: TableName) -> list[sql.Composed]:
    """Statements: (re)compute postings and statistics from every stored chunk."""
    lex, stats, _ = lex_tables(t)
    rows = f"(SELECT id, tsv, text FROM {t.ident.as_string(None)})"
    return [
        sql.SQL("TRUNCATE {lex}").format(lex=lex.ident),
        sql.SQL("DELETE FROM {s}").format(s=stats.ident),
        sql.SQL("INSERT INTO {lex} (term, id, tf, dl) SELECT term, id, tf, dl FROM (").format(
            lex=lex.ident
        )
        + sql.SQL(_terms_of(rows))
        + sql.SQL(") b"),
        sql.SQL(
            "INSERT INTO {s} (n, total) SELECT (SELECT count(*) FROM {t}), "
            "(SELECT coalesce(sum(tf), 0) FROM {lex})"
        ).format(s=stats.ident, t=t.ident, lex=lex.ident),
    ]


def drop(t: TableName) -> list[sql.Composed]:
    """Statements: drop the postings, statistics and trigger function (triggers go with the
    chunk table, or with the function's CASCADE)."""
    lex, stats, fn = lex_tables(t)
    return [
        sql.SQL("DROP FUNCTION IF EXISTS {fn}() CASCADE").format(fn=fn.ident),
        sql.SQL("DROP TABLE IF EXISTS {lex}, {s}").format(lex=lex.ident, s=stats.ident),
    ]


def bm25_query(
    t: TableName, *, labels: bool, with_distance: bool, storage: str = "vector"
) -> sql.Composed:
    """Query: the ``k`` best chunks by BM25 over the postings, best first (ties by id), in the
    store's row shape (params: text, idents, k[, labels][, q]). The query's terms are its
    ``to_tsvector('english')`` lexemes plus ``idents``, each counted once."""
    lex, stats, _ = lex_tables(t)
    q = sql.SQL("%(q)b") if storage == "vector" else sql.SQL("%(q)b::halfvec")
    dist = sql.SQL("c.embedding <=> ") + q if with_distance else sql.SQL("NULL::float8")
    label_join = (
        sql.SQL(
            " JOIN {t} lc ON lc.id = sc.id AND coalesce(lc.label, '') = ANY(%(labels)s)"
        ).format(t=t.ident)
        if labels
        else sql.SQL("")
    )
    k1, b = sql.SQL(f"{float(BM25_K1)!r}::float8"), sql.SQL(f"{float(BM25_B)!r}::float8")
    return sql.SQL(
        "WITH qt AS (SELECT lexeme AS term FROM unnest(to_tsvector('english', %(text)s)) "
        "UNION SELECT unnest(%(idents)s::text[])), "
        # = ANY(ARRAY(...)): an index scan of each term's postings, never a scan of the table
        "p AS MATERIALIZED (SELECT term, id, tf, dl FROM {lex} "
        "WHERE term = ANY(ARRAY(SELECT term FROM qt))), "
        "df AS (SELECT term, count(*)::float8 AS df FROM p GROUP BY term), "
        "st AS (SELECT n::float8 AS n, CASE WHEN n > 0 AND total > 0 "
        "THEN total::float8 / n ELSE 1.0 END AS avgdl FROM {stats}), "
        "sc AS (SELECT p.id, sum(ln(1.0 + (st.n - df.df + 0.5) / (df.df + 0.5)) * p.tf * "
        "({k1} + 1.0) / (p.tf + {k1} * (1.0 - {b} + {b} * p.dl / st.avgdl))) AS score "
        "FROM p JOIN df USING (term) CROSS JOIN st GROUP BY p.id), "
        "top AS (SELECT sc.id, sc.score FROM sc{label_join} "
        "ORDER BY sc.score DESC, sc.id LIMIT %(k)s) "
        "SELECT c.id, c.label, c.text, {dist} AS distance, c.doc_id, c.chunk_index "
        "FROM top JOIN {t} c ON c.id = top.id ORDER BY top.score DESC, top.id"
    ).format(
        lex=lex.ident,
        stats=stats.ident,
        t=t.ident,
        k1=k1,
        b=b,
        dist=dist,
        label_join=label_join,
    )


def mismatches(t: TableName) -> sql.Composed:
    """Query: (postings missing or extra against a fresh computation, statistics wrong) — both
    0/false when the index agrees with the chunks."""
    lex, stats, _ = lex_tables(t)
    rows = f"(SELECT id, tsv, text FROM {t.ident.as_string(None)})"
    return sql.SQL(
        "WITH want AS (" + _terms_of(rows) + "), "
        "diff AS ((SELECT term, id, tf, dl FROM want EXCEPT ALL "
        "SELECT term, id, tf, dl FROM {lex}) "
        "UNION ALL (SELECT term, id, tf, dl FROM {lex} EXCEPT ALL "
        "SELECT term, id, tf, dl FROM want)) "
        "SELECT (SELECT count(*) FROM diff), "
        "(SELECT (n, total) IS DISTINCT FROM ((SELECT count(*) FROM {t}), "
        "(SELECT coalesce(sum(tf), 0) FROM want)) FROM {stats})"
    ).format(lex=lex.ident, stats=stats.ident, t=t.ident)
