"""The pinned npm packages the browser engine styles pages with: read the manifest, fetch, stage.

`frameworks.toml` (next to this file) pins every package: CSS frameworks, icon fonts and
`@fontsource` web fonts, each with its version, license, home page and the files of it a page
loads. They come into a cache (default ``.synth-cache``) only through the corpus fetcher,
`augment.corpus.fetch.fetch_and_unpack` (``npm pack``), and only when asked: by
`fetch_assets` (`python -m augment synth-assets`, `make synth-assets`), or by `stage_assets`
without ``offline``. With ``offline`` a package missing from the cache, or a file missing
from a package, is a `SynthError` naming the package and the command that fetches it.

`stage_assets` copies the listed files into ``STAGE/assets/<name>/`` (keeping their paths
inside the package, so a stylesheet's relative ``url()`` of its webfont still resolves) and
writes ``assets/fonts.css`` with one ``@font-face`` per font (``font-display: block``, so
no page is drawn in a fallback font). The pages load them as relative file: URLs under the
stage, the render's asset root: nothing is fetched at render time.
"""
from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ...config import ConfigError
from ...corpus.fetch import fetch_and_unpack
from ...corpus.lock import Pin
from ...corpus.manifest import CorpusError

MANIFEST = Path(__file__).with_name("frameworks.toml")
DEFAULT_CACHE = ".synth-cache"
ROLES = ("framework", "icons", "font")
FETCH_HINT = "python -m augment synth-assets"


class SynthError(ConfigError):
    """The browser engine cannot make pages as asked; the message names the setting or package and the fix."""


@dataclass(frozen=True)
class Package:
    """One pinned npm package of the manifest and the files of it that pages load."""

    role: str
    name: str
    package: str
    version: str
    license: str
    home: str
    css: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    family: str = ""  # fonts: the CSS font-family name
    generic: str = "sans-serif"  # fonts: the fallback family
    integrity: str = ""  # npm's dist.integrity; "" only in a manifest that says allow_unpinned = true


@dataclass(frozen=True)
class Assets:
    """The staged packages: per role the names, and per name the hrefs a page links (relative to the stage)."""

    packages: tuple[Package, ...]
    hrefs: dict[str, tuple[str, ...]]

    def names(self, role: str) -> list[str]:
        return [p.name for p in self.packages if p.role == role]

    def get(self, name: str) -> Package:
        return next(p for p in self.packages if p.name == name)


