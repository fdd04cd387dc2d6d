"""publish_quant_card: a model card, a catalogue manifest and a dry-run Hub push from a quant run.

Runs offline (a dry run needs no token, no network and no huggingface_hub):
    python samples/publish_quant_card.py
The quant report here is a stand-in with the same fields as ``fieldkit.quant.QuantReport``; the
lineage block comes from a real ``fieldkit.lineage.LineageStore``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.publish import PublisherBrand, publish_quant


@dataclass
class Report:
    """Same shape as ``fieldkit.quant.QuantReport``."""

    format: str
    base_model: str
    variants: tuple[str, ...]
    variant_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    perplexity: dict[str, float] = field(default_factory=dict)
    tokens_per_sec: dict[str, float] = field(default_factory=dict)
    sustained_load_minutes: float | None = None
    notes: list[str] = field(default_factory=list)


def trial(exp_id: str, status: FailureLabel, ppl: float, hypothesis: str) -> Trial:
    return Trial(
        exp_id=exp_id,
        timestamp=f"2026-05-11T10:{int(exp_id):02d}:00Z",
        specialist="quant",
        parent_exp="" if exp_id == "000" else "000",
        baseline_exp="" if exp_id == "000" else "000",
        domain="quant",
        hypothesis=hypothesis,
        expected_delta="",
        status=status,
        core_metric=ppl,
        val_bpb=ppl,
        delta_vs_best=None,
        train_s=None,
        total_s=None,
        job_name="",
        snapshot_path="",
        notes="",
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fieldkit-publish-") as tmp:
        root = Path(tmp)
        files = {}
        for variant, size in (("Q4_0", "88.2 MB"), ("Q8_0", "138.4 MB")):
            path = root / "quant" / f"model-{variant}.gguf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"GGUF")  # stands in for the real file
            files[variant] = {"path": str(path), "rel": path.name, "size": size, "size_bytes": 4}
        report = Report(
            format="gguf",
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
            variants=("Q4_0", "Q8_0"),
            variant_files=files,
            perplexity={"Q4_0": 21.874, "Q8_0": 20.912},
            tokens_per_sec={"Q4_0": 412.3, "Q8_0": 298.6},
            sustained_load_minutes=12.5,
        )
        store = LineageStore(root / "lineage")
        store.append(trial("0", FailureLabel.BASELINE, 21.9, "Q4_0 baseline"))
        store.append(trial("1", FailureLabel.KEEP, 20.9, "Q8_0: more bits"))

        brand = PublisherBrand(
            creator="Acme Labs",
            hf_handle="acme",
            word="Acme",
            tag="acme",
            site_label="acme.dev",
            site_url="https://acme.dev",
            methods_base_url="https://acme.dev/notes/",
            methods_label="acme.dev/notes",
            hardware_label="one RTX 4090 (24 GB)",
            hardware_short="one RTX 4090",
        )
        result = publish_quant(
            quant_report=report,
            base_model=report.base_model,
            repo_name="SmolLM2-135M-Instruct-GGUF",
            staging_dir=root / "stage",
            artifacts_dir=root / "artifacts",
            lineage_store=store,
            vertical_eval={"Q4_0": 0.5, "Q8_0": 0.625},
            vertical_eval_name="vertical-smoke (n=8, contains)",
            recommended_variant="Q8_0",
            chat_format="chatml",
            org=brand.hf_handle,
            brand=brand,
            published_at=datetime(2026, 5, 14, 4, 46, 11, tzinfo=UTC),
        )
        print(f"repo: {result.hf_repo}  dry run: {result.dry_run}")
        print("would upload:", ", ".join(result.files_uploaded))
        assert result.card_path is not None and result.manifest_path is not None
        print("---- README.md (first 40 lines) ----")
        print("\n".join(result.card_path.read_text(encoding="utf-8").splitlines()[:40]))
        print(f"---- {result.manifest_path.name} ----")
        print(result.manifest_path.read_text(encoding="utf-8"), end="")


if __name__ == "__main__":
    main()
