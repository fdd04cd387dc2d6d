"""YAML scalars and ArtifactManifest / write_artifact_manifest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.publish import (
    ARTIFACT_KINDS,
    ArtifactManifest,
    _render_yaml_scalar,
    write_artifact_manifest,
)


def test_render_yaml_scalar() -> None:
    assert _render_yaml_scalar(True) == "true"
    assert _render_yaml_scalar(False) == "false"
    assert _render_yaml_scalar(None) == "null"
    assert _render_yaml_scalar(7) == "7"
    assert _render_yaml_scalar(7.5) == "7.5"
    assert _render_yaml_scalar("hello") == "hello"
    assert _render_yaml_scalar("with: colon").startswith('"')
    assert _render_yaml_scalar("- leading-dash").startswith('"')
    assert _render_yaml_scalar("") == '""'
    assert _render_yaml_scalar("cc-by-nc-4.0") == "cc-by-nc-4.0"
    assert _render_yaml_scalar("2026-05-14T04:46:11Z") == '"2026-05-14T04:46:11Z"'
    assert _render_yaml_scalar(float("nan")) == ".nan"
    assert _render_yaml_scalar(float("inf")) == ".inf"


@given(st.one_of(st.text(), st.booleans(), st.none(), st.integers(), st.floats(allow_nan=False)))
def test_scalars_round_trip(value: object) -> None:
    assert yaml.safe_load("k: " + _render_yaml_scalar(value)) == {"k": value}


def test_nan_loads_as_nan() -> None:
    assert math.isnan(yaml.safe_load("k: " + _render_yaml_scalar(float("nan")))["k"])


def _m(**kw: object) -> ArtifactManifest:
    base: dict[str, object] = dict(
        slug="s",
        kind="quant",
        artifact_class="gguf",
        base_model="nvidia/Foo-30B",
        hf_repo="Orionfold/Foo-GGUF",
        variants=("Q4_K_M", "Q8_0"),
    )
    base.update(kw)
    return ArtifactManifest(**base)  # type: ignore[arg-type]


def test_manifest_dict() -> None:
    d = _m().to_dict()
    assert d["class"] == "gguf" and "artifact_class" not in d
    assert d["variants"] == ["Q4_K_M", "Q8_0"]
    for k in (
        "civitai_id",
        "download_count",
        "perplexity",
        "spark_tokens_per_sec",
        "sustained_load_minutes",
        "vertical_eval",
        "vertical_eval_name",
        "recommended_variant",
    ):
        assert k not in d
    assert d["license"] == {"tier": "free"}
    d = _m(
        perplexity={"Q4_K_M": 7.0},
        spark_tokens_per_sec={"Q4_K_M": 24.0},
        sustained_load_minutes=40.0,
        civitai_id=1234,
        download_count=99,
        license_commercial_tier="orionfold-pro",
    ).to_dict()
    assert d["perplexity"] == {"Q4_K_M": 7.0} and d["spark_tokens_per_sec"] == {"Q4_K_M": 24.0}
    assert d["sustained_load_minutes"] == 40.0
    assert (d["civitai_id"], d["download_count"]) == (1234, 99)
    assert d["license"] == {"tier": "free", "commercial_tier": "orionfold-pro"}
    assert _m(model_license="llama2").to_dict()["license"] == {"tier": "free", "model": "llama2"}
    assert "  model: llama2" in _m(model_license="llama2").to_yaml()
    assert _m(download_count=0).to_dict()["download_count"] == 0
    v = _m(vertical_eval={"Q4_K_M": 0.62}, vertical_eval_name="FinanceBench (n=50)")
    assert v.to_dict()["vertical_eval"] == {"Q4_K_M": 0.62}
    y = v.to_yaml()
    assert "vertical_eval:" in y and "vertical_eval_name:" in y
    assert "recommended_variant: Q4_K_M" in _m(recommended_variant="Q4_K_M").to_yaml()
    assert "recommended_variant" not in _m().to_yaml()


def test_manifest_yaml_matches_the_catalogue_layout() -> None:
    m = ArtifactManifest(
        slug="s",
        kind="quant",
        artifact_class="gguf",
        base_model="nvidia/Foo-30B",
        hf_repo="Orionfold/Foo-GGUF",
        variants=("Q4_K_M",),
        perplexity={"Q4_K_M": 7.0},
        spark_tokens_per_sec={"Q4_K_M": 24.0},
        sustained_load_minutes=2.18,
        vertical_eval={"Q4_K_M": 0.62},
        vertical_eval_name="FinanceBench (n=50, numeric_match)",
        recommended_variant="Q4_K_M",
        lineage_run_id="run-1",
        license_commercial_tier="pro",
        model_license="llama2",
        article="articles/x/",
        civitai_id=12,
        download_count=0,
        published_at="2026-05-14T04:46:11Z",
    )
    assert m.to_yaml() == (
        "slug: s\nkind: quant\nclass: gguf\nbase_model: nvidia/Foo-30B\n"
        "hf_repo: Orionfold/Foo-GGUF\nvariants:\n  - Q4_K_M\nperplexity:\n  Q4_K_M: 7.0\n"
        "spark_tokens_per_sec:\n  Q4_K_M: 24.0\nsustained_load_minutes: 2.18\n"
        "vertical_eval:\n  Q4_K_M: 0.62\n"
        'vertical_eval_name: "FinanceBench (n=50, numeric_match)"\n'
        "recommended_variant: Q4_K_M\nlineage_run_id: run-1\n"
        "license:\n  tier: free\n  commercial_tier: pro\n  model: llama2\n"
        "article: articles/x/\ncivitai_id: 12\ndownload_count: 0\n"
        'published_at: "2026-05-14T04:46:11Z"\n'
    )
    minimal = ArtifactManifest("s", "quant", "gguf", "b", "o/r").to_yaml()
    assert "variants: []\n" in minimal and "license:\n  tier: free\n" in minimal


def test_kinds_and_validation(tmp_path: Path) -> None:
    assert ARTIFACT_KINDS == (
        "quant",
        "lora",
        "adapter",
        "embed",
        "reranker",
        "dataset",
        "space",
        "bench",
    )
    with pytest.raises(ValueError, match="kind"):
        _m(kind="model")
    for bad in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError, match="slug"):
            write_artifact_manifest(_m(slug=bad), artifacts_dir=tmp_path)


def test_write_manifest(tmp_path: Path) -> None:
    target = tmp_path / "src" / "content" / "artifacts"
    path = write_artifact_manifest(_m(slug="foo-gguf"), artifacts_dir=target)
    assert path == target / "foo-gguf.yaml" and path.is_file()
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert loaded == _m(slug="foo-gguf").to_dict()
    y = path.read_text(encoding="utf-8")
    assert "slug: foo-gguf" in y and "kind: quant" in y and "class: gguf" in y
    assert "hf_repo: Orionfold/Foo-GGUF" in y and "- Q4_K_M" in y


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=30,
)
_finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    base=_text,
    variants=st.lists(_text, max_size=4),
    ppl=st.dictionaries(_text, _finite, max_size=3),
    vertical=st.dictionaries(_text, _finite, max_size=3),
    name=st.one_of(st.none(), _text),
    model_license=st.one_of(st.none(), _text),
)
def test_manifest_yaml_round_trips(
    base: str,
    variants: list[str],
    ppl: dict[str, float],
    vertical: dict[str, float],
    name: str | None,
    model_license: str | None,
) -> None:
    """Any text as a value or as a variant key (colons, quotes, newlines, 'yes', '1.0'...) loads
    back from ``to_yaml()`` exactly as ``to_dict()`` holds it."""
    m = _m(
        base_model=base,
        variants=tuple(variants),
        perplexity=ppl,
        vertical_eval=vertical,
        vertical_eval_name=name,
        model_license=model_license,
    )
    assert yaml.safe_load(m.to_yaml()) == json.loads(json.dumps(m.to_dict()))
