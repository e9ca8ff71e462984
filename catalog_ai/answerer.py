"""Answer a customer's question from the catalog: retrieve, generate (or extract), guard, cache, log.

``answer_question(question, context=..., use_cache=True, log=True, conversation=None)``

1. Retrieval: ``catalog_ai.retrieval.search`` over the indexed catalogs (AISettings.top_k
   chunks). When the question alone finds nothing relevant, it is tried again with what the
   conversation adds (ad headline, the customer's previous messages), so "¿y cuánto vale?"
   after a message about a product still finds it.
2. Relevance threshold: when the best chunk scores below AISettings.min_score (when the admin left
   it empty: the threshold calibrated for the embedder that searched, see
   ``catalog_ai.retrieval.DEFAULT_MIN_SCORES``) the answer is
   the fallback message (AISettings.fallback_message, else settings.AI_FALLBACK_MESSAGE; for a
   question in English settings.AI_FALLBACK_MESSAGE_EN unless the owner wrote their own) with
   no references and no images. The AI never "always answers".
3. Online (settings.OPENAI_API_KEY set): the prompt of ``catalog_ai.prompting`` goes to the
   Responses API with AISettings.gen_model and max_output_tokens; a server without
   ``/responses`` (404/405/501) is asked through chat completions instead. ``NO_ANSWER`` or an
   empty output gives the fallback. An API error degrades to the extractive answer.
   Offline (no key): the extractive answer.
4. Output guard (defence in depth against instructions hidden in catalog text or customer
   messages): an answer that repeats the instruction gives the fallback; one with numbers
   (prices, percentages, phones) or links that are not in the retrieved excerpts is replaced
   by the extractive answer (or the fallback when there is none).
5. AISettings.response_max_sentences / response_max_chars are applied.
6. References: the chunks the answer rests on, best score first, pages counted from 1; up to
   three of their page images go with the answer.
7. The answer is cached in Redis for AISettings.cache_ttl (see ``catalog_ai.cache``) and every
   answer, cached or not, is logged in AILog.

The extractive answer copies, never writes (see :func:`extractive_answer`): the product block
(a product's lines, as ``catalog_ai.chunking`` groups them) or the sentences of a paragraph that
cover the question best, as written in the catalog, with English framing words for an English
question. No label is added and nothing is cut out of a sentence.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from django.conf import settings

from catalog_ai.cache import answer_cache_get, answer_cache_key, answer_cache_set
from catalog_ai.prompting import (
    NO_ANSWER,
    ContextMessage,
    ConversationContext,
    Excerpt,
    Prompt,
    guess_language,
    normalize,
    postprocess,
    prompt_build,
    prompt_leaked,
    strip_instructions,
    ungrounded_links,
    ungrounded_numbers,
)

if TYPE_CHECKING:
    from catalog_ai.models import AISettings
    from catalog_ai.retrieval import Hit
    from conversations.models import Conversation

__all__ = [
    "BACKENDS",
    "MAX_IMAGES",
    "Answer",
    "ContextMessage",
    "ConversationContext",
    "Reference",
    "answer_question",
    "extractive_answer",
]

logger = logging.getLogger(__name__)

MAX_IMAGES = 3
BACKENDS = ("openai-responses", "openai-chat", "extractive", "fallback")
_RELATIVE_CUT = 0.75  # online: references are the chunks within 75% of the best score, or whose SKU is quoted


@dataclass(frozen=True)
class Reference:
    page: int  # counted from 1, as a person reads the PDF
    sku: str
    score: float
    image: str  # relative to MEDIA_ROOT ('' when the page has no image)
    catalog: str = ""
    catalog_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The shape of `ask_catalog --json` references."""
        return {"page": self.page, "sku": self.sku, "score": round(self.score, 4), "image": self.image}

    def as_log(self) -> dict[str, Any]:
        return {**self.as_dict(), "catalog": self.catalog, "catalog_id": self.catalog_id}


@dataclass(frozen=True)
class Answer:
    answer: str
    references: list[Reference] = field(default_factory=list)
    cached: bool = False
    backend: str = "fallback"  # one of BACKENDS
    latency_ms: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    log_id: int | None = None

    @property
    def is_fallback(self) -> bool:
        return self.backend == "fallback"

    @property
    def images(self) -> list[Reference]:
        """Up to MAX_IMAGES references with distinct page images, best first."""
        out: list[Reference] = []
        seen: set[str] = set()
        for ref in self.references:
            if ref.image and ref.image not in seen:
                seen.add(ref.image)
                out.append(ref)
            if len(out) == MAX_IMAGES:
                break
        return out

    def as_dict(self) -> dict[str, Any]:
        """The JSON object `manage.py ask_catalog --json` prints (exactly these keys)."""
        return {
            "answer": self.answer,
            "references": [r.as_dict() for r in self.references],
            "cached": self.cached,
            "backend": self.backend,
        }


@dataclass(frozen=True)
class _Outcome:
    answer: str
    references: list[Reference]
    backend: str
    tokens_in: int = 0
    tokens_out: int = 0
    cacheable: bool = True


class GenerationError(Exception):
    """The model could not be reached or failed; the caller degrades to the extractive answer."""


# --- public entry point ---------------------------------------------------------------------------


def answer_question(
    question: str,
    *,
    context: ConversationContext | None = None,
    use_cache: bool = True,
    log: bool = True,
    conversation: Conversation | None = None,
) -> Answer:
    """The catalog's answer to ``question`` (see the module docstring)."""
    from catalog_ai.models import AISettings

    started = time.monotonic()
    ai = AISettings.load()
    context = context or ConversationContext()
    fallback_text = _fallback_text(ai, language=guess_language(strip_instructions(question)))
    online = bool(getattr(settings, "OPENAI_API_KEY", ""))

    key = None
    if use_cache and int(ai.cache_ttl or 0) > 0:
        key = answer_cache_key(
            question=normalize(strip_instructions(question)),
            extras=[normalize(context.ad_headline), *[normalize(d) for d in context.image_descriptions]],
            settings_fingerprint=_fingerprint(ai, online=online, fallback_text=fallback_text),
        )
    hit = answer_cache_get(key)
    if hit is not None:
        outcome = _Outcome(
            answer=str(hit.get("answer", "")),
            references=[Reference(**r) for r in hit.get("references", [])],
            backend=str(hit.get("backend", "fallback")),
        )
        return _finish(outcome, question=question, cached=True, started=started, log=log, conversation=conversation)

    outcome = _answer_fresh(question, context=context, ai=ai, online=online, fallback_text=fallback_text)
    if outcome.cacheable:
        answer_cache_set(
            key,
            {
                "answer": outcome.answer,
                "references": [r.__dict__ for r in outcome.references],
                "backend": outcome.backend,
            },
            ttl=int(ai.cache_ttl or 0),
        )
    return _finish(outcome, question=question, cached=False, started=started, log=log, conversation=conversation)


