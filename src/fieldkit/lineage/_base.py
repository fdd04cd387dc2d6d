"""Read-side API shared by ``LineageStore`` and ``PostgresLineageStore``.

Subclasses only implement ``_sync()`` (bring the in-memory ``LineageIndex`` up to date with
storage, reading just what is new); every query then answers from one consistent index.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from fieldkit.lineage._index import LineageIndex, TreeRow, norm_id
from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._policy import FloatFormat, MalformedRowWarning, check_float_format
from fieldkit.lineage._render import EMPTY_PROMPT, one_line, render_default, sentinel_trial
from fieldkit.lineage._render_cxcscmu import HarnessView, render_cxcscmu
from fieldkit.lineage._snapshot import LineageSnapshot
from fieldkit.lineage._trial import Trial

__all__ = ["RENDER_STYLES", "LineageBase", "MalformedRowWarning", "RenderStyle", "normalize_style"]

RenderStyle = Literal["classic", "cxcscmu", "0.3.0"]
"""``"classic"``: the published layout; ``"cxcscmu"``: the harness's own prompt; ``"0.3.0"``:
compatibility alias of ``"classic"`` (the API level that introduced it)."""

RENDER_STYLES: tuple[str, ...] = ("classic", "cxcscmu")
_STYLE_ALIASES = {"0.3.0": "classic"}


def normalize_style(style: str) -> str:
    """The canonical style name for *style* (aliases resolved); ``ValueError`` if unknown."""
    canonical = _STYLE_ALIASES.get(style, style) if isinstance(style, str) else style
    if canonical not in RENDER_STYLES:
        raise ValueError(f"style must be 'classic' (alias '0.3.0') or 'cxcscmu', got {style!r}")
    return canonical


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _chain_note(idx: LineageIndex, chain: tuple[Trial, ...]) -> str:
    """Flag a chain whose first trial is not a real root (so it is never shown as one)."""
    why = idx.chain_root_status(chain)
    if why == "root":
        return ""
    parent = one_line(chain[0].parent_exp)
    if why == "dangling":
        return f" (parent {parent} is not in the log)"
    return f" (parent {parent} loops back)"


class LineageBase:
    """Queries over a trial log; see ``LineageStore`` for the storage contract."""

    def __init__(
        self,
        lower_is_better: bool,
        metric_field: str | None,
        strict: bool = False,
        float_format: FloatFormat = "repr",
    ) -> None:
        self._lower_is_better = lower_is_better
        self.strict = strict
        self.float_format: FloatFormat = check_float_format(float_format)
        self._metric_field_arg = metric_field
        self._mu = threading.RLock()
        self._index = LineageIndex(
            metric_field=metric_field or "core_metric", lower_is_better=lower_is_better
        )
        #: rows skipped as malformed so far, and ``(line or seq, reason)`` for each
        self.skipped_rows = 0
        self.malformed_rows: list[tuple[int, str]] = []

    # -- storage hook ---------------------------------------------------------------------
    def _sync(self) -> LineageIndex:  # pragma: no cover - abstract
        raise NotImplementedError

    def _where(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _current(self) -> LineageIndex:
        """The index, synced with the log."""
        with self._mu:
            return self._sync()

    @property
    def lower_is_better(self) -> bool:
        """Whether a smaller metric ranks first; setting it re-ranks the loaded trials once."""
        return self._lower_is_better

    @lower_is_better.setter
    def lower_is_better(self, value: bool) -> None:
        with self._mu:
            if value == self._lower_is_better:
                return
            self._lower_is_better = value
            fresh = LineageIndex(metric_field=self._index.metric_field, lower_is_better=value)
            fresh.extend(self._index.trials)
            self._index = fresh

    @property
    def metric_field(self) -> str:
        """The column ``best()`` ranks (``core_metric`` if the file has it, else ``val_bpb``)."""
        return self._current().metric_field

    # -- reading and ranking ----------------------------------------------------------------
    def all_trials(self) -> list[Trial]:
        """Every readable trial in insertion order (malformed rows skipped and counted)."""
        return list(self._current().trials)

    def latest(self, n: int = 30) -> tuple[Trial, ...]:
        """The last *n* trials oldest→newest; ``()`` for n ≤ 0."""
        return self._current().tail(n)

    def best(self) -> Trial | None:
        """The best **kept** trial by the metric (baseline while none is kept; else row 0)."""
        return self._current().best()

    def chain_to(self, exp_id: str) -> tuple[Trial, ...]:
        """Root-first ancestry of *exp_id* (``exp_NNN`` ≡ ``NNN``); ``KeyError`` if unknown."""
        chain = self._current().chain_to(exp_id)
        if chain is None:
            raise KeyError(f"exp_id={exp_id!r} not in {self._where()}")
        return chain

    def render_prompt(
        self,
        for_specialist: str,
        *,
        top_k: int = 20,
        recent_n: int = 30,
        last_m_full: int = 10,
        session_timestamp: str = "",
        style: RenderStyle = "classic",
        workdir: str | Path | None = None,
        tree_path: str | None = None,
        task: str | None = None,
        knowledge_limit: int = 8000,
    ) -> LineageSnapshot:
        """Render the lineage block a specialist reads at session start.

        ``style="classic"`` (default; alias ``"0.3.0"``) is the published layout;
        ``style="cxcscmu"`` is the harness's own prompt (``workdir``, ``tree_path``, ``task`` and
        ``knowledge_limit`` apply to it).
        Counts of 0 select nothing. The output is a pure function of the log and arguments.
        """
        _check_count("top_k", top_k)
        _check_count("recent_n", recent_n)
        _check_count("last_m_full", last_m_full)
        style = normalize_style(style)  # type: ignore[assignment]
        with self._mu:
            idx = self._current()
            best = idx.best()
            if best is None and style == "classic":
                return LineageSnapshot(EMPTY_PROMPT, sentinel_trial(), (), (), (), ())
            chain = (idx.chain_to(best.exp_id) or (best,)) if best is not None else ()
            top = tuple(idx.sorted_keeps(top_k))
            recent = idx.tail(recent_n)
            last_m = idx.tail(last_m_full)
            if style == "classic":
                assert best is not None
                text = render_default(
                    for_specialist=for_specialist,
                    session_timestamp=session_timestamp,
                    best=best,
                    chain=chain,
                    top=top,
                    recent=recent,
                    last_m=last_m,
                    metric=idx.metric,
                    chain_note=_chain_note(idx, chain),
                )
            else:
                view = self._harness_view(idx, top_k=top_k, recent_n=recent_n)
                text = render_cxcscmu(
                    view,
                    for_specialist=for_specialist,
                    session_timestamp=session_timestamp,
                    last_m=last_m,
                    tree_path=tree_path or self._default_tree_path(),
                    workdir=Path(workdir) if workdir is not None else None,
                    task=task,
                    knowledge_limit=knowledge_limit,
                    key_insights=self._key_insights(),
                )
            return LineageSnapshot(
                text, best if best is not None else sentinel_trial(), chain, top, recent, last_m
            )

    # -- navigation and summaries -----------------------------------------------------------
    def children_of(self, exp_id: str) -> tuple[Trial, ...]:
        """Direct children of *exp_id* in insertion order (``exp_NNN`` parents included)."""
        return tuple(self._current().children_of(exp_id))

    def tree(self) -> tuple[TreeRow, ...]:
        """The research tree in preorder: each trial with its depth and id path."""
        return tuple(self._current().tree())

    def get(self, exp_id: str) -> Trial | None:
        """The trial with this id (last occurrence), or None."""
        return self._current().get(exp_id)

    def __len__(self) -> int:
        return len(self._current())

    def summary(self) -> dict[str, Any]:
        """Counts for dashboards/CLI: trials, status counts, keeps, keep rate, best, skipped."""
        with self._mu:
            idx = self._current()
            n = len(idx)
            keeps = idx.status_counts.get(FailureLabel.KEEP.value, 0)
            best = idx.best()
            return {
                "trials": n,
                "status_counts": dict(sorted(idx.status_counts.items())),
                "keeps": keeps,
                "keep_rate": (keeps / n) if n else 0.0,
                "best": {
                    "exp_id": best.exp_id if best is not None else None,
                    "metric": idx.metric(best) if best is not None else None,
                },
                "metric_field": idx.metric_field,
                "skipped_rows": self.skipped_rows,
            }

    def plot(
        self,
        *,
        out: str | Path | None = None,
        x_axis: Literal["order", "time"] = "order",
        annotate: int = 5,
        max_points: int = 5000,
        title: str | None = None,
    ) -> Any:
        """The progress plot (a matplotlib ``Figure``; needs ``fieldkit[plot]``), saved if *out*.

        See ``fieldkit.lineage._plot``: every trial's metric over time, kept trials joined by the
        running-best frontier, the best marked, the *annotate* biggest steps labelled.
        """
        from fieldkit.lineage._plot import plot_store

        return plot_store(
            self, out=out, x_axis=x_axis, annotate=annotate, max_points=max_points, title=title
        )

    def export_mlflow(
        self,
        tracking_uri: str,
        *,
        experiment: str | None = None,
        request_timeout: float = 30.0,
        max_response_bytes: int = 64 * 1024 * 1024,
        max_pages: int = 10_000,
    ) -> Any:
        """Mirror the log into MLflow (needs ``fieldkit[mlflow]``): one run per trial, nested
        under its parent's run, found again by exp_id so re-exporting never duplicates.

        *experiment* defaults to the log's directory (or table) name. Returns an
        ``ExportResult``; ``ExportError`` (a ``ValueError``) if the store is unreachable, or
        an HTTP request takes more than ``request_timeout`` s in all or its reply more than
        ``max_response_bytes``, or listing the experiment's runs takes more than ``max_pages``
        pages (or repeats a page).
        """
        from fieldkit.lineage._mlflow import export_store

        return export_store(
            self,
            tracking_uri,
            experiment=experiment,
            request_timeout=request_timeout,
            max_response_bytes=max_response_bytes,
            max_pages=max_pages,
        )

    def write_derived(
        self,
        directory: str | Path | None = None,
        *,
        top_k: int = 20,
        recent_n: int = 30,
        tree_path: str | None = None,
    ) -> dict[str, Path]:
        """Write tree.tsv, LEADERBOARD.md, KNOWLEDGE.md and best.json (each atomically).

        *directory* defaults to the store's own directory; a hand-written ``## Key Insights``
        section of an existing KNOWLEDGE.md is preserved. Returns the written paths.
        """
        from fieldkit.lineage._derived import write_derived

        _check_count("top_k", top_k)
        _check_count("recent_n", recent_n)
        with self._mu:
            idx = self._current()
            target = Path(directory) if directory is not None else self._default_dir()
            view = self._harness_view(idx, top_k=top_k, recent_n=recent_n)
            return write_derived(idx, view, target, tree_path=tree_path)

    def _default_dir(self) -> Path:
        raise ValueError("this store has no directory of its own; pass directory=")

    def _harness_view(self, idx: LineageIndex, *, top_k: int, recent_n: int) -> HarnessView:
        best = idx.best()
        chain = (idx.chain_to(best.exp_id) or (best,)) if best is not None else ()
        children = idx.children_of(best.exp_id) if best is not None else []
        return HarnessView(
            metric_field=idx.metric_field,
            best=best,
            best_value=idx.metric(best) if best is not None else None,
            chain=chain,
            children=[c for c in children if norm_id(c.exp_id) != norm_id(best.exp_id)]
            if best is not None
            else [],
            top=idx.sorted_keeps(top_k),
            top_k=top_k,
            recent=idx.tail(recent_n),
            recent_n=recent_n,
        )

    def _default_tree_path(self) -> str:
        return "tree.tsv"

    def _key_insights(self) -> str | None:
        return None
