"""Lexical (BM25) ranking over catalog chunks: accent/case-insensitive and SKU-aware.

Pure: numpy and whatsapp_ia.text only; no Django, no I/O.

Tokens come from :func:`whatsapp_ia.text.normalize_text` (casefold, accents dropped,
punctuation as word breaks), so "Mesón", "MESON" and "meson" are one token.
On top of that:

* a short Spanish + English stop-word list is dropped, so an off-topic
  question ("¿cuál es la capital de Francia?") shares no token with a catalog;
* a light plural folding ("mesones" -> "meson", "griferías" -> "griferia",
  "inoxidables"/"inoxidable" -> "inoxidabl", "sinks" -> "sink") on alphabetic
  words longer than 4 letters;
* SKU-aware extra tokens: a code such as "GR-NEG-200" normalizes to
  "gr neg 200" and also yields the joined forms "grneg200", "grneg", "neg200",
  so "GR NEG 200", "gr-neg-200", "GRNEG200" and "ref GR.NEG.200" all meet the
  same chunk. In a query, short adjacent words are joined the same way
  ("GR NEG 200" -> "grneg200", "200 x 60" -> "200x60"); those joins are a bonus:
  they add to a document's score when it has them but never count against it.

:meth:`LexicalIndex.search` returns raw BM25 scores; :meth:`LexicalIndex.relevance`
turns one into 0..1: the score divided by the sum of the query's base-token IDFs
(an unknown word counts with the IDF of a word no document has), capped at 1,
times a confidence that is low for queries made only of short numbers or very
common words. A chunk holding every query word once, at average length, scores
about 1; a query none of whose words is in the catalog scores 0.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from whatsapp_ia.text import normalize_text

__all__ = ["STOPWORDS", "LexicalIndex", "QueryTokens", "document_tokens", "query_tokens"]

# Function words of Spanish and English (already normalized: no accents, lower case).
_STOPWORD_LINES = (
    "a al algo algun alguna algunas alguno algunos ante antes aqui asi aun aunque cada como con contra cual cuales",
    "cualquier de del desde donde el ella ellas ello ellos en entre era eran es esa esas ese eso esos esta estaba",
    "estan estas este esto estos estoy fue fueron ha hace hacen hacer hay hasta la las le les lo los mas me mi mis",
    "mucho muy ni no nos nosotros o os otra otro para pero poco por porque pues que quien quiero quisiera se sea ser",
    "si sobre son su sus tambien te tengo tiene tienen tu tus un una unas uno unos usted ustedes vale ya yo favor",
    "hola buenas buenos dias tardes noches gracias cuanto cuanta cuantos cuantas puedo puede pueden necesito saber",
    "gustaria the an and or of to in on at for from by with is are was were be been being do does did have has had",
    "i you he she it we they my your our their this that these those what which who whom how much many can could",
    "would should will please hi hello thanks there any some us about into than then so if not yes",
)
STOPWORDS = frozenset(" ".join(_STOPWORD_LINES).split())

_SKU_SPAN = re.compile(r"[0-9a-z]+(?:[-_./][0-9a-z]+)+")
_MAX_JOIN_PARTS = 4


@dataclass(frozen=True)
class QueryTokens:
    """A query's base tokens (they define its full score) and its bonus join tokens."""

    base: tuple[str, ...]
    bonus: tuple[str, ...] = field(default=())


def _stem(token: str) -> str:
    """Light plural folding, the same on both sides (consistent rather than linguistic).

    "mesones"/"meson" -> "meson", "inoxidables"/"inoxidable" -> "inoxidabl", "griferias" -> "griferia".
    """
    if len(token) <= 4 or not token.isalpha():
        return token
    if token.endswith("es"):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    if token.endswith("e"):
        return token[:-1]
    return token


def _fold(text: str) -> str:
    """Case and accents folded, punctuation kept (codes keep their separators)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _words(text: str) -> list[str]:
    return normalize_text(text).split()


def _joins(parts: Sequence[str]) -> list[str]:
    """Contiguous joins of 2+ parts ("gr","neg","200" -> grneg, neg200, grneg200)."""
    out: list[str] = []
    n = len(parts)
    for size in range(2, min(n, _MAX_JOIN_PARTS) + 1):
        for start in range(n - size + 1):
            out.append("".join(parts[start : start + size]))
    if n > _MAX_JOIN_PARTS:
        out.append("".join(parts))
    return out


def _sku_joins(text: str) -> list[str]:
    """Joined forms of every code-like span ("GR-NEG-200", "LV.INX/8045") that holds a digit."""
    out: list[str] = []
    for match in _SKU_SPAN.finditer(_fold(text)):
        span = match.group(0)
        if not any(ch.isdigit() for ch in span):
            continue
        parts = _words(span)
        if len(parts) >= 2:
            out.extend(_joins(parts))
    return out


def _base_tokens(text: str) -> list[str]:
    return [_stem(word) for word in _words(text) if word not in STOPWORDS and any(c.isalnum() for c in word)]


def document_tokens(text: str) -> tuple[list[str], list[str]]:
    """A document's (base tokens, extra join tokens: code spans and runs of short words with a digit)."""
    return _base_tokens(text), [*_sku_joins(text), *_short_word_joins(_words(text))]