def _finish(outcome: _Outcome, *, question: str, cached: bool, started: float, log: bool, conversation: Any) -> Answer:
    answer = Answer(
        answer=outcome.answer,
        references=list(outcome.references),
        cached=cached,
        backend=outcome.backend,
        latency_ms=int((time.monotonic() - started) * 1000),
        tokens_in=0 if cached else outcome.tokens_in,
        tokens_out=0 if cached else outcome.tokens_out,
    )
    if log:
        from catalog_ai.models import AILog

        row = AILog.objects.create(
            conversation=conversation,
            question=question,
            answer=answer.answer,
            references=[r.as_log() for r in answer.references],
            cached=answer.cached,
            backend=answer.backend,
            latency_ms=answer.latency_ms,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
        )
        answer = replace(answer, log_id=row.pk)
    return answer


def _fallback_text(ai: AISettings, *, language: str = "es") -> str:
    """The owner's fallback message; an English question gets AI_FALLBACK_MESSAGE_EN unless the owner wrote one."""
    own = (ai.fallback_message or "").strip()
    default = settings.AI_FALLBACK_MESSAGE
    if language == "en" and (not own or own == default.strip()):
        return getattr(settings, "AI_FALLBACK_MESSAGE_EN", "") or default
    return own or default


def _fingerprint(ai: AISettings, *, online: bool, fallback_text: str) -> dict[str, Any]:
    return {
        "online": online,
        "base_url": getattr(settings, "OPENAI_BASE_URL", "") if online else "",
        "gen_model": ai.gen_model if online else "",
        "embed_model": getattr(settings, "AI_EMBED_MODEL", ""),
        "max_output_tokens": ai.max_output_tokens,
        "max_sentences": ai.response_max_sentences,
        "max_chars": ai.response_max_chars,
        "top_k": ai.top_k,
        "min_score": ai.min_score,
        "fallback": fallback_text,
    }


# --- the answer itself ----------------------------------------------------------------------------


def _fallback(text: str, *, cacheable: bool = True) -> _Outcome:
    return _Outcome(answer=text, references=[], backend="fallback", cacheable=cacheable)


def _search(query: str, *, k: int, min_score: float | None) -> tuple[list[Hit], float]:
    """(hits, the threshold that judges them: the admin's min_score, else the search embedder's default)."""
    from catalog_ai.retrieval import FALLBACK_MIN_SCORE, search_explained

    if not query.strip():
        return [], FALLBACK_MIN_SCORE if min_score is None else min_score
    try:
        found = search_explained(query, k=k)
    except Exception:
        logger.exception("Catalog retrieval failed for %r", query[:200])
        return [], FALLBACK_MIN_SCORE if min_score is None else min_score
    return list(found.hits), found.threshold if min_score is None else min_score


def effective_min_score(ai: AISettings) -> float | None:
    """The admin's relevance threshold, or None: the calibrated default of the embedder that searches."""
    return None if ai.min_score is None else float(ai.min_score)


def _retrieve(
    question: str, *, context: ConversationContext, k: int, min_score: float | None
) -> tuple[str, list[Hit], bool, float]:
    """(the query that found them, hits best first, whether the conversation decided the outcome, threshold).

    The question first; when it finds nothing relevant, the question plus the ad headline and
    the customer's previous messages.
    """
    base = _base_query(question, context)
    hits, threshold = _search(base, k=k, min_score=min_score)
    if hits and hits[0].score >= threshold:
        return base, hits, False, threshold
    earlier = [m.text for m in context.history if m.role == "customer" and m.text.strip()][-2:]
    extra = [strip_instructions(t) for t in [context.ad_headline, *earlier] if t and t.strip()]
    if not extra:
        return base, hits, False, threshold
    widened = "\n".join([base, *extra]).strip()
    more, more_threshold = _search(widened, k=k, min_score=min_score)
    if more and (not hits or more[0].score > hits[0].score):
        return widened, more, True, more_threshold
    return base, hits, True, threshold


def _answer_fresh(
    question: str, *, context: ConversationContext, ai: AISettings, online: bool, fallback_text: str
) -> _Outcome:
    clean = strip_instructions(question).strip()
    if not clean and not context.image_descriptions:
        return _fallback(fallback_text)
    query, hits, by_context, threshold = _retrieve(
        clean, context=context, k=max(int(ai.top_k or 5), 1), min_score=effective_min_score(ai)
    )
    relevant = [h for h in hits if h.score >= threshold]
    outcome = (
        _answer_found(
            clean,
            query,
            relevant,
            context=context,
            ai=ai,
            online=online,
            fallback_text=fallback_text,
            runner_up=max((h.score for h in hits[1:]), default=0.0),
        )
        if relevant
        else _fallback(fallback_text)
    )
    if by_context:
        # What the conversation said decided this answer ("¿y cuánto vale?"): another chat asking the same
        # words may mean another product, so it must not be cached under the question alone.
        outcome = replace(outcome, cacheable=False)
    return outcome


def _base_query(question: str, context: ConversationContext) -> str:
    return "\n".join([question, *[strip_instructions(d) for d in context.image_descriptions]]).strip()


def _answer_found(
    clean: str,
    query: str,
    relevant: list[Hit],
    *,
    context: ConversationContext,
    ai: AISettings,
    online: bool,
    fallback_text: str,
    runner_up: float | None = None,
) -> _Outcome:
    limits = {"max_sentences": ai.response_max_sentences, "max_chars": ai.response_max_chars}
    language = guess_language(clean or query)

    def extractive(*, cacheable: bool = True) -> _Outcome:
        found = extractive_answer(query, relevant, language=language, runner_up=runner_up)
        if found is None:
            return _fallback(fallback_text, cacheable=cacheable)
        text, refs = found
        return _Outcome(answer=postprocess(text, **limits), references=refs, backend="extractive", cacheable=cacheable)

    if not online:
        return extractive()

    excerpts = [Excerpt(page=h.page, text=h.text, skus=tuple(h.skus), catalog=str(h.catalog or "")) for h in relevant]
    prompt = prompt_build(question=clean, excerpts=excerpts, context=context, **limits)
    try:
        text, backend, tokens_in, tokens_out = _generate(
            prompt, model=ai.gen_model, max_output_tokens=int(ai.max_output_tokens or 400)
        )
    except GenerationError as exc:
        logger.warning("AI generation failed (%s); answering extractively", exc)
        return extractive(cacheable=False)
    text = (text or "").strip()
    if not text or NO_ANSWER in text:
        return replace(_fallback(fallback_text), tokens_in=tokens_in, tokens_out=tokens_out)
    if prompt_leaked(text):
        logger.warning("AI answer repeated its instructions; sending the fallback instead")
        return replace(_fallback(fallback_text), tokens_in=tokens_in, tokens_out=tokens_out)
    sources = [strip_instructions(h.text) for h in relevant] + [str(h.page) for h in relevant]
    numbers = ungrounded_numbers(text, sources)
    links = ungrounded_links(text, sources)
    if numbers or links:
        logger.warning("AI answer not grounded in the catalog (numbers %s, links %s); answering extractively",
                       numbers, links)  # fmt: skip
        return replace(extractive(), tokens_in=tokens_in, tokens_out=tokens_out)
    text = postprocess(text, **limits)
    return _Outcome(
        answer=text,
        references=_online_references(text, relevant),
        backend=backend,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
    )


