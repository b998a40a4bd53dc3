"""The corpus can be trusted: names and globs checked before anything runs, every archive
checked against its pinned digest, unpacking bounded and confined, builders contained.
Every archive here is made by hand in tmp_path; nothing is downloaded."""
from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from augment.cli import main
from augment.corpus import CorpusError, build_corpus, load_manifest
from augment.corpus import builders, fetch, lock, unpack
from augment.corpus.lock import Pin, key, read_lock, write_lock

SITE = """
[[site]]
name = "demo"
source = "npm"
package = "demo-site"
version = "1.0.0"
license = "MIT"
home = "https://example.org/demo"
kind = "landing"
files = ["*.html"]
"""


def _tgz(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """A gzipped tarball of (name, data, link target): data None and a target: a symlink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, members)
    return path


def _add(tar: tarfile.TarFile, members: list[tuple[str, bytes | None, str | None]]) -> None:
    """Write (name, data, link target) members: data None and a target: a symlink."""
    for name, data, target in members:
        info = tarfile.TarInfo(name)
        if target is not None:
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        else:
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data or b""))


def _npm_pin(path: Path) -> Pin:
    return Pin(file=path.name, integrity="sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest())
               .decode())


def _demo(tmp_path: Path, members=None, pin: bool = True) -> tuple[Path, Path]:
    """A manifest (with its lock) and a cache holding the demo site's npm tarball."""
    manifest = tmp_path / "corpus.toml"
    manifest.write_text(SITE, encoding="utf-8")
    archive = _tgz(tmp_path / "cache" / "npm" / "demo-site-1.0.0.tgz",
                   members or [("package/index.html", b"<html><body><h1>Hi</h1></body></html>", None)])
    if pin:
        write_lock(tmp_path / "corpus.lock", {key("npm", "demo-site", "1.0.0"): _npm_pin(archive)})
    return manifest, archive


def _refused(archive: Path, tmp_path: Path) -> str:
    with pytest.raises(CorpusError) as e:
        unpack.unpack(archive, tmp_path / "cache", "sha256:x")
    assert not (tmp_path / "cache" / "unpacked" / archive.name).exists()  # nothing of it is kept
    return str(e.value)


def test_names_versions_and_globs_are_checked_before_anything_runs(tmp_path):
    path = tmp_path / "corpus.toml"
    path.write_text("""
[[site]]
name = "a"
source = "npm"
package = "--registry=http://evil.example"
version = "latest"
license = "MIT"
home = "https://example.org"
kind = "landing"
files = ["/etc/*.html", "pages/../../*.html"]
exclude = ["C:/x/*.html"]
page_kinds = { "../*.html" = "docs" }
root = "../.."

[[site]]
name = "b"
source = "pypi"
package = "theme; rm -rf /"
version = "1.*"
license = "MIT"
home = "https://example.org"
kind = "docs"
build = "sphinx"
theme = "t"
wheels = ["-e==1.0", "ok==1.0", "bad==not a version"]

[[site]]
name = "c"
source = "deb"
package = "Foo_Doc"
version = "v2"
license = "MIT"
home = "https://example.org"
kind = "docs"
files = ["index.html"]
""", encoding="utf-8")
    with pytest.raises(CorpusError) as e:
        load_manifest(path)
    text = str(e.value)
    for needle in ("site[0] (a): package '--registry=http://evil.example' is not a valid npm name",
                   "site[0] (a): version 'latest' is not an exact semver version",
                   "site[0] (a): files glob '/etc/*.html' is absolute",
                   "site[0] (a): files glob 'pages/../../*.html' has a '..' part",
                   "site[0] (a): exclude glob 'C:/x/*.html' is absolute",
                   "site[0] (a): page_kinds glob '../*.html' has a '..' part",
                   "site[0] (a): root '../..' has a '..' part",
                   "site[1] (b): package 'theme; rm -rf /' is not a valid pypi name",
                   "site[1] (b): version '1.*' is a range",
                   "site[1] (b): wheel '-e==1.0': package '-e' is not a valid pypi name",
                   "site[1] (b): wheel 'bad==not a version': version 'not a version' is a range",
                   "site[2] (c): package 'Foo_Doc' is not a valid deb name",
                   "site[2] (c): version 'v2' is not an exact Debian version"):
        assert needle in text, needle
    assert text.startswith("13 problems in the corpus manifest")
    assert "ok==1.0" not in text


def test_the_cli_refuses_a_malicious_name_with_one_clear_message(tmp_path, capsys):
    path = tmp_path / "corpus.toml"
    path.write_text(SITE.replace('"demo-site"', '"--registry=http://evil.example"'), encoding="utf-8")
    code = main(["corpus", "build", "--manifest", str(path), "--out", str(tmp_path / "out"),
                 "--cache", str(tmp_path / "cache"), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "is not a valid npm name" in err and "Traceback" not in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_registry_clients_get_the_package_after_a_double_dash(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "_run", lambda cmd, cwd, what: calls.append(cmd))
    for fetcher in fetch.FETCHERS.values():
        with pytest.raises(CorpusError):  # nothing was written
            fetcher("pkg", "1.0.0", tmp_path, False)
    assert all(cmd[-2] == "--" for cmd in calls) and len(calls) == 3


def test_the_lock_is_sorted_deterministic_and_keeps_its_pins(tmp_path, monkeypatch):
    manifest, _ = _demo(tmp_path, pin=False)
    manifest.write_text(SITE + SITE.replace('"demo"', '"zed"').replace("demo-site", "aaa-site"), encoding="utf-8")
    asked = []

    def fake(package, version):
        asked.append(package)
        return Pin(file=f"{package}-{version}.tgz", integrity="sha512-" + base64.b64encode(b"x" * 64).decode())

    monkeypatch.setitem(lock.LOOKUPS, "npm", fake)
    m = load_manifest(manifest)
    assert lock.lock_manifest(m, tmp_path / "corpus.lock") == (2, [])
    first = (tmp_path / "corpus.lock").read_bytes()
    assert lock.lock_manifest(m, tmp_path / "corpus.lock") == (0, [])  # kept: no registry asked again
    assert (tmp_path / "corpus.lock").read_bytes() == first and asked == ["aaa-site", "demo-site"]
    assert list(json.loads(first)["archives"]) == ["npm aaa-site 1.0.0", "npm demo-site 1.0.0"]
    assert set(read_lock(tmp_path / "corpus.lock")) == {"npm aaa-site 1.0.0", "npm demo-site 1.0.0"}


def test_a_poisoned_archive_is_refused_named_and_quarantined(tmp_path, capsys):
    manifest, archive = _demo(tmp_path)
    good = _npm_pin(archive).integrity
    _tgz(archive, [("package/index.html", b"<script>steal()</script>", None)])  # same name, other bytes
    code = main(["corpus", "build", "--manifest", str(manifest), "--out", str(tmp_path / "out"),
                 "--cache", str(tmp_path / "cache"), "--offline", "--no-progress"])
    out = capsys.readouterr()
    assert code == 1 and "Traceback" not in out.err + out.out
    assert "demo: npm package demo-site 1.0.0: archive demo-site-1.0.0.tgz does not match the lock" in out.out
    assert f"expected integrity {good}" in out.out and f"found integrity {_npm_pin_of(tmp_path)}" in out.out
    assert not archive.exists() and (tmp_path / "cache" / "quarantine" / archive.name).is_file()
    assert not (tmp_path / "cache" / "unpacked").exists()
    assert json.loads((tmp_path / "out" / "corpus.json").read_text())["pages"] == {}


def _npm_pin_of(tmp_path: Path) -> str:
    return _npm_pin(tmp_path / "cache" / "quarantine" / "demo-site-1.0.0.tgz").integrity


def test_an_unpinned_archive_is_refused_unless_allowed_and_then_named(tmp_path):
    manifest, _ = _demo(tmp_path, pin=False)
    with pytest.raises(CorpusError) as e:
        build_corpus(manifest, tmp_path / "out", tmp_path / "cache", offline=True, progress=False)
    assert "1 archive(s) have no digest in" in str(e.value) and "site demo: npm demo-site 1.0.0" in str(e.value)
    assert "python -m augment corpus lock" in str(e.value) and not (tmp_path / "out").exists()
    manifest.write_text(SITE.replace('files = ["*.html"]', 'files = ["*.html"]\nroot = "nowhere"'))
    summary = build_corpus(manifest, tmp_path / "out", tmp_path / "cache", offline=True, progress=False,
                           allow_unpinned=True)  # the site then fails on its root: no browser needed
    assert summary.unpinned == ["site demo: npm demo-site 1.0.0"]
    assert "unpinned, not checked (--allow-unpinned): site demo: npm demo-site 1.0.0" in summary.text()


def test_a_changed_archive_invalidates_its_unpacked_tree(tmp_path):
    _, archive = _demo(tmp_path)
    cache = tmp_path / "cache"
    tree = fetch.fetch_and_unpack("npm", "demo-site", "1.0.0", cache, True, _npm_pin(archive))
    assert (tree / "package" / "index.html").read_bytes().startswith(b"<html>")
    _tgz(archive, [("package/index.html", b"<p>v2</p>", None)])  # a new release pinned anew: unpacked again
    v2 = _npm_pin(archive)
    tree = fetch.fetch_and_unpack("npm", "demo-site", "1.0.0", cache, True, v2)
    assert (tree / "package" / "index.html").read_bytes() == b"<p>v2</p>"
    _tgz(archive, [("package/index.html", b"<p>v3</p>", None)])  # changed under the same pin: refused
    with pytest.raises(CorpusError, match="does not match the lock: expected integrity sha512-"):
        fetch.fetch_and_unpack("npm", "demo-site", "1.0.0", cache, True, v2)
    assert not tree.exists() and not archive.exists()  # the tree it gave is gone, the archive quarantined


@pytest.mark.parametrize("members, needle", [
    ([("package/../../evil.txt", b"x", None)], "member 'package/../../evil.txt' climbs out of the folder"),
    ([("/tmp/evil.txt", b"x", None)], "member '/tmp/evil.txt' has an absolute name"),
    ([("package/etc", None, "../../../etc")], "member 'package/etc' links out of the folder"),
    ([("package/passwd", None, "/etc/passwd")], "member 'package/passwd' is a link to the absolute path"),
    ([("package/s", None, "."), ("package/s/t", None, ".."), ("package/s/t/u", None, "..")],
     "links out of the folder (to '..', through other links)"),
])
def test_traversal_and_links_out_are_refused(tmp_path, members, needle):
    archive = _tgz(tmp_path / "cache" / "npm" / "bad-1.0.0.tgz", [("package/ok.html", b"ok", None), *members])
    text = _refused(archive, tmp_path)
    assert text.startswith("bad-1.0.0.tgz: refused, ") and needle in text, text
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_a_device_file_and_a_bomb_are_refused(tmp_path):
    archive = tmp_path / "cache" / "npm" / "dev-1.0.0.tgz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("package/null")
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        tar.addfile(info)
    assert "member 'package/null' is a device file" in _refused(archive, tmp_path)
    bomb = tmp_path / "cache" / "npm" / "bomb-1.0.0.tgz"
    with tarfile.open(bomb, "w:gz") as tar:  # 24 MiB of zeros in a ~25 kB archive
        info = tarfile.TarInfo("package/zeros")
        info.size = 24 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert bomb.stat().st_size < 100_000
    assert "member 'package/zeros' would unpack past the limit of 16,777,216 bytes" in _refused(bomb, tmp_path)


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(unpack, "MAX_MEMBERS", 5)
    archive = _tgz(tmp_path / "cache" / "npm" / "many-1.0.0.tgz", [(f"package/{i}.html", b"x", None) for i in range(9)])
    assert "member 'package/5.html' is past the limit of 5 members" in _refused(archive, tmp_path)


def _wheel(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_wheels_with_links_climbing_names_or_bombs_are_refused(tmp_path):
    pypi = tmp_path / "cache" / "pypi"
    good = _wheel(pypi / "t-1.0-py3-none-any.whl", [("t/__init__.py", b"", 0o100644), ("t/x.html", b"x", 0)])
    tree = unpack.unpack(good, tmp_path / "cache", "sha256:good")
    assert (tree / "t" / "x.html").read_bytes() == b"x"
    link = _wheel(pypi / "l-1.0-py3-none-any.whl", [("t/link", b"/etc/passwd", 0o120777)])
    assert "member 't/link' is a link or special file" in _refused(link, tmp_path)
    climb = _wheel(pypi / "c-1.0-py3-none-any.whl", [("../../evil.py", b"x", 0o100644)])
    assert "member '../../evil.py' climbs out of the folder" in _refused(climb, tmp_path)
    bomb = _wheel(pypi / "b-1.0-py3-none-any.whl", [("t/zeros", bytes(24 << 20), 0o100644)])
    assert "past the limit of 16,777,216" in _refused(bomb, tmp_path)


def _deb(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """A Debian package as dpkg-deb builds one: ar of debian-binary, control.tar.xz, data.tar.xz."""
    def tar_xz(entries) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:xz") as tar:
            _add(tar, entries)
        return buf.getvalue()

    out = bytearray(b"!<arch>\n")
    for name, data in (("debian-binary", b"2.0\n"), ("control.tar.xz", tar_xz([("./control", b"Package: x\n", None)])),
                       ("data.tar.xz", tar_xz(members))):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def test_debian_packages_are_read_in_python_and_checked_the_same(tmp_path):
    deb = tmp_path / "cache" / "deb"
    good = _deb(deb / "x-doc_1.0-1_all.deb", [("./usr/share/doc/x-doc/index.html", b"<p>doc</p>", None),
                                             ("./usr/share/doc/x/html", None, "../x-doc")])
    tree = unpack.unpack(good, tmp_path / "cache", "sha256:good")
    assert (tree / "usr/share/doc/x-doc/index.html").read_bytes() == b"<p>doc</p>"
    assert (tree / "usr/share/doc/x/html/index.html").read_bytes() == b"<p>doc</p>"  # a link inside is kept
    bad = _deb(deb / "y-doc_1.0-1_all.deb", [("./usr/share/doc/y/../../../../../etc/cron.d/x", b"x", None)])
    assert "member './usr/share/doc/y/../../../../../etc/cron.d/x' climbs out" in _refused(bad, tmp_path)


def test_a_build_that_hangs_is_stopped_and_one_without_network_cannot_reach_out(tmp_path, monkeypatch):
    t0 = time.monotonic()
    with pytest.raises(CorpusError, match="site x: the sphinx build took over 1 s and was stopped"):
        builders.contained_run([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, {},
                               "site x: the sphinx build", timeout=1)
    assert time.monotonic() - t0 < 30

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server name)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"reached")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("S2S_TEST_SECRET", "token")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        code = ("import os, urllib.request\ntry:\n    print(urllib.request.urlopen(%r, timeout=5).read())\n"
                "except OSError as e:\n    print('blocked', type(e).__name__)\n"
                "print(os.environ.get('S2S_TEST_SECRET'))")
        proc = builders.contained_run([sys.executable, "-c", code % url], tmp_path, {}, "site x: the build")
    finally:
        server.shutdown()
    assert proc.stdout.startswith("blocked") and "reached" not in proc.stdout, proc.stdout
    assert proc.stdout.splitlines()[-1] == "None"  # the caller's environment is not passed on


def test_each_registry_answer_becomes_a_pin(monkeypatch):
    calls = []

    def ask(cmd, what):
        calls.append(cmd)
        if cmd[0] == "npm":
            return '"sha512-' + "A" * 86 + '=="\n'
        if cmd[0] == "apt-cache":
            return ("Package: git-doc\nVersion: 1:2.39.5-0+deb12u3\nArchitecture: all\nSHA256: " + "b" * 64
                    + "\n\nPackage: git-doc\nVersion: 1:2.39.5-0+deb12u3\nSHA256: " + "c" * 64 + "\n")
        report = Path(cmd[cmd.index("--report") + 1])
        report.write_text(json.dumps({"install": [{"download_info": {
            "url": "https://files.example/t/furo-2025.12.19-py3-none-any.whl",
            "archive_info": {"hashes": {"sha256": "d" * 64}}}}]}))
        return ""

    monkeypatch.setattr(lock, "_ask", ask)
    assert lock.lookup_npm("@scope/ui", "1.0.0") == Pin("scope-ui-1.0.0.tgz", integrity="sha512-" + "A" * 86 + "==")
    assert lock.lookup_deb("git-doc", "1:2.39.5-0+deb12u3") == Pin("git-doc_1%3a2.39.5-0+deb12u3_all.deb",
                                                                   sha256="b" * 64)
    assert lock.lookup_pypi("furo", "2025.12.19") == Pin("furo-2025.12.19-py3-none-any.whl", sha256="d" * 64)
    assert all(cmd[-2] == "--" or cmd[-3] == "--" for cmd in calls)  # no name is read as an option
    with pytest.raises(CorpusError, match="no SHA256 for that version"):
        lock.lookup_deb("git-doc", "9.9-9")
