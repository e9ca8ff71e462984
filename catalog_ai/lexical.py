"""Lexical (BM25) ranking over catalog chunks: accent/case-insensitive and SKU-aware.

Pure: numpy and whatsapp_ia.text only; no Django, no I/O.

Tokens come from :func:`whatsapp_ia.text.normalize_text` (casefold, accents dropped,
punctuation as word breaks), so "Mesón", "MESON" and "meson" are one token.
On top of that:

* a short Spanish + English stop-word list is dropped, so an off-topic
  question ("¿cuál es la capital de Francia?") shares no token with a catalog;
* Snowball stemming (PyStemmer) of alphabetic words, the same on both sides:
  Spanish by default, English when the indexed text reads as English
  ("instalar"/"instalación" -> "instal", "mesones" -> "meson", "sinks" -> "sink");
* SKU-aware extra tokens: a code such as "GR-NEG-200" normalizes to
  "gr neg 200" and also yields the joined forms "grneg200", "grneg", "neg200",
  so "GR NEG 200", "gr-neg-200", "GRNEG200" and "ref GR.NEG.200" all meet the
  same chunk. In a query, short adjacent words are joined the same way
  ("GR NEG 200" -> "grneg200", "200 x 60" -> "200x60"); those joins are a bonus:
  they add to a document's score when it has them but never count against it.

Query expansion (:meth:`LexicalIndex.expand`), learned from the catalog itself
plus a short curated list:

* a query word the catalog does not contain is matched against the catalog's
  vocabulary with rapidfuzz (typos, missing letters: "granitto", "gryferia"),
  counting :data:`FUZZY_WEIGHT` times the similarity of a direct match;
* a query word the catalog does not contain also meets the catalog's words built on it
  (Spanish derivation: "parquear" -> "parqueadero"), at :data:`PREFIX_WEIGHT`;
* a word of :data:`catalog_ai.synonyms.SYNONYM_GROUPS` ("llave" -> "grifería",
  "demoran" -> "plazo"/"días hábiles") also looks for the group's words that
  the catalog contains, at :data:`SYNONYM_WEIGHT` of a direct match;
* a word of a question in another language than the catalog's looks for its
  translations that the catalog contains, at :data:`TRANSLATION_WEIGHT`: the caller
  passes them (``translations``, from :mod:`catalog_ai.translation`), this module
  does no lookup of its own.

Each query word is one slot: a document scores the best of the word itself and
its weighted alternatives, so an expansion never counts twice and never beats
the word as written.

:meth:`LexicalIndex.search` returns raw BM25 scores; :meth:`LexicalIndex.relevance`
turns one into 0..1: the score divided by the sum of the query's base-token IDFs
(an unknown word counts with the IDF of a word no document has), capped at 1,
times a confidence that is low for queries made only of short numbers or very
common words. A chunk holding every query word once, at average length, scores
about 1; a query none of whose words is in the catalog scores 0.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import Stemmer
from rapidfuzz import fuzz, process

from catalog_ai.synonyms import SYNONYM_GROUPS
from whatsapp_ia.text import normalize_text

__all__ = [
    "FUZZY_WEIGHT",
    "LANGUAGES",
    "STOPWORDS",
    "SYNONYM_WEIGHT",
    "TRANSLATION_WEIGHT",
    "LexicalIndex",
    "QueryTokens",
    "detect_language",
    "document_tokens",
    "query_tokens",
    "stem",
]

#: Stemmer per language code (Snowball algorithm names).
LANGUAGES = {"es": "spanish", "en": "english"}
#: A synonym of the curated list counts this much of a direct match.
SYNONYM_WEIGHT = 0.7
#: A translation of a question's word (another language than the catalog's) counts this much of a direct match.
TRANSLATION_WEIGHT = 0.7
#: A fuzzy match counts this much of a direct match, times its similarity (0..1).
FUZZY_WEIGHT = 0.6
#: rapidfuzz ratio (0..100) a catalog word needs to be taken for a misspelt query word.
FUZZY_CUTOFF = 80.0
FUZZY_MIN_LENGTH = 5
#: A catalog word that extends an unknown query word of at least PREFIX_MIN_LENGTH letters by at most
#: PREFIX_MAX_EXTRA letters (Spanish derivation, as stems: "parquear" -> "parqu" -> "parqueader") counts this
#: much of a direct match. Shorter stems ("hor", "tap") would meet unrelated words.
PREFIX_WEIGHT = 0.6
PREFIX_MIN_LENGTH = 5
PREFIX_MAX_EXTRA = 6
#: A question's word finds the synonyms of a listed word whose stem is its own plus at most this many letters
#: ("mont" -> "montaj", "limpi" -> "limpiez"): a verb and its noun in -aje, -eza.
SYNONYM_PREFIX_MAX_EXTRA = 3

# Function words of Spanish and English (already normalized: no accents, lower case).
_STOPWORD_LINES = (
    "a al algo algun alguna algunas alguno algunos ante antes aqui asi aun aunque cada como con contra cual cuales",
    "cualquier cuando de del desde donde el ella ellas ello ellos en entre era eran es esa esas ese eso esos esta",
    "estaba",
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
    """A query's base tokens (they define its full score), its bonus join tokens, and its expansions.

    ``expansions[i]`` holds (token, weight) alternatives of ``base[i]`` (empty when none).
    """

    base: tuple[str, ...]
    bonus: tuple[str, ...] = field(default=())
    expansions: tuple[tuple[tuple[str, float], ...], ...] = field(default=())

    def alternatives(self, i: int) -> tuple[tuple[str, float], ...]:
        return self.expansions[i] if i < len(self.expansions) else ()


_stemmer_lock = threading.Lock()
_stemmers: dict[str, Stemmer.Stemmer] = {}


@lru_cache(maxsize=65536)
def stem(token: str, language: str = "es") -> str:
    """Snowball stem of an alphabetic word (other tokens, such as "200" or "x60", unchanged)."""
    if len(token) <= 2 or not token.isalpha():
        return token
    algorithm = LANGUAGES.get(language, "spanish")
    with _stemmer_lock:  # a PyStemmer object is not thread-safe
        stemmer = _stemmers.get(algorithm)
        if stemmer is None:
            stemmer = _stemmers[algorithm] = Stemmer.Stemmer(algorithm)
        return stemmer.stemWord(token)


_ES_HINTS = frozenset(
    ["de", "la", "el", "los", "las", "del", "con", "para", "por", "y", "en", "un", "una", "es", "precio"]
)
_EN_HINTS = frozenset(["the", "of", "and", "with", "for", "to", "in", "a", "is", "price"])


def detect_language(texts: Sequence[str]) -> str:
    """'en' when the texts use more English than Spanish function words, else 'es'."""
    es = en = 0
    for text in texts:
        for word in normalize_text(text).split():
            es += word in _ES_HINTS
            en += word in _EN_HINTS
    return "en" if en > es else "es"


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


#: Unit symbols that customers spell out ("m²" is "metros cuadrados"): the words are indexed beside the symbol.
_SPELLED_UNITS = {
    "m2": ("metros", "cuadrados"),
    "cm2": ("centimetros", "cuadrados"),
    "m3": ("metros", "cubicos"),
}


def _base_tokens(text: str, language: str = "es") -> list[str]:
    out = []
    for word in _words(text):
        if word in STOPWORDS or not any(c.isalnum() for c in word):
            continue
        out.append(stem(word, language))
        out.extend(stem(spelled, language) for spelled in _SPELLED_UNITS.get(word, ()))
    return out


def document_tokens(text: str, language: str = "es") -> tuple[list[str], list[str]]:
    """A document's (base tokens, extra join tokens: code spans and runs of short words with a digit)."""
    return _base_tokens(text, language), [*_sku_joins(text), *_short_word_joins(_words(text))]


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