def _reference(hit: Hit, *, sku: str) -> Reference:
    return Reference(
        page=int(hit.page),
        sku=sku,
        score=float(hit.score),
        image=str(hit.image or ""),
        catalog=str(getattr(hit, "catalog", "") or ""),
        catalog_id=getattr(hit, "catalog_id", None),
    )


def _sku_in(text: str, skus: Sequence[str]) -> str:
    upper = (text or "").upper()
    return next((s for s in skus if s and s.upper() in upper), "")


def _online_references(answer: str, hits: Sequence[Hit]) -> list[Reference]:
    best = hits[0].score
    out = []
    for hit in hits:
        quoted = _sku_in(answer, hit.skus)
        if quoted or hit.score >= best * _RELATIVE_CUT:
            out.append(_reference(hit, sku=quoted or (hit.skus[0] if hit.skus else "")))
    return _dedupe(out)


def _dedupe(refs: list[Reference]) -> list[Reference]:
    seen: set[tuple[Any, int, str]] = set()
    out = []
    for ref in sorted(refs, key=lambda r: -r.score):
        key = (ref.catalog_id, ref.page, ref.sku)
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out


# --- generation -----------------------------------------------------------------------------------

_NO_RESPONSES_API: set[str] = set()  # base URLs whose server answered /responses with 404/405/501


def _client() -> Any:
    from openai import OpenAI

    return OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=getattr(settings, "OPENAI_BASE_URL", "") or None,
        timeout=float(getattr(settings, "OPENAI_TIMEOUT", 30) or 30),
        max_retries=int(getattr(settings, "OPENAI_MAX_RETRIES", 2)),
    )


def _generate(prompt: Prompt, *, model: str, max_output_tokens: int) -> tuple[str, str, int, int]:
    """(text, backend, input tokens, output tokens) from the Responses API, else chat completions."""
    import openai

    client = _client()
    base = getattr(settings, "OPENAI_BASE_URL", "") or "https://api.openai.com/v1"
    if base not in _NO_RESPONSES_API:
        try:
            response = client.responses.create(
                model=model, input=prompt.responses_input(), max_output_tokens=max(max_output_tokens, 16)
            )
            usage = getattr(response, "usage", None)
            return (
                response.output_text or "",
                "openai-responses",
                int(getattr(usage, "input_tokens", 0) or 0),
                int(getattr(usage, "output_tokens", 0) or 0),
            )
        except openai.APIStatusError as exc:
            if exc.status_code not in (404, 405, 501):
                raise GenerationError(f"responses API: {exc.status_code} {exc.message}") from exc
            logger.info("No Responses API at %s (%s); using chat completions", base, exc.status_code)
        except (AttributeError, TypeError) as exc:  # an older client or a server answering another shape
            logger.info("Responses API unusable at %s (%s); using chat completions", base, exc)
        except openai.OpenAIError as exc:
            raise GenerationError(f"responses API: {exc}") from exc
    try:
        completion = client.chat.completions.create(
            model=model, messages=prompt.chat_messages(), max_tokens=max_output_tokens
        )
    except openai.OpenAIError as exc:
        raise GenerationError(f"chat completions: {exc}") from exc
    _NO_RESPONSES_API.add(base)
    usage = getattr(completion, "usage", None)
    choice = completion.choices[0] if completion.choices else None
    return (
        (choice.message.content if choice and choice.message else "") or "",
        "openai-chat",
        int(getattr(usage, "prompt_tokens", 0) or 0),
        int(getattr(usage, "completion_tokens", 0) or 0),
    )


# --- the extractive answer ------------------------------------------------------------------------

_MONEY = re.compile(
    r"(?i)(?:US\$|COP\s?\$?|USD\s?|\$|€)\s?\d[\d.,]*\d(?:\s?(?:COP|USD|EUR|pesos))?"
    r"|(?:US\$|COP\s?\$?|USD\s?|\$|€)\s?\d"
    r"|\b\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?\s?(?:COP|USD|EUR|€|pesos)\b"
)

_LENGTH = r"\b\d+(?:[.,]\d+)?\s*(?:cm|mm|m|mts|metros?)\b"  # a figure with its unit of length ("6 m")
#: A figure with its unit of length, or two figures by each other ("6 m", "78 x 48 cm").
_MEASURE = re.compile(rf"(?i){_LENGTH}|\b\d+\s*[x\u00d7]\s*\d")
#: Words that ask for a size ("¿qué medidas tiene?", "How tall is ...?").
_SIZE_WORDS = (
    *("medida", "tamano", "dimension", "largo", "ancho", "alto", "altura", "profundidad", "fondo", "mide"),
    *("size", "dimension", "length", "width", "tall", "height", "deep", "depth", "wide", "long"),
)
# Words that ask for a kind of fact, and how to spot a line holding it.
_FACTS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        _SIZE_WORDS,
        re.compile(rf"(?i)\d\s*[x\u00d7]\s*\d|{_LENGTH}|medida|dimensi|largo|ancho|alto"),
    ),
    (  # a sentence with a figure and its unit answers ("Se vende por tubo completo de 6 m."); not for the words
        # that also name things or times ("cuello alto", "fondo", "how long")
        tuple(w for w in _SIZE_WORDS if w not in ("alto", "profundidad", "fondo", "deep", "depth", "wide", "long")),
        _MEASURE,
    ),
    (("espesor", "grosor", "grueso", "thick"), re.compile(r"(?i)espesor|grosor|thick")),
    (("color", "tono", "colour"), re.compile(r"(?i)colou?r|tono")),
    (("garantia", "warrant", "guarantee"), re.compile(r"(?i)\b\d+\s*(?:años|meses|years|months)\b")),
    (("garantia", "warrant", "guarantee"), re.compile(r"(?i)garant|warrant|guarant")),
    (("material", "hecho", "made"), re.compile(r"(?i)material|hecho de|made of")),
    (
        ("disponib", "stock", "entrega", "envio", "deliver", "shipping", "inventario", "existencia"),
        re.compile(r"(?i)disponib|stock|entrega|env[ií]o|deliver|shipping|inventario|existencia"),
    ),
    (("peso", "pesa", "weight"), re.compile(r"(?i)\bpeso\b|\bkg\b|weight")),
    (("vatio", "watt", "potencia", "power"), re.compile(r"(?i)\b\d[\d.,]*\s*(?:W|vatios|watts)\b|potencia")),
    (
        ("rinde", "rendimiento", "alcanza", "cubre", "cuadrado", "coverage", "cover"),
        re.compile(r"(?i)\d\s*m²|\d\s*m2\b|\brinde\b|rendimiento"),
    ),
    (
        ("grado", "temperatura", "aguanta", "soporta", "degree", "temperature"),
        re.compile(r"(?i)\b\d+\s*°|\bgrados\b"),
    ),
    (("incluye", "include", "trae"), re.compile(r"(?i)inclu|trae")),
    (
        ("demora", "demoran", "tarda", "plazo", "tiempo", "dias", "cuando llega", "llega", "long", "days", "soon"),
        re.compile(r"(?i)\b\d+\s*(?:a\s*\d+\s*)?(?:d[ií]as|horas|semanas|meses)\b|h[aá]biles|mismo d[ií]a"),
    ),
    (
        ("hora", "abren", "abre", "cierran", "cierra", "horario", "atienden", "hours", "open", "close"),
        re.compile(r"(?i)\b\d{1,2}(?::\d{2})?\s*(?:a\.\s?m\.|p\.\s?m\.|am\b|pm\b|m\.)|horario"),
    ),
    (
        ("whatsapp", "telefono", "celular", "numero", "llamar", "contacto", "phone", "call"),
        re.compile(r"(?i)\b\d{3}\s?\d{3}\s?\d{4}\b|whatsapp|tel[eé]fono|celular"),
    ),
]
_PRICE_WORDS = ("precio", "cuesta", "costo", "cobran", "valor", "tarifa", "price", "cost", "vale")
#: Whole words only: "cuánto" asks a price, "cuántos grados" a number.
_PRICE_WHOLE_WORDS = frozenset(("cuanto", "much", "fee", "fees"))


