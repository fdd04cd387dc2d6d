"""hello-lineage: five trials into a fresh LineageStore, then the prompt the next specialist sees.

Runs offline with the standard library only:  python samples/hello-lineage.py [--style cxcscmu]
The five trials are the worked example of the 0.3.0 docs (baseline, two keeps, one discard, one
eval_budget_overrun); the default rendering is the 0.3.0 golden output byte for byte.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from fieldkit.lineage import FailureLabel, LineageStore, Trial


def five_trials() -> list[Trial]:
    """The worked example: 000 baseline → 014 keep → 030 keep (best), plus 015 and 031."""

    def t(
        exp_id: str,
        specialist: str,
        parent: str,
        hypothesis: str,
        status: FailureLabel,
        metric: float | None,
        delta: float | None,
        notes: str,
        *,
        train_s: float | None = None,
        total_s: float | None = None,
    ) -> Trial:
        keep = status is FailureLabel.KEEP
        return Trial(
            exp_id=exp_id,
            timestamp=f"2026-05-11T10:{int(exp_id) % 60:02d}:00Z",
            specialist=specialist,
            parent_exp=parent,
            baseline_exp="000" if exp_id != "000" else "",
            domain=specialist,
            hypothesis=hypothesis,
            expected_delta="" if exp_id == "000" else "-0.001",
            status=status,
            core_metric=metric,
            val_bpb=metric,
            delta_vs_best=delta,
            train_s=train_s,
            total_s=total_s,
            job_name="" if exp_id == "000" else f"hello-{specialist}-{exp_id}",
            snapshot_path=f"snapshots/{exp_id}_{specialist}" if keep else "",
            notes=notes,
        )

    return [
        t("000", "baseline", "", "PR #1758 seed (CaseOps + PreQuant TTT)",
          FailureLabel.BASELINE, 1.081, None, "seed reference"),
        t("014", "opt", "000",
          "Split Muon MLP weight decay (muon_wd=0.095 attn, muon_wd_mlp=0.115 MLP) + reduce "
          "ttt_epochs from 3 to 2 to stay inside the eval budget",
          FailureLabel.KEEP, 1.078777, -0.002223, "MLP weights tolerate stronger decay",
          train_s=540.0, total_s=1130.5),
        t("015", "arch", "014", "Per-head q_gain bifurcation with full RoPE pass",
          FailureLabel.EVAL_BUDGET_OVERRUN, None, None,
          "trained inside budget but eval overran 600s wall", train_s=598.2),
        t("030", "arch", "014",
          "Bifurcate per-head q_gain into [H, 2] (RoPE-rotated + non-rotated)",
          FailureLabel.KEEP, 1.078041, -0.000736,
          "exp_015 lineage prevented re-attempting full-RoPE variant",
          train_s=560.0, total_s=1101.0),
        t("031", "reg", "030", "Stochastic depth with linear scaling (max_rate=0.1)",
          FailureLabel.DISCARD, 1.0805, 0.002459,
          "DropPath applied to delta, hurt val_bpb by 0.0025", train_s=571.0, total_s=1150.0),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", choices=["classic", "cxcscmu", "0.3.0"], default="classic")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = LineageStore(Path(tmp) / "blackboard")
        for trial in five_trials():
            store.append(trial)
        snap = store.render_prompt(
            "tok",
            top_k=10,
            recent_n=10,
            last_m_full=3,
            session_timestamp="2026-05-11T11:00:00Z",
            style=args.style,
        )
        print(snap.rendered_prompt, end="")
        best = store.best()
        assert best is not None
        print(f"# best: exp_{best.exp_id}; chain: {[t.exp_id for t in snap.chain_to_best]}")


if __name__ == "__main__":
    main()
