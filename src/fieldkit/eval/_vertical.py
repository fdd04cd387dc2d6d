"""``VerticalBench``: a domain QA set (FinanceBench, LegalBench, patent-strategist, generic JSONL)
scored through a ``Bench`` — concurrency, executors, latency percentiles and dumps included.

Loading streams UTF-8 JSONL (undecodable bytes replaced) and skips blank lines, lines that are
not JSON (also ones nested too deeply to decode) and JSON that is not an object. Running times
only the model call; scoring happens on the worker too, so slow (judge-backed) scorers overlap
under ``concurrency=``.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from fieldkit.eval._bench import Bench, _progress, check_run_options
from fieldkit.eval._jsonl import iter_jsonl_objects
from fieldkit.eval._refusal import is_refusal
from fieldkit.eval._rubric_scorers import ROW_RUBRIC_SCORERS
from fieldkit.eval._scorers import exact_match, mcq_letter, numeric_match

__all__ = ["FORMATS", "VerticalBench", "VerticalQA"]

#: The row layouts ``from_jsonl`` understands (``"auto"`` picks one from the first row).
FORMATS: tuple[str, ...] = ("financebench", "legalbench", "patent-strategist", "generic")


@dataclass(frozen=True, slots=True)
class VerticalQA:
    """One question: its id, the prompt sent to the model, the gold answer and free-form tags."""

    qid: str
    question: str
    expected: str
    tags: dict[str, Any] = field(default_factory=dict)


def _present(v: Any) -> bool:
    """A value counts unless it is missing, ``None`` or blank text (``0`` and ``False`` count)."""
    if v is None:
        return False
    return not (isinstance(v, str) and not v.strip())


def _first(row: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = row.get(k)
        if _present(v):
            return v
    return None


def _text(v: Any) -> str:
    """JSON-ish text of a gold/question value (``false`` stays ``false``, not ``False``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def detect_format(row: Mapping[str, Any]) -> str:
    """The layout of a row, from its keys (see ``FORMATS``)."""
    if "financebench_id" in row or "gold_standard" in row:
        return "financebench"
    if all(k in row for k in ("family", "use_case", "scoring_mode")):
        return "patent-strategist"
    if ("text" in row and "answer" in row) or ("input" in row and "label" in row):
        return "legalbench"
    return "generic"


def _evidence(row: Mapping[str, Any]) -> str:
    ev = row.get("evidence")
    items = ev if isinstance(ev, list) else ([ev] if ev is not None else [])
    parts: list[str] = []
    for it in items:
        if isinstance(it, dict):
            t = it.get("evidence_text")
            if _present(t):
                parts.append(str(t))
        elif isinstance(it, str) and it.strip():
            parts.append(it)
    return "\n\n".join(parts)


def _map_financebench(row: Mapping[str, Any], i: int, open_book: bool) -> VerticalQA | None:
    q = _first(row, "question")
    exp = _first(row, "gold_standard", "metric_eval_text", "answer")
    if q is None or exp is None:
        return None
    qid = _first(row, "financebench_id")
    question = _text(q)
    if open_book:
        evidence = _evidence(row)
        if evidence:
            doc = _first(row, "doc_name") or "the filing"
            question = (
                f"Context from {doc}:\n\n{evidence}\n\nQuestion: {question}\n\n"
                "Answer with just the numeric value."
            )
    tags = {k: row[k] for k in ("company", "doc_period", "doc_type", "question_type") if k in row}
    return VerticalQA(str(qid) if qid is not None else f"fb-{i}", question, _text(exp), tags)


def _map_legalbench(row: Mapping[str, Any], i: int) -> VerticalQA | None:
    q = _first(row, "text", "input", "question")
    exp = _first(row, "answer", "label")
    if q is None or exp is None:
        return None
    qid = _first(row, "id", "index")
    tags = {k: row[k] for k in ("task", "subtask") if k in row}
    return VerticalQA(str(qid) if qid is not None else f"lb-{i}", _text(q), _text(exp), tags)


def _map_patent(row: Mapping[str, Any], i: int) -> VerticalQA | None:
    q = _first(row, "question")
    exp = _first(row, "gold_label")
    if q is None or exp is None:
        return None
    question = _text(q)
    mode = row.get("scoring_mode") or "closed"
    context: Any = None
    if mode == "oracle":
        context = _first(row, "oracle_context", "context")
    elif mode == "retrieval":
        context = _first(row, "context")
    if context is not None:
        question = f"Context:\n\n{context}\n\nQuestion: {question}"
    options = row.get("options")
    if isinstance(options, list) and options:
        lines = [f"{chr(65 + k)}. {opt}" for k, opt in enumerate(options) if isinstance(opt, str)]
        if lines:
            question += "\n\nOptions:\n" + "\n".join(lines)
    tags: dict[str, Any] = {
        "family": row.get("family"),
        "use_case": row.get("use_case"),
        "scoring_mode": mode,
        "reviewed": bool(row.get("reviewed", False)),
    }
    extra = row.get("tags")
    if isinstance(extra, dict):
        tags.update(extra)
    if isinstance(row.get("rubric"), dict):
        tags["rubric"] = row["rubric"]
    qid = _first(row, "qid")
    return VerticalQA(str(qid) if qid is not None else f"ps-{i}", question, _text(exp), tags)


def _map_generic(row: Mapping[str, Any], i: int) -> VerticalQA | None:
    q = _first(row, "question", "prompt", "input")
    exp = _first(row, "answer", "expected", "gold", "label")
    if q is None or exp is None:
        return None
    qid = _first(row, "id", "qid")
    return VerticalQA(str(qid) if qid is not None else f"q-{i}", _text(q), _text(exp), {})


_DEFAULT_SCORERS: dict[str, Callable[..., float]] = {
    "financebench": numeric_match,
    "patent-strategist": mcq_letter,
}


def _check_scorer_kwargs(scorer: Callable[..., float], kwargs: Mapping[str, Any]) -> None:
    """Before any model call, refuse ``scorer_kwargs`` the scorer cannot take (instead of
    dropping them) and required keywords they lack (a judge-backed scorer without ``judge=``)."""
    try:
        sig = inspect.signature(scorer)
    except (TypeError, ValueError):
        return  # uninspectable (a C function): let the call itself complain
    try:
        sig.bind("", "", **kwargs)
    except TypeError as exc:
        name = getattr(scorer, "__name__", "custom")
        raise ValueError(
            f"scorer {name} cannot be called as scorer(predicted, expected, "
            f"**scorer_kwargs) with scorer_kwargs {sorted(kwargs)}: {exc}"
        ) from None


class _Answer(NamedTuple):
    """One question's outcome, from a worker to ``_record``: ``error`` is set when ``ok`` is
    false (a ``_ScorerFailed`` when the model answered but scoring failed)."""

    ok: bool
    output: Any
    latency_ms: float
    error: BaseException | None
    accuracy: float | None
    refusal: float | None


class _ScorerFailed(Exception):
    """Carries a scorer's exception from a worker to ``_record`` (the answer itself is kept)."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _answer(
    model_fn: Callable[[str], Any],
    scorer: Callable[..., float],
    kwargs: Mapping[str, Any],
    qa: VerticalQA,
    row_rubric: bool = False,
) -> _Answer:
    """Call the model (timed) then score its answer; module level so process pools can pickle it.

    With ``row_rubric``, a dict in the question's ``rubric`` tag is passed as ``rubric=``.
    """
    t0 = time.perf_counter()
    try:
        out = model_fn(qa.question)
    except Exception as exc:
        return _Answer(False, None, round((time.perf_counter() - t0) * 1000, 2), exc, None, None)
    latency = round((time.perf_counter() - t0) * 1000, 2)
    rubric = qa.tags.get("rubric") if row_rubric else None
    if isinstance(rubric, dict):
        kwargs = {**kwargs, "rubric": rubric}
    try:
        accuracy = float(scorer(out, qa.expected, **kwargs))
    except Exception as exc:
        return _Answer(False, out, latency, _ScorerFailed(exc), None, None)
    refusal = 1.0 if is_refusal(out) else 0.0
    return _Answer(True, out, latency, None, accuracy, refusal)


def _judge_backed(scorer: Callable[..., float]) -> bool:
    """Whether *scorer* is one of ``ROW_RUBRIC_SCORERS``, also behind ``functools.partial`` (the
    usual way to bind their ``judge=``)."""
    while isinstance(scorer, functools.partial):
        scorer = scorer.func
    return scorer in ROW_RUBRIC_SCORERS


@dataclass
class VerticalBench:
    """A named list of ``VerticalQA`` plus the scorer (and its keywords) that grades answers."""

    name: str
    questions: list[VerticalQA]
    scorer: Callable[..., float] = exact_match
    scorer_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Pass each question's ``rubric`` tag to the scorer as ``rubric=``: ``True``/``False``, or
    #: ``None`` for the judge-backed scorers in ``ROW_RUBRIC_SCORERS`` only.
    row_rubric: bool | None = None

    @classmethod
    def from_jsonl(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        format: str = "auto",
        limit: int | None = None,
        scorer: Callable[..., float] | None = None,
        scorer_kwargs: dict[str, Any] | None = None,
        open_book: bool | None = None,
        subset: str | None = None,
    ) -> VerticalBench:
        """Load a JSONL question set (``format`` one of ``"auto"`` or ``FORMATS``).

        ``open_book`` (default: on for FinanceBench) prepends the row's evidence to the question;
        ``subset`` keeps rows whose ``question_type`` equals it; ``limit`` caps the count (``0``
        loads nothing). Fallback ids (``fb-3``...) use the 0-based physical line number.
        """
        if format != "auto" and format not in FORMATS:
            raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be a non-negative int, got {limit!r}")
        p = Path(path)
        fmt: str | None = None if format == "auto" else format
        questions: list[VerticalQA] = []
        if limit != 0:
            for lineno, row in iter_jsonl_objects(p):
                i = lineno - 1
                if fmt is None:
                    fmt = detect_format(row)
                if open_book is None:
                    open_book = fmt == "financebench"
                if subset is not None and row.get("question_type") != subset:
                    continue
                if fmt == "financebench":
                    qa = _map_financebench(row, i, open_book)
                elif fmt == "legalbench":
                    qa = _map_legalbench(row, i)
                elif fmt == "patent-strategist":
                    qa = _map_patent(row, i)
                else:
                    qa = _map_generic(row, i)
                if qa is not None:
                    questions.append(qa)
                if limit is not None and len(questions) >= limit:
                    break
        if scorer is None:
            scorer = _DEFAULT_SCORERS.get(fmt or "generic", exact_match)
        return cls(
            name=name or p.stem,
            questions=questions,
            scorer=scorer,
            scorer_kwargs=dict(scorer_kwargs or {}),
        )

    def run(
        self,
        model_fn: Callable[[str], Any],
        *,
        limit: int | None = None,
        on_error: str = "record",
        extra_tags: Mapping[str, Any] | None = None,
        concurrency: int | None = None,
        executor: Executor | None = None,
        progress: bool | None = None,
    ) -> Bench:
        """Ask ``model_fn`` every question and score the answers; returns the filled ``Bench``.

        Metrics per call: ``accuracy`` (the scorer) and ``refusal`` (``is_refusal``). A model
        exception is recorded as a failed call (``on_error="record"``) or re-raised
        (``"raise"``); failed calls carry no accuracy. A scorer exception (a judge that
        failed) is handled the same way: recorded as a failed call that keeps the answer, its
        error prefixed ``scorer:``, or re-raised. Calls are recorded in question order,
        also with ``concurrency=N`` threads or an ``executor``. With ``row_rubric`` (by
        default: the judge-backed scorers) the scorer gets each question's ``rubric`` tag (a
        dict; patent-strategist rows carry it from their ``rubric`` field) as ``rubric=``,
        unless ``scorer_kwargs`` sets one for the whole bench.
        """
        check_run_options(on_error, concurrency, executor)
        kwargs = dict(self.scorer_kwargs)
        _check_scorer_kwargs(self.scorer, kwargs)
        wants = _judge_backed(self.scorer) if self.row_rubric is None else self.row_rubric
        row_rubric = wants and "rubric" not in kwargs
        bench = Bench(self.name, metrics=["accuracy", "refusal"])
        items = self.questions[:limit] if limit is not None else list(self.questions)
        extra = dict(extra_tags or {})
        with bench, _progress(len(items), progress, f"vertical {self.name}") as advance:
            if executor is None and (concurrency is None or concurrency == 1):
                for qa in items:
                    self._record(
                        bench,
                        qa,
                        _answer(model_fn, self.scorer, kwargs, qa, row_rubric),
                        extra,
                        on_error,
                    )
                    advance()
            else:
                pool = executor or ThreadPoolExecutor(max_workers=concurrency)
                try:
                    futures = [
                        pool.submit(_answer, model_fn, self.scorer, kwargs, qa, row_rubric)
                        for qa in items
                    ]
                    for i, (qa, fut) in enumerate(zip(items, futures, strict=True)):
                        try:
                            self._record(bench, qa, fut.result(), extra, on_error)
                        except BaseException:
                            for rest in futures[i + 1 :]:
                                rest.cancel()
                            raise
                        advance()
                finally:
                    if executor is None:
                        pool.shutdown(wait=True, cancel_futures=True)
        return bench

    @staticmethod
    def _record(
        bench: Bench,
        qa: VerticalQA,
        res: _Answer,
        extra: Mapping[str, Any],
        on_error: str,
    ) -> None:
        ok, out, latency, exc, accuracy, refusal = res
        tags: dict[str, Any] = {"qid": qa.qid, **qa.tags, **extra}
        tags["qid"] = qa.qid  # a row tag named "qid" cannot hide which question this was
        if not ok and exc is not None:
            scorer_failed = isinstance(exc, _ScorerFailed)
            cause: BaseException = exc.exc if isinstance(exc, _ScorerFailed) else exc
            if on_error == "raise":
                raise cause
            bench.record(
                input=qa.question,
                output=out if scorer_failed else None,
                latency_ms=latency,
                success=False,
                error=("scorer: " if scorer_failed else "") + f"{type(cause).__name__}: {cause}",
                tags=tags,
            )
            return
        if accuracy is None or refusal is None:
            raise RuntimeError(f"question {qa.qid}: a successful answer without its scores")
        bench.record(
            input=qa.question,
            output=out,
            latency_ms=latency,
            success=True,
            tags=tags,
            accuracy=accuracy,
            refusal=refusal,
        )

    def summary(self) -> dict[str, Any]:
        """``name``, question count ``n``, the scorer's name (``custom`` if none) and tag keys."""
        keys: set[str] = set()
        for qa in self.questions:
            keys.update(qa.tags)
        return {
            "name": self.name,
            "n": len(self.questions),
            "scorer": getattr(self.scorer, "__name__", "custom"),
            "tag_keys": sorted(keys),
        }