def _short_word_joins(words: Sequence[str]) -> list[str]:
    """Joins of runs of short words that mix letters and digits ("gr neg 200" -> grneg200, "200 x 60" -> 200x60)."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if word and word not in STOPWORDS and word.isalnum() and (word.isdigit() or len(word) <= 4):
            run.append(word)
            continue
        if len(run) >= 2:
            out.extend(j for j in _joins(run) if not j.isdigit() and not j.isalpha())
        run = []
    return out


def query_tokens(text: str) -> QueryTokens:
    """A query's base tokens and its bonus joins (code spans, runs of short words with a digit)."""
    words = _words(text)
    base = _base_tokens(text)
    bonus = [*_sku_joins(text), *_short_word_joins(words)]
    base_set = set(base)
    return QueryTokens(
        base=tuple(dict.fromkeys(base)), bonus=tuple(t for t in dict.fromkeys(bonus) if t not in base_set)
    )


class LexicalIndex:
    """BM25 (Okapi, k1=1.2, b=0.75, non-negative IDF) over normalized, SKU-aware tokens."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.n_docs = 0
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._doc_len = np.zeros(0, dtype=np.float32)
        self._avgdl = 1.0

    @classmethod
    def build(cls, docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> LexicalIndex:
        index = cls(k1=k1, b=b)
        index._build(docs)
        return index

    def _build(self, docs: Sequence[str]) -> None:
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths: list[int] = []
        for doc_idx, doc in enumerate(docs):
            base, extra = document_tokens(doc)
            lengths.append(len(base))
            counts = Counter(base)
            for token in set(extra) - counts.keys():
                counts[token] = 1  # a code's joined form counts once, whatever its repeats
            for token, tf in counts.items():
                ids, tfs = postings.setdefault(token, ([], []))
                ids.append(doc_idx)
                tfs.append(tf)
        self.n_docs = len(lengths)
        self._doc_len = np.asarray(lengths, dtype=np.float32)
        self._avgdl = float(self._doc_len.mean()) if self.n_docs and self._doc_len.mean() > 0 else 1.0
        self._postings = {
            token: (np.asarray(ids, dtype=np.int64), np.asarray(tfs, dtype=np.float32))
            for token, (ids, tfs) in postings.items()
        }

    def __len__(self) -> int:
        return self.n_docs

    def idf(self, token: str) -> float:
        df = len(self._postings[token][0]) if token in self._postings else 0
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def _accumulate(self, scores: np.ndarray, tokens: Iterable[str]) -> None:
        norm = self.k1 * (1.0 - self.b + self.b * self._doc_len / self._avgdl)
        for token in tokens:
            hit = self._postings.get(token)
            if hit is None:
                continue
            ids, tfs = hit
            scores[ids] += self.idf(token) * tfs * (self.k1 + 1.0) / (tfs + norm[ids])

    def scores(self, query: str | QueryTokens) -> np.ndarray:
        """BM25 score of every document (0 where nothing matches)."""
        tokens = query if isinstance(query, QueryTokens) else query_tokens(query)
        scores = np.zeros(self.n_docs, dtype=np.float64)
        if self.n_docs:
            self._accumulate(scores, tokens.base)
            self._accumulate(scores, tokens.bonus)
        return scores

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """The top k documents that share at least one token with the query, best first."""
        scores = self.scores(query)
        if k <= 0 or not scores.size:
            return []
        hits = np.flatnonzero(scores > 0)
        if not hits.size:
            return []
        order = hits[np.argsort(-scores[hits], kind="stable")][:k]
        return [(int(i), float(scores[i])) for i in order]

    def max_relevance_score(self, query: str | QueryTokens) -> float:
        """The BM25 score that :meth:`relevance` maps to full coverage: the sum of the base tokens' IDF."""
        tokens = query if isinstance(query, QueryTokens) else query_tokens(query)
        return float(sum(self.idf(t) for t in tokens.base))

    def confidence(self, query: str | QueryTokens) -> float:
        """0..1: how much a lexical match of this query can be trusted on its own.

        A query must carry at least the information of one word that only one
        document has (capped at an IDF of 3) to be fully trusted; short numbers
        and single characters count for 30 %. "¿cuánto es 2 + 2?" matches the
        "2" of "2 cm" but earns little; "CZBPL300" or "granito negro" earn 1.
        """
        tokens = query if isinstance(query, QueryTokens) else query_tokens(query)
        if not tokens.base or not self.n_docs:
            return 0.0
        info = sum(self.idf(t) * (0.3 if _weak(t) else 1.0) for t in tokens.base)
        reference = min(math.log(1.0 + (self.n_docs - 0.5) / 1.5), 3.0)
        return float(min(1.0, info / reference)) if reference > 0 else 1.0

    def relevance(self, query: str | QueryTokens, score: float) -> float:
        """One raw score as 0..1 (see :meth:`relevance_vector`)."""
        tokens = query if isinstance(query, QueryTokens) else query_tokens(query)
        return float(self.relevance_vector(tokens, np.asarray([score], dtype=np.float64))[0])

    def relevance_vector(self, query: str | QueryTokens, scores: np.ndarray) -> np.ndarray:
        """Raw scores as 0..1: coverage (score / sum of the query's IDFs, capped at 1) times :meth:`confidence`."""
        tokens = query if isinstance(query, QueryTokens) else query_tokens(query)
        top = self.max_relevance_score(tokens)
        if top <= 0:
            return np.zeros(len(scores), dtype=np.float64)
        return np.clip(np.asarray(scores, dtype=np.float64) / top, 0.0, 1.0) * self.confidence(tokens)


def _weak(token: str) -> bool:
    """Short numbers ("2", "60") and single characters say little on their own."""
    return len(token) <= 1 or (token.isdigit() and len(token) <= 2)
