"""fieldkit.quant on the bundled SmolLM2-135M model, offline, on CPU.

    .venv/bin/python samples/quant_smollm2.py

With fieldkit's llama.cpp built (`fieldkit serve --build`, or LLAMA_CPP_BIN / PATH), it
re-quantizes the shipped Q4_1 GGUF to Q8_0, then measures perplexity on fieldkit's sample text
and tokens/s with llama-bench. Without the tools it shows the commands a run would execute.
It also reads GPU temperature when nvidia-smi is present.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fieldkit.quant import (
    LlamaCppNotFound,
    LlamaCppPaths,
    ThermalProbe,
    measure_perplexity_gguf,
    measure_tokens_per_sec_gguf,
    parse_llama_bench_output,
    parse_perplexity_output,
    quantize_gguf,
    sample_text_path,
)
from fieldkit.serve import default_model

# Short runs: a 128-token context over 4 chunks of the sample text, two threads.
PPL_ARGS = ["-c", "128", "--chunks", "4", "-t", "2", "-b", "128"]

print("parsers on typical tool output:")
print(
    "  perplexity:",
    parse_perplexity_output("[1]18.2,[2]17.9,\nFinal estimate: PPL = 17.8811 +/- 1.2"),
)
print(
    "  tokens/s tg:",
    parse_llama_bench_output("| llama 135M Q4_1 | CPU | 2 | tg16 | 61.20 ± 0.35 |"),
)

probe = ThermalProbe()
reading = probe.try_sample()
print(
    "GPU temperature:", f"{reading.temperature_c:.0f} °C" if reading else probe.unavailable_reason
)

model = default_model()
print("model:", model.name)
print("sample text:", sample_text_path().name, f"({sample_text_path().stat().st_size} bytes)")

paths = LlamaCppPaths().resolve()
try:
    paths.require("quantize")
    paths.require("perplexity")
    paths.require("bench")
    have_tools = True
except LlamaCppNotFound as exc:
    have_tools = False
    print("llama.cpp tools not found, showing a dry run:", str(exc).split(";")[0])

with tempfile.TemporaryDirectory(prefix="fieldkit-quant-") as out:
    report = quantize_gguf(
        model=model, outdir=Path(out), variants=("Q8_0",), paths=paths, dry_run=not have_tools
    )
    for note in report.notes:
        print("note:", note)
    if have_tools:
        q8 = report.variant_files["Q8_0"]
        print(f"Q8_0 written: {q8['rel']} ({q8['size']})")
        for name, gguf in (("Q4_1", model), ("Q8_0", Path(q8["path"]))):
            ppl = measure_perplexity_gguf(gguf_path=gguf, paths=paths, extra_args=PPL_ARGS)
            print(f"perplexity {name}: {ppl:.3f}" if ppl is not None else f"perplexity {name}: ?")
        tps = measure_tokens_per_sec_gguf(
            gguf_path=model, paths=paths, n_gen=16, n_prompt=32, extra_args=["-t", "2", "-r", "1"]
        )
        print("tokens/s (Q4_1):", tps)
    else:
        print("variants planned:", ", ".join(report.variant_files))
print("done")