def _price_word(word: str) -> bool:
    return word in _PRICE_WHOLE_WORDS or any(word.startswith(k) for k in _PRICE_WORDS)


_PRICE_PHRASE = re.compile(r"(?:^|\s)a como(?:\s|$)")
_GENERAL = (
    "info", "informacion", "caracteristic", "detalle", "especificacion", "describ", "details", "feature", "spec",
)  # fmt: skip
#: Framing words around the catalog's own sentences, in the customer's language ("" adds nothing).
FRAMES = {"es": "", "en": "From our catalog: "}
# An English question about a product gets its label-and-value lines in English ("Price: $289.900"), the
# values as written; descriptions and policies are quoted as the catalog says them.
#: A unit answers when it covers this share of the question's words that the catalog knows.
ENOUGH_COVERAGE = 0.5
#: ... and holds this share of all the question's words (a synonym counts, a spelling match only when close).
ENOUGH_WORDS = 0.6
_MATCH_WEIGHT = 0.55
#: Without enough words in common, a unit of the best hit still answers when both signals agree: the hit's
#: fused score reaches BOTH_FUSED with a dense relevance of at least BOTH_DENSE, and the unit covers BOTH_COVERAGE
#: of the known words and BOTH_WORDS of all the question's words (a product asked for by another name or by
#: what it does: "la llave de cocina que se abre sola" for "Grifería Sensa ... sensor infrarrojo"). Calibrated with
#: bench/catalog_quality.py: 0.8 answers one more question by another name (fused 0.81) and no off-topic question;
#: at 0.7 two off-topic questions get an answer.
BOTH_FUSED = 0.8
BOTH_DENSE = 0.5
BOTH_COVERAGE = 0.4
BOTH_WORDS = 0.3
#: A product of the best hit also answers without words in common when the search singles that hit out: first by
#: meaning (dense rank 1) and ahead of every other hit by STANDOUT_MARGIN of fused score (an English question
#: about a Spanish catalog, "How much is the hammer drill?" for "Taladro percutor ... $249.900"). Off-topic
#: questions find several weak neighbours, none far ahead; calibrated with bench/catalog_quality.py. A sentence of
#: that hit answers so too when it shares a word with the question ("el enchufe que se apaga solo con una fuga" ->
#: "La toma GFCI corta la corriente sola cuando detecta una fuga ..."), and brings the product it talks about
#: (:func:`_product_named`).
STANDOUT_MARGIN = 0.17
MAX_PRODUCT_LINES = 6
#: Among the units that answer, the weight of their hit's search score beside their share of the question's words.
HIT_WEIGHT = 0.5
MAX_TEXT_SENTENCES = 2


#: Facts specific enough that a line holding one, on one of the best hits and sharing a word with the question,
#: answers it ("¿a qué hora abren los sábados?" -> "Sábados de 8:00 a. m. a 1:00 p. m."): durations, hours, phones.
_SPECIFIC_FACTS = frozenset(_FACTS[i][1] for i in range(len(_FACTS)) if _FACTS[i][1].pattern.startswith(r"(?i)\b\d"))


@dataclass(frozen=True)
class _Asked:
    price: bool
    general: bool
    facts: tuple[re.Pattern[str], ...]
    numbers: frozenset[str] = frozenset()

    def specific(self, text: str, *, product: bool = False) -> bool:
        """Whether ``text`` holds a specific fact asked for; a product's measures do not count (every product has
        some: "double bowl sink" is not answered by the one-bowl sink's "78 x 48 cm")."""
        return any(p in _SPECIFIC_FACTS and p.search(text) and not (product and p is _MEASURE) for p in self.facts)


def _asked(question: str) -> _Asked:
    words = normalize(question).split()
    facts: list[re.Pattern[str]] = []
    price = general = False
    for word in words:
        for keys, pattern in _FACTS:
            if any(word.startswith(k) for k in keys) and pattern not in facts:
                facts.append(pattern)
        general = general or any(word.startswith(k) for k in _GENERAL)
        price = price or _price_word(word)
    # "¿a cómo el bulto?", "¿a como está?": everyday Spanish for "how much", a phrase rather than a word.
    price = price or bool(_PRICE_PHRASE.search(" ".join(words)))
    return _Asked(price=price, general=general, facts=tuple(facts), numbers=frozenset(_figures(question)))


_FIGURE = re.compile(r"(?<![\d.,/])\d+(?:[.,/]\d+)*")
#: The weight of a unit's holding the figures the question gives ("1 pulgada", "45x45", "12 vatios").
NUMBER_WEIGHT = 0.1
#: The weight of the share of a product's name that the question does not ask for.
EXTRA_NAME_WEIGHT = 0.1


