"""ModelCard.render: the pinned layout, brand parameters, escaping and YAML round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

import fieldkit
from fieldkit.publish import ORIONFOLD_BRAND, ModelCard, PublisherBrand


def _head(card: str) -> str:
    return card.partition("---\n\n")[0]


def _front(card: str) -> dict[str, object]:
    assert card.startswith("---\n")
    text = card[4:].split("\n---\n", 1)[0]
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def test_default_front_matter() -> None:
    card = ModelCard(title="Foo", one_liner="one", base_model="nvidia/Foo-30B").render()
    assert card.startswith("---\n")
    for s in (
        "license: apache-2.0",
        "base_model: nvidia/Foo-30B",
        "library_name: gguf",
        "pipeline_tag: text-generation",
        "model_creator:",
    ):
        assert s in card
    assert "\n---\n# Foo\n\none\n" in card
    assert card.endswith(".\n\n")
    assert _front(card)["model_creator"] == ORIONFOLD_BRAND
    assert "## Measured" not in card and "## How to run" not in card


def test_spark_tested_triple() -> None:
    card = ModelCard(
        title="Foo",
        one_liner="x",
        base_model="b",
        variants=({"name": "Q4_K_M", "size": "18.0 GB"}, {"name": "Q8_0", "size": "31.5 GB"}),
        perplexity={"Q4_K_M": 7.123, "Q8_0": 6.901},
        tokens_per_sec={"Q4_K_M": 24.5, "Q8_0": 12.1},
        sustained_load_minutes=42.0,
        perplexity_text="wikitext-2 raw test",
        perplexity_ctx=512,
        measured_on="NVIDIA GB10 (1 GPU)",
    ).render()
    head = _head(card)
    assert "## Spark-tested" in head  # the probe named a GB10: the heading may say so
    assert (
        "| Variant | Size | Perplexity (wikitext-2 raw test, ctx 512) | tok/s on Spark |\n"
        "|---|---|---|---|" in head
    )
    assert "taken on NVIDIA GB10 (1 GPU) (as the measuring run's probe reported it)" in head
    assert "on NVIDIA GB10 (1 GPU), this model sustains" in head
    assert "| Q4_K_M | 18.0 GB | 7.123 | 24.5 |" in head
    assert "| Q8_0 | 31.5 GB | 6.901 | 12.1 |" in head
    assert "sustained-load minutes" in head and "**42 min**" in head
    assert "measurement triple" in head


def test_spark_tested_quad() -> None:
    card = ModelCard(
        title="Foo",
        one_liner="x",
        base_model="b",
        variants=({"name": "Q4_K_M", "size": "4.6 GB"}, {"name": "Q8_0", "size": "8.5 GB"}),
        perplexity={"Q4_K_M": 8.4, "Q8_0": 8.1},
        tokens_per_sec={"Q4_K_M": 72.3, "Q8_0": 45.1},
        vertical_eval={"Q4_K_M": 0.62, "Q8_0": 0.66},
        vertical_eval_name="FinanceBench (n=50, numeric_match)",
    ).render()
    assert (
        "| Variant | Size | Perplexity (text not recorded) | tok/s | "
        "FinanceBench (n=50, numeric_match) |\n|---|---|---|---|---|"
    ) in card
    assert "| Q4_K_M | 4.6 GB | 8.400 | 72.3 | 62.0% |" in card
    assert "| Q8_0 | 8.5 GB | 8.100 | 45.1 | 66.0% |" in card
    assert "measurement quad" in card
    # nothing recorded: no text, context or hardware is claimed (the brand's label is not one)
    assert "wikitext" not in card and "Spark" not in card and "GB10" not in card
    assert "taken on hardware the measuring run did not record" in card


def test_extra_rows_are_sorted_and_missing_cells_are_dashes() -> None:
    card = ModelCard(
        title="T",
        one_liner="x",
        base_model="b",
        variants=({"name": "Q4_K_M"}, {"name": "Q8_0", "size": None}),
        perplexity={"Z9": 1.0, "A1": 2.0, "Q4_K_M": 3.0},
    ).render()
    assert "| Q4_K_M | \u2014 | 3.000 | \u2014 |" in card
    assert "| Q8_0 | \u2014 | \u2014 | \u2014 |" in card
    assert card.index("| A1 |") < card.index("| Z9 |")
    assert "None" not in card


def test_card_is_byte_stable_across_processes() -> None:
    code = (
        "from fieldkit.publish import ModelCard;"
        "print(ModelCard(title='T', one_liner='x', base_model='b',"
        "perplexity={k: 1.0 for k in 'qwertyuiopasdfgh'}).render(), end='')"
    )
    src = str(Path(fieldkit.__file__).resolve().parents[1])
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": src},
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outs) == 1


def test_variants_and_how_to_run() -> None:
    card = ModelCard(
        title="Foo",
        one_liner="x",
        base_model="b",
        variants=({"name": "Q4_K_M", "recommended": "Default pick."},),
        ollama_pull_handle="Orionfold/foo",
        transformers_snippet="from transformers import AutoModel\n\n",
    ).render()
    assert "## Variants" in card and "| Q4_K_M | Default pick. |" in card
    assert "## How to run" in card and "ollama pull Orionfold/foo" in card
    assert "from transformers import AutoModel\n```" in card


def test_gguf_snippets() -> None:
    base = dict(title="F", one_liner="x", base_model="b", hf_repo="Orionfold/finance-chat-GGUF")
    card = ModelCard(
        **base,
        chat_format="llama-2",  # type: ignore[arg-type]
        variants=({"name": "Q4_K_M"}, {"name": "Q5_K_M"}),
    ).render()
    assert "huggingface-cli download Orionfold/finance-chat-GGUF model-Q5_K_M.gguf" in card
    assert "--local-dir ./models/finance-chat" in card
    assert "llama-server -m ./models/finance-chat/model-Q5_K_M.gguf" in card
    assert "from llama_cpp import Llama" in card and 'chat_format="llama-2"' in card
    assert "Summarize the key idea in one paragraph." in card
    card = ModelCard(**base, variants=({"name": "Q4_K_M"}, {"name": "Q8_0"})).render()  # type: ignore[arg-type]
    assert "model-Q4_K_M.gguf" in card
    card = ModelCard(
        **base,
        recommended_variant="Q8_0",  # type: ignore[arg-type]
        variants=({"name": "Q4_K_M"}, {"name": "Q5_K_M"}),
    ).render()
    assert "model-Q8_0.gguf" in card and "model-Q5_K_M.gguf" not in card
    card = ModelCard(
        title="F", one_liner="x", base_model="b", variants=({"name": "Q4_K_M"},)
    ).render()
    assert "## How to run" not in card


def test_snippet_quotes_hostile_values() -> None:
    card = ModelCard(
        title="F",
        one_liner="x",
        base_model="b",
        hf_repo="o/r-GGUF",
        variants=({"name": "Q4_K_M", "size": "1|2"},),
        perplexity={"Q4_K_M": 1.0},
        chat_format='a"b',
        llama_cpp_example_prompt='say "hi"\nnow',
    ).render()
    assert 'chat_format="a\\"b"' in card
    assert '"content": "say \\"hi\\"\\nnow"' in card
    assert "| 1\\|2 |" in card


def test_license_lineage_methods_footer_tags() -> None:
    card = ModelCard(
        title="F",
        one_liner="x",
        base_model="b",
        license="llama2",
        lineage_prompt="## LEADERBOARD.md\n- baseline: ppl=7.5\n\n",
        article_slug="becoming-a-gguf-publisher-on-spark",
        article_title="Becoming a GGUF publisher on the Spark",
        tags=("gguf", "spark-tested", "orionfold"),
    ).render()
    assert "license: llama2" in card and "license: apache-2.0" not in card
    assert "## Lineage" in card and "## LEADERBOARD.md" in card
    assert (
        "[Becoming a GGUF publisher on the Spark](https://ainative.business/field-notes/"
        "becoming-a-gguf-publisher-on-spark/)"
    ) in card
    assert "Published by **Orionfold LLC**" in card
    assert "[orionfold.com](https://orionfold.com)" in card
    assert "\u00b7" in card
    for t in ("- gguf", "- spark-tested", "- orionfold"):
        assert t in card


def test_brand_is_a_parameter() -> None:
    brand = PublisherBrand(
        creator="Acme Labs",
        word="Acme",
        site_label="acme.dev",
        site_url="https://acme.dev",
        methods_base_url="https://acme.dev/m/",
        methods_label="acme.dev/m",
        hardware_label="an RTX 4090",
    )
    card = ModelCard(
        title="F",
        one_liner="x",
        base_model="b",
        model_creator="Acme Labs",
        brand=brand,
        perplexity={"Q": 1.0},
        sustained_load_minutes=2.18,
        article_slug="s",
    ).render()
    assert "Orionfold" not in card and "orionfold" not in card and "ainative" not in card
    assert "Published by **Acme Labs**" in card and "[acme.dev](https://acme.dev)" in card
    assert "https://acme.dev/m/s/" in card
    assert "RTX 4090" not in card  # the brand's label is no measurement: only measured_on is
    assert "**2.2 min**" in card
    no_site = ModelCard(
        title="F", one_liner="x", base_model="b", brand=PublisherBrand(site_url=None)
    ).render()
    assert "orionfold.com" not in no_site


def test_extra_yaml_merges() -> None:
    card = ModelCard(
        title="F",
        one_liner="x",
        base_model="b",
        extra_yaml={"license": "mit", "datasets": ["a: b"]},
    ).render()
    front = _front(card)
    assert front["license"] == "mit" and front["datasets"] == ["a: b"]
    assert next(iter(front)) == "license" and list(front)[-1] == "datasets"


_tricky = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufeff"),
    max_size=40,
)


@given(_tricky, _tricky, st.lists(_tricky, max_size=4), _tricky)
def test_front_matter_round_trips(title: str, base: str, tags: list[str], creator: str) -> None:
    """Strings with colons, quotes, newlines, '#', leading dashes, 'yes', '1.0'... load back."""
    card = ModelCard(
        title=title,
        one_liner="x",
        base_model=base,
        tags=tuple(tags),
        model_creator=creator,
        extra_yaml={"note": base + ": " + creator, "n": 1.5, "ok": True},
    )
    assert _front(card.render()) == json.loads(json.dumps(card.front_matter()))


@given(
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "off",
            "null",
            "~",
            "1.0",
            "0x1F",
            "1e3",
            "true",
            "- x",
            "a: b",
            "#c",
            "'q'",
            '"q"',
            "x\ny",
            "\t",
            " lead",
            "trail ",
            "2026-05-14T04:46:11Z",
            "2026-05-14",
            "@at",
            "|pipe",
            ">fold",
        ]
    )
)
def test_ambiguous_strings_stay_strings(s: str) -> None:
    card = ModelCard(title="t", one_liner="x", base_model=s)
    assert _front(card.render())["base_model"] == s


def test_a_backtick_fence_in_a_field_cannot_close_its_code_block() -> None:
    card = ModelCard(
        title="T",
        one_liner="x",
        base_model="b",
        transformers_snippet="print('a')\n```\n# Injected heading\n```",
        llama_cpp_example_prompt="say ```` and stop",
        hf_repo="acme/T-GGUF",
        variants=({"name": "Q4_K_M"},),
    ).render()
    # the snippet holds a 3-backtick run: its fence has 4; the prompt holds 4: its fence has 5
    assert "````python\nprint('a')\n```\n# Injected heading\n```\n````\n" in card
    assert "`````python\nfrom llama_cpp import Llama\n" in card
    assert card.count("`````") == 2


def test_perplexity_column_names_the_text_and_context() -> None:
    def header(**kw: object) -> str:
        card = ModelCard(title="T", one_liner="x", base_model="b", perplexity={"Q4_0": 9.0},
                         **kw).render()  # type: ignore[arg-type]  # fmt: skip
        return next(line for line in card.splitlines() if line.startswith("| Variant"))

    assert "Perplexity (fieldkit sample text, ctx 128)" in header(
        perplexity_text="fieldkit sample text", perplexity_ctx=128
    )
    assert "Perplexity (wiki.test.raw) |" in header(perplexity_text="wiki.test.raw")
    assert "Perplexity (text not recorded)" in header()


def test_spark_wording_only_when_the_probe_names_a_spark() -> None:
    def card(measured_on: str | None) -> str:
        return ModelCard(
            title="T", one_liner="x", base_model="b", perplexity={"Q4_0": 9.0},
            tokens_per_sec={"Q4_0": 10.0}, perplexity_text="wikitext-2", measured_on=measured_on,
        ).render()  # fmt: skip

    spark = card("NVIDIA GB10 (1 GPU)")
    assert "## Spark-tested\n" in spark
    assert "| Variant | Size | Perplexity (wikitext-2) | tok/s on Spark |\n" in spark
    for other in (card("NVIDIA GeForce RTX 4090 (1 GPU)"), card(None)):
        assert "## Measured\n" in other and "| Perplexity (wikitext-2) | tok/s |\n" in other
        assert "Spark" not in other


def test_hardware_text_cannot_start_a_markdown_block() -> None:
    card = ModelCard(
        title="T", one_liner="x", base_model="b", perplexity={"Q4_0": 9.0},
        sustained_load_minutes=3.0, measured_on="GPU\n# Injected\n```",
    ).render()  # fmt: skip
    assert "\n# Injected" not in card
    assert "taken on GPU # Injected ``` (as" in card and "on GPU # Injected ```, this" in card
