"""Fetching the corpus's pinned packages into the cache, checking them, and unpacking them.

The corpus command is the project's only code that downloads, and only through each
registry's own client: `npm pack NAME@VERSION`, `pip download --no-deps NAME==VERSION`
(wheels only), `apt-get download NAME=VERSION`, each given ``--`` before the package so
that nothing of a name is read as an option (names are checked by the manifest first).
`FETCHERS` maps a manifest ``source`` to its fetcher; each returns the archive's path in
the cache, downloading it only when it is not there (the lock's file name when it pins
one). With ``offline`` nothing is downloaded: a missing archive is a `CorpusError` naming
the package and the command that fetches it.

`fetch_and_unpack` checks the archive against its lock entry (`lock.verify`: a mismatch
is quarantined and refused) after the download or the cache look-up, on every use, and
only then unpacks it (`unpack.unpack`: bounded, confined, once per digest).
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .lock import Pin, sha256_of, verify
from .manifest import CorpusError
from .unpack import unpack

FETCH_TIMEOUT = 600  # seconds per download: the largest package here (a 35 MB npm tarball) takes ~20 s


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT)
    except FileNotFoundError:
        raise CorpusError(f"{what}: `{cmd[0]}` is not installed (npm comes with Node.js; apt-get and dpkg-deb "
                          "with Debian)") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{what}: `{' '.join(cmd)}` gave no answer in {FETCH_TIMEOUT} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise CorpusError(f"{what}: `{' '.join(cmd)}` failed ({' / '.join(tail)})")


def _one(folder: Path, patterns: list[str], file: str | None = None) -> Path | None:
    """The archive in `folder` named `file`, else matching one of `patterns` (case-insensitive), if any."""
    if not folder.is_dir():
        return None
    if file is not None:
        return folder / file if (folder / file).is_file() else None
    for p in sorted(folder.iterdir()):
        if any(re.fullmatch(pat, p.name, flags=re.IGNORECASE) for pat in patterns):
            return p
    return None


def _missing(package: str, version: str, source: str, cache: Path, command: str) -> CorpusError:
    return CorpusError(f"{source} package {package} {version} is not in the cache ({cache}); --offline uses the "
                       f"cache only: run once without --offline (it runs `{command}`) or copy the archive there")


def fetch_npm(package: str, version: str, cache: Path, offline: bool, file: str | None = None) -> Path:
    """`npm pack NAME@VERSION` into CACHE/npm (`@scope/name` packs as `scope-name-VERSION.tgz`)."""
    folder = cache / "npm"
    stem = package.lstrip("@").replace("/", "-")
    patterns = [re.escape(f"{stem}-{version}.tgz")]
    found = _one(folder, patterns, file)
    if found is None:
        command = f"npm pack {package}@{version}"
        if offline:
            raise _missing(package, version, "npm", cache, command)
        folder.mkdir(parents=True, exist_ok=True)
        _run(["npm", "pack", "--pack-destination", str(folder), "--silent", "--", f"{package}@{version}"], folder,
             f"npm package {package} {version}")
        found = _one(folder, patterns, file)
        if found is None:
            raise CorpusError(f"npm package {package} {version}: `{command}` wrote no "
                              + (file or f"{stem}-{version}.tgz"))
    return found


def _wheel_patterns(package: str, version: str) -> list[str]:
    name = "[-_.]".join(re.escape(part) for part in re.split(r"[-_.]+", package))
    return [f"{name}-{re.escape(version)}-[^-]+-[^-]+-[^-]+\\.whl"]


def fetch_pypi(package: str, version: str, cache: Path, offline: bool, file: str | None = None) -> Path:
    """The wheel of NAME==VERSION in CACHE/pypi (`pip download --no-deps --only-binary :all:`)."""
    folder = cache / "pypi"
    patterns = _wheel_patterns(package, version)
    found = _one(folder, patterns, file)
    if found is None:
        command = f"pip download --no-deps --only-binary :all: {package}=={version}"
        if offline:
            raise _missing(package, version, "PyPI", cache, command)
        folder.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
              "--dest", str(folder), "--", f"{package}=={version}"], folder, f"PyPI package {package} {version}")
        found = _one(folder, patterns, file)
        if found is None:
            raise CorpusError(f"PyPI package {package} {version}: `{command}` wrote no "
                              + (f"{file} (the wheel the lock pins)" if file else "wheel of that version"))
    return found


def fetch_deb(package: str, version: str, cache: Path, offline: bool, file: str | None = None) -> Path:
    """`apt-get download NAME=VERSION` into CACHE/deb (an epoch's ':' is '%3a' in the file name)."""
    folder = cache / "deb"
    patterns = [re.escape(f"{package}_{version.replace(':', '%3a')}_") + r"[a-z0-9]+\.deb"]
    found = _one(folder, patterns, file)
    if found is None:
        command = f"apt-get download {package}={version}"
        if offline:
            raise _missing(package, version, "Debian", cache, command)
        folder.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "download", "--", f"{package}={version}"], folder,
             f"Debian package {package} {version} (`apt-get update` first when apt has no list of packages)")
        found = _one(folder, patterns, file)
        if found is None:
            raise CorpusError(f"Debian package {package} {version}: `{command}` wrote no "
                              + (file or ".deb of that version"))
    return found


FETCHERS: dict[str, Callable[..., Path]] = {
    "npm": fetch_npm, "pypi": fetch_pypi, "deb": fetch_deb,
}


def fetch_and_unpack(source: str, package: str, version: str, cache: Path, offline: bool,
                     pin: Pin | None) -> Path:
    """Fetch (or find) one pinned package, check it against `pin` (None: an unpinned archive
    the user allowed) and return the folder it is unpacked in."""
    archive = FETCHERS[source](package, version, cache, offline, pin.file if pin else None)
    digest = verify(archive, pin, f"{source} package {package} {version}", cache) if pin else sha256_of(archive)
    return unpack(archive, cache, digest)