def load_manifest(path: str | Path = MANIFEST) -> tuple[Package, ...]:
    """The packages of the manifest at `path`, checked; SynthError naming the file and entry otherwise."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SynthError(f"{path}: cannot read the synth asset manifest ({e})") from None
    out, seen = [], set()
    unpinned_ok = data.get("allow_unpinned") is True  # a test fixture's hand-made archives have no registry pin
    for n, entry in enumerate(data.get("package", []), 1):
        where = f"{path}: [[package]] {n} ({entry.get('name', '?')})"
        missing = [k for k in ("role", "name", "package", "version", "license", "home") if not entry.get(k)]
        if missing:
            raise SynthError(f"{where}: missing {', '.join(missing)}")
        if entry["role"] not in ROLES:
            raise SynthError(f"{where}: role {entry['role']!r} is not one of {', '.join(ROLES)}")
        if entry["name"] in seen:
            raise SynthError(f"{where}: name {entry['name']!r} used twice")
        if entry["role"] == "font" and (not entry.get("family") or not entry.get("files")):
            raise SynthError(f"{where}: a font needs family and files (its .woff2 of weight 400 and 700)")
        if not unpinned_ok and not str(entry.get("integrity", "")).startswith("sha512-"):
            raise SynthError(f"{where}: no integrity pin; add integrity = \"sha512-...\" as the registry gives it "
                             f"(npm view {entry['package']}@{entry['version']} dist.integrity)")
        seen.add(entry["name"])
        out.append(Package(entry["role"], entry["name"], entry["package"], entry["version"], entry["license"],
                           entry["home"], tuple(entry.get("css", ())), tuple(entry.get("files", ())),
                           entry.get("family", ""), entry.get("generic", "sans-serif"), entry.get("integrity", "")))
    for role in ROLES:
        if not any(p.role == role for p in out):
            raise SynthError(f"{path}: no package of role {role!r}; the pages need at least one")
    return tuple(out)


def _folder(pkg: Package, cache: Path, offline: bool) -> Path:
    """The unpacked package folder (``.../package``), fetched when not offline."""
    try:
        pin = Pin(f"{pkg.package.lstrip('@').replace('/', '-')}-{pkg.version}.tgz", integrity=pkg.integrity) \
            if pkg.integrity else None
        root = fetch_and_unpack("npm", pkg.package, pkg.version, cache, offline, pin)
    except CorpusError as e:
        missing = offline and "not in the cache" in str(e)
        why = f"is not in the cache {cache}" if missing else f"was not fetched or was refused ({e})"
        raise SynthError(f"{pkg.role} {pkg.name}: npm package {pkg.package} {pkg.version} {why}; fetch the pinned "
                         f"packages with `{FETCH_HINT}` (--cache {cache})") from None
    return root / "package"


def fetch_assets(cache: str | Path = DEFAULT_CACHE, manifest: str | Path = MANIFEST,
                 offline: bool = False) -> list[str]:
    """Fetch (or find) every package of the manifest into `cache` and check its files; one line per package."""
    cache = Path(cache).resolve()
    lines = []
    for pkg in load_manifest(manifest):
        folder = _folder(pkg, cache, offline)
        _check_files(pkg, folder)
        lines.append(f"{pkg.role:9} {pkg.name:16} {pkg.package}@{pkg.version} ({pkg.license})")
    return lines


def _check_files(pkg: Package, folder: Path) -> None:
    gone = [f for f in pkg.css + pkg.files if not (folder / f).is_file()]
    if gone:
        raise SynthError(f"{pkg.role} {pkg.name}: npm package {pkg.package} {pkg.version} in the cache has no "
                         f"{', '.join(gone)}; fix the file list in the manifest, or delete the package from the "
                         f"cache and fetch it again with `{FETCH_HINT}`")


def font_faces(fonts: list[Package]) -> str:
    """``@font-face`` rules for the staged fonts (weights 400 and 700, in the manifest's order)."""
    rules = []
    for f in fonts:
        for path in f.files:
            weight = "700" if "-700-" in path else "400"
            rules.append(f"@font-face{{font-family:'{f.family}';font-style:normal;font-weight:{weight};"
                         f"font-display:block;src:url({f.name}/{path}) format('woff2')}}")
    return "\n".join(rules) + "\n"


def stage_assets(stage: str | Path, cache: str | Path = DEFAULT_CACHE, manifest: str | Path = MANIFEST,
                 offline: bool = True, only: dict[str, list[str]] | None = None) -> Assets:
    """Copy the manifest's files into ``stage/assets`` (see the module docstring); `only` limits a role
    to some names (the CLI's --frameworks)."""
    cache, assets_dir = Path(cache).resolve(), Path(stage) / "assets"
    packages = load_manifest(manifest)
    for role, names in (only or {}).items():
        known = [p.name for p in packages if p.role == role]
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise SynthError(f"{role} {', '.join(unknown)}: not in {manifest} (known: {', '.join(known)})")
        packages = tuple(p for p in packages if p.role != role or p.name in names)
    hrefs: dict[str, tuple[str, ...]] = {}
    for pkg in packages:
        folder = _folder(pkg, cache, offline)
        _check_files(pkg, folder)
        for rel in pkg.css + pkg.files:
            dest = assets_dir / pkg.name / rel
            if not dest.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / rel, dest)
        hrefs[pkg.name] = tuple(f"assets/{pkg.name}/{rel}" for rel in pkg.css)
    (assets_dir / "fonts.css").write_text(font_faces([p for p in packages if p.role == "font"]), encoding="utf-8")
    return Assets(packages, hrefs)


def attribution(packages: tuple[Package, ...]) -> str:
    """The ATTRIBUTION text of a folder of browser-drawn pages: every package, its version and license."""
    lines = ["Pages in this folder are drawn with the npm packages below, each under its own license.",
             "role | name | package | version | license | home page", ""]
    lines += [f"{p.role} | {p.name} | {p.package} | {p.version} | {p.license} | {p.home}" for p in packages]
    return "\n".join(lines) + "\n"
