"""The versions of the packages that compute a shard's bytes: recorded with every shard,
compared when shards are checked or reused.

The same sources, config and seed give byte-identical shards only under the same versions
of these (docs/augmentation.md, "What byte-identical covers"; `constraints.txt` pins them for `make setup`): OpenCV
resizes, warps and encodes every image; albumentations, albucore and albucore's simsimd and
stringzilla run the photometric op; numpy draws every random number and moves every quad;
lxml parses and writes the HTML; Python's json and tarfile write the rest. Which versions
wrote a set of shards is part of what it is.

`augment run` records `current()` in each shard's sidecar (from the process that built it,
a Dask worker included) and the manifest gathers them (`gather`: package -> the versions its
shards were written with). `shards verify` and a rerun of `augment run` that keeps shards
compare them with this environment's (`drift`) and print `warning()`: each package that
differs with both versions, and what to do.
"""
from __future__ import annotations

import functools
import platform
from importlib import metadata
from typing import Any, Iterable

PACKAGES = ("numpy", "opencv-python-headless", "albumentations", "albucore", "simsimd", "stringzilla", "lxml")


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution in `names` (None where it is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def current() -> dict[str, str | None]:
    """This process's versions of Python and of `PACKAGES` (a copy: callers may change it)."""
    return dict(_current())


@functools.cache
def _current() -> dict[str, str | None]:
    # once per process: the code that runs is what was imported, whatever pip does meanwhile, and
    # reading 7 distributions' metadata took 25 ms a call (a loaded 2-core machine), per shard
    return {"python": platform.python_version(), **package_versions(PACKAGES)}


def gather(recorded: Iterable[dict[str, Any] | None]) -> dict[str, list[str]]:
    """package -> sorted distinct versions over the `recorded` dicts (one per shard; None, for a
    shard written before versions were recorded, adds nothing)."""
    seen: dict[str, set[str]] = {}
    for versions in recorded:
        for name, v in (versions.items() if isinstance(versions, dict) else ()):
            seen.setdefault(name, set()).add(str(v))
    return {name: sorted(vs) for name, vs in sorted(seen.items())}


def drift(recorded: Any, now: dict[str, str | None] | None = None) -> list[tuple[str, list[str], str]]:
    """(package, versions the shards were written with, this environment's) for each package of
    `recorded` (a manifest's `versions`: package -> list of versions) whose versions are not
    exactly this environment's one. Anything but a table (a hand-edited manifest) is no drift."""
    if not isinstance(recorded, dict):
        return []
    now = current() if now is None else now
    rows = []
    for name, vs in sorted(recorded.items()):
        vs = sorted(str(v) for v in vs) if isinstance(vs, list) else [str(vs)]
        if vs != [str(now.get(name))]:
            rows.append((name, vs, str(now.get(name))))
    return rows


def warning(what: str, rows: list[tuple[str, list[str], str]], fix: str) -> str | None:
    """The line saying `what` (e.g. "OUT/manifest.json: its shards") was written with other
    versions, each drifted package with both, and `fix` (None when nothing drifted)."""
    if not rows:
        return None
    changes = ", ".join(f"{name} {' and '.join(vs)} (here {now})" for name, vs, now in rows)
    pins = " ".join(f"'{name}=={vs[0]}'" for name, vs, _ in rows if name != "python" and len(vs) == 1)
    return (f"warning: {what} were written with other package versions than this environment's: {changes}; "
            f"the same command here may write other bytes. {fix}"
            + (f" To write what they would, install their versions: pip install {pins}" if pins else ""))
