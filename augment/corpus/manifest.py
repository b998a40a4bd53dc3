"""The corpus manifest (`corpus.toml`): which pinned packages give which pages, read and checked.

One `[[site]]` table per site (its group in the corpus). Every site names where its pages
come from and under which terms:

- ``name``: the site, also its group (``groups.json``) and the prefix of its page ids;
- ``source``: a key of `augment.corpus.fetch.FETCHERS` (``npm``, ``pypi``, ``deb``);
- ``package`` and ``version``: pinned exactly (``npm pack NAME@VERSION``, ``pip download
  NAME==VERSION``, ``apt-get download NAME=VERSION``), each archive's digest in the lock
  file beside the manifest (`augment.corpus.lock`);
- ``license`` (SPDX or the package's own words) and ``home`` (its home page), copied into
  the ``ATTRIBUTION`` file;
- ``kind``: one of `KINDS`; ``page_kinds`` (glob -> kind) overrides it for some files;
- ``files``: globs relative to the site root, the pages to render; ``exclude``: globs
  left out. A ``pypi`` site may leave ``files`` out: its builder's pages are taken;
- ``root``: the folder inside the package that holds the site (its asset root); default:
  ``package`` for npm, ``usr/share/doc/PACKAGE`` for deb, the build output for pypi;
- pypi sites are built locally: ``build`` (a key of `augment.corpus.builders.BUILDERS`),
  ``theme`` (the theme name the builder is given), ``options`` (a table passed on to the
  builder: theme options, extensions, plugins) and ``wheels`` (pinned ``name==version``
  wheels the build needs beside ``package``, each fetched with ``--no-deps``).

A ``[tools]`` table pins the builders' own versions (``sphinx = "8.2.3"``...): a build with
other versions installed is refused, since its pages would not be the same bytes.

`load_manifest` reports every problem of the file at once, each naming the file, the site
and the key, with the fix. Nothing of a manifest reaches a registry client, a builder or a
glob before it passes these checks (`NAME_RULES`, `VERSION_RULES`, `glob_problem`):

- package names by their registry's rules: npm ``name`` or ``@scope/name``, each part
  lowercase ``[a-z0-9][a-z0-9._-]*``, 214 characters at most (so no leading ``.``, ``_``
  or ``-``: ``--registry=...`` is not a name); PyPI names by PEP 508
  (``[A-Za-z0-9]``, inner ``._-``); Debian names ``[a-z0-9][a-z0-9+.-]+``;
- versions exact by their registry's syntax: npm semver ``X.Y.Z[-pre][+build]``, PyPI a
  PEP 440 release (no wildcards, no ranges), Debian ``[epoch:]upstream[-revision]``;
  ``wheels`` as ``name==version`` with both parts checked the same way;
- ``files``, ``exclude``, the globs of ``page_kinds``, ``root`` and a pelican
  ``theme_path`` relative and without a ``..`` part (absolute paths, drive letters and
  backslashes refused): nothing a manifest names lies outside the package.
"""
from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What a site's pages are; blog covers blogs and articles, other shops and everything else
# (sign-in pages, error pages, component demos).
KINDS: tuple[str, ...] = ("landing", "docs", "dashboard", "blog", "other")
SOURCES: tuple[str, ...] = ("npm", "pypi", "deb")
BUILDS: tuple[str, ...] = ("sphinx", "mkdocs", "pelican", "ablog")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}$")
RANGE_RE = re.compile(r"^[\^~]|[*<>= ,|]")  # npm/pip range syntax; a Debian version may hold '~' inside
_NPM_PART = r"[a-z0-9][a-z0-9._-]*"
_PEP440 = (r"([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*((a|b|rc)(0|[1-9][0-9]*))?(\.post(0|[1-9][0-9]*))?"
           r"(\.dev(0|[1-9][0-9]*))?(\+[a-z0-9]+(\.[a-z0-9]+)*)?")
