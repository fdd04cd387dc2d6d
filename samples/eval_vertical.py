"""eval_vertical: score a small domain QA set with VerticalBench, plus the patent scorers.

Offline by default (a rule-based stand-in answers, with a sleep like a remote model):
    python samples/eval_vertical.py
Against the real local model (llama-server with the bundled SmolLM2-135M-Instruct):
    python samples/eval_vertical.py --server [--threads 1]
(``--threads 1`` helps on a small, busy CPU box: llama.cpp's thread pool spins.)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from fieldkit.eval import (
    VerticalBench,
    contains,
    irac_structure,
    mcq_letter,
    prior_art_relevance_full,
)

DATA = Path(__file__).resolve().parent / "data"

KNOWN = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Italy": "Rome",
    "sky": "Blue.",
    "water": "H2O",
    "star": "The Sun.",
    "freezes": "Ice",
    "revenue": "$1,234 million",
    "employees": "5,600",
    "dividend": "2.00",
}


def stand_in(question: str) -> str:
    """Answers like a small model would: mostly right, sometimes not sure."""
    time.sleep(0.02)
    for key, answer in KNOWN.items():
        if key in question:
            return answer
    return "I don't know."


def run(model: Callable[[str], str], label: str) -> None:
    smoke = VerticalBench.from_jsonl(DATA / "vertical-smoke.jsonl", scorer=contains)
    print(smoke.summary())
    seq = smoke.run(model)
    par = smoke.run(model, concurrency=4, extra_tags={"model": label})
    print(par.report())
    print(f"sequential {seq.wall_seconds:.2f}s vs concurrency=4 {par.wall_seconds:.2f}s")
    for call in par.calls:
        print(f"  {call.tags['qid']:8} {call.metrics.get('accuracy')}  {call.output!r:.50}")

    fin = VerticalBench.from_jsonl(DATA / "financebench-smoke.jsonl", subset="metrics-generated")
    print(fin.summary())
    print(fin.questions[0].question)
    s = fin.run(model, concurrency=4).summary()
    print("FinanceBench-style accuracy:", s["accuracy"]["mean"], "refusals:", s["refusal"]["mean"])


def scorers_tour() -> None:
    print("mcq_letter:", mcq_letter("<think>maybe A</think>\nThe answer is C.", "C"))
    print(
        "irac_structure:",
        irac_structure(
            "Issue: whether claim 1 is obvious. Under 35 USC 103 the Graham factors apply. "
            "Here, the references teach every element. Therefore the rejection stands."
        ),
    )
    print(
        "prior_art_relevance_full:",
        prior_art_relevance_full("1. US123\n2. US456\n3. US789", "US123, US789, US456"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", action="store_true", help="use the real local model")
    parser.add_argument("--threads", type=int, default=None, help="llama-server threads")
    args = parser.parse_args()
    scorers_tour()
    if not args.server:
        run(stand_in, "stand-in")
        return
    from fieldkit.serve import LocalServer

    with LocalServer(threads=args.threads) as srv, srv.client(timeout=120.0) as client:

        def model(question: str) -> str:
            reply = client.chat([{"role": "user", "content": question}], max_tokens=48)
            return str(reply["choices"][0]["message"]["content"])

        run(model, srv.model or "local")


if __name__ == "__main__":
    main()