#: Ordinals and fractions stay words: "tres cuartos de pulgada" is 3/4", not "3 4ᵒˢ"; "el segundo piso" a floor.
_ORDINAL_WORDS = re.compile(
    r"(?i)\b(?:medi[oa]s?|terci[oa]s?|cuart[oa]s?|quint[oa]s?|sext[oa]s?|s[ée]ptim[oa]s?|octav[oa]s?|noven[oa]s?"
    r"|d[ée]cim[oa]s?|primer[oa]?s?|segund[oa]s?|tercer[oa]?s?|half|halves|thirds?|quarters?|fourths?|fifths?"
    r"|sixths?|sevenths?|eighths?|ninths?|tenths?|first|second|third)\b"
)


def numbers_as_figures(text: str, language: str = "es") -> str:
    """``text`` with the numbers written in words as figures, as catalogs print them: "un tanque de mil litros" ->
    "un tanque de 1000 litros", "two hundred watts" -> "200 watts" (in the catalog's language and in English);
    "una poza" stays words (text2num keeps small isolated numbers), and so do ordinals and fractions: the text
    between them is converted piece by piece. Pure."""
    if not text or not any(c.isalpha() for c in text):
        return text
    out: list[str] = []
    last = 0
    for found in _ORDINAL_WORDS.finditer(text):
        out += [_spelled_numbers(text[last : found.start()], language), found.group(0)]
        last = found.end()
    out.append(_spelled_numbers(text[last:], language))
    return "".join(out)