#: Words that count the thing named next ("una poza", "dos manijas", "double bowl"); figures count too ("2 pozas").
_COUNT_WORDS = {
    **dict.fromkeys(("un", "una", "uno", "one", "single"), 1),
    **dict.fromkeys(("dos", "two", "double"), 2),
    **dict.fromkeys(("tres", "three", "triple"), 3),
    **dict.fromkeys(("cuatro", "four"), 4),
}
#: The weight of a unit's counting a thing as the question does ("una poza"), against one counting it otherwise.
COUNT_WEIGHT = 0.1


def _counts(text: str, language: str) -> dict[str, int]:
    """How many of each thing ``text`` counts, by the thing's stem: "dos pozas con escurridor" -> {"poz": 2}. Pure."""
    from catalog_ai.lexical import document_tokens

    words = normalize(text).split()
    out: dict[str, int] = {}
    for i, (word, following) in enumerate(pairwise(words)):
        # A figure counts when it is one digit of its own ("2 pozas"), not the end of "4,8 L" or "1/2".
        figure = len(word) == 1 and word.isdigit() and not (i and words[i - 1].isdigit())
        count = _COUNT_WORDS.get(word) or (int(word) if figure else 0)
        if count and following.isalpha() and len(following) >= 3:  # a thing, not a unit ("2 L", "3 m", "1 HP")
            stems = document_tokens(following, language)[0]
            if stems:
                out.setdefault(stems[0], count)
    return out


#: A price list's sentence under a title ("Tarifas de instalación: grifería $60.000; sanitario $90.000; ...").
_LIST_TITLE = re.compile(r"^\s*([^\W\d][^:;.\d$]{2,40}):\s")
#: The weight against a price list whose title the question does not ask about: "What's the price of the electric
#: shower?" is not asking what installing one costs, though the tariffs name "ducha eléctrica $70.000".
LIST_WEIGHT = 0.1


def _foreign_list(text: str, matcher: _Matcher) -> bool:
    """Whether ``text`` is a list under a title ("Tarifas de instalación: ...") none of whose words, but the ones that
    ask a price, the question has (or a synonym of)."""
    found = _LIST_TITLE.match(text)
    if not found:
        return False
    title = " ".join(w for w in normalize(found.group(1)).split() if not _price_word(w))
    words = matcher.words(title)
    return bool(words) and matcher.coverage(words) == 0


def _figures(text: str) -> set[str]:
    """The whole figures of ``text``: "1/2", "1.000" and "45" are three; "1" is not in "1/2" nor in "12"."""
    return {m.group(0).rstrip(".,") for m in _FIGURE.finditer(text or "")}


def _sku_pattern() -> str:
    from catalog_ai.skus import DEFAULT_SKU_PATTERN

    return getattr(settings, "AI_SKU_PATTERN", "") or DEFAULT_SKU_PATTERN


def _sentence(text: str) -> str:
    text = text.strip()
    if text and text[-1] in ",;":
        text = text[:-1].rstrip()  # a line cut after its comma ("Mate, caja de 1,44 m²,") ends here
    return text if not text or text[-1] in ".!?…:" else text + "."


@dataclass
class _Unit:
    """Lines of one hit that answer together: a product block, or sentences of a paragraph."""

    hit: Hit
    rank: int
    lines: list[str]
    product: bool
    coverage: float = 0.0
    bonus: float = 0.0
    enough: bool = False


class _Matcher:
    """How much of a question a piece of catalog text covers: stemmed, expanded words weighted by IDF."""

    def __init__(self, lexical: Any, question: str) -> None:
        self.lexical = lexical
        # Words that only ask for a price ("cuánto cuesta", "precio") match every product: the price is
        # looked for by _Asked, not by these words.
        words = [w for w in normalize(question).split() if not _price_word(w)]
        from catalog_ai.translation import words_for

        translations = words_for(question, lexical.language)
        self.tokens = lexical.query_tokens(" ".join(words), translations=translations)
        self.slots: list[tuple[str, float, tuple[tuple[str, float], ...]]] = []
        for i, token in enumerate(self.tokens.base):
            alternatives = self.tokens.alternatives(i)
            if token in lexical:
                self.slots.append((token, lexical.idf(token), alternatives))
            elif alternatives:
                self.slots.append((token, max(lexical.idf(f) for f, _w in alternatives), alternatives))
            # a word the catalog does not know at all ("mamá", "nueva") neither helps nor hurts
        self.total = sum(idf for _t, idf, _a in self.slots)
        self.words_asked = sum(1 for t in self.tokens.base if not t.isdigit() or len(t) > 2)

    def matched(self, words: set[str]) -> int:
        """How many of the question's words (or a synonym/spelling of theirs weighing at least half) ``words`` has."""
        return sum(
            1
            for token, _idf, alternatives in self.slots
            if token in words or any(w >= _MATCH_WEIGHT and f in words for f, w in alternatives)
        )

    def enough(self, words: set[str]) -> bool:
        if self.codes(words):
            return True  # a reference the customer typed names one product
        """Covers :data:`ENOUGH_COVERAGE` of the known words (IDF-weighted), and :data:`ENOUGH_WORDS` of all the
        question's words or at least two words and that share of the known ones: "mesones de mármol rosado" is
        not answered by any "mesón" when the catalog has no pink marble."""
        matched = self.matched(words)
        if self.coverage(words) < ENOUGH_COVERAGE or matched < 1:
            return False
        # Small talk around a question ("hola, es para la cocina nueva de mi mamá") does not hide the product:
        # two words or more and most of the words the catalog knows are enough too.
        share = ENOUGH_WORDS * (len(self.slots) if matched >= 2 else self.words_asked)
        return matched >= share

    def partly(self, words: set[str]) -> bool:
        """The weaker word evidence that suffices when the search's dense and fused scores are high."""
        return self.coverage(words) >= BOTH_COVERAGE and self.matched(words) >= BOTH_WORDS * self.words_asked

    def words(self, text: str) -> set[str]:
        from catalog_ai.lexical import document_tokens

        base, extra = document_tokens(text, self.lexical.language)
        return set(base) | set(extra)

    def coverage(self, words: set[str]) -> float:
        if self.total <= 0:
            return 0.0
        got = 0.0
        for token, idf, alternatives in self.slots:
            if token in words:
                got += idf
            else:
                got += idf * max((w for f, w in alternatives if f in words), default=0.0)
        return got / self.total

    def extra_share(self, words: set[str]) -> float:
        """The share of ``words`` (a name's) that are neither the question's words nor their alternatives."""
        named = {w for w in words if w.isalpha() or (w.isdigit() and len(w) < 5)}
        if not named:
            return 0.0
        asked = {token for token, _idf, _a in self.slots} | {f for _t, _i, alts in self.slots for f, _w in alts}
        return len(named - asked) / len(named)

    def codes(self, words: set[str]) -> bool:
        """Whether ``words`` hold a code of the question ("HE-RM800", "gcmon01": joined letters and digits)."""
        return any(t in words for t in self.tokens.bonus if any(c.isdigit() for c in t) and len(t) >= 4)


