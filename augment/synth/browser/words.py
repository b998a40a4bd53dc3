"""The words of the browser-drawn pages: English sentences from the Python standard library's docstrings.

The source ships with every Python: the docstrings of the standard-library modules in
`MODULES` and of their public functions and classes (``inspect.getdoc``). Only sentences of
plain prose are kept (6-28 words, letters and ordinary punctuation; no code, no paths, no
markup), so a page reads as text in a real language, not lorem ipsum. Headings and link
labels are words of those sentences. The bank is built once per process and sorted, so a
seeded draw gives the same words on every run of the same Python (3.11 here; another minor
version's docstrings are another bank).
"""
from __future__ import annotations

import importlib
import inspect
import re
from functools import lru_cache

import numpy as np

MODULES = ("argparse", "calendar", "collections", "configparser", "contextlib", "csv", "datetime", "decimal",
           "difflib", "email.message", "fractions", "ftplib", "functools", "gettext", "heapq", "http.client",
           "imaplib", "logging", "mailbox", "pathlib", "poplib", "pprint", "queue", "random", "sched", "shutil",
           "smtplib", "statistics", "string", "tarfile", "textwrap", "threading", "turtle", "unittest",
           "urllib.request", "wave", "zipfile")
PLAIN = re.compile(r"[A-Z][A-Za-z ,;'-]+[.]")
STOP = frozenset("""a an the and or of to in on for by with from as at is are be been was were it its this that
these those if not no but which when than then there their they them can may will would should into also such
so all any each only one two more most other some same what who how""".split())


@lru_cache(maxsize=1)
def _bank() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(sentences, content words) of the docstrings, deduplicated and sorted."""
    sentences: set[str] = set()
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # turtle needs tkinter, absent on some systems: the bank is smaller there
            continue
        docs = [inspect.getdoc(module) or ""]
        for attr in sorted(vars(module)):
            obj = getattr(module, attr)
            if not attr.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)):
                docs.append(inspect.getdoc(obj) or "")
        for doc in docs:
            for para in doc.split("\n\n"):
                text = " ".join(para.split())
                for s in re.split(r"(?<=[.])\s+", text):
                    if PLAIN.fullmatch(s) and 6 <= len(s.split()) <= 28:
                        sentences.add(s)
    words = {w.strip(",;.'").lower() for s in sentences for w in s.split()}
    content = sorted(w for w in words if len(w) >= 4 and w.isalpha() and w not in STOP)
    return tuple(sorted(sentences)), tuple(content)


def sentence(rng: np.random.Generator) -> str:
    """One sentence of the bank."""
    bank = _bank()[0]
    return bank[int(rng.integers(len(bank)))]


def paragraph(rng: np.random.Generator, lo: int = 2, hi: int = 4) -> str:
    """`lo`..`hi` sentences."""
    return " ".join(sentence(rng) for _ in range(int(rng.integers(lo, hi + 1))))


def words(rng: np.random.Generator, lo: int = 1, hi: int = 3) -> list[str]:
    """`lo`..`hi` content words (no article, no preposition)."""
    bank = _bank()[1]
    return [bank[int(rng.integers(len(bank)))] for _ in range(int(rng.integers(lo, hi + 1)))]


def title(rng: np.random.Generator, lo: int = 2, hi: int = 5) -> str:
    """A heading: the first `lo`..`hi` words of a sentence, ending on no small word (a few tries for
    one of at least two words)."""
    n = int(rng.integers(lo, hi + 1))
    for _ in range(4):
        parts = sentence(rng).rstrip(".").split()[:n]
        while len(parts) > 1 and parts[-1].strip(",;").lower() in STOP:
            parts.pop()
        if len(parts) >= min(lo, 2):
            break
    return " ".join(parts).strip(",;")


def label(rng: np.random.Generator, lo: int = 1, hi: int = 2) -> str:
    """A short label (a link, a button, a column name), capitalised."""
    return " ".join(words(rng, lo, hi)).capitalize()


def name(rng: np.random.Generator) -> str:
    """A person's or product's name: two capitalised content words."""
    return " ".join(w.capitalize() for w in words(rng, 2, 2))
