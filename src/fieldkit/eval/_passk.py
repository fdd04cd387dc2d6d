"""pass@k: the Chen et al. (2021) unbiased estimator and a verifier loop over graded samples.

The estimator works on the product form ``C(n-c, k) / C(n, k) = prod (1 - k/i)`` over the shorter
of its two equivalent ranges (``min(c, k)`` factors), never on huge binomials:
- up to ``EXACT_TERMS`` factors it multiplies integers and divides once, so the result is the
  exact value correctly rounded to a float (no cancellation when pass@k is small,
  e.g. ``(10000, 1, 1)``);
- beyond that it sums ``log1p`` terms (``-expm1(fsum(...))``): O(min(c, k)) float work with
  ~1e-12 relative error, fast for n = 10,000 and any k <= n.
``k > n`` is undefined and raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldkit.eval._jsonl import JsonlStats, iter_jsonl_objects

__all__ = ["EXACT_TERMS", "PassAtK", "PassAtKResult", "load_graded_rows", "pass_at_k_estimator"]

#: Up to this many factors the estimator is computed exactly (then rounded once to float).
EXACT_TERMS = 512


def _as_count(name: str, v: Any) -> int:
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int, got {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, float):
        raise ValueError(f"{name} must be a whole number, got {v!r}")
    try:
        return int(v)  # numpy integers, numeric strings from pre-graded rows
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be an int, got {v!r}") from None


def pass_at_k_estimator(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for ``c`` passing samples out of ``n``.

    ``ValueError`` when ``k < 1``, ``n < 1``, ``c`` outside ``[0, n]`` or ``k > n``.
    Exactly ``0.0`` when ``c == 0`` and exactly ``1.0`` when ``n - c < k``.
    """
    n, c, k = _as_count("n", n), _as_count("c", c), _as_count("k", k)
    if k < 1 or n < 1:
        raise ValueError(f"k and n must be >= 1, got n={n}, k={k}")
    if c < 0 or c > n:
        raise ValueError(f"c must satisfy 0 <= c <= n, got c={c}, n={n}")
    if k > n:
        raise ValueError(f"k must be <= n (pass@k is undefined for k > n), got n={n}, k={k}")
    if n - c < k:
        return 1.0
    if c == 0:
        return 0.0
    # C(n-c, k)/C(n, k) = prod_{i=n-c+1}^{n} (i-k)/i = prod_{j=0}^{k-1} (n-c-j)/(n-j)
    if c <= k:
        num_range, den_range = range(n - c + 1 - k, n - k + 1), range(n - c + 1, n + 1)
    else:
        num_range, den_range = range(n - c - k + 1, n - c + 1), range(n - k + 1, n + 1)
    if len(den_range) <= EXACT_TERMS:
        num, den = math.prod(num_range), math.prod(den_range)
        return (den - num) / den  # int true division: correctly rounded
    log_fail = math.fsum(
        math.log1p(-(d - m) / d) for m, d in zip(num_range, den_range, strict=True)
    )
    return -math.expm1(log_fail)


@dataclass(frozen=True, slots=True)
class PassAtKResult:
    """Macro-averaged pass@k over problems; ``unavailable`` lists requested ks with k > n."""

    n_problems: int
    samples_per_problem: int
    per_task: list[dict[str, Any]]
    pass_at: dict[int, float]
    unavailable: tuple[int, ...] = ()
    n_grader_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_problems": self.n_problems,
            "samples_per_problem": self.samples_per_problem,
            "pass_at": {f"pass@{k}": round(v, 4) for k, v in self.pass_at.items()},
            "per_task": list(self.per_task),
        }
        if self.unavailable:
            out["unavailable"] = [f"pass@{k}" for k in self.unavailable]
        if self.n_grader_errors:
            out["n_grader_errors"] = self.n_grader_errors
        return out

    def report(self) -> str:
        """Markdown: one row per k (unavailable ks marked with an em dash)."""
        lines = [
            f"### pass@k (problems={self.n_problems}, samples/problem={self.samples_per_problem})",
            "",
            "| k | pass@k |",
            "|---:|---:|",
        ]
        for k, v in self.pass_at.items():
            lines.append(f"| {k} | {v:.4f} |")
        for k in self.unavailable:
            lines.append(f"| {k} | \u2014 (k > samples per problem) |")
        if self.n_grader_errors:
            lines += ["", f"- grader errors (counted as failed samples): {self.n_grader_errors}"]
        return "\n".join(lines)


_BASE_KEYS = ("task_id", "n", "passed")


def _grade_one(grader: Callable[[Any, Any], Any], sample: Any, problem: Any) -> tuple[bool, str]:
    """``(passed, error)``; a crashing grader is a failed sample carrying its error text."""
    try:
        return bool(grader(sample, problem)), ""
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