_HEADING_WORDS = 8
_COLUMN_NAMES = frozenset(
    [
        *("ref", "ref.", "referencia", "codigo", "código", "cod", "cód.", "cód", "sku", "precio", "price", "valor"),
        *("descripcion", "descripción", "description", "producto", "product", "modelo", "model", "medidas"),
        *("acabado", "potencia", "capacidad", "presentacion", "presentación"),
    ]
)


def _heading_like(line: str) -> bool:
    """A few words, no digit, no sentence punctuation ("Servicio de instalación", "Grifería Sensa para cocina")."""
    line = line.strip()
    if not line or any(ch.isdigit() for ch in line) or line[-1] in ".!?…;:" or "," in line:
        return False
    return len(line.split()) <= _HEADING_WORDS


def _name_like(line: str) -> bool:
    """A product's name: a few words, figures allowed ("Ducha eléctrica Termo 3 temperaturas"), no sentence end,
    no price, no field label ("REF: GC-SEN-05")."""
    line = line.strip()
    if not line or line[-1] in ".!?…;:," or len(line.split()) > _HEADING_WORDS:
        return False
    return not _priced(line) and not _label_line(line)


def _table_header(line: str) -> bool:
    """A table's header row: heading-like with at least two column names ("Modelo Descarga Medidas Ref. Precio")."""
    words = [w.strip("·|").casefold() for w in line.split()]
    return _heading_like(line.replace("·", " ")) and sum(w in _COLUMN_NAMES for w in words) >= 2


_RUNS_ON = re.compile(r"^(?:[a-zà-öø-ÿ0-9$€(]|[A-Z]{2,}\b)")
_SHORT_LAST_WORD = re.compile(r"(?:^|\s)[a-zà-öø-ÿ]{1,4}$")


def _prose(lines: list[str]) -> str:
    """A paragraph's lines as text: a line that does not end a sentence runs on into the next one when that one
    starts in lower case, with a number or an amount, or with an acronym after a short word ("use\nCPVC");
    a line that starts with a capitalised word (a table row, a title) stays a line of its own."""
    out: list[str] = []
    for line in lines:
        previous = out[-1] if out else ""
        runs_on = previous and previous[-1] not in ".!?…:;" and _RUNS_ON.match(line)
        if runs_on and (not line[:2].isupper() or _SHORT_LAST_WORD.search(previous)):
            out[-1] = f"{previous} {line}"
        else:
            out.append(line)
    return "\n".join(out)


def _named(line: str) -> bool:
    """A line that names something: at least two words of three letters or more besides prices and codes."""
    return len(re.findall(r"[^\W\d_]{3,}", _MONEY.sub(" ", line))) >= 2


def _units(hit: Hit, rank: int, pattern: str) -> list[_Unit]:
    """A hit's product blocks (whole), and each sentence of its other paragraphs."""
    from catalog_ai.chunking import is_price_line, normalize_text, product_blocks, unwrap_lines
    from catalog_ai.prompting import split_sentences
    from catalog_ai.skus import has_sku

    units = []
    lines = unwrap_lines(normalize_text(strip_instructions(hit.text))).split("\n")
    # The page's title heads a chunk: a short first line followed by a blank line, or by another name-like line
    # ("Grifería para cocina" then "Grifería monocontrol para cocina cuello alto"); a product's own name is
    # followed by its details ("Granito Blanco Dallas" then "Precio: $380.000").
    title = (
        lines[0] if len(lines) > 2 and _heading_like(lines[0]) and (not lines[1] or _heading_like(lines[1])) else None
    )
    for position, block in enumerate(product_blocks(lines, sku_pattern=pattern)):
        # The page's title (the chunk's first line) and a table's header row are nobody's name.
        block = [
            line
            for i, line in enumerate(block)
            if not ((position == 0 and i == 0 and line == title) or _table_header(line))
        ]
        if not block or not _named(" ".join(block)):
            continue  # codes or prices alone (a table read column by column) tell a customer nothing
        intro = _intro_length(block)
        if intro:
            # A section's introduction run into the product below it ("Grifería para cocina", "Griferías para
            # cocina con cuerpo de latón... de la poza.", "Grifería monocontrol para cocina cuello alto", ...):
            # its sentences answer on their own, and the product is named by its own line.
            for sentence in split_sentences(_prose([line for line in block[:intro] if not _heading_like(line)])):
                units.append(_Unit(hit, rank, [sentence], product=False))
            block = block[intro:]
        has_code = any(has_sku(line, pattern) for line in block)
        short = len(block) <= MAX_PRODUCT_LINES and all(len(line) <= 160 for line in block)
        priced = any(is_price_line(line) for line in block)
        one_line_product = len(block) == 1 and priced and len(block[0]) <= 200
        # Sentences that mention an amount ("Pago contra entrega ... hasta $2.000.000.") are not a product: a
        # product's first line is its name, which does not end a sentence.
        named_first = not block[0].rstrip().endswith((".", "!", "?"))
        if has_code or one_line_product or (short and priced and len(block) > 1 and named_first):
            units.append(_Unit(hit, rank, block, product=True))
        else:
            while len(block) > 1 and _heading_like(block[0]):
                block = block[1:]  # a section title ("Nuestras tiendas y horarios") does not run into a sentence
            for sentence in split_sentences(_prose(block)):
                units.append(_Unit(hit, rank, [sentence], product=False))
    return units


_INTRO_CHARS = 80


def _intro_length(block: list[str]) -> int:
    """How many lines open ``block`` before its product's name: a name-like line (heading-like) right after a
    long sentence (an introduction) starts the product; 0 when the block opens with the product."""
    for i in range(1, len(block) - 1):
        previous = block[i - 1].rstrip()
        if _name_like(block[i]) and len(previous) >= _INTRO_CHARS and previous[-1:] in ".!?":
            return i
    # A section's title and one short sentence before the name ("Cocina: lavaplatos y accesorios", "Lavaplatos para
    # cocinas integrales y accesorios para el desagüe.", "Lavaplatos de empotrar en acero inoxidable, una poza").
    if len(block) > 3 and _heading_like(block[0]) and block[1].rstrip()[-1:] in ".!?" and _name_like(block[2]):
        return 2
    return 0


