"""HFHubAdapter (staging, dry/live push, tokens) and publish_quant end to end on disk."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from fieldkit.lineage import FailureLabel, LineageStore, Trial
from fieldkit.publish import (
    ORIONFOLD_BRAND,
    ORIONFOLD_HF_HANDLE,
    ORIONFOLD_HF_ORG,
    HFAuthError,
    HFHubAdapter,
    HFHubNotAvailable,
    ModelCard,
    PublisherBrand,
    PublishError,
    _default_variant_recommendation,
    publish_quant,
)
from tests.publish._fakehub import FakeHub


def test_constants_and_errors() -> None:
    assert ORIONFOLD_BRAND == "Orionfold LLC"
    assert ORIONFOLD_HF_HANDLE == ORIONFOLD_HF_ORG == "Orionfold"
    assert issubclass(HFHubNotAvailable, PublishError) and issubclass(
        HFHubNotAvailable, ImportError
    )
    assert issubclass(HFAuthError, PublishError)


def test_recommendations() -> None:
    for v in (
        "Q4_K_M",
        "Q5_K_M",
        "Q6_K",
        "Q8_0",
        "F16",
        "AWQ-int4",
        "GPTQ-int4",
        "EXL3",
        "MLX-4bit",
        "NVFP4",
    ):
        assert _default_variant_recommendation(v)
    assert _default_variant_recommendation("Q3_K_S") is None  # no placeholder text ships


def test_adapter_staging(tmp_path: Path) -> None:
    a = HFHubAdapter(staging_dir=tmp_path / "stage")
    assert a.repo_id("Foo-GGUF") == "Orionfold/Foo-GGUF"
    assert a.repo_id("custom-org/Foo-GGUF") == "custom-org/Foo-GGUF"
    assert a.stage_text("héllo", "README.md").read_text(encoding="utf-8") == "héllo"
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01\x02")
    assert a.stage_file(src, "subdir/dest.bin").read_bytes() == b"\x00\x01\x02"
    for bad in ("/etc/passwd", "../escape.txt", "a/../../b", ""):
        with pytest.raises(PublishError, match="staging path"):
            a.stage_text("x", bad)
    assert not (tmp_path / "escape.txt").exists()


def test_stage_file_links_instead_of_copying(tmp_path: Path) -> None:
    """A multi-GB variant is staged as a hard link (same inode), not a second copy; text staged
    over it replaces the link and never writes through to the source file."""
    a = HFHubAdapter(staging_dir=tmp_path / "stage")
    src = tmp_path / "model-Q4_0.gguf"
    src.write_bytes(b"GGUF" + bytes(64))
    staged = a.stage_file(src, "model-Q4_0.gguf")
    assert staged.stat().st_ino == src.stat().st_ino and staged.read_bytes() == src.read_bytes()
    a.stage_file(src, "model-Q4_0.gguf")  # staging again replaces it
    assert sorted(p.name for p in staged.parent.iterdir()) == ["model-Q4_0.gguf"]
    a.stage_text("# card", "model-Q4_0.gguf")
    assert src.read_bytes() == b"GGUF" + bytes(64)
    assert staged.read_text(encoding="utf-8") == "# card"
    with pytest.raises(PublishError, match="not a file"):
        a.stage_file(tmp_path / "missing.gguf", "x.gguf")


def test_dry_push(tmp_path: Path) -> None:
    a = HFHubAdapter(staging_dir=tmp_path)
    a.stage_text("# card", "README.md")
    a.stage_text("gguf", "subdir/file.gguf")
    r = a.push_folder(repo_name="Foo-GGUF")
    assert r.dry_run is True and r.hf_repo == "Orionfold/Foo-GGUF" and r.hf_url is None
    assert r.files_uploaded == ("README.md", "subdir/file.gguf")
    (call,) = a.logged_calls
    assert list(call) == [
        "method",
        "repo_id",
        "folder_path",
        "commit_message",
        "private",
        "repo_type",
        "files",
    ]
    assert call["method"] == "upload_folder" and call["repo_id"] == "Orionfold/Foo-GGUF"
    assert call["private"] is False and call["commit_message"] == "Initial Orionfold upload"
    assert (
        HFHubAdapter(staging_dir=tmp_path / "missing").push_folder(repo_name="x").files_uploaded
        == ()
    )


def test_token_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "env")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "legacy")
    assert HFHubAdapter(staging_dir=tmp_path, token="explicit")._resolve_token() == "explicit"
    assert HFHubAdapter(staging_dir=tmp_path)._resolve_token() == "env"
    monkeypatch.delenv("HF_TOKEN")
    assert HFHubAdapter(staging_dir=tmp_path)._resolve_token() == "legacy"
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN")
    assert HFHubAdapter(staging_dir=tmp_path)._resolve_token() is None


def test_live_push_without_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    a = HFHubAdapter(staging_dir=tmp_path, dry_run=False)
    with pytest.raises(HFHubNotAvailable, match="fieldkit\\[publish\\]") as info:
        a.push_folder(repo_name="x")
    assert info.value.__cause__ is not None


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The real ``huggingface_hub`` client talking to a loopback Hub stand-in."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "is_offline_mode", lambda: False)  # tests run offline
    hub = FakeHub()
    try:
        yield hub
    finally:
        hub.close()


def test_live_push_through_huggingface_hub(tmp_path: Path, fake_hub: FakeHub) -> None:
    a = HFHubAdapter(
        staging_dir=tmp_path / "stage",
        dry_run=False,
        token="hf_test",
        org="acme",
        endpoint=fake_hub.url,
    )
    card = ModelCard(title="T", one_liner="x", base_model="a: b", tags=("yes", "1.0"))
    a.stage_text(card.render(), "README.md")
    a.stage_file(_blob(tmp_path, b"\x00\x01\x02"), "sub/model-Q4_0.gguf")
    r = a.push_folder(repo_name="m", private=True)
    assert r.dry_run is False and r.hf_repo == "acme/m"
    assert r.hf_url == f"{fake_hub.url}/acme/m"
    assert r.files_uploaded == ("README.md", "sub/model-Q4_0.gguf")
    assert fake_hub.files["sub/model-Q4_0.gguf"] == b"\x00\x01\x02"
    assert fake_hub.files["README.md"].decode() == card.render()
    assert fake_hub.created["name"] == "m" and fake_hub.created["organization"] == "acme"
    assert (
        fake_hub.created.get("private") is True or fake_hub.created.get("visibility") == "private"
    )
    assert fake_hub.front_matter == card.front_matter()  # the Hub reads our YAML as written
    assert all(auth == "Bearer hf_test" for _, _, auth in fake_hub.requests)


def _blob(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(("status", "auth"), [(401, True), (403, True), (404, False)])
def test_refused_pushes(tmp_path: Path, fake_hub: FakeHub, status: int, auth: bool) -> None:
    fake_hub.status = status
    a = HFHubAdapter(staging_dir=tmp_path, dry_run=False, token="bad", endpoint=fake_hub.url)
    a.stage_text("x", "README.md")
    if auth:
        with pytest.raises(HFAuthError, match="Orionfold/m") as info:
            a.push_folder(repo_name="m")
        assert "HF_TOKEN" in str(info.value) and info.value.__cause__ is not None
    else:
        with pytest.raises(Exception) as other:
            a.push_folder(repo_name="m")
        assert not isinstance(other.value, HFAuthError)
        assert "404" in str(other.value)


@dataclass
class _Report:
    format: str = "gguf"
    base_model: str = "nvidia/Foo-30B"
    variants: tuple[str, ...] = ("Q4_K_M", "Q8_0")
    variant_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    perplexity: dict[str, float] = field(default_factory=lambda: {"Q4_K_M": 7.1, "Q8_0": 6.9})
    tokens_per_sec: dict[str, float] = field(default_factory=lambda: {"Q4_K_M": 24.0, "Q8_0": 12.0})
    sustained_load_minutes: float | None = 42.0
    notes: list[str] = field(default_factory=list)
    perplexity_text: str | None = "fieldkit sample text"
    perplexity_ctx: int | None = 128
    measured_on: str | None = "NVIDIA GB10 (1 GPU)"


def _report(tmp_path: Path) -> _Report:
    files = {}
    for v, size in (("Q4_K_M", "18 GB"), ("Q8_0", "31 GB")):
        p = tmp_path / "out" / f"model-{v}.gguf"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"GGUF" + v.encode())
        files[v] = {"path": str(p), "rel": p.name, "size": size, "size_bytes": 9}
    files["orphan"] = {"path": str(tmp_path / "nope.gguf"), "rel": "nope.gguf"}
    return _Report(variant_files=files)


def test_publish_quant_dry_run(tmp_path: Path) -> None:
    r = publish_quant(
        quant_report=_report(tmp_path),
        base_model="nvidia/Foo-30B",
        repo_name="Foo-30B-GGUF",
        staging_dir=tmp_path / "stage",
        artifacts_dir=tmp_path / "artifacts",
        article_slug="becoming-a-gguf-publisher-on-spark",
        published_at=datetime(2026, 5, 14, 4, 46, 11, tzinfo=UTC),
    )
    assert r.dry_run and r.hf_repo == "Orionfold/Foo-30B-GGUF"
    assert r.card_path is not None and r.manifest_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    for s in (
        "## Spark-tested",
        "| Variant | Size | Perplexity (fieldkit sample text, ctx 128) | tok/s on Spark |",
        "taken on NVIDIA GB10 (1 GPU)",
        "Q4_K_M",
        "Q8_0",
        "becoming-a-gguf-publisher-on-spark",
        "Orionfold LLC",
        "# Foo 30B GGUF",
        "`GGUF` quantizations of `nvidia/Foo-30B`, measured on NVIDIA GB10 (1 GPU).",
        "| Q4_K_M | 18 GB | 7.100 | 24.0 |",
    ):
        assert s in card
    manifest = yaml.safe_load(r.manifest_path.read_text(encoding="utf-8"))
    assert manifest["slug"] == "foo-30b-gguf" and manifest["hf_repo"] == "Orionfold/Foo-30B-GGUF"
    assert manifest["published_at"] == "2026-05-14T04:46:11Z"
    assert manifest["article"] == "articles/becoming-a-gguf-publisher-on-spark/"
    assert r.files_uploaded == ("README.md", "model-Q4_K_M.gguf", "model-Q8_0.gguf")
    front = yaml.safe_load(card[4:].split("\n---\n", 1)[0])
    assert front["tags"] == ["gguf", "spark-tested", "orionfold", "base_model:nvidia/Foo-30B"]


def test_publish_quant_keywords(tmp_path: Path) -> None:
    rep = _report(tmp_path)
    r = publish_quant(
        quant_report=rep,
        base_model="b",
        repo_name="Foo-GGUF",
        staging_dir=tmp_path / "s1",
        artifacts_dir=tmp_path / "a",
        vertical_eval={"Q4_K_M": 0.62, "Q8_0": 0.66},
        vertical_eval_name="FinanceBench (n=50, numeric_match)",
        recommended_variant="Q4_K_M",
        model_license="llama2",
    )
    assert r.card_path is not None and r.manifest_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    for s in (
        "FinanceBench (n=50, numeric_match)",
        "62.0%",
        "66.0%",
        "measurement quad",
        "license: llama2",
    ):
        assert s in card
    assert "apache-2.0" not in card
    y = r.manifest_path.read_text(encoding="utf-8")
    for s in (
        "vertical_eval:",
        "vertical_eval_name:",
        "recommended_variant: Q4_K_M",
        "  model: llama2",
    ):
        assert s in y
    rep.vertical_eval = {"Q4_K_M": 0.55, "Q8_0": 0.60}  # type: ignore[attr-defined]
    rep.vertical_eval_name = "LegalBench (mini)"  # type: ignore[attr-defined]
    rep.model_license = "cc-by-nc-4.0"  # type: ignore[attr-defined]
    r = publish_quant(
        quant_report=rep,
        base_model="b",
        repo_name="finance-chat-GGUF",
        staging_dir=tmp_path / "s2",
        chat_format="llama-2",
    )
    assert r.manifest_path is None and r.card_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    for s in (
        "LegalBench (mini)",
        "55.0%",
        "60.0%",
        "\nlicense: cc-by-nc-4.0\n",
        "## How to run",
        "huggingface-cli download Orionfold/finance-chat-GGUF",
        "llama-server -m",
        'chat_format="llama-2"',
    ):
        assert s in card
    r = publish_quant(
        quant_report=object(), base_model="b", repo_name="x", staging_dir=tmp_path / "s3"
    )
    assert r.card_path is not None
    assert "license: apache-2.0" in r.card_path.read_text(encoding="utf-8")


def test_publish_quant_lineage(tmp_path: Path) -> None:
    class Fake:
        def render_prompt(self) -> Any:
            return types.SimpleNamespace(rendered_markdown="## LEADERBOARD.md\n- best: ppl=7.0")

    class Broken:
        def render_prompt(self) -> Any:
            raise RuntimeError("db down")

    r = publish_quant(
        quant_report=_report(tmp_path),
        base_model="b",
        repo_name="x",
        staging_dir=tmp_path / "s1",
        lineage_store=Fake(),
    )
    assert r.card_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    assert "## Lineage" in card and "## LEADERBOARD.md" in card
    with pytest.warns(RuntimeWarning, match="db down"):
        r = publish_quant(
            quant_report=_report(tmp_path),
            base_model="b",
            repo_name="x",
            staging_dir=tmp_path / "s2",
            lineage_store=Broken(),
        )
    assert r.card_path is not None and "## Lineage" not in r.card_path.read_text(encoding="utf-8")


def test_a_type_error_inside_render_prompt_is_reported_as_itself(tmp_path: Path) -> None:
    class Buggy:
        def render_prompt(self) -> Any:
            raise TypeError("bad row type in the store")

    with pytest.warns(RuntimeWarning, match="TypeError: bad row type in the store"):
        r = publish_quant(
            quant_report=_report(tmp_path),
            base_model="b",
            repo_name="x",
            staging_dir=tmp_path / "s",
            lineage_store=Buggy(),
        )
    assert r.card_path is not None and "## Lineage" not in r.card_path.read_text(encoding="utf-8")


def test_publish_quant_with_a_real_lineage_store(tmp_path: Path) -> None:
    store = LineageStore(tmp_path / "lineage")
    store.append(
        Trial(
            exp_id="000",
            timestamp="2026-05-11T10:00:00Z",
            specialist="baseline",
            parent_exp="",
            baseline_exp="",
            domain="baseline",
            hypothesis="seed",
            expected_delta="",
            status=FailureLabel.BASELINE,
            core_metric=7.5,
            val_bpb=7.5,
            delta_vs_best=None,
            train_s=None,
            total_s=None,
            job_name="",
            snapshot_path="",
            notes="seed reference",
        )
    )
    expected = store.render_prompt("publish").rendered_prompt
    r = publish_quant(
        quant_report=_report(tmp_path),
        base_model="b",
        repo_name="x",
        staging_dir=tmp_path / "s",
        lineage_store=store,
    )
    assert r.card_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    assert "## Lineage" in card and expected.rstrip() in card


def test_publish_quant_brand(tmp_path: Path) -> None:
    brand = PublisherBrand(
        creator="Acme Labs", hf_handle="acme", word="Acme", tag="acme", site_url=None
    )
    r = publish_quant(
        quant_report=_report(tmp_path),
        base_model="b",
        repo_name="M-GGUF",
        staging_dir=tmp_path / "s",
        org="acme",
        brand=brand,
    )
    assert r.hf_repo == "acme/M-GGUF" and r.card_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    assert "Orionfold" not in card and "orionfold" not in card
    assert "Published by **Acme Labs**" in card and "- acme" in card


def test_publish_quant_refuses_a_staging_folder_with_stale_files(tmp_path: Path) -> None:
    """A previous release's variant left in the staging folder would be uploaded with this one."""
    stage = tmp_path / "stage"
    first = publish_quant(
        quant_report=_report(tmp_path), base_model="b", repo_name="R-GGUF", staging_dir=stage
    )
    assert first.files_uploaded == ("README.md", "model-Q4_K_M.gguf", "model-Q8_0.gguf")
    card_before = (stage / "README.md").read_bytes()
    # the same release again into the same folder is fine (files are overwritten)
    again = publish_quant(
        quant_report=_report(tmp_path), base_model="b", repo_name="R-GGUF", staging_dir=stage
    )
    assert again.files_uploaded == first.files_uploaded
    # a release of only Q8_0 must not also push the old Q4_K_M
    report = _report(tmp_path)
    report.variants = ("Q8_0",)
    del report.variant_files["Q4_K_M"]
    with pytest.raises(PublishError, match=r"model-Q4_K_M\.gguf; use an empty folder"):
        publish_quant(
            quant_report=report, base_model="other", repo_name="R2-GGUF", staging_dir=stage
        )
    assert (stage / "README.md").read_bytes() == card_before  # nothing written
    ok = publish_quant(
        quant_report=report, base_model="b", repo_name="R2-GGUF", staging_dir=tmp_path / "s2"
    )
    assert ok.files_uploaded == ("README.md", "model-Q8_0.gguf")


