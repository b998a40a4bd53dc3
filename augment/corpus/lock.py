"""The corpus lock (`corpus.lock` beside the manifest): every archive's digest, as its registry gives it.

`python -m augment corpus lock` (``make corpus-lock``) writes it: one entry per archive the
manifest needs (each site's package and its wheels), keyed ``"<source> <package> <version>"``,
with the archive's file name and its digest, JSON with sorted keys (the same manifest and
registries give the same bytes). What is trusted is the registry's own word, asked once per
package and never taken from the cache:

- npm: the ``dist.integrity`` the registry lists for NAME@VERSION (`npm view`): the
  tarball's sha512, base64, as ``integrity = "sha512-..."``;
- PyPI: the sha256 the index lists for the wheel pip picks for NAME==VERSION (`pip install
  --dry-run --report`, which reads the index; it fetches the wheel's metadata file, or the
  wheel itself where the index serves no metadata file, and installs nothing), as ``sha256``;
- Debian: the ``SHA256`` of NAME=VERSION in apt's package index (`apt-cache show`; the index
  is signed by the archive's Release file, so run `apt-get update` first), as ``sha256``.

Existing entries are kept; `--refresh` asks the registries again for every archive.

`verify` checks an archive against its entry after every download and before every unpack,
offline too: on a mismatch the archive is moved to ``CACHE/quarantine/`` (never used, and
fetched afresh next time) and its unpacked tree deleted, and the `CorpusError` names the
package, the expected and the found digest. An archive with no entry is refused unless the
build is run with ``--allow-unpinned`` (the summary then names it).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .manifest import CorpusError, Manifest, Site

LOCK_NAME = "corpus.lock"
LOCK_VERSION = 1
LOOKUP_TIMEOUT = 120  # seconds per registry look-up
ABOUT = ("written by `python -m augment corpus lock` (make corpus-lock): the digest of every archive of the manifest "
         "as its registry gives it; checked after every download and before every unpack")


@dataclass(frozen=True)
class Pin:
    """One archive's lock entry: its file name and the digest its registry gives."""

    file: str
    sha256: str | None = None
    integrity: str | None = None  # npm's "sha512-<base64>"

    def expected(self) -> str:
        return f"integrity {self.integrity}" if self.integrity else f"sha256 {self.sha256}"

    def found(self, path: Path) -> str:
        """`path`'s digest in the same notation as `expected`."""
        if self.integrity:
            algo = self.integrity.split("-", 1)[0]
            return f"integrity {algo}-{base64.b64encode(file_digest(path, algo)).decode()}"
        return f"sha256 {file_digest(path, 'sha256').hex()}"


def key(source: str, package: str, version: str) -> str:
    return f"{source} {package} {version}"


def archives(site: Site) -> list[tuple[str, str, str]]:
    """(source, package, version) of every archive a site needs: its package, then its wheels."""
    return [(site.source, site.package, site.version)] + [("pypi", *w.split("==", 1)) for w in site.wheels]


def all_archives(manifest: Manifest) -> list[tuple[str, str, str]]:
    return sorted({a for s in manifest.sites for a in archives(s)})


def lock_path(manifest: Manifest, given: str | Path | None = None) -> Path:
    return Path(given) if given else manifest.path.with_name(LOCK_NAME)


def file_digest(path: Path, algo: str) -> bytes:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


def read_lock(path: Path) -> dict[str, Pin]:
    """The pins of the lock at `path` ({} when there is none); a damaged lock is a CorpusError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["archives"]
        pins = {k: Pin(**v) for k, v in entries.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorpusError(f"{path}: not a corpus lock ({e}); write it again with `python -m augment corpus lock`") \
            from None
    bad = [k for k, p in pins.items() if not (p.file and (
        (p.sha256 and re.fullmatch(r"[0-9a-f]{64}", p.sha256))
        or (p.integrity and re.fullmatch(r"sha(256|384|512)-[A-Za-z0-9+/=]+", p.integrity))))]
    if bad:
        raise CorpusError(f"{path}: entries without a file name and a sha256 or integrity digest: {', '.join(bad)}")
    return pins


def write_lock(path: Path, pins: dict[str, Pin]) -> None:
    entries = {k: {f: v for f, v in vars(p).items() if v is not None} for k, p in sorted(pins.items())}
    text = json.dumps({"about": ABOUT, "version": LOCK_VERSION, "archives": entries}, indent=1, sort_keys=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def unpinned(manifest: Manifest, pins: dict[str, Pin]) -> list[str]:
    """The archives of `manifest` the lock has no entry for, as "site: source package version"."""
    return [f"site {s.name}: {a[0]} {a[1]} {a[2]}" for s in manifest.sites for a in archives(s)
            if key(*a) not in pins]


def verify(archive: Path, pin: Pin, what: str, cache: Path) -> str:
    """`archive`'s digest ("algo:hex"), the one `pin` gives; else quarantine it and refuse."""
    found = pin.found(archive)
    if found != pin.expected():
        quarantine = cache / "quarantine"
        quarantine.mkdir(parents=True, exist_ok=True)
        shutil.move(str(archive), quarantine / archive.name)
        tree = cache / "unpacked" / archive.name
        if tree.is_dir():
            shutil.rmtree(tree)
        raise CorpusError(f"{what}: archive {archive.name} does not match the lock: expected {pin.expected()}, "
                          f"found {found}; refused and moved to {quarantine}/ (nothing of it is built). A later "
                          "run fetches it afresh; if the registry itself now serves other bytes, find out why "
                          "before `python -m augment corpus lock --refresh`")
    return found.replace(" ", ":", 1)


