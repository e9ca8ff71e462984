"""Most frequent words of customers' messages: Spanish and English stop words left out, accents folded.

Pure: text in, counts out (the metric feeds it a bounded stream of message texts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from whatsapp_ia.text import normalize_text

__all__ = ["STOP_WORDS", "top_words", "words_of"]

MIN_LENGTH = 3  # "ok", "si", "ya" say little about what customers want

# Written folded (no accents, lower case), as normalize_text leaves the words they are compared with.
_SPANISH = """
a al algo algun alguna algunas alguno algunos ante antes aqui asi aun aunque bien cada como con contra cual cuales
cuando cuanta cuantas cuanto cuantos de del desde donde dos e el ella ellas ello ellos en entonces entre era eran
eres es esa esas ese eso esos esta estaba estado estamos estan estar estas este esto estos estoy fue fueron ha habia
han has hasta hay he la las le les lo los mas me mi mia mias mio mios mis mucho muchos muy nada ni no nos nosotros
nuestra nuestro o os otra otras otro otros para pero poco por porque pues que quien quienes se sea ser si sido sin
sobre sois somos son soy su sus suya suyo tal tambien tan tanto te tendra tener tengo tenia ti tiene tienen toda
todas todo todos tu tus un una unas uno unos usted ustedes va vamos van vos y ya yo puedo puede hacer hace favor
quiero quisiera gracias buenas buenos dias tardes noches ok okay vale bueno
"""
_ENGLISH = """
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves im ive dont cant please thanks thank hello hi hey yes
"""
STOP_WORDS = frozenset((_SPANISH + _ENGLISH).split())


def words_of(text: str) -> list[str]:
    """The words of ``text`` that count: folded, at least MIN_LENGTH letters, not a stop word, not a number.

    Folded a whitespace-separated token at a time, each token once per process (customers repeat the
    same words: a month's texts fold several times faster than text by text). Whitespace is a word
    break either way, so the words are those of ``normalize_text(text)``.
    """
    return [word for token in text.split() for word in _token_words(token)]


@lru_cache(maxsize=65_536)
def _token_words(token: str) -> tuple[str, ...]:
    return tuple(
        word
        for word in normalize_text(token).split()
        if len(word) >= MIN_LENGTH and word not in STOP_WORDS and any(ch.isalpha() for ch in word)
    )


def top_words(texts: Iterable[str], *, limit: int) -> list[tuple[str, int]]:
    """The ``limit`` most frequent words of ``texts``, most frequent first (ties alphabetical)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words_of(text))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
