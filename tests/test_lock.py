"""Issue 16, class 4: one job per output folder (`shards.storage.lock`).

A second holder is refused with a message naming the first (job, pid, host, start time);
a holder that dies in any way, SIGKILL included, releases the folder, and its leftover
lock file is taken over; a finished holder leaves no lock file behind.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import augment.render.job as render_job
from augment.render import RenderOptions, render_pages
from shards.storage.lock import LOCK_NAME, LockBusy, hold

ROOT = Path(__file__).resolve().parents[1]
HOLDER = "import sys, time; from shards.storage.lock import hold\nwith hold(sys.argv[1], 'test holder'):\n" \
         "    print('held', flush=True); time.sleep(60)\n"


def _start_holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with hold(tmp_path, "augment run") as me:
        with pytest.raises(LockBusy) as e:
            with hold(tmp_path, "augment render"):
                pass
        assert e.value.holder["pid"] == os.getpid() == me["pid"]
        assert str(e.value) == (f"--out {tmp_path}: in use by augment run, pid {me['pid']} on {me['host']} since "
                                f"{me['started']}; wait for it to finish or use another folder "
                                f"(lock file {tmp_path / LOCK_NAME})")
        assert json.loads((tmp_path / LOCK_NAME).read_text())["job"] == "augment run"
    assert not (tmp_path / LOCK_NAME).exists()  # released: nothing left in the folder
    with hold(tmp_path, "augment run", what="--run"):
        pass


def test_a_live_holder_in_another_process_is_named_and_a_killed_one_is_taken_over(tmp_path, caplog):
    proc = _start_holder(tmp_path)
    try:
        with pytest.raises(LockBusy, match=f"in use by test holder, pid {proc.pid} on "):
            with hold(tmp_path, "augment run"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == proc.pid  # left behind by the killed holder
    with caplog.at_level(logging.INFO, logger="shards.storage.lock"), hold(tmp_path, "augment run") as me:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == me["pid"]
    assert f"took over the lock of test holder, pid {proc.pid}" in caplog.text


def test_a_stale_lock_file_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = {"job": "augment run", "pid": int(dead.stdout), "host": "elsewhere", "started": "2020-01-01T00:00:00"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with hold(tmp_path, "augment run") as me:
        assert me["pid"] == os.getpid()


def test_render_refuses_a_folder_another_job_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(render_job, "find_browser", lambda path: "/nonexistent/chromium")
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text("<html><body><p>x</p></body></html>")
    out = tmp_path / "out"
    out.mkdir()
    proc = _start_holder(out)
    try:
        t0 = time.perf_counter()
        with pytest.raises(LockBusy, match=f"--out {out}: in use by test holder, pid {proc.pid}"):
            render_pages(out, html_dir=pages, opts=RenderOptions(progress=False))
        assert time.perf_counter() - t0 < 5  # refused at once, not after waiting
    finally:
        proc.kill()
        proc.wait()
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing rendered, nothing removed