def sha256_of(archive: Path) -> str:
    """The digest an unpinned archive's unpacked tree records."""
    return "sha256:" + file_digest(archive, "sha256").hex()


def _ask(cmd: list[str], what: str) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=LOOKUP_TIMEOUT)
    except FileNotFoundError:
        raise CorpusError(f"{what}: `{cmd[0]}` is not installed") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{what}: `{' '.join(cmd)}` gave no answer in {LOOKUP_TIMEOUT} s") from None
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise CorpusError(f"{what}: `{' '.join(cmd)}` failed ({tail})")
    return proc.stdout


def lookup_npm(package: str, version: str) -> Pin:
    out = _ask(["npm", "view", "--json", "--", f"{package}@{version}", "dist.integrity"], f"npm {package} {version}")
    integrity = json.loads(out or "null")
    if not isinstance(integrity, str) or not integrity.startswith("sha512-"):
        raise CorpusError(f"npm {package} {version}: the registry lists no sha512 integrity ({out.strip()!r})")
    return Pin(file=f"{package.lstrip('@').replace('/', '-')}-{version}.tgz", integrity=integrity)


def lookup_pypi(package: str, version: str) -> Pin:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        _ask([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps",
              "--only-binary", ":all:", "--report", str(report), "--", f"{package}=={version}"],
             f"PyPI {package} {version}")
        info = json.loads(report.read_text(encoding="utf-8"))["install"][0]["download_info"]
    sha = info.get("archive_info", {}).get("hashes", {}).get("sha256")
    if not sha:
        raise CorpusError(f"PyPI {package} {version}: the index lists no sha256 for {info.get('url')}")
    return Pin(file=info["url"].rsplit("/", 1)[-1].split("#", 1)[0], sha256=sha)


def lookup_deb(package: str, version: str) -> Pin:
    out = _ask(["apt-cache", "show", "--", f"{package}={version}"],
               f"Debian {package} {version} (`apt-get update` first when apt has no list of packages)")
    record = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", out.split("\n\n", 1)[0], flags=re.MULTILINE))
    if record.get("Version") != version or not record.get("SHA256"):
        raise CorpusError(f"Debian {package} {version}: apt's index gives no SHA256 for that version")
    name = f"{package}_{version.replace(':', '%3a')}_{record.get('Architecture', 'all')}.deb"
    return Pin(file=name, sha256=record["SHA256"])


LOOKUPS: dict[str, Callable[[str, str], Pin]] = {"npm": lookup_npm, "pypi": lookup_pypi, "deb": lookup_deb}


def lock_manifest(manifest: Manifest, path: Path, refresh: bool = False,
                  report: Callable[[str], None] = print) -> tuple[int, list[str]]:
    """Write the lock of `manifest` at `path`: existing entries kept (all asked again with
    `refresh`), the others asked of their registry; (entries asked, problems)."""
    old = read_lock(path)
    pins, problems, asked = {}, [], 0
    needed: Iterable[tuple[str, str, str]] = all_archives(manifest)
    for source, package, version in needed:
        k = key(source, package, version)
        if k in old and not refresh:
            pins[k] = old[k]
            continue
        try:
            pins[k] = LOOKUPS[source](package, version)
            asked += 1
        except (CorpusError, ValueError, KeyError, IndexError, OSError) as e:
            problems.append(f"{k}: {e}")
            if k in old:
                pins[k] = old[k]
            continue
        if k in old and old[k] != pins[k]:
            report(f"{k}: the registry's digest changed: was {old[k].expected()}, now {pins[k].expected()}")
    write_lock(path, pins)
    return asked, problems
