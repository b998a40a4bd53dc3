"""Section-token vocabulary: the map between "@ concatenation" tokens and model ids.

Built from the manifest's ``vocab`` counts: tokens seen at least ``min_count`` times (the
``max_size`` most frequent ones, when capped) get their own id; every other token maps to
UNK. Ids 0..2 are reserved:

- ``PAD`` (0): an empty slot. The model predicts it for slots beyond the last section, so
  the number of sections falls out of the prediction.
- ``MASK`` (1): the absorbing state of the token diffusion; never a target.
- ``UNK`` (2): a section whose token is outside the vocabulary.

The order of ids is a pure function of the counts (count descending, then token), so the
same manifest always gives the same ids whatever the dict order it was read in.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

PAD, MASK, UNK = 0, 1, 2
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<mask>", "<unk>")
NUM_SPECIAL = len(SPECIAL_TOKENS)


class Vocab:
    """An immutable token <-> id table with PAD, MASK and UNK at ids 0, 1, 2."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[:NUM_SPECIAL]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in vocabulary")
        self._tokens = tokens
        self._ids = {tok: i for i, tok in enumerate(tokens)}

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, int], min_count: int = 2, max_size: int | None = None
    ) -> "Vocab":
        """Keep tokens with ``count >= min_count``, most frequent first, at most ``max_size``
        of them (specials not counted); the rest will encode to UNK."""
        kept = [(tok, n) for tok, n in counts.items() if n >= min_count and tok not in SPECIAL_TOKENS]
        kept.sort(key=lambda kv: (-kv[1], kv[0]))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(list(SPECIAL_TOKENS) + [tok for tok, _ in kept])

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._tokens == other._tokens

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def id_of(self, token: str) -> int:
        return self._ids.get(token, UNK)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self._ids.get(tok, UNK) for tok in tokens]

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Ids to tokens. With ``strip_special`` PAD and MASK are dropped (UNK is kept: it is
        a real section whose kind is unknown), so ``decode`` of a prediction is the predicted
        section sequence."""
        out = []
        for i in ids:
            i = int(i)
            if strip_special and i in (PAD, MASK):
                continue
            out.append(self._tokens[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Vocab":
        return cls(data["tokens"])

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"
