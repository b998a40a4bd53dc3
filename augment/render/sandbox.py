"""How the browser is started: with Chromium's own sandbox wherever the platform allows it.

The sandbox (seccomp-bpf plus namespaces) confines each page's renderer process, so a page
that exploits a bug in Chromium still cannot open files or start programs. Playwright starts
Chromium with `--no-sandbox` unless asked, and Chromium refuses its sandbox to root. So:

- not root: Chromium's sandbox, as is;
- root, with `unshare` and user namespaces (most Linux systems, containers included): the
  browser runs as an unprivileged user of a user namespace of its own (uid 65534 inside,
  no capability anywhere), where Chromium accepts its sandbox; `chrome://sandbox` then says
  "adequately sandboxed" (tests/test_render_hostile.py checks it). Outside the namespace
  the process is still uid 0 without capabilities: it reads files root owns, and others'
  only where their mode lets anyone read them;
- otherwise, or when the sandboxed start fails: `--no-sandbox`, and the summary says so and
  why. The asset root (guard.py) holds either way; the sandbox is the layer under it.
"""
from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAMESPACE_UID = 65534  # `nobody`: any uid but 0 inside the namespace makes Chromium accept its sandbox


@dataclass(frozen=True)
class Launch:
    """One way to start the browser: what Playwright runs, with the sandbox or not, and what the summary says."""

    executable: str
    sandbox: bool
    says: str


def _wrapper(executable: str, folder: Path) -> str | None:
    """A script running `executable` as NAMESPACE_UID in a new user namespace (None without `unshare`)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    script = folder / "chromium-in-userns"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(unshare)} --user --map-user={NAMESPACE_UID} "
                      f"--map-group={NAMESPACE_UID} -- {shlex.quote(executable)} \"$@\"\n", encoding="utf-8")
    script.chmod(0o700)
    return str(script)


def launches(executable: str, folder: Path) -> list[Launch]:
    """The ways to start `executable`, best first; `folder` (private, removed by the caller) holds a wrapper."""
    unsandboxed = "off (--no-sandbox: {why})"
    if os.geteuid() != 0:
        return [Launch(executable, True, "on (Chromium's own: namespaces and seccomp-bpf)"),
                Launch(executable, False, unsandboxed.format(why="Chromium found no usable sandbox here"))]
    wrapper = _wrapper(executable, folder)
    root_off = "running as root, where Chromium refuses its sandbox"
    if wrapper is None:
        return [Launch(executable, False, unsandboxed.format(why=f"{root_off}, and no `unshare` to leave root"))]
    return [Launch(wrapper, True, f"on (Chromium's own; as root the browser runs as uid {NAMESPACE_UID} in a "
                                  "user namespace of its own)"),
            Launch(executable, False, unsandboxed.format(why=f"{root_off}, and no user namespace could be made"))]


def private_folder() -> Path:
    """A fresh folder only this user can enter, for the wrapper script."""
    return Path(tempfile.mkdtemp(prefix="s2s-render-"))
