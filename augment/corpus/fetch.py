"""Fetching the corpus's pinned packages into the cache, and unpacking them.

The corpus command is the project's only code that downloads, and only through each
registry's own client: `npm pack NAME@VERSION`, `pip download --no-deps NAME==VERSION`
(wheels only), `apt-get download NAME=VERSION`. `FETCHERS` maps a manifest ``source`` to
its fetcher; each returns the archive's path in the cache, downloading it only when it is
not there. With ``offline`` nothing is downloaded: a missing archive is a `CorpusError`
naming the package and the command that fetches it.

Archives are unpacked once into ``CACHE/unpacked/<archive name>/`` (a marker file says the
unpacking finished): npm tarballs with tarfile's ``data`` filter (no absolute paths, links
out or device files), wheels with zipfile, Debian packages with ``dpkg-deb -x``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from .manifest import CorpusError

DONE = ".unpacked"
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


def _one(folder: Path, patterns: list[str]) -> Path | None:
    """The archive in `folder` matching one of `patterns` (case-insensitive), if any."""
    if not folder.is_dir():
        return None
    for p in sorted(folder.iterdir()):
        if any(re.fullmatch(pat, p.name, flags=re.IGNORECASE) for pat in patterns):
            return p
    return None


def _missing(package: str, version: str, source: str, cache: Path, command: str) -> CorpusError:
    return CorpusError(f"{source} package {package} {version} is not in the cache ({cache}); --offline uses the "
                       f"cache only: run once without --offline (it runs `{command}`) or copy the archive there")


def fetch_npm(package: str, version: str, cache: Path, offline: bool) -> Path:
    """`npm pack NAME@VERSION` into CACHE/npm (`@scope/name` packs as `scope-name-VERSION.tgz`)."""
    folder = cache / "npm"
    stem = package.lstrip("@").replace("/", "-")
    patterns = [re.escape(f"{stem}-{version}.tgz")]
    found = _one(folder, patterns)
    if found is None:
        command = f"npm pack {package}@{version}"
        if offline:
            raise _missing(package, version, "npm", cache, command)
        folder.mkdir(parents=True, exist_ok=True)
        _run(["npm", "pack", f"{package}@{version}", "--pack-destination", str(folder), "--silent"], folder,
             f"npm package {package} {version}")
        found = _one(folder, patterns)
        if found is None:
            raise CorpusError(f"npm package {package} {version}: `{command}` wrote no {stem}-{version}.tgz")
    return found


def _wheel_patterns(package: str, version: str) -> list[str]:
    name = "[-_.]".join(re.escape(part) for part in re.split(r"[-_.]+", package))
    return [f"{name}-{re.escape(version)}-[^-]+-[^-]+-[^-]+\\.whl"]


def fetch_pypi(package: str, version: str, cache: Path, offline: bool) -> Path:
    """The wheel of NAME==VERSION in CACHE/pypi (`pip download --no-deps --only-binary :all:`)."""
    folder = cache / "pypi"
    patterns = _wheel_patterns(package, version)
    found = _one(folder, patterns)
    if found is None:
        command = f"pip download --no-deps --only-binary :all: {package}=={version}"
        if offline:
            raise _missing(package, version, "PyPI", cache, command)
        folder.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
              "--dest", str(folder), f"{package}=={version}"], folder, f"PyPI package {package} {version}")
        found = _one(folder, patterns)
        if found is None:
            raise CorpusError(f"PyPI package {package} {version}: `{command}` wrote no wheel of that version")
    return found


def fetch_deb(package: str, version: str, cache: Path, offline: bool) -> Path:
    """`apt-get download NAME=VERSION` into CACHE/deb (an epoch's ':' is '%3a' in the file name)."""
    folder = cache / "deb"
    patterns = [re.escape(f"{package}_{version.replace(':', '%3a')}_") + r"[a-z0-9]+\.deb"]
    found = _one(folder, patterns)
    if found is None:
        command = f"apt-get download {package}={version}"
        if offline:
            raise _missing(package, version, "Debian", cache, command)
        folder.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "download", f"{package}={version}"], folder,
             f"Debian package {package} {version} (`apt-get update` first when apt has no list of packages)")
        found = _one(folder, patterns)
        if found is None:
            raise CorpusError(f"Debian package {package} {version}: `{command}` wrote no .deb of that version")
    return found


FETCHERS: dict[str, Callable[[str, str, Path, bool], Path]] = {
    "npm": fetch_npm, "pypi": fetch_pypi, "deb": fetch_deb,
}


def _unpack_into(archive: Path, dest: Path) -> None:
    if archive.suffix == ".tgz":
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    elif archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    elif archive.suffix == ".deb":
        _run(["dpkg-deb", "-x", str(archive), str(dest)], dest.parent, f"unpacking {archive.name}")
    else:
        raise CorpusError(f"{archive}: unknown archive type")


def unpack(archive: Path, cache: Path) -> Path:
    """The folder `archive` is unpacked in (CACHE/unpacked/NAME), unpacking it the first time."""
    dest = cache / "unpacked" / archive.name
    if (dest / DONE).is_file():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    try:
        _unpack_into(archive, dest)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise CorpusError(f"{archive}: cannot unpack ({e}); delete it from the cache and fetch it again") from None
    (dest / DONE).write_text("", encoding="utf-8")
    return dest


def fetch_and_unpack(source: str, package: str, version: str, cache: Path, offline: bool) -> Path:
    """Fetch (or find) one pinned package and return the folder it is unpacked in."""
    return unpack(FETCHERS[source](package, version, cache, offline), cache)
