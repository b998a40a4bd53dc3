"""Documentation and blog sites built locally from PyPI themes over the project's sample text.

A ``pypi`` site of the manifest is a theme; its pages are made here, always from the same
text (`SAMPLE`: six documentation pages and four blog posts about a made-up tide library,
in Markdown), so that sites differ by their theme alone. `BUILDERS` maps a site's
``build`` to the function that writes the project (config + sources) and runs the tool:

- ``sphinx``: Sphinx with MyST (the Markdown pages as they are, a toctree on the index);
- ``mkdocs``: MkDocs (``use_directory_urls: false``, so every page is a plain file);
- ``pelican``: Pelican, the blog posts (with ``Title:``/``Date:`` metadata);
- ``ablog``: Sphinx + ABlog, the blog posts (``blogpost: true`` front matter) with any
  Sphinx theme.

Each build runs in a child process of this Python with the site's wheels (the theme and
the pinned wheels it needs) first on ``PYTHONPATH``, ``SOURCE_DATE_EPOCH`` fixed (Sphinx
and MkDocs stamp build dates from it), ``TZ=UTC`` and ``PYTHONHASHSEED=0``: the same
inputs give the same files. `PAGES` lists the pages a build's site takes by default.

A theme is third-party code, so its build is contained (`contained_run`):

- no network: the child runs under ``unshare --net`` (a network namespace with nothing in
  it, not even a working loopback) where this machine allows it (root, or user namespaces:
  ``unshare --map-root-user --net``); elsewhere it falls back to an environment whose HTTP
  proxies (``http_proxy``, ``https_proxy``, ``all_proxy`` and upper-case forms) point at a
  dead address (127.0.0.1:9), which stops the HTTP clients a build would use (urllib,
  requests, pip) but not a raw socket. `isolation()` says which one is in force; the
  proxies are set in both cases;
- a clean environment: only ``PATH``, ``HOME``, ``TMPDIR`` of this process and the fixed
  variables above, no credentials or tokens of the caller;
- a time limit per site (`BUILD_TIMEOUT`): the child runs in its own process group and a
  build past the limit is killed with everything it started (so is anything a finished
  build left running). The file system is not confined: a build can write where this
  user can.

A build that fails or hangs is a `CorpusError` naming the site; the job records it as that
site's failure and goes on with the others.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .manifest import CorpusError, Site

SAMPLE = Path(__file__).with_name("sample")
DOC_PAGES = ("index", "install", "tutorial", "guide", "reference", "faq")
SOURCE_DATE_EPOCH = "1718409600"  # 2024-06-15: every date a build stamps
BUILD_TIMEOUT = 300  # seconds per site; the slowest theme here (sphinx-book-theme) builds the sample in ~15 s
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
UNSHARE = (["unshare", "--net", "--"], ["unshare", "--map-root-user", "--net", "--"])
# the builders' own packages per build (and what every build renders with: docutils, Pygments'
# highlighting, Jinja2's templates), checked against the manifest's [tools] pins
COMMON_TOOLS = ("docutils", "pygments", "jinja2")
TOOLS: dict[str, tuple[str, ...]] = {
    "sphinx": ("sphinx", "myst-parser", *COMMON_TOOLS), "mkdocs": ("mkdocs", "markdown", *COMMON_TOOLS),
    "pelican": ("pelican", "markdown", *COMMON_TOOLS), "ablog": ("ablog", "sphinx", "myst-parser", *COMMON_TOOLS),
}
PAGES: dict[str, tuple[str, ...]] = {
    "sphinx": tuple(f"{p}.html" for p in DOC_PAGES),
    "mkdocs": tuple(f"{p}.html" for p in DOC_PAGES),
    "pelican": ("index.html", "posts/*.html", "archives.html", "categories.html"),
    "ablog": ("index.html", "posts/*.html", "blog.html"),
}


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """A blog post's ``key: value`` header between ``---`` lines, and its body."""
    m = re.match(r"---\n(.*?)\n---\n", text, flags=re.DOTALL)
    if not m:
        return {}, text
    meta = dict(line.split(": ", 1) for line in m.group(1).splitlines() if ": " in line)
    return meta, text[m.end():]


