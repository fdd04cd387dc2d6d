"""``ModelCard``: a Hugging Face model card (YAML front matter + Markdown) for a quantized model.

Output is a pure function of the fields: extra table rows are sorted, numbers have fixed
decimals, table cells escape ``|``, and the ``llama-cpp-python`` snippet quotes its strings as
JSON, so the same card renders byte for byte in every process.

A card claims only what was measured: the perplexity column names the text and context the
figure came from (``perplexity_text``, ``perplexity_ctx``), the hardware named is what the
measuring run's probe reported (``measured_on``), never the publisher brand, and a code block
is fenced with more backticks than any run inside it, so a field cannot close its fence.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldkit.publish._brand import DEFAULT_BRAND, ORIONFOLD_BRAND, PublisherBrand
from fieldkit.publish._yaml import dump_yaml

__all__ = ["ModelCard"]

_EM = "\u2014"
_PLACEHOLDER_PROMPT = "Summarize the key idea in one paragraph."
_BACKTICKS = re.compile(r"`+")


def _cell(value: Any) -> str:
    """A table cell: ``None`` → em dash, ``|`` escaped, newlines flattened."""
    if value is None:
        return _EM
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _fenced(lang: str, lines: list[str]) -> list[str]:
    """*lines* in a code fence longer than any backtick run inside them (at least three)."""
    longest = max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, *lines, fence]


def measured_on_spark(measured_on: str | None) -> bool:
    """Whether the probe's hardware text names a DGX Spark (its GB10 chip): only then may a card
    say "Spark-tested" or "on Spark"."""
    return bool(measured_on) and any(k in str(measured_on) for k in ("GB10", "DGX Spark"))


def _num(value: Any, fmt: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return _EM
    return format(value, fmt)


def _minutes(m: float) -> str:
    """``42.0`` → ``42``, ``2.18`` → ``2.2``, ``0.4`` → ``0.4`` (never rounds to a wrong zero)."""
    r = round(float(m), 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


@dataclass(frozen=True)
class ModelCard:
    """The fields of a quant model card; ``render()`` produces the README.md text."""

    title: str
    one_liner: str
    base_model: str
    license: str = "apache-2.0"
    library_name: str = "gguf"
    pipeline_tag: str = "text-generation"
    language: tuple[str, ...] = ("en",)
    tags: tuple[str, ...] = ()
    quant_format: str = "gguf"
    variants: tuple[dict[str, Any], ...] = ()
    perplexity: dict[str, float] = field(default_factory=dict)
    tokens_per_sec: dict[str, float] = field(default_factory=dict)
    sustained_load_minutes: float | None = None
    vertical_eval: dict[str, float] = field(default_factory=dict)
    vertical_eval_name: str | None = None
    hf_repo: str | None = None
    chat_format: str | None = None
    recommended_variant: str | None = None
    llama_cpp_example_prompt: str | None = None
    ollama_pull_handle: str | None = None
    transformers_snippet: str | None = None
    lineage_prompt: str | None = None
    article_slug: str | None = None
    article_title: str | None = None
    model_creator: str = ORIONFOLD_BRAND
    extra_yaml: dict[str, Any] = field(default_factory=dict)
    brand: PublisherBrand = DEFAULT_BRAND
    #: The text the perplexity was measured on and the context length (``-c``) used.
    perplexity_text: str | None = None
    perplexity_ctx: int | None = None
    #: The hardware the measuring run's probe reported (e.g. the ``nvidia-smi`` GPU name).
    measured_on: str | None = None

    # -- pieces ------------------------------------------------------------------------------
    def front_matter(self) -> dict[str, Any]:
        """The YAML front-matter mapping (``extra_yaml`` overrides or extends it)."""
        meta: dict[str, Any] = {
            "license": self.license,
            "library_name": self.library_name,
            "base_model": self.base_model,
            "pipeline_tag": self.pipeline_tag,
            "model_creator": self.model_creator,
            "language": list(self.language),
            "tags": list(self.tags),
        }
        meta.update(self.extra_yaml)
        return meta

    def _named_variants(self) -> list[Mapping[str, Any]]:
        return [v for v in self.variants if v.get("name")]

    def _featured(self) -> str | None:
        if self.recommended_variant:
            return self.recommended_variant
        names = [str(v["name"]) for v in self._named_variants()]
        if "Q5_K_M" in names:
            return "Q5_K_M"
        return names[0] if names else None

    def _perplexity_label(self) -> str:
        """What the perplexity figures were measured on, as the column says it."""
        if not self.perplexity_text:
            return "Perplexity (text not recorded)"
        ctx = f", ctx {self.perplexity_ctx}" if self.perplexity_ctx else ""
        return f"Perplexity ({_cell(self.perplexity_text)}{ctx})"

    def _spark_tested(self) -> list[str]:
        has_table = bool(self.tokens_per_sec or self.perplexity or self.vertical_eval)
        if not has_table and self.sustained_load_minutes is None:
            return []
        b = self.brand
        label = self.vertical_eval_name or "Vertical eval"
        quad = bool(self.vertical_eval)
        axes = "perplexity, sustained `tok/s`, thermal envelope"
        if quad:
            axes += f" and **{label}** accuracy"
        kind = "measurement quad" if quad else "measurement triple"
        where = (
            f"taken on {' '.join(self.measured_on.split())} (as the measuring run's probe "
            "reported it)"
            if self.measured_on
            else "taken on hardware the measuring run did not record"
        )
        spark = measured_on_spark(self.measured_on)
        out = [
            "## Spark-tested" if spark else "## Measured",
            "",
            f"This {b.word} quant ships with a {kind} {where}: {axes}. "
            "The figures below are from the actual run, not estimates.",
            "",
        ]
        if has_table:
            tps = "tok/s on Spark" if spark else "tok/s"
            header = f"| Variant | Size | {self._perplexity_label()} | {tps} |"
            sep = "|---|---|---|---|"
            if quad:
                header += f" {_cell(label)} |"
                sep += "---|"
            out += [header, sep]

            def row(name: str, size: str) -> str:
                line = (
                    f"| {_cell(name)} | {size} | {_num(self.perplexity.get(name), '.3f')} | "
                    f"{_num(self.tokens_per_sec.get(name), '.1f')} |"
                )
                if quad:
                    acc = self.vertical_eval.get(name)
                    pct = _num(None if acc is None else acc * 100, ".1f")
                    line += f" {pct if pct == _EM else pct + '%'} |"
                return line

            listed: list[str] = []
            for v in self._named_variants():
                name = str(v["name"])
                listed.append(name)
                out.append(row(name, _cell(v.get("size"))))
            extra = sorted((set(self.perplexity) | set(self.vertical_eval)) - set(listed))
            out += [row(name, _EM) for name in extra]
            out.append("")
        if self.sustained_load_minutes is not None:
            on = " ".join((self.measured_on or "the measuring machine").split())
            out += [
                f"**Thermal envelope:** on {on}, this model sustains full "
                f"throughput for **{_minutes(self.sustained_load_minutes)} min** of continuous "
                "load (sustained-load minutes) before clocks throttle; expect throughput to "
                f"degrade beyond that. Disclosing it is part of the {b.word} card standard.",
                "",
            ]
        return out

    def _variants_table(self) -> list[str]:
        named = self._named_variants()
        if not self.variants:
            return []
        out = ["## Variants", "", "| Variant | Recommended use |", "|---|---|"]
        for v in named:
            rec = v.get("recommended")
            out.append(f"| {_cell(v['name'])} | {'' if rec is None else _cell(rec)} |")
        return [*out, ""]

    def _how_to_run(self) -> list[str]:
        blocks: list[str] = []
        if self.ollama_pull_handle:
            blocks += [
                "Ollama (one-liner):",
                "",
                *_fenced("bash", [f"ollama pull {self.ollama_pull_handle}"]),
                "",
            ]
        if self.transformers_snippet:
            blocks += [
                "HuggingFace Transformers:",
                "",
                *_fenced("python", self.transformers_snippet.rstrip().split("\n")),
                "",
            ]
        featured = self._featured()
        if self.quant_format == "gguf" and self.hf_repo and featured:
            file = f"model-{featured}.gguf"
            repo_dir = self.hf_repo.rstrip("/").rsplit("/", 1)[-1].lower().removesuffix("-gguf")
            d = f"./models/{repo_dir}"
            chat = f", chat_format={json.dumps(self.chat_format)}" if self.chat_format else ""
            prompt = json.dumps(
                self.llama_cpp_example_prompt or _PLACEHOLDER_PROMPT, ensure_ascii=False
            )
            blocks += [
                "Pull a variant:",
                "",
                "```bash",
                f"huggingface-cli download {self.hf_repo} {file} \\",
                f"  --local-dir {d}",
                "```",
                "",
                "Serve it via `llama-server` (OpenAI-compatible API):",
                "",
                "```bash",
                f"llama-server -m {d}/{file} \\",
                "  -c 4096 -ngl 99 -t 8 \\",
                "  --host 0.0.0.0 --port 8080",
                "```",
                "",
                "Or run in-process via `llama-cpp-python`:",
                "",
                *_fenced(
                    "python",
                    [
                        "from llama_cpp import Llama",
                        "llm = Llama(",
                        f"    model_path={json.dumps(f'{d}/{file}', ensure_ascii=False)},",
                        f"    n_ctx=4096, n_gpu_layers=99{chat},",
                        ")",
                        "out = llm.create_chat_completion(",
                        f'    messages=[{{"role": "user", "content": {prompt}}}],',
                        "    temperature=0.0,",
                        ")",
                        'print(out["choices"][0]["message"]["content"])',
                    ],
                ),
                "",
                "LM Studio and Ollama (via a Modelfile) load the GGUF file directly.",
                "",
            ]
        return ["## How to run", "", *blocks] if blocks else []

    def render(self) -> str:
        """The README.md text: front matter, title, measurements, variants, usage, footer."""
        b = self.brand
        body = [f"# {self.title}", "", self.one_liner, ""]
        body += self._spark_tested()
        body += self._variants_table()
        body += self._how_to_run()
        if self.lineage_prompt:
            body += [
                "## Lineage",
                "",
                "This is the `fieldkit.lineage.LineageStore` trial log behind this release: "
                "what was tried, what was kept and what was discarded.",
                "",
                self.lineage_prompt.rstrip(),
                "",
            ]
        if self.article_slug:
            link = f"{b.methods_base_url}{self.article_slug}/"
            body += [
                "## Methods",
                "",
                "The full methodology is written up in "
                f"[{self.article_title or self.article_slug}]({link}).",
                "",
            ]
        footer = [f"Published by **{self.model_creator}**"]
        if b.site_url:
            footer.append(f"[{b.site_label}]({b.site_url})")
        footer.append(f"methods documented at [{b.methods_label}]({b.methods_base_url})")
        body += ["---", "", " \u00b7 ".join(footer) + ".", ""]
        return "---\n" + dump_yaml(self.front_matter()) + "---\n" + "\n".join(body) + "\n"