def _product_lines(unit: _Unit, asked: _Asked, matcher: _Matcher, pattern: str) -> tuple[list[str], list[str]]:
    """A product's lines as written: (its name, reference and price lines; the details asked about, or all when
    few). The head is said as one sentence, so the answer's sentence limit cuts details, never the price."""
    from catalog_ai.skus import has_sku

    lines = unit.lines
    if len(lines) <= 1:
        return lines, []
    # A detail line ("Medidas 78 x 48 cm", "Precio: $629.000", "Rinde 175 m² a dos manos.") is not the product's
    # name, whatever it covers.
    candidates = [
        i for i in range(min(2, len(lines))) if i == 0 or not (_label_line(lines[i]) or lines[i].rstrip()[-1:] == ".")
    ]
    name = max(candidates, key=lambda i: (matcher.coverage(matcher.words(lines[i])), -i))
    skip = {name} | ({0} if name == 1 and _heading_like(lines[0]) else set())  # a section title above the name
    labelled = [i for i, line in enumerate(lines) if i not in skip and (has_sku(line, pattern) or _priced(line))]
    rest = [i for i in range(len(lines)) if i not in skip and i not in labelled]
    asked_for = [
        i for i in rest if any(p.search(lines[i]) for p in asked.facts) or matcher.coverage(matcher.words(lines[i]))
    ]
    details = rest if (len(lines) <= 4 or asked.general) else asked_for
    details = sorted(details, key=lambda i: (i not in asked_for, i))
    head = [lines[i] for i in [name, *labelled]]
    return head, [lines[i] for i in details][: max(MAX_PRODUCT_LINES - len(head), 1)]


def _asks(unit: _Unit) -> bool:
    """A question of the catalog's own ("¿PVC o CPVC?", a FAQ's heading) answers nothing by itself."""
    return not unit.product and unit.lines[-1].rstrip().endswith("?")


def _label_line(line: str) -> bool:
    """A line that opens with a field's name ("Medidas 78 x 48 cm", "Ref. CP-050", "Precio: $27.900")."""
    first = line.strip().split(maxsplit=1)[:1]
    return bool(first) and first[0].casefold().rstrip(":") in _COLUMN_NAMES


def _priced(line: str) -> bool:
    from catalog_ai.chunking import is_price_line

    return is_price_line(line) or bool(_MONEY.search(line))


def _text_sentences(best: _Unit, units: list[_Unit], asked: _Asked, matcher: _Matcher) -> list[_Unit]:
    """The best sentence, and the next one of the same hit that adds what the question asks for."""
    chosen = [best]
    covered = matcher.words(best.lines[0])
    for unit in sorted(units, key=lambda u: -(u.coverage + u.bonus)):
        if len(chosen) >= MAX_TEXT_SENTENCES:
            break
        if unit is best or unit.hit is not best.hit or unit.product or unit.coverage <= 0:
            continue
        words = matcher.words(unit.lines[0])
        if matcher.coverage(covered | words) > matcher.coverage(covered) + 0.05:
            chosen.append(unit)
            covered |= words
    order = {id(u): i for i, u in enumerate(units)}
    return sorted(chosen, key=lambda u: order[id(u)])


def extractive_answer(
    question: str,
    hits: Sequence[Hit],
    *,
    language: str = "es",
    lexical: Any = None,
    runner_up: float | None = None,
) -> tuple[str, list[Reference]] | None:
    """An answer made of the catalog's own lines and sentences (with its references), or None.

    The units are the product blocks of the best hits (a product's lines, as ``catalog_ai.chunking``
    groups them) and the sentences of their other paragraphs (policies, services). The unit
    covering most of the question's words (stemmed and expanded like the search, weighted by
    IDF; words the catalog does not know at all do not count) answers when it covers at least
    :data:`ENOUGH_COVERAGE` of them and :data:`ENOUGH_WORDS` of the question's words (or the
    customer typed its reference); a unit of the best hit also answers with weaker word evidence
    when the search's dense and fused scores are both high (:data:`BOTH_FUSED`...). A product is
    copied whole (name, reference, price and details as written); a paragraph gives its best
    sentence and the next one that adds to it, and when that sentence talks about a product of its
    page (:func:`_product_named`), that product's name, reference and price follow. Nothing is
    rewritten or cut out, so every number of the answer is in a cited chunk. An English question
    gets English framing words (:data:`FRAMES`) around the catalog's sentences, and English field
    labels before the catalog's values ("Price: $289.900", "Size: 78 x 48 cm"). None when nothing answers:
    better the fallback than a neighbour's price.

    ``lexical`` is the catalog's :class:`catalog_ai.lexical.LexicalIndex` (for IDF, stemming and
    expansion); by default the current store's, else one built over the hits. ``runner_up`` is the
    search's second score, relevant or not (default: the second of ``hits``), for :data:`STANDOUT_MARGIN`.
    """
    from catalog_ai.skus import extract_skus

    hits = list(hits[:MAX_IMAGES])
    if not hits:
        return None
    pattern = _sku_pattern()
    lexical = lexical or _lexical_for(hits)
    asked = _asked(question)
    matcher = _Matcher(lexical, question)
    units = [unit for rank, hit in enumerate(hits) for unit in _units(hit, rank, pattern)]
    if not units:
        return None
    top = hits[0]
    both = top.dense is not None and top.dense >= BOTH_DENSE and top.score >= BOTH_FUSED
    counted = _counts(question, lexical.language)
    second = runner_up if runner_up is not None else max((h.score for h in hits[1:]), default=0.0)
    standout = top.dense_rank == 1 and top.score - second >= STANDOUT_MARGIN
    for unit in units:
        text = "\n".join(unit.lines)
        words = matcher.words(text)
        unit.coverage = matcher.coverage(words)
        unit.enough = not _asks(unit) and (
            matcher.enough(words)
            or (both and unit.hit is top and matcher.partly(words))
            or (standout and unit.hit is top and (unit.product or unit.coverage > 0))
            or (matcher.matched(words) >= 1 and asked.specific(text, product=unit.product))
        )
        # The search's own judgement (hybrid: dense meaning and words) counts as much as the words in common.
        unit.bonus = 0.3 * matcher.codes(words) + HIT_WEIGHT * float(unit.hit.score) - 0.02 * unit.rank
        if asked.price and _MONEY.search(text):
            unit.bonus += 0.2 if unit.product else 0.1
            if not unit.product and _foreign_list(text, matcher):
                unit.bonus -= LIST_WEIGHT
        if asked.facts and any(p.search(text) for p in asked.facts):
            unit.bonus += 0.1 if unit.product else 0.15
        if asked.numbers:
            # "tubo pvc de 1 pulgada": the product whose own figures include the asked 1 (1", not 1/2").
            unit.bonus += NUMBER_WEIGHT * len(asked.numbers & _figures(text)) / len(asked.numbers)
        if counted:
            # "lavaplatos de una poza": the sink with one bowl, not the one with two.
            theirs = _counts(text, lexical.language)
            agree = sum(1 if theirs[k] == n else -1 for k, n in counted.items() if k in theirs)
            unit.bonus += COUNT_WEIGHT * max(-1, min(1, agree))
        if unit.product:
            # Of two products the question names equally ("pintura vinilo tipo 1 el galón"), the one whose name
            # says less besides ("..., galón" rather than "..., cuñete de 5 galones").
            unit.bonus -= EXTRA_NAME_WEIGHT * matcher.extra_share(matcher.words(unit.lines[0]))
    ranked = sorted(units, key=lambda u: (-u.enough, -((1 - HIT_WEIGHT) * u.coverage + u.bonus), u.rank))
    best = ranked[0]
    if not best.enough:
        return None
    if best.product:
        head, parts = _product_lines(best, asked, matcher, pattern)
        if language == "en":
            parts = [_english_label(line, pattern) for line in parts]
        parts = [_head_sentence(head, language, pattern), *parts]
        chosen = [best]
    else:
        chosen = _text_sentences(best, units, asked, matcher)
        parts = [line for unit in chosen for line in unit.lines]
        named = _product_named(best, lexical, pattern)
        if named is not None and not any(_priced(line) for line in parts):
            # "La bomba periférica sube el agua al tanque elevado." is about a product of the page: its name,
            # reference and price follow ("Bomba periférica 1/2 HP · BO-P05 · $269.900").
            head, _details = _product_lines(named, asked, matcher, pattern)
            parts.append(_head_sentence(head, language, pattern))
            chosen = [*chosen, named]
    body = " ".join(_sentence(line) for line in parts if line.strip()).strip()
    if not body:
        return None
    text = FRAMES.get(language, "") + body
    refs = []
    for unit in chosen:
        skus = extract_skus("\n".join(unit.lines), pattern)
        sku = next((s for s in skus if s in set(unit.hit.skus)), skus[0] if skus else "")
        refs.append(_reference(unit.hit, sku=sku))
        if sku:
            refs += [_reference(h, sku=sku) for h in hits if h is not unit.hit and sku in set(h.skus)]
    return text, _dedupe(refs)