def posts() -> list[tuple[str, dict[str, str], str]]:
    """(slug, metadata, Markdown body) of every sample blog post, oldest first."""
    out = []
    for p in sorted((SAMPLE / "blog").glob("*.md")):
        meta, body = front_matter(p.read_text(encoding="utf-8"))
        out.append((p.stem[11:], meta, body))  # the file name is DATE-slug
    return out


@functools.cache
def isolation() -> list[str]:
    """The command prefix that runs a child without network here (`UNSHARE`), or [] when
    neither works on this machine (then only the dead proxies hold)."""
    for prefix in UNSHARE:
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return list(prefix)
        except (OSError, subprocess.TimeoutExpired):
            continue
    return []


def contained_run(cmd: list[str], cwd: Path, env: dict[str, str], what: str,
                  timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run `cmd` with no network, a clean environment (`env` added) and a time limit."""
    timeout = BUILD_TIMEOUT if timeout is None else timeout
    full = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ}
    full.update({v: DEAD_PROXY for v in PROXY_VARS}, no_proxy="", NO_PROXY="", **env)
    try:
        proc = subprocess.Popen([*isolation(), *cmd], cwd=cwd, env=full, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    except OSError as e:
        raise CorpusError(f"{what}: cannot start `{cmd[0]}` ({e})") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise CorpusError(f"{what} took over {timeout:g} s and was stopped") from None
    finally:
        _kill_group(proc.pid)  # whatever the build left running
        proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(cmd: list[str], cwd: Path, pythonpath: list[Path], site: Site) -> None:
    env = dict(PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath), SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
               TZ="UTC", PYTHONHASHSEED="0", LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
    proc = contained_run(cmd, cwd, env, f"site {site.name}: the {site.build} build")
    if proc.returncode != 0:
        tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise CorpusError(f"site {site.name}: the {site.build} build of theme {site.theme!r} failed ({tail})")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _sphinx_conf(site: Site, extensions: list[str], extra: dict[str, Any]) -> str:
    opts = site.options
    conf: dict[str, Any] = {
        "project": "Tidewater", "author": "The Tidewater authors", "copyright": "2024, The Tidewater authors",
        "release": "2.0", "version": "2.0", "html_theme": site.theme, "html_title": "Tidewater 2.0 documentation",
        "extensions": [*extensions, *opts.get("extensions", [])], "html_theme_options": opts.get("theme_options", {}),
        "exclude_patterns": ["_build"], "myst_heading_anchors": 3, "language": "en",
        **extra, **opts.get("conf", {}),
    }
    return "".join(f"{k} = {v!r}\n" for k, v in conf.items())


def build_sphinx(site: Site, src: Path, out: Path, pythonpath: list[Path]) -> None:
    """The six documentation pages as a Sphinx project, built with ``html``."""
    for name in DOC_PAGES:
        text = (SAMPLE / "docs" / f"{name}.md").read_text(encoding="utf-8")
        if name == "index":
            text += "\n```{toctree}\n:maxdepth: 2\n:caption: Contents\n\n" + "\n".join(DOC_PAGES[1:]) + "\n```\n"
        _write(src / f"{name}.md", text)
    _write(src / "conf.py", _sphinx_conf(site, ["myst_parser"], {}))
    _run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", str(src), str(out)], src, pythonpath, site)


def build_ablog(site: Site, src: Path, out: Path, pythonpath: list[Path]) -> None:
    """The blog posts as a Sphinx + ABlog project (a post list on the index, one page per post)."""
    names = []
    for slug, meta, body in posts():
        head = (f"---\nblogpost: true\ndate: {meta['date']}\nauthor: {meta['author']}\n"
                f"category: {meta['category']}\ntags: {meta['tags']}\n---\n\n")
        _write(src / "posts" / f"{slug}.md", head + f"# {meta['title']}\n\n{body}")
        names.append(f"posts/{slug}")
    index = ("# The Tidewater blog\n\nNews, explainers and field notes from the Tidewater project.\n\n"
             "```{postlist} 10\n:excerpts:\n```\n\n```{toctree}\n:hidden:\n\n" + "\n".join(names) + "\n```\n")
    _write(src / "index.md", index)
    extra = {"blog_title": "The Tidewater blog", "blog_path": "blog", "blog_baseurl": "", "post_auto_image": 0,
             "blog_authors": {}, "html_title": "The Tidewater blog"}
    _write(src / "conf.py", _sphinx_conf(site, ["ablog", "myst_parser"], extra))
    _run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", str(src), str(out)], src, pythonpath, site)


def build_mkdocs(site: Site, src: Path, out: Path, pythonpath: list[Path]) -> None:
    """The six documentation pages as an MkDocs project; a ``blog`` option adds the posts under
    ``blog/posts`` for a theme's blog plugin (mkdocs-material's)."""
    opts = site.options
    for name in DOC_PAGES:
        _write(src / "docs" / f"{name}.md", (SAMPLE / "docs" / f"{name}.md").read_text(encoding="utf-8"))
    titles = {"index": "Home", "install": "Installation", "tutorial": "Tutorial", "guide": "User guide",
              "reference": "Reference", "faq": "FAQ"}
    nav: list[Any] = [{titles[n]: f"{n}.md"} for n in DOC_PAGES]
    if opts.get("blog"):
        for slug, meta, body in posts():
            head = (f"---\ndate: {meta['date']}\ncategories:\n  - {meta['category']}\n---\n\n")
            _write(src / "docs" / "blog" / "posts" / f"{slug}.md", head + f"# {meta['title']}\n\n{body}")
        _write(src / "docs" / "blog" / "index.md", "# Blog\n")
        nav.append({"Blog": ["blog/index.md"]})
    config = {"site_name": "Tidewater", "site_description": "Tide predictions from harmonic constants",
              "use_directory_urls": False, "nav": nav, "theme": {"name": site.theme, **opts.get("theme", {})},
              "markdown_extensions": opts.get("markdown_extensions", ["tables", "fenced_code", "toc", "admonition"]),
              "plugins": opts.get("plugins", ["search"])}
    _write(src / "mkdocs.yml", json.dumps(config, indent=1))  # YAML reads JSON
    _run([sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(out)], src, pythonpath, site)


def build_pelican(site: Site, src: Path, out: Path, pythonpath: list[Path]) -> None:
    """The blog posts as a Pelican site (index, one page per post, archives, categories)."""
    for slug, meta, body in posts():
        head = "".join(f"{k.capitalize()}: {meta[k]}\n" for k in ("title", "date", "author", "category", "tags",
                                                                   "summary"))
        _write(src / "content" / f"{slug}.md", head + f"Slug: {slug}\n\n{body}")
    settings = {"SITENAME": "The Tidewater blog", "SITEURL": "", "AUTHOR": "The Tidewater authors",
                "TIMEZONE": "UTC", "DEFAULT_LANG": "en", "RELATIVE_URLS": True, "THEME": site.theme,
                "ARTICLE_URL": "posts/{slug}.html", "ARTICLE_SAVE_AS": "posts/{slug}.html",
                "FEED_ALL_ATOM": None, "CATEGORY_FEED_ATOM": None, "TRANSLATION_FEED_ATOM": None,
                "AUTHOR_FEED_ATOM": None, "AUTHOR_FEED_RSS": None, "DEFAULT_PAGINATION": 10,
                "LINKS": [["Tidewater documentation", "https://example.org/docs"]],
                "SOCIAL": [["Mastodon", "https://example.org/@tidewater"]], **site.options.get("settings", {})}
    _write(src / "pelicanconf.py", "".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    theme = site.options.get("theme_path")
    if theme:  # a theme shipped as a folder inside the wheel (its path under the unpacked wheel)
        settings["THEME"] = str(pythonpath[0] / theme)
        _write(src / "pelicanconf.py", "".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    _run([sys.executable, "-m", "pelican", "content", "--output", str(out), "--settings", "pelicanconf.py",
          "--quiet"], src, pythonpath, site)


BUILDERS: dict[str, Callable[[Site, Path, Path, list[Path]], None]] = {
    "sphinx": build_sphinx, "mkdocs": build_mkdocs, "pelican": build_pelican, "ablog": build_ablog,
}


def build_site(site: Site, work: Path, pythonpath: list[Path]) -> Path:
    """Build `site` in `work` (emptied first) and return the folder of its pages."""
    if work.exists():
        shutil.rmtree(work)
    src, out = work / "src", work / "site"
    src.mkdir(parents=True)
    BUILDERS[site.build](site, src, out, pythonpath)
    return out
