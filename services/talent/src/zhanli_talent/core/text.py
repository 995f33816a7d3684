"""Chinese and English text to search tokens: jieba segmentation with the sales-domain
dictionary, synonyms folded to one canonical term, stopwords, punctuation and numbers
dropped; skill extraction over the tokens.

``Analyzer`` is built once per process (jieba's dictionary takes about a second to load)
and is then a pure function of its input: the same text always gives the same tokens.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import jieba

from zhanli_talent.core import lexicon

jieba.setLogLevel(logging.WARNING)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORDISH = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]")
_NUMBER = re.compile(r"^[0-9.,%+\-]+$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Keywords:
    """What a text says, as tokens: every term's count, the skills found, the length."""

    counts: dict[str, int]
    length: int
    skills: list[str]


class Analyzer:
    """Segments and normalises text (thread-safe; jieba instance of its own)."""

    def __init__(self) -> None:
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self._canonical = lexicon.canonical_map()
        self._phrases = lexicon.phrases()
        self._skills = lexicon.skills()
        self._stop = lexicon.STOPWORDS
        for word in {*self._canonical, *lexicon.DOMAIN_TERMS}:
            if _CJK.search(word) and " " not in word:
                self._jieba.add_word(word, freq=200_000)
        self._lock = threading.Lock()

    def normalise(self, text: str) -> str:
        """NFKC (full-width letters and digits to half-width), lower case, one space, and
        English synonym phrases replaced by their canonical term."""
        text = unicodedata.normalize("NFKC", text).lower()
        text = _SPACES.sub(" ", text)
        for phrase, canonical in self._phrases:
            if phrase in text:
                text = re.sub(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", f" {canonical} ", text)
        return text

    def tokens(self, text: str) -> list[str]:
        """Search tokens, in order: canonical synonyms, no stopwords, punctuation, numbers
        or lone Chinese characters."""
        norm = self.normalise(text)
        with self._lock:  # jieba's lazy structures are not guaranteed thread-safe
            raw = self._jieba.lcut(norm, HMM=True)
        out: list[str] = []
        for piece in raw:
            word = piece.strip()
            if not word or not _WORDISH.search(word) or _NUMBER.match(word):
                continue
            word = self._canonical.get(word, word)
            if word in self._stop:
                continue
            if len(word) == 1 and (_CJK.match(word) or word.isascii()):
                continue
            out.append(word)
        return out

    def keywords(self, text: str) -> Keywords:
        """Term counts, length and skills (canonical domain terms, most frequent first)."""
        toks = self.tokens(text)
        counts = Counter(toks)
        found = sorted((t for t in counts if t in self._skills), key=lambda t: (-counts[t], t))
        return Keywords(counts=dict(counts), length=len(toks), skills=found)

    def query_terms(self, keywords: Iterable[str]) -> list[str]:
        """A profile's keywords as canonical tokens (a keyword may segment into several)."""
        out: list[str] = []
        for keyword in keywords:
            canon = self._canonical.get(keyword.strip().lower())
            terms = [canon] if canon else self.tokens(keyword)
            for term in terms:
                if term not in out:
                    out.append(term)
        return out

    def canonical(self, keyword: str) -> str:
        """The token a profile keyword matches: its canonical term, or its single token."""
        key = keyword.strip().lower()
        if key in self._canonical:
            return self._canonical[key]
        toks = self.tokens(keyword)
        return toks[0] if len(toks) == 1 else key


_shared: Analyzer | None = None
_shared_lock = threading.Lock()


def analyzer() -> Analyzer:
    """The process's analyzer (built on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Analyzer()
        return _shared