def _spelled_numbers(text: str, language: str) -> str:
    from text_to_num import alpha2digit

    for code in dict.fromkeys((language, "en")):
        if code in ("es", "en") and text:
            text = alpha2digit(text, code)
    return text


def query_tokens(text: str, language: str = "es") -> QueryTokens:
    """A query's base tokens and its bonus joins (code spans, runs of short words with a digit); no expansions.
    Numbers written in words count as their figures (:func:`numbers_as_figures`)."""
    text = numbers_as_figures(text, language)
    words = _words(text)
    base = _base_tokens(text, language)
    bonus = [*_sku_joins(text), *_short_word_joins(words)]
    base_set = set(base)
    return QueryTokens(
        base=tuple(dict.fromkeys(base)), bonus=tuple(t for t in dict.fromkeys(bonus) if t not in base_set)
    )


class LexicalIndex:
    """BM25 (Okapi, k1=1.2, b=0.75, non-negative IDF) over stemmed, SKU-aware tokens, with query expansion."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, language: str = "es") -> None:
        self.k1 = k1
        self.b = b
        self.language = language
        self.n_docs = 0
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._doc_len = np.zeros(0, dtype=np.float32)
        self._avgdl = 1.0
        self._vocabulary: list[str] = []
        self._synonyms: dict[str, tuple[str, ...]] = {}
        self._synonym_stems: list[str] = []
        self._fuzzy_cache: dict[str, tuple[tuple[str, float], ...]] = {}

    @classmethod
    def build(
        cls, docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75, language: str | None = None
    ) -> LexicalIndex:
        """The index of ``docs``; ``language`` (es/en) picks the stemmer, detected from the docs when None."""
        index = cls(k1=k1, b=b, language=language or detect_language(docs[:200]))
        index._build(docs)
        return index

    def _build(self, docs: Sequence[str]) -> None:
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths: list[int] = []
        for doc_idx, doc in enumerate(docs):
            base, extra = document_tokens(doc, self.language)
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
        self._vocabulary = sorted(t for t in self._postings if t.isalpha() and len(t) >= 3)
        self._synonyms = self._synonym_table()
        self._synonym_stems = sorted(self._synonyms)

    def _synonym_table(self) -> dict[str, tuple[str, ...]]:
        """Each stemmed word of a curated group -> the group's other stems that the catalog contains."""
        table: dict[str, set[str]] = {}
        for group in SYNONYM_GROUPS:
            # English plurals too ("toilets", "faucets"): a Spanish stemmer leaves them whole.
            words = [form for word in group for form in (word, word + "s")]
            stems = {t for word in words for t in _base_tokens(word, self.language)}
            present = {t for t in stems if t in self._postings}
            for t in stems:
                others = present - {t}
                if others:
                    table.setdefault(t, set()).update(others)
        return {t: tuple(sorted(others)) for t, others in table.items()}

    def _group_synonyms(self, token: str) -> tuple[str, ...]:
        """The synonyms of ``token``, or of a listed word built on it: "montar" ("mont") finds "montaje"
        ("montaj") and so its group, as "instalar" finds "instalación" by their common stem."""
        found = self._synonyms.get(token)
        if found is not None or len(token) < PREFIX_MIN_LENGTH - 1 or not token.isalpha():
            return found or ()
        stems = self._synonym_stems
        out: set[str] = set()
        for i in range(bisect.bisect_left(stems, token), len(stems)):
            stem = stems[i]
            if not stem.startswith(token):
                break
            if len(stem) - len(token) <= SYNONYM_PREFIX_MAX_EXTRA:
                out.update(self._synonyms[stem])
                if stem in self._postings:
                    out.add(stem)
        return tuple(sorted(out))

    def __len__(self) -> int:
        return self.n_docs

    def __contains__(self, token: str) -> bool:
        return token in self._postings

    def idf(self, token: str) -> float:
        df = len(self._postings[token][0]) if token in self._postings else 0
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    # --- queries ------------------------------------------------------------------------------------

    def query_tokens(
        self, text: str, *, expand: bool = True, translations: Mapping[str, Sequence[str]] | None = None
    ) -> QueryTokens:
        """``text`` tokenized with this index's stemmer and (unless expand=False) expanded; ``translations`` maps
        words of ``text`` (lower case) to their translations into the catalog's language ("mirror" -> "espejo")."""
        tokens = query_tokens(text, self.language)
        return self.expand(tokens, self.translated(translations)) if expand else tokens

    def translated(self, translations: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
        """``translations`` as stems: each word's token -> the stems of its translations that the catalog contains."""
        out: dict[str, set[str]] = {}
        for word, targets in (translations or {}).items():
            stems = {t for target in targets for t in _base_tokens(target, self.language) if t in self._postings}
            for token in _base_tokens(word, self.language):
                if stems - {token}:
                    out.setdefault(token, set()).update(stems - {token})
        return {token: tuple(sorted(stems)) for token, stems in out.items()}

    def _tokens(self, query: str | QueryTokens) -> QueryTokens:
        return query if isinstance(query, QueryTokens) else self.query_tokens(query)

    def expand(self, tokens: QueryTokens, translated: Mapping[str, Sequence[str]] | None = None) -> QueryTokens:
        """``tokens`` with, for each base token, its curated synonyms, its translations (``translated``: token ->
        catalog stems, from :meth:`translated`) and (when unknown) fuzzy matches."""
        expansions = []
        for token in tokens.base:
            alternatives: dict[str, float] = {}
            for other in self._group_synonyms(token):
                alternatives[other] = max(alternatives.get(other, 0.0), SYNONYM_WEIGHT)
            for other in (translated or {}).get(token, ()):
                alternatives[other] = max(alternatives.get(other, 0.0), TRANSLATION_WEIGHT)
            if token not in self._postings:
                for other, weight in (*self._fuzzy(token), *self._derived(token)):
                    alternatives[other] = max(alternatives.get(other, 0.0), weight)
            alternatives.pop(token, None)
            expansions.append(tuple(sorted(alternatives.items(), key=lambda kv: (-kv[1], kv[0]))))
        return QueryTokens(base=tokens.base, bonus=tokens.bonus, expansions=tuple(expansions))

    def _derived(self, token: str) -> tuple[tuple[str, float], ...]:
        """Catalog words built on an unknown word's stem ("parqu" -> "parqueader"): PREFIX_WEIGHT each."""
        if len(token) < PREFIX_MIN_LENGTH or not token.isalpha():
            return ()
        found = []
        for i in range(bisect.bisect_left(self._vocabulary, token), len(self._vocabulary)):
            word = self._vocabulary[i]
            if not word.startswith(token):
                break
            if len(word) - len(token) <= PREFIX_MAX_EXTRA:
                found.append((word, PREFIX_WEIGHT))
        return tuple(found)

    def _fuzzy(self, token: str) -> tuple[tuple[str, float], ...]:
        """Catalog words close in spelling to an unknown word (typos), weighted by similarity."""
        if len(token) < FUZZY_MIN_LENGTH or not token.isalpha() or not self._vocabulary:
            return ()
        cached = self._fuzzy_cache.get(token)
        if cached is None:
            found = process.extract(token, self._vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=3)
            cached = tuple((word, FUZZY_WEIGHT * score / 100.0) for word, score, _i in found)
            if len(self._fuzzy_cache) < 10000:
                self._fuzzy_cache[token] = cached
        return cached

    # --- scores -------------------------------------------------------------------------------------

    def _bm25(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(document ids, BM25 contributions) of one token, or None when no document has it."""
        hit = self._postings.get(token)
        if hit is None:
            return None
        ids, tfs = hit
        norm = self.k1 * (1.0 - self.b + self.b * self._doc_len[ids] / self._avgdl)
        return ids, self.idf(token) * tfs * (self.k1 + 1.0) / (tfs + norm)

    def scores(self, query: str | QueryTokens) -> np.ndarray:
        """BM25 score of every document (0 where nothing matches); each query word scores its best form."""
        tokens = self._tokens(query)
        scores = np.zeros(self.n_docs, dtype=np.float64)
        if not self.n_docs:
            return scores
        slot = np.zeros(self.n_docs, dtype=np.float64)
        for i, token in enumerate(tokens.base):
            slot[:] = 0.0
            for form, weight in ((token, 1.0), *tokens.alternatives(i)):
                found = self._bm25(form)
                if found is not None:
                    ids, contribution = found
                    slot[ids] = np.maximum(slot[ids], weight * contribution)
            scores += slot
        for token in tokens.bonus:
            found = self._bm25(token)
            if found is not None:
                scores[found[0]] += found[1]
        return scores

    def search(self, query: str | QueryTokens, k: int = 10) -> list[tuple[int, float]]:
        """The top k documents that share at least one token with the query, best first."""
        scores = self.scores(query)
        if k <= 0 or not scores.size:
            return []
        hits = np.flatnonzero(scores > 0)
        if not hits.size:
            return []
        order = hits[np.argsort(-scores[hits], kind="stable")][:k]
        return [(int(i), float(scores[i])) for i in order]

    def _slot_idf(self, tokens: QueryTokens) -> list[tuple[str, float]]:
        """(token, the IDF a full match of its slot is worth): its own when the catalog has it, else its best
        alternative's, else that of a word no document has."""
        out = []
        for i, token in enumerate(tokens.base):
            if token in self._postings or not tokens.alternatives(i):
                out.append((token, self.idf(token)))
            else:
                out.append((token, max(self.idf(form) for form, _w in tokens.alternatives(i))))
        return out

    def max_relevance_score(self, query: str | QueryTokens) -> float:
        """The BM25 score that :meth:`relevance` maps to full coverage: the sum of the query slots' IDF."""
        return float(sum(idf for _t, idf in self._slot_idf(self._tokens(query))))

    def confidence(self, query: str | QueryTokens) -> float:
        """0..1: how much a lexical match of this query can be trusted on its own.

        A query must carry at least the information of one word that only one
        document has (capped at an IDF of 3) to be fully trusted; short numbers
        and single characters count for 30 %. "¿cuánto es 2 + 2?" matches the
        "2" of "2 cm" but earns little; "CZBPL300" or "granito negro" earn 1.
        """
        tokens = self._tokens(query)
        if not tokens.base or not self.n_docs:
            return 0.0
        info = sum(idf * (0.3 if _weak(t) else 1.0) for t, idf in self._slot_idf(tokens))
        reference = min(math.log(1.0 + (self.n_docs - 0.5) / 1.5), 3.0)
        return float(min(1.0, info / reference)) if reference > 0 else 1.0

    def relevance(self, query: str | QueryTokens, score: float) -> float:
        """One raw score as 0..1 (see :meth:`relevance_vector`)."""
        return float(self.relevance_vector(self._tokens(query), np.asarray([score], dtype=np.float64))[0])

    def relevance_vector(self, query: str | QueryTokens, scores: np.ndarray) -> np.ndarray:
        """Raw scores as 0..1: coverage (score / sum of the query slots' IDFs, capped at 1) times :meth:`confidence`."""
        tokens = self._tokens(query)
        top = self.max_relevance_score(tokens)
        if top <= 0:
            return np.zeros(len(scores), dtype=np.float64)
        return np.clip(np.asarray(scores, dtype=np.float64) / top, 0.0, 1.0) * self.confidence(tokens)


def _weak(token: str) -> bool:
    """Short numbers ("2", "60") and single characters say little on their own."""
    return len(token) <= 1 or (token.isdigit() and len(token) <= 2)