# (pattern, what the rule is, in words) per registry: a package name, an exact version
NAME_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "npm": (re.compile(rf"^(@{_NPM_PART}/)?{_NPM_PART}$"),
            "npm names are 'name' or '@scope/name', lowercase letters, digits and '._-', not starting with '.', "
            "'_' or '-', 214 characters at most"),
    "pypi": (re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE),
             "PyPI names (PEP 508) are letters, digits and '._-', starting and ending with a letter or digit"),
    "deb": (re.compile(r"^[a-z0-9][a-z0-9+.-]+$"),
            "Debian names are lowercase letters, digits and '+.-', starting with a letter or digit, 2+ characters"),
}
VERSION_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "npm": (re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"),
            "an exact semver version such as \"3.2.0\""),
    "pypi": (re.compile(rf"^{_PEP440}$", re.IGNORECASE), "an exact PEP 440 version such as \"1.4.0\" or \"1.0.0b2\""),
    "deb": (re.compile(r"^([0-9]+:)?[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)*$"),
            "an exact Debian version such as \"1:2.39.5-0+deb12u3\" ([epoch:]upstream[-revision])"),
}
REQUIRED = ("name", "source", "package", "version", "license", "home", "kind")
KNOWN = frozenset(REQUIRED + ("files", "exclude", "page_kinds", "root", "build", "theme", "options", "wheels"))


class CorpusError(RuntimeError):
    """The corpus cannot be built as asked; the message names the file, key or package and the fix."""


@dataclass(frozen=True)
class Site:
    """One site of the corpus, as its manifest table gives it (see the module docstring)."""

    name: str
    source: str
    package: str
    version: str
    license: str
    home: str
    kind: str
    files: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    page_kinds: dict[str, str] = field(default_factory=dict)
    root: str | None = None
    build: str | None = None
    theme: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    wheels: tuple[str, ...] = ()

    def kind_of(self, relative: str) -> str:
        """The kind of the page at `relative` (a path under the site root)."""
        for pattern, kind in self.page_kinds.items():
            if fnmatch.fnmatchcase(relative, pattern):
                return kind
        return self.kind


