"""Pure key mapping between a saved peft adapter's tensor keys and live parameter names.

peft strips the adapter name when it saves (``q_proj.lora_A.default.weight`` is saved as
``q_proj.lora_A.weight``), and some kinds are renamed further: DoRA magnitude vectors drop their
trailing ``.weight`` and ``modules_to_save`` copies are saved under the wrapped module's own name.
This module inverts those rules from the live side, with no torch, so it can be property-tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "PEFT_MODEL_PREFIX",
    "KeyMatch",
    "candidate_file_keys",
    "is_adapter_param",
    "match_adapter_keys",
    "saved_key",
]

PEFT_MODEL_PREFIX = "base_model.model."
"""The prefix a ``PeftModel`` puts in front of the wrapped model's names (saved keys keep it)."""

_MODULES_TO_SAVE = "modules_to_save"
_DORA_MAGNITUDE = "lora_magnitude_vector"


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """Result of matching: ``pairs`` maps live name -> file key (live order), plus what was left."""

    pairs: dict[str, str]
    unmatched_file_keys: tuple[str, ...]
    unmatched_live_params: tuple[str, ...]


def _adapter_index(segments: Sequence[str], adapter_name: str) -> int | None:
    """Index of the last segment equal to the adapter name (never the first segment)."""
    for i in range(len(segments) - 1, 0, -1):
        if segments[i] == adapter_name:
            return i
    return None


def is_adapter_param(live_name: str, adapter_name: str) -> bool:
    """True if *live_name* belongs to adapter *adapter_name* (has it as a path segment)."""
    return _adapter_index(live_name.split("."), adapter_name) is not None


def saved_key(live_name: str, adapter_name: str) -> str | None:
    """The key peft's ``save_pretrained`` writes for *live_name*, or None if it is no adapter param.

    ``x.lora_A.<a>.weight`` -> ``x.lora_A.weight``; ``x.lora_embedding_A.<a>`` ->
    ``x.lora_embedding_A``; ``x.lora_magnitude_vector.<a>.weight`` -> ``x.lora_magnitude_vector``;
    ``x.modules_to_save.<a>.weight`` -> ``x.weight``.
    """
    segments = live_name.split(".")
    i = _adapter_index(segments, adapter_name)
    if i is None:
        return None
    head, owner, tail = segments[:i], segments[i - 1], segments[i + 1 :]
    if owner == _MODULES_TO_SAVE:
        return ".".join(segments[: i - 1] + tail)
    if owner == _DORA_MAGNITUDE and tail == ["weight"]:
        return ".".join(head)
    return ".".join(head + tail)


def candidate_file_keys(live_name: str, adapter_name: str) -> list[str]:
    """File keys that may hold *live_name*, most specific first (derived keys, then identity).

    Besides the current peft layout, the plain rule (``.<adapter>.weight`` -> ``.weight``) and the
    older DoRA layout (``lora_magnitude_vector.weight``) are accepted.
    """
    out: list[str] = []
    derived = saved_key(live_name, adapter_name)
    if derived is not None:
        out.append(derived)
        segments = live_name.split(".")
        i = _adapter_index(segments, adapter_name)
        assert i is not None
        plain = ".".join(segments[:i] + segments[i + 1 :])
        if plain not in out:
            out.append(plain)
    if live_name not in out:
        out.append(live_name)
    return out


def _normalise(key: str) -> str:
    return key.removeprefix(PEFT_MODEL_PREFIX)


def match_adapter_keys(
    live: Iterable[tuple[str, bool]],
    file_keys: Iterable[str],
    adapter_name: str = "default",
) -> KeyMatch:
    """Match live parameters ``(name, requires_grad)`` to saved adapter keys.

    Candidates are the trainable parameters plus any parameter of adapter *adapter_name* (so an
    adapter loaded frozen still maps); frozen base weights are never matched, even when the file
    carries an identically named copy (peft saves targeted embedding layers that way). Each file
    key is used at most once; an exact key beats one equal only after dropping the
    ``base_model.model.`` prefix (live model given without its ``PeftModel`` wrapper).
    """
    if not adapter_name or "." in adapter_name:
        raise ValueError(
            f"adapter_name must be a non-empty name without dots, got {adapter_name!r}"
        )
    keys = list(dict.fromkeys(file_keys))
    exact = set(keys)
    by_norm: dict[str, str] = {}
    for k in keys:
        by_norm.setdefault(_normalise(k), k)

    candidates = [
        name for name, trainable in live if trainable or is_adapter_param(name, adapter_name)
    ]
    used: set[str] = set()
    pairs: dict[str, str] = {}
    # Pass 1: renamed keys (peft's layout, then the plain rule); pass 2: identical names. Two
    # passes so one parameter's identity fallback can never take another's renamed key.
    for derived in (True, False):
        for name in candidates:
            if name in pairs:
                continue
            options = candidate_file_keys(name, adapter_name)
            options = options[:-1] if derived else options[-1:]
            for cand in options:
                hit = cand if cand in exact else by_norm.get(_normalise(cand))
                if hit is not None and hit not in used:
                    pairs[name] = hit
                    used.add(hit)
                    break
    ordered = {name: pairs[name] for name in candidates if name in pairs}
    return KeyMatch(
        pairs=ordered,
        unmatched_file_keys=tuple(k for k in keys if k not in used),
        unmatched_live_params=tuple(n for n in dict.fromkeys(candidates) if n not in pairs),
    )