@pytest.mark.parametrize(
    ("measured_on", "said"),
    [
        ("CPU: AMD EPYC 7B13 (x86_64)", "measured on CPU: AMD EPYC 7B13 (x86_64)."),
        # a line break in the probed name cannot start a Markdown heading in the card
        (
            "NVIDIA GeForce RTX 4090\n# Injected (1 GPU)",
            "measured on NVIDIA GeForce RTX 4090 # Injected (1 GPU).",
        ),
    ],
)
def test_hardware_comes_from_the_report_never_from_the_brand(
    tmp_path: Path, measured_on: str, said: str
) -> None:
    rep = _report(tmp_path)
    rep.measured_on = measured_on
    r = publish_quant(quant_report=rep, base_model="b", repo_name="Foo-GGUF",
                      staging_dir=tmp_path / "s")  # fmt: skip
    assert r.card_path is not None
    card = r.card_path.read_text(encoding="utf-8")
    assert said in card
    assert "\n# Injected" not in card
    assert "Spark" not in card and "GB10" not in card and "spark-tested" not in card
    assert "TBD" not in card


def test_the_card_and_the_manifest_state_the_same_measured_facts(tmp_path: Path) -> None:
    r = publish_quant(
        quant_report=_report(tmp_path),
        base_model="nvidia/Foo-30B",
        repo_name="acme/Foo-30B-GGUF",
        staging_dir=tmp_path / "stage",
        artifacts_dir=tmp_path / "artifacts",
        vertical_eval={"Q4_K_M": 0.62},
        vertical_eval_name="FinanceBench",
        recommended_variant="Q8_0",
    )
    assert r.card_path is not None and r.manifest_path is not None
    manifest = yaml.safe_load(r.manifest_path.read_text(encoding="utf-8"))
    card = r.card_path.read_text(encoding="utf-8")
    front = yaml.safe_load(card[4:].split("\n---\n", 1)[0])
    assert manifest["base_model"] == front["base_model"] == "nvidia/Foo-30B"
    assert manifest["hf_repo"] == "acme/Foo-30B-GGUF"
    assert "huggingface-cli download acme/Foo-30B-GGUF" in card
    assert manifest["perplexity"] == {"Q4_K_M": 7.1, "Q8_0": 6.9}
    assert manifest["spark_tokens_per_sec"] == {"Q4_K_M": 24.0, "Q8_0": 12.0}
    assert manifest["sustained_load_minutes"] == 42.0
    assert manifest["vertical_eval"] == {"Q4_K_M": 0.62}
    assert manifest["vertical_eval_name"] == "FinanceBench"
    assert manifest["recommended_variant"] == "Q8_0"
    for fact in ("| Q4_K_M | 18 GB | 7.100 | 24.0 |", "42", "FinanceBench", "62.0%"):
        assert fact in card
