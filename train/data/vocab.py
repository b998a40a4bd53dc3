"""The factor vocabularies: between a section's canonical parts and the model's class ids.

A section's label has factors (shards.tokens): its ``type`` from a closed set, the type of
the ``region`` it lies in (`shards.tokens.REGION_TYPES`, issue 35's coarse level), up to
``max_children`` ordered child ``roles`` from a closed set, and its ``raw_token`` (the token
before canonicalisation, an open set, reported apart). The closed sets come from
``shards.tokens`` when a run starts and are saved in every checkpoint, so a model always
decodes with the tables it was trained with. Raw tokens seen at least ``min_count`` times in
the manifest get an id (most frequent first, ties by name, so the ids are a pure function of
the counts); the rest share ``UNK`` (id 0).

Children are encoded per position: the role id, then the end marker (id = number of roles)
right after the last child, then ``IGNORE`` (not scored) for the positions past it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from shards.tokens.vocab import REGION_TYPES

UNK_RAW = "<unk>"
IGNORE = -100  # torch.nn.functional.cross_entropy's ignore_index


@dataclass(frozen=True)
class Factors:
    types: tuple[str, ...]
    roles: tuple[str, ...]
    raw: tuple[str, ...]  # raw tokens; raw[0] is UNK_RAW
    max_children: int = 4
    regions: tuple[str, ...] = REGION_TYPES

    @classmethod
    def build(cls, raw_counts: Mapping[str, int], *, min_count: int = 2, max_raw: int = 512,
              types: Sequence[str] | None = None, roles: Sequence[str] | None = None) -> "Factors":
        """From the manifest's raw-token counts, with the closed sets of shards.tokens."""
        from shards.tokens import MAX_CHILDREN, ROLES, SECTION_TYPES

        kept = sorted(((t, n) for t, n in raw_counts.items() if n >= min_count and t != UNK_RAW),
                      key=lambda kv: (-kv[1], kv[0]))[:max_raw]
        return cls(tuple(types or SECTION_TYPES), tuple(roles or ROLES), (UNK_RAW, *[t for t, _ in kept]),
                   MAX_CHILDREN)

    @property
    def end(self) -> int:
        """The children head's end marker id."""
        return len(self.roles)

    def type_id(self, name: str) -> int:
        return self._index("types")[name] if name in self._index("types") else self._index("types")["other"]

    def region_id(self, name: str) -> int:
        return self._index("regions")[name] if name in self._index("regions") else self._index("regions")["main"]

    def raw_id(self, token: str) -> int:
        return self._index("raw").get(token, 0)

    def children_ids(self, roles: Iterable[str]) -> list[int]:
        """Role ids per position: the roles, the end marker, then IGNORE."""
        index = self._index("roles")
        ids = [index[r] for r in list(roles)[: self.max_children] if r in index]
        if len(ids) < self.max_children:
            ids.append(self.end)
        return ids + [IGNORE] * (self.max_children - len(ids))

    def decode_children(self, ids: Iterable[int]) -> tuple[str, ...]:
        out = []
        for i in ids:
            i = int(i)
            if i == self.end or i < 0:
                break
            out.append(self.roles[i])
        return tuple(out)

    def token(self, type_id: int, children: Iterable[int]) -> str:
        """The canonical token ``type@role@role`` of predicted ids."""
        return "@".join([self.types[int(type_id)], *self.decode_children(children)])

    def _index(self, name: str) -> dict[str, int]:
        cache = self.__dict__.setdefault("_cache", {})
        if name not in cache:
            cache[name] = {v: i for i, v in enumerate(getattr(self, name))}
        return cache[name]

    def to_dict(self) -> dict[str, Any]:
        return {"types": list(self.types), "roles": list(self.roles), "raw": list(self.raw),
                "max_children": self.max_children, "regions": list(self.regions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Factors":
        return cls(tuple(data["types"]), tuple(data["roles"]), tuple(data["raw"]), int(data["max_children"]),
                   tuple(data.get("regions", REGION_TYPES)))