@dataclass
class PassAtK:
    """pass@k over problems with a fixed number of samples each (``ks`` deduplicated, in order)."""

    ks: Sequence[int] = (1,)

    def _checked_ks(self) -> list[int]:
        if isinstance(self.ks, int) or not self.ks:
            raise ValueError("ks cannot be empty" if not self.ks else "ks must be a sequence")
        ks = list(dict.fromkeys(_as_count("k", k) for k in self.ks))
        bad = [k for k in ks if k < 1]
        if bad:
            raise ValueError(f"every k must be >= 1, got {bad}")
        return ks

    @staticmethod
    def _aggregate(
        ks: list[int], n: int, rows: list[dict[str, Any]], passed: list[int], n_errors: int
    ) -> PassAtKResult:
        ok = [k for k in ks if k <= n]
        unavailable = tuple(k for k in ks if k > n)
        pass_at = {
            k: math.fsum(pass_at_k_estimator(n, c, k) for c in passed) / len(passed) for k in ok
        }
        return PassAtKResult(len(rows), n, rows, pass_at, unavailable, n_errors)

    def score(
        self,
        problems: Sequence[Mapping[str, Any]],
        samples: Sequence[Sequence[Any]],
        grader: Callable[[Any, Any], Any],
        *,
        extras_fn: Callable[[Any, Sequence[Any]], Mapping[str, Any]] | None = None,
        task_id_field: str = "task_id",
        executor: Executor | None = None,
    ) -> PassAtKResult:
        """Grade every sample with ``grader(sample_text, problem)`` and macro-average pass@k.

        With ``executor`` the grader calls run there. A grader that raises counts as a failed
        sample; its error is listed in the row's ``errors``. ``extras_fn`` adds keys to a row but
        cannot overwrite ``task_id``/``n``/``passed``.
        """
        if len(problems) != len(samples):
            raise ValueError(
                f"problems / samples length mismatch: {len(problems)} vs {len(samples)}"
            )
        ks = self._checked_ks()
        if not problems:
            return PassAtKResult(0, 0, [], {k: 0.0 for k in ks})
        n = len(samples[0])
        if any(len(s) != n for s in samples):
            raise ValueError("every problem must have the same number of samples")
        if n == 0:
            raise ValueError("every problem needs at least one sample")
        grades: list[list[tuple[bool, str]]]
        if executor is None:
            grades = [
                [_grade_one(grader, s, p) for s in ss]
                for p, ss in zip(problems, samples, strict=True)
            ]
        else:
            futs: list[list[Future[tuple[bool, str]]]] = [
                [executor.submit(_grade_one, grader, s, p) for s in ss]
                for p, ss in zip(problems, samples, strict=True)
            ]
            grades = []
            for row_futs in futs:
                row: list[tuple[bool, str]] = []
                for f in row_futs:
                    try:
                        row.append(f.result())
                    except Exception as exc:  # the executor failed the task (pickling, worker)
                        row.append((False, f"{type(exc).__name__}: {exc}"))
                grades.append(row)
        rows: list[dict[str, Any]] = []
        passed_counts: list[int] = []
        n_errors = 0
        for problem, ss, g in zip(problems, samples, grades, strict=True):
            c = sum(ok for ok, _ in g)
            base: dict[str, Any] = {
                "task_id": str(problem.get(task_id_field, ""))
                if isinstance(problem, Mapping)
                else "",
                "n": n,
                "passed": c,
            }
            errors = [{"sample": i, "error": err} for i, (_ok, err) in enumerate(g) if err]
            n_errors += len(errors)
            row_d = dict(base)
            if extras_fn is not None:
                row_d.update(extras_fn(problem, ss))
                row_d.update(base)
            if errors:
                row_d["errors"] = errors
            rows.append(row_d)
            passed_counts.append(c)
        return self._aggregate(ks, n, rows, passed_counts, n_errors)

    def from_rows(self, rows: Sequence[Mapping[str, Any]]) -> PassAtKResult:
        """pass@k from pre-graded rows (``n`` and ``passed`` keys, anything else kept)."""
        ks = self._checked_ks()
        rows = list(rows)
        if not rows:
            return PassAtKResult(0, 0, [], {k: 0.0 for k in ks})
        ns = {_as_count("n", r["n"]) for r in rows}
        if len(ns) > 1:
            raise ValueError(f"rows have inconsistent sample counts: {ns}")
        (n,) = ns
        passed: list[int] = []
        for i, r in enumerate(rows):
            c = _as_count("passed", r["passed"])
            if not 0 <= c <= n:
                raise ValueError(
                    f"row {i} ({r.get('task_id', '')!r}): passed={c} not in [0, n={n}]"
                )
            passed.append(c)
        copies = [dict(r) for r in rows]
        if n < 1:
            raise ValueError("rows must have n >= 1")
        return self._aggregate(ks, n, copies, passed, 0)


def load_graded_rows(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """Pre-graded rows of a JSONL file for :meth:`PassAtK.from_rows`, and how many were skipped.

    A line is ``{"n", "passed", ...}`` or ``{"results": [true, false, ...], ...}`` (``n`` and
    ``passed`` are counted from the list); other lines and malformed JSON are skipped. ``n`` or
    ``passed`` that are not whole numbers raise :class:`ValueError` naming ``path:line``.
    """
    stats = JsonlStats()
    rows: list[dict[str, Any]] = []
    bad = 0
    for lineno, rec in iter_jsonl_objects(path, stats):
        if isinstance(rec.get("results"), list):
            res = rec["results"]
            rows.append(
                {**rec, "n": len(res), "passed": sum(1 for x in res if x is True or x == 1)}
            )
        elif "n" in rec and "passed" in rec:
            try:
                n, passed = _as_count("n", rec["n"]), _as_count("passed", rec["passed"])
            except (TypeError, ValueError, OverflowError):
                raise ValueError(
                    f"{path}:{lineno}: n and passed must be whole numbers, "
                    f"got n={rec['n']!r}, passed={rec['passed']!r}"
                ) from None
            rows.append({**rec, "n": n, "passed": passed})
        else:
            bad += 1
    return rows, stats.n_skipped + bad