@dataclass(frozen=True)
class Manifest:
    """The sites of a manifest and the builder versions it pins."""

    path: Path
    sites: tuple[Site, ...]
    tools: dict[str, str]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` (a glob or path under a package) may not be used, or None: it must be
    relative, without a '..' part, a backslash or a drive letter."""
    if pattern.startswith("/") or re.match(r"^[A-Za-z]:", pattern):
        return "is absolute; give a path relative to the site root"
    if "\\" in pattern:
        return "holds a backslash; separate folders with '/'"
    if ".." in pattern.split("/"):
        return "has a '..' part; a site's pages lie under its root"
    if "\0" in pattern:
        return "holds a NUL character"
    return None


def name_problem(source: str, package: str) -> str | None:
    """Why `package` is not a valid name on `source`'s registry, or None."""
    pattern, rule = NAME_RULES[source]
    if len(package) > 214 or not pattern.fullmatch(package):
        return f"package {package!r} is not a valid {source} name ({rule})"
    return None


def version_problem(source: str, version: str) -> str | None:
    """Why `version` is not an exact `source` version, or None."""
    if RANGE_RE.search(version):
        return f"version {version!r} is a range; pin one exact version"
    pattern, rule = VERSION_RULES[source]
    if not pattern.fullmatch(version):
        return f"version {version!r} is not {rule}"
    return None


def _path_problems(where: str, table: dict[str, Any]) -> list[str]:
    out = []
    for key in ("files", "exclude"):
        if _strings(table.get(key, [])):
            out += [f"{where}: {key} glob {g!r} {why}" for g in table.get(key, []) if (why := glob_problem(g))]
    page_kinds = table.get("page_kinds", {})
    if isinstance(page_kinds, dict):
        out += [f"{where}: page_kinds glob {g!r} {why}" for g in page_kinds if (why := glob_problem(g))]
    for key, value in (("root", table.get("root")), ("options.theme_path", (table.get("options") or {}).get(
            "theme_path") if isinstance(table.get("options"), dict) else None)):
        if value is not None and not (isinstance(value, str) and value):
            out.append(f"{where}: '{key}' must be a non-empty string")
        elif isinstance(value, str) and (why := glob_problem(value)):
            out.append(f"{where}: {key} {value!r} {why}")
    return out


def _package_problems(where: str, table: dict[str, Any]) -> list[str]:
    out = []
    source, package, version = table.get("source"), table.get("package"), table.get("version")
    if source in SOURCES and isinstance(package, str) and package and (why := name_problem(source, package)):
        out.append(f"{where}: {why}")
    if isinstance(version, str) and version:
        if source in SOURCES and (why := version_problem(source, version)):
            out.append(f"{where}: {why}")
        elif source not in SOURCES and RANGE_RE.search(version):
            out.append(f"{where}: version {version!r} is a range; pin one exact version")
    for w in table.get("wheels", []) if _strings(table.get("wheels", [])) else []:
        name, sep, pin = w.partition("==")
        if not sep:
            out.append(f"{where}: wheel {w!r} must be pinned as name==version")
        elif why := name_problem("pypi", name) or version_problem("pypi", pin):
            out.append(f"{where}: wheel {w!r}: {why}")
    return out


def _site_problems(where: str, table: dict[str, Any]) -> list[str]:
    out = []
    for key in REQUIRED:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            out.append(f"{where}: key '{key}' is missing or empty; add {key} = \"...\""
                       + (" (pinned exactly, e.g. \"3.2.0\")" if key == "version" else "")
                       + (" (an SPDX id such as \"MIT\", or the package's own terms)" if key == "license" else ""))
    for key in sorted(set(table) - KNOWN):
        out.append(f"{where}: unknown key '{key}'; known keys: {', '.join(sorted(KNOWN))}")
    name, source, kind = table.get("name"), table.get("source"), table.get("kind")
    if isinstance(name, str) and name and not NAME_RE.fullmatch(name):
        out.append(f"{where}: name {name!r} must be lowercase letters, digits and '-' (1-61 characters)")
    if isinstance(source, str) and source and source not in SOURCES:
        out.append(f"{where}: source {source!r} is unknown; use one of {', '.join(SOURCES)}")
    if isinstance(kind, str) and kind and kind not in KINDS:
        out.append(f"{where}: kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    for key in ("files", "exclude", "wheels"):
        if key in table and not _strings(table[key]):
            out.append(f"{where}: '{key}' must be a list of non-empty strings")
    out += _package_problems(where, table) + _path_problems(where, table)
    page_kinds = table.get("page_kinds", {})
    if not isinstance(page_kinds, dict):
        out.append(f"{where}: 'page_kinds' must be a table of glob = kind")
    else:
        out += [f"{where}: page_kinds[{g!r}] = {k!r} is not a kind; use one of {', '.join(KINDS)}"
                for g, k in page_kinds.items() if k not in KINDS]
    if "options" in table and not isinstance(table["options"], dict):
        out.append(f"{where}: 'options' must be a table")
    if source == "pypi":
        build = table.get("build")
        if build not in BUILDS:
            out.append(f"{where}: a pypi site is built locally: set build to one of {', '.join(BUILDS)}")
        if not isinstance(table.get("theme"), str) or not table.get("theme"):
            out.append(f"{where}: a pypi site needs 'theme', the theme name its builder uses")
    elif source in SOURCES and "files" not in table:
        out.append(f"{where}: key 'files' is missing; list the page globs to take, e.g. files = [\"pages/*.html\"]")
    return out


def load_manifest(path: str | Path) -> Manifest:
    """Read and check `path`; raise one CorpusError naming every problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(f"--manifest {path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise CorpusError(f"{path}: not a readable TOML file ({e})") from None
    problems = []
    tables = data.get("site")
    if not isinstance(tables, list) or not tables:
        problems.append(f"{path}: no [[site]] tables; each site of the corpus is one")
        tables = []
    tools = data.get("tools", {})
    if not isinstance(tools, dict) or not all(isinstance(v, str) for v in tools.values()):
        problems.append(f"{path}: [tools] must map a builder package to its pinned version, e.g. sphinx = \"8.2.3\"")
        tools = {}
    problems += [f"{path}: unknown top-level key '{k}'; known: site, tools"
                 for k in sorted(set(data) - {"site", "tools"})]
    sites, seen = [], {}
    for i, table in enumerate(tables):
        label = table.get("name") if isinstance(table, dict) else None
        where = f"{path}: site[{i}]" + (f" ({label})" if isinstance(label, str) and label else "")
        if not isinstance(table, dict):
            problems.append(f"{where}: must be a table")
            continue
        found = _site_problems(where, table)
        if isinstance(label, str) and label in seen:
            found.append(f"{where}: name {label!r} is already used by site[{seen[label]}]; names are groups and "
                         "must be unique")
        seen.setdefault(label, i)
        problems += found
        if not found:
            sites.append(Site(**{k: tuple(v) if k in ("files", "exclude", "wheels") else v for k, v in table.items()}))
    if problems:
        raise CorpusError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the corpus manifest:\n  "
                          + "\n  ".join(problems))
    return Manifest(path, tuple(sites), dict(tools))
