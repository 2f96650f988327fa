"""Cross-lingual concept features from an editable lexicon (resources/lexicon.yaml).

``ConceptLexicon`` is a picklable analyzer: skeleton text in, concept tokens (``c_water``...)
out. It feeds a TF-IDF vectorizer inside the shared feature union, so the heads see the same
concept whether a message says су, вода or water.
"""

from __future__ import annotations

import re
from pathlib import Path

from triage.config_files import LexiconFile, load_config
from triage.text import normalize, remember, skeleton

_WORD = re.compile(r"\w+")


CACHE_SIZE = 100_000


class ConceptLexicon:
    def __init__(self, concepts: dict[str, list[str]]):
        self.exact: dict[str, set[str]] = {}
        self.prefix: dict[str, set[str]] = {}
        for concept, entries in concepts.items():
            for e in entries:
                words = _WORD.findall(skeleton(normalize(e.rstrip("*"))))
                if len(words) != 1:
                    continue  # single-word entries only; phrases are documentation for people
                table = self.prefix if e.endswith("*") else self.exact
                table.setdefault(words[0], set()).add("c_" + concept)
        self.lengths = sorted({len(p) for p in self.prefix}, reverse=True)

    @classmethod
    def load(cls, path: Path) -> ConceptLexicon:
        return cls(load_config(path, LexiconFile).concepts)

    def concepts_of(self, tok: str) -> tuple[str, ...]:
        """The concept features of one token: its exact entry, then its longest prefix entry."""
        out: list[str] = list(self.exact.get(tok, ()))
        n = len(tok)
        for k in self.lengths:
            if k <= n:
                hit = self.prefix.get(tok[:k])
                if hit:
                    out.extend(hit)
                    break
        return tuple(out)

    def __call__(self, skel: str) -> list[str]:
        out: list[str] = []
        # Per-token results are cached (tokens repeat across messages); the cache is not pickled.
        cache = self.__dict__.setdefault("_cache", {})
        for tok in _WORD.findall(skel):
            hit = cache.get(tok)
            if hit is None:
                hit = remember(cache, tok, self.concepts_of(tok), CACHE_SIZE)
            out.extend(hit)
        return out

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}
