"""Answer a customer's question from the catalog: retrieve, generate (or extract), guard, cache, log.

``answer_question(question, context=..., use_cache=True, log=True, conversation=None)``

1. Retrieval: ``catalog_ai.retrieval.search`` over the indexed catalogs (AISettings.top_k
   chunks). When the question alone finds nothing relevant, it is tried again with what the
   conversation adds (ad headline, the customer's previous messages), so "¿y cuánto vale?"
   after a message about a product still finds it.
2. Relevance threshold: when the best chunk scores below AISettings.min_score the answer is
   the fallback message (AISettings.fallback_message, else settings.AI_FALLBACK_MESSAGE) with
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

The extractive answer copies, never writes: from the chunks above the threshold it takes the
product block (the lines of one product, as ``catalog_ai.chunking`` groups them) that shares the
most words with the question and says "<name> — Ref. <SKU> — Precio <price>." plus the lines
holding the facts asked for (size, colour, warranty, ...), all copied from the catalog text.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
    fallback_text = _fallback_text(ai)
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


def _fallback_text(ai: AISettings) -> str:
    return (ai.fallback_message or "").strip() or settings.AI_FALLBACK_MESSAGE


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


def _search(query: str, *, k: int) -> list[Hit]:
    from catalog_ai.retrieval import search

    if not query.strip():
        return []
    try:
        return list(search(query, k=k))
    except Exception:
        logger.exception("Catalog retrieval failed for %r", query[:200])
        return []


def _retrieve(question: str, *, context: ConversationContext, k: int, min_score: float) -> tuple[str, list[Hit], bool]:
    """(the query that found them, hits best first, whether the conversation decided the outcome).

    The question first; when it finds nothing relevant, the question plus the ad headline and
    the customer's previous messages.
    """
    base = _base_query(question, context)
    hits = _search(base, k=k)
    if hits and hits[0].score >= min_score:
        return base, hits, False
    earlier = [m.text for m in context.history if m.role == "customer" and m.text.strip()][-2:]
    extra = [strip_instructions(t) for t in [context.ad_headline, *earlier] if t and t.strip()]
    if not extra:
        return base, hits, False
    widened = "\n".join([base, *extra]).strip()
    more = _search(widened, k=k)
    if more and (not hits or more[0].score > hits[0].score):
        return widened, more, True
    return base, hits, True


def _answer_fresh(
    question: str, *, context: ConversationContext, ai: AISettings, online: bool, fallback_text: str
) -> _Outcome:
    clean = strip_instructions(question).strip()
    if not clean and not context.image_descriptions:
        return _fallback(fallback_text)
    min_score = float(ai.min_score)
    query, hits, by_context = _retrieve(clean, context=context, k=max(int(ai.top_k or 5), 1), min_score=min_score)
    relevant = [h for h in hits if h.score >= min_score]
    outcome = (
        _answer_found(clean, query, relevant, context=context, ai=ai, online=online, fallback_text=fallback_text)
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
) -> _Outcome:
    limits = {"max_sentences": ai.response_max_sentences, "max_chars": ai.response_max_chars}
    language = guess_language(clean or query)

    def extractive(*, cacheable: bool = True) -> _Outcome:
        found = extractive_answer(query, relevant, language=language)
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
_LABELLED_PRICE = re.compile(r"(?i)\b(?:precio|valor|price)\b\s*(?:de\s+)?[:=\-\u2013]?\s*(\d[\d.,]*\d|\d)")
_SEPARATORS = " \t-\u2013\u2014|:\u00b7\u2022,;/"

# Words that ask for a kind of fact, and how to spot a line holding it.
_FACTS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (
        ("medida", "tamano", "dimension", "largo", "ancho", "alto", "mide", "size", "dimension", "length", "width"),
        re.compile(
            r"(?i)\d\s*[x\u00d7]\s*\d|\b\d+(?:[.,]\d+)?\s*(?:cm|mm|m|mts|metros?)\b|medida|dimensi|largo|ancho|alto"
        ),
    ),
    (("espesor", "grosor", "grueso", "thick"), re.compile(r"(?i)espesor|grosor|thick")),
    (("color", "tono", "colour"), re.compile(r"(?i)colou?r|tono")),
    (("garantia", "warrant", "guarantee"), re.compile(r"(?i)garant|warrant|guarant")),
    (("material", "hecho", "made"), re.compile(r"(?i)material|hecho de|made of")),
    (
        ("disponib", "stock", "entrega", "envio", "deliver", "shipping", "inventario", "existencia"),
        re.compile(r"(?i)disponib|stock|entrega|env[ií]o|deliver|shipping|inventario|existencia"),
    ),
    (("peso", "pesa", "weight"), re.compile(r"(?i)\bpeso\b|\bkg\b|weight")),
    (("incluye", "include", "trae"), re.compile(r"(?i)inclu|trae")),
]
_GENERAL = (
    "info", "informacion", "caracteristic", "detalle", "especificacion", "describ", "details", "feature", "spec",
)  # fmt: skip
_INTENT_WORDS = ("precio", "cuesta", "costo", "valor", "price", "cost", "cuanto", "vale")


def _intents(question: str) -> tuple[list[re.Pattern[str]], bool, str]:
    """(patterns of the facts asked for, asked for everything, the question without those words)."""
    words = normalize(question).split()
    patterns: list[re.Pattern[str]] = []
    rest = []
    general = False
    for word in words:
        matched = False
        for keys, pattern in _FACTS:
            if any(word.startswith(k) for k in keys):
                if pattern not in patterns:
                    patterns.append(pattern)
                matched = True
        if any(word.startswith(k) for k in _GENERAL):
            general = matched = True
        if any(word.startswith(k) for k in _INTENT_WORDS):
            matched = True
        if not matched:
            rest.append(word)
    return patterns, general, " ".join(rest)


def _tokens(text: str) -> set[str]:
    from catalog_ai.lexical import document_tokens

    base, extra = document_tokens(text)
    return set(base) | set(extra)


def _price(lines: Sequence[str]) -> tuple[str, int]:
    for i, line in enumerate(lines):
        match = _MONEY.search(line)
        if match:
            return match.group().strip(), i
    for i, line in enumerate(lines):
        match = _LABELLED_PRICE.search(line)
        if match:
            return match.group(1), i
    return "", -1


def _sku_pattern() -> str:
    from catalog_ai.skus import DEFAULT_SKU_PATTERN

    return getattr(settings, "AI_SKU_PATTERN", "") or DEFAULT_SKU_PATTERN


def _name(line: str, *, sku: str, price: str) -> str:
    name = re.sub(_sku_pattern(), " ", line)
    if sku:
        name = re.sub(re.escape(sku), " ", name, flags=re.IGNORECASE)
    if price:
        name = name.replace(price, " ")
    name = re.sub(r"(?i)\b(?:precio|valor|price)\b\s*[:=]?", " ", name)
    name = re.sub(r"\s{2,}", " ", name).strip(_SEPARATORS + ".")
    return name if len(name) >= 3 else ""


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?…" else text + "."


def _catalog_vocabulary() -> Callable[[str], bool]:
    """Whether a token appears anywhere in the indexed catalogs (everything counts when that is unknown)."""
    try:
        from catalog_ai.vector_store import load_current

        store = load_current()
        lexical = store.lexical if store is not None and len(store) else None
    except Exception:
        lexical = None
    if lexical is None:
        return lambda token: True
    unseen = lexical.idf("\x00")  # the IDF of a token no chunk has
    return lambda token: lexical.idf(token) < unseen - 1e-9


def extractive_answer(
    question: str,
    hits: Sequence[Hit],
    *,
    language: str = "es",
    in_catalog: Callable[[str], bool] | None = None,
) -> tuple[str, list[Reference]] | None:
    """An answer copied from the best-matching product block of ``hits`` (with its references), or None.

    A block answers when it holds at least 60% of the question's words, or at least two
    words and 60% of those the catalog knows at all (``in_catalog``), so that small talk
    around a question ("hola, es para mi cocina nueva...") does not hide the product.
    None otherwise: better the fallback than a neighbour's price.
    """
    from catalog_ai.chunking import normalize_text, product_blocks
    from catalog_ai.skus import extract_skus

    pattern = _sku_pattern()
    patterns, general, product_query = _intents(question)
    wanted = _tokens(product_query)
    if not wanted:
        return None
    in_catalog = in_catalog or _catalog_vocabulary()
    known = {t for t in wanted if in_catalog(t)}

    def enough(matched: int) -> bool:
        return matched >= 1 and (matched >= 0.6 * len(wanted) or (matched >= 2 and matched >= 0.6 * len(known)))

    best: tuple[float, int, Hit, list[str]] | None = None
    for rank, hit in enumerate(hits[:MAX_IMAGES]):
        lines = normalize_text(strip_instructions(hit.text)).split("\n")
        for block in product_blocks(lines, sku_pattern=pattern):
            matched = len(wanted & _tokens("\n".join(block)))
            if not enough(matched):
                continue
            candidate = (matched + float(hit.score), -rank, hit, block)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    if best is None:
        return None
    _score, _rank, hit, block = best

    skus = extract_skus("\n".join(block), pattern)
    sku = next((s for s in skus if s in set(hit.skus)), skus[0] if skus else "")
    if not sku and len(hit.skus) == 1 and len(extract_skus(hit.text, pattern)) <= 1:
        sku = hit.skus[0]
    price, _price_line = _price(block)
    # The name: the line sharing most words with the question (description lines come first).
    overlaps = [len(wanted & _tokens(line)) for line in block]
    name_line = max(range(len(block)), key=lambda i: (overlaps[i], -i))
    name = _name(block[name_line], sku=sku, price=price) or next(
        (n for n in (_name(line, sku=sku, price=price) for line in block) if n), ""
    )
    name_tokens = _tokens(block[name_line])
    facts = []
    for i, line in enumerate(block):
        if i == name_line:
            continue
        if not _name(line, sku=sku, price=price):
            continue  # nothing but the reference and the price, already said
        asks = any(p.search(line) for p in patterns)
        shares = bool((wanted - name_tokens) & _tokens(line))
        if asks or shares or general:
            facts.append(line)
    labels = {"price": "Price" if language == "en" else "Precio", "ref": "Ref."}
    head = [name] if name else []
    if sku:
        head.append(f"{labels['ref']} {sku}")
    if price:
        head.append(f"{labels['price']} {price}")
    text = " ".join([_sentence(" — ".join(head)), *[_sentence(f) for f in facts[:3]]]).strip()
    if not text:
        return None
    refs = [_reference(hit, sku=sku)]
    if sku:
        refs += [_reference(h, sku=sku) for h in hits if h is not hit and sku in set(h.skus)]
    return text, _dedupe(refs)
