"""Hostile files: HTML that tries to reach outside its job, shards whose tar layout lies.

HTML: no external entities (XXE), no DTD loading, no entity expansion (billion laughs), and a
page past libxml2's limits (10,000-level nesting, a 15 MB text node) is refused, never
silently truncated. Shards: the reader and `shards verify` refuse absolute paths, `..`,
symbolic and hard links, devices, directories, badly named members and members of one key
that are not contiguous, naming the shard and the member.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import build_dir, make_sample
from shards.storage.reader import ShardReadError, make_pipeline
from shards.storage.tario import ShardFormatError, iter_tar_samples
from shards.storage.verify import verify_dir
from shards.storage.writer import encode_members, file_sha256, sidecar_path
from shards.tokens.htmlparse import MAX_DEPTH, HtmlError, parse_html, to_html

SECRET = "s2s-secret-4f1c9a"


# --------------------------------------------------------------------------- HTML


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "secret.txt"
    p.write_text(SECRET + "\n")
    return p


def _html_text(data: str | bytes) -> str:
    return to_html(parse_html(data, "hostile"))


def test_xxe_system_entity_is_not_expanded(secret_file):
    for target in (secret_file.as_uri(), "file:///etc/passwd"):
        doc = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "{target}">]>'
               "<html><body><p>&e;</p></body></html>")
        out = _html_text(doc)
        assert SECRET not in out and "root:" not in out
        assert "&amp;e;" in out  # the reference stays literal text


def test_xxe_parameter_entity_and_external_dtd_are_not_loaded(secret_file, tmp_path):
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY leak "{SECRET}">')
    docs = [
        f'<!DOCTYPE html SYSTEM "{dtd.as_uri()}"><html><body><p>&leak;</p></body></html>',
        f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{dtd.as_uri()}"> %p;]><html><body><p>&leak;</p></body></html>',
        f'<!DOCTYPE x [<!ENTITY e SYSTEM "{secret_file}">]><html><body>&e;</body></html>',
    ]
    for doc in docs:
        assert SECRET not in _html_text(doc)


def test_no_network_access_for_a_remote_dtd():
    # a DTD on an unroutable address: a parser that fetched it would hang or be slow
    doc = ('<!DOCTYPE x SYSTEM "http://10.255.255.1/evil.dtd" [<!ENTITY e SYSTEM "http://10.255.255.1/x">]>'
           "<html><body><p>&e;</p></body></html>")
    t0 = time.perf_counter()
    out = _html_text(doc)
    assert time.perf_counter() - t0 < 2.0
    assert "<p>&amp;e;</p>" in out


def _billion_laughs(levels: int = 10, fanout: int = 10) -> str:
    ents = ['<!ENTITY lol0 "lol">']
    ents += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * fanout}">' for i in range(1, levels)]
    return (f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(ents)}]>'
            f"<html><body><p>&lol{levels - 1};</p></body></html>")


def test_billion_laughs_parses_fast_without_expanding():
    doc = _billion_laughs()
    t0 = time.perf_counter()
    out = _html_text(doc)
    assert time.perf_counter() - t0 < 2.0
    assert len(out) < 2 * len(doc)  # 10**9 "lol"s would be 3 GB
    assert "lollol" not in out


def test_quadratic_blowup_stays_bounded():
    # one entity of 100 kB referenced 10,000 times: 1 GB if expanded
    doc = (f'<!DOCTYPE x [<!ENTITY a "{"a" * 100_000}">]><html><body><p>{"&a;" * 10_000}</p></body></html>')
    t0 = time.perf_counter()
    out = _html_text(doc)
    assert time.perf_counter() - t0 < 2.0
    assert len(out) < 2 * len(doc)


def _nested(depth: int, tail: str = "<section id='after'>tail</section>") -> bytes:
    return (b"<html><body>" + b"<div>" * depth + b"x" + b"</div>" * depth
            + tail.encode() + b"</body></html>")


def test_nesting_within_the_limit_keeps_the_whole_page():
    root = parse_html(_nested(MAX_DEPTH - 10), "deep")
    assert root.find(".//section").text == "tail"


@pytest.mark.parametrize("depth", [MAX_DEPTH, 300, 10_000])
def test_nesting_past_the_limit_is_refused_not_truncated(depth):
    # libxml2 stops at depth 256 and used to hand back the page cut there, silently
    t0 = time.perf_counter()
    with pytest.raises(HtmlError, match=rf"deep: HTML exceeds the parser's limits \(nesting depth {MAX_DEPTH}"):
        parse_html(_nested(depth), "deep")
    assert time.perf_counter() - t0 < 2.0


def test_a_text_node_past_the_limit_is_refused_not_emptied():
    # a 15 MB text node is under MAX_HTML_BYTES but past libxml2's 10 MB text limit
    doc = b"<html><body><p>" + b"a" * 15_000_000 + b"</p><section>tail</section></body></html>"
    with pytest.raises(HtmlError, match="big: HTML exceeds the parser's limits.*truncated"):
        parse_html(doc, "big")


ORDINARY_MESS = {
    "mismatched": b"<html><body><p><b>x</p></i><table><td>1<tr><section class=a>s</div></body></html><p>after",
    "bom": "\ufeff<html><body><p>x</p></body></html>".encode(),
    "meta-charset": '<html><head><meta charset="shift_jis"></head><body><p>日本</p></body></html>'.encode(),
    "xml-decl": b'<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>x</p></body></html>',
    "controls": "<html><body><p>\uffff \x01 \x7f</p></body></html>".encode(),
    "unclosed-comment": b"<html><body><p>x</p><!-- never closed",
    "cdata": b"<html><body><![CDATA[ x ]]><p>y</p></body></html>",
    "conditional": b"<html><body><![if IE]><p>ie</p><![endif]><p>y</p></body></html>",
    "cut-at-eof": b"<html><body><p>x</p></",
    "attr-junk": b'<html><body><p a="1" a="2" <<>>x</p></body></html>',
    "lt-in-text": b"<html><body>a < b && c > d</body></html>",
    "deep-250": b"<html><body>" + b"<section>" * 250 + b"</body></html>",
    "wide": b"<html><body>" + b"<p>x</p>" * 100_000 + b"</body></html>",
}


@pytest.mark.parametrize("case", sorted(ORDINARY_MESS))
def test_messy_but_ordinary_html_is_still_accepted(case):
    # the limit check refuses only libxml2's FATAL errors, never its everyday recoveries
    root = parse_html(ORDINARY_MESS[case], case)
    assert root.find("body") is not None


# --------------------------------------------------------------------------- tar members


def _info(name: str, data: bytes = b"", **kw) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def _sample_members(source: str, variant: int) -> list[tuple[tarfile.TarInfo, bytes]]:
    d = encode_members(make_sample(source, variant))
    key = d.pop("__key__")
    return [_info(f"{key}.{ext}", data) for ext, data in d.items()]


def _write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for ti, data in members:
            if ti.isreg():
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                ti.size = 0
                tar.addfile(ti)


GOOD_A, GOOD_B = _sample_members("page-a", 0), _sample_members("page-b", 0)
LINK = dict(type=tarfile.SYMTYPE, linkname="/etc/passwd")

# id -> (members, fragment of the message)
HOSTILE = {
    "absolute": (GOOD_A + [_info("/etc/cron.d/page-x_v00.png", b"x")], "'/etc/cron.d/page-x_v00.png' has a path"),
    "absolute_flat": (GOOD_A + [_info("/page-x_v00.png", b"x")], "'/page-x_v00.png' has a path"),
    "dotdot": (GOOD_A + [_info("../../page-x_v00.png", b"x")], "'../../page-x_v00.png' has a path"),
    "subdir": (GOOD_A + [_info("sub/page-x_v00.png", b"x")], "'sub/page-x_v00.png' has a path"),
    "symlink": (GOOD_A + [_info("page-x_v00.png", **LINK)], "'page-x_v00.png' is a link"),
    "hardlink": (GOOD_A + [_info("page-x_v00.png", type=tarfile.LNKTYPE, linkname="page-a_v00.png")],
                 "'page-x_v00.png' is a link"),
    "chardev": (GOOD_A + [_info("page-x_v00.png", type=tarfile.CHRTYPE, devmajor=1, devminor=3)],
                "'page-x_v00.png' is a device"),
    "blockdev": (GOOD_A + [_info("page-x_v00.png", type=tarfile.BLKTYPE, devmajor=8, devminor=0)],
                 "'page-x_v00.png' is a device"),
    "fifo": (GOOD_A + [_info("page-x_v00.png", type=tarfile.FIFOTYPE)], "'page-x_v00.png' is a non-file"),
    "directory": (GOOD_A + [_info("page-x_v00", type=tarfile.DIRTYPE)], "'page-x_v00' is a non-file"),
    "badname": (GOOD_A + [_info("page x_v00.png", b"x")], "'page x_v00.png' is not '<id>_v<NN>.<ext>'"),
    "noext": (GOOD_A + [_info("page-x_v00", b"x")], "'page-x_v00' is not '<id>_v<NN>.<ext>'"),
    "ungrouped": (GOOD_A[:2] + GOOD_B + GOOD_A[2:], "members of key 'page-a_v00' are not grouped together"),
    "twice": (GOOD_A + GOOD_A[-1:], "member 'page-a_v00.json' appears twice"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_tario_refuses_hostile_member_naming_shard_and_member(tmp_path, case):
    members, fragment = HOSTILE[case]
    path = tmp_path / f"train-{case}.tar"
    _write_tar(path, members)
    with open(path, "rb") as fh, pytest.raises(ShardFormatError) as err:
        list(iter_tar_samples(fh, path.name))
    assert str(err.value).startswith(f"train-{case}.tar: ")
    assert fragment in str(err.value)


@pytest.mark.parametrize("case", ["absolute", "symlink", "hardlink", "chardev", "ungrouped"])
def test_reader_refuses_hostile_member_naming_the_shard(tmp_path, case):
    members, fragment = HOSTILE[case]
    path = tmp_path / "train-000000.tar"
    _write_tar(path, members)
    with pytest.raises(ShardReadError, match="train-000000.tar") as err:
        list(make_pipeline([str(path)], None, shuffle_buffer=0, decode=False))
    assert fragment in str(err.value)
    # decoding on (the default): still stops, naming the shard
    with pytest.raises(ShardReadError, match="^train-000000.tar"):
        list(make_pipeline([str(path)], None, shuffle_buffer=0))
    pipe = make_pipeline([str(path)], None, shuffle_buffer=0, handler="skip", decode=False)
    got = list(pipe)
    assert pipe.error_handler.skipped == {"train-000000.tar": 1}
    assert all(s["__key__"] in ("page-a_v00", "page-b_v00") for s in got)
    assert not (tmp_path / "etc").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["train-000000.tar"]


def _plant(shard_dir: Path, members: list) -> Path:
    """Replace train-000001.tar by a hostile tar; its sidecar and manifest row match its new bytes."""
    victim = shard_dir / "train-000001.tar"
    _write_tar(victim, members)
    sha, size = file_sha256(victim)
    side = json.loads(sidecar_path(victim).read_text())
    side.update(sha256=sha, bytes=size)
    sidecar_path(victim).write_text(json.dumps(side))
    m = json.loads((shard_dir / "manifest.json").read_text())
    for row in m["shards"]:
        if row["shard"] == victim.name:
            row.update(sha256=sha, bytes=size)
    (shard_dir / "manifest.json").write_text(json.dumps(m))
    return victim


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_verify_flags_hostile_member_naming_the_shard(tmp_path, case):
    build_dir(tmp_path)
    members, fragment = HOSTILE[case]
    _plant(tmp_path, members)
    problems = verify_dir(tmp_path)
    hits = [p for p in problems if fragment in p]
    assert hits and all(p.startswith("train-000001.tar: ") for p in hits), problems
    assert not any(p.startswith(("train-000000.tar", "train-000002.tar")) for p in problems)


def test_cli_verify_prints_the_hostile_member_and_exits_1(tmp_path):
    build_dir(tmp_path)
    _plant(tmp_path, HOSTILE["symlink"][0])
    proc = subprocess.run([sys.executable, "-m", "shards", "verify", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "PROBLEM train-000001.tar: member 'page-x_v00.png' is a link" in proc.stdout
