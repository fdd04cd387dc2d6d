"""fieldkit.research end to end, offline: the sample CPU task, a scripted proposer, four trials.

The proposer here is the loopback simulator replaying fixed replies (one good edit, one broken,
one malformed, one worse), so the run is the same every time. Point ``--proposer`` of
``fieldkit research run`` at ``local`` or any OpenAI-compatible URL for a real model.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

from fieldkit.research import init_workspace, open_proposer, run_research, summarize
from fieldkit.testing import NIMSimulator

TASK = Path(__file__).resolve().parent / "research"


def edit(old: str, new: str, why: str) -> str:
    return f"Hypothesis: {why}\ntrain.py\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"


REPLIES = [
    edit("LEARNING_RATE = 0.05", "LEARNING_RATE = 0.5", "a 10x learning rate trains faster"),
    edit("HIDDEN = 8", "HIDDEN = 8\nundefined_name()", "a broken edit (crashes)"),
    "Hypothesis: more layers would help, but here is no edit.",
    edit("EPOCHS = 60", "EPOCHS = 5", "fewer epochs (worse)"),
]

with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp) / "spirals"
    root.mkdir()
    for name in ("train.py", "program.md"):
        shutil.copyfile(TASK / name, root / name)
    ws = init_workspace(
        root,
        targets=("train.py",),
        run=f"{sys.executable} train.py",
        metric="val_loss",
        lower_is_better=True,
        budget_s=15,
        memory_bytes=2 * 1024**3,
    )
    with NIMSimulator() as sim, open_proposer(sim.base_url) as proposer:
        sim.set_chat_replies(REPLIES)
        records = run_research(ws, proposer, trials=len(REPLIES))
    for r in records:
        value = "-" if r.metric is None else f"{r.metric:.4f}"
        print(f"{r.exp_id} {r.outcome.value:<12} val_loss={value:<8} {r.hypothesis}")
    store = ws.store()
    status = summarize(store.all_trials(), "val_loss", store.best(), now=time.time())
    print(f"best: {status.best_value:.4f} (trial {status.best_exp}), outcomes: {status.counts}")
    print("files in the harness layout:", sorted(p.name for p in ws.state.glob("*.*")))