def _head_sentence(head: list[str], language: str, pattern: str) -> str:
    """A product's name, reference and price lines as one sentence, each line whole ("Granito Negro San Gabriel —
    Precio por metro cuadrado: $450.000 — Ref. GR-001"), with English labels for an English question."""
    if language == "en":
        head = [_english_label(line, pattern) for line in head]
    return " — ".join(line.strip().rstrip(".").strip() for line in head if line.strip())


#: A sentence names a product of its page when they share at least this many words of the product's name...
NAMED_WORDS = 2
#: ... and that product's shared words weigh (IDF) at least this much more than the next product's.
NAMED_MARGIN = 1.25


def _product_named(sentence: _Unit, lexical: Any, pattern: str) -> _Unit | None:
    """The product of the sentence's page that the sentence talks about ("La bomba periférica sube el agua..." ->
    "Bomba periférica 1/2 HP · BO-P05 · $269.900"): the one sharing the most of its name's words with it (IDF
    weighted), at least :data:`NAMED_WORDS` of them, clearly ahead of the next; None when no product stands out."""
    from catalog_ai.lexical import document_tokens

    def name_words(text: str) -> set[str]:
        base, _extra = document_tokens(text, lexical.language)
        return {t for t in base if len(t) >= 3 and not any(c.isdigit() for c in t)}

    said = name_words(sentence.lines[0])
    if len(said) < NAMED_WORDS:
        return None
    scored: list[tuple[float, _Unit]] = []
    for hit in _page_hits(sentence.hit):
        for unit in _units(hit, sentence.rank, pattern):
            if not unit.product:
                continue
            shared = name_words(unit.lines[0]) & said
            if len(shared) >= NAMED_WORDS:
                scored.append((sum(lexical.idf(t) for t in shared), unit))
    if not scored:
        return None
    scored.sort(key=lambda item: -item[0])
    if len(scored) > 1 and scored[0][0] < NAMED_MARGIN * scored[1][0]:
        return None
    return scored[0][1]


def _page_hits(hit: Hit) -> list[Hit]:
    """The chunks of ``hit``'s page (its own first) as hits with its score: the page's other products."""
    try:
        from catalog_ai.vector_store import load_current

        store = load_current()
    except Exception:
        logger.warning("No catalog store for the page's products", exc_info=True)
        store = None
    out = [hit]
    for meta in store.page_chunks(hit.catalog_id, hit.page) if store is not None else ():
        if meta.id != hit.chunk_id:
            out.append(replace(hit, chunk_id=meta.id, text=meta.text, skus=tuple(meta.skus), image=meta.image))
    return out


_ES_PRICE_LABEL = re.compile(r"(?i)^\s*(?:precio|valor)(?:\s+de\s+venta)?\s*[:=\-\u2013]?\s*(?=[$€\d]|cop|usd)")
_ES_CODE_LABEL = re.compile(r"(?i)^\s*(?:ref(?:erencia)?|c[oó]d(?:igo)?|sku)\.?\s*[:#\-\u2013]?\s*(?=[A-Z0-9])")


def _english_label(line: str, pattern: str) -> str:
    """A product's label-and-value line in the customer's language: "Precio: $289.900" -> "Price: $289.900",
    "Cód. DU-110" -> "Reference: DU-110". The value stays as written; other lines are left alone."""
    if _ES_PRICE_LABEL.match(line) and _priced(line):
        return _ES_PRICE_LABEL.sub("Price: ", line, count=1)
    if _ES_CODE_LABEL.match(line):
        return _ES_CODE_LABEL.sub("Reference: ", line, count=1)
    found = _ES_DETAIL_LABEL.match(line)
    english = _EN_DETAIL_LABELS.get(normalize(found.group(1))) if found else None
    return f"{english}: {line[found.end() :]}" if found and english else line


#: A detail's Spanish label, before its value, and its English name ("Medidas 78 x 48 cm" -> "Size: 78 x 48 cm").
_EN_DETAIL_LABELS = {
    **dict.fromkeys(("medidas", "medida", "dimensiones", "tamano"), "Size"),
    **dict.fromkeys(("garantia",), "Warranty"),
    **dict.fromkeys(("peso",), "Weight"),
    **dict.fromkeys(("capacidad",), "Capacity"),
    **dict.fromkeys(("potencia",), "Power"),
    **dict.fromkeys(("espesor", "grosor"), "Thickness"),
}
#: A line's first word followed by ":" or by a figure: a label when _EN_DETAIL_LABELS knows it.
_ES_DETAIL_LABEL = re.compile(r"^\s*([^\W\d_]+)\s*(?::\s*|\s+(?=\d))")


def _lexical_for(hits: Sequence[Hit]) -> Any:
    """The current store's lexical index, else one over the hits' own texts."""
    from catalog_ai.lexical import LexicalIndex

    try:
        from catalog_ai.vector_store import load_current

        store = load_current()
        if store is not None and len(store):
            return store.lexical
    except Exception:
        logger.warning("No catalog store for the extractive answer's word weights", exc_info=True)
    return LexicalIndex.build([h.text for h in hits])
