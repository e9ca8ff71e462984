"""The "AI settings" admin page: the AI mode's switch and limits, the catalogs, and "Try a question".

It is the AISettings changelist (the model is a singleton). GET shows the page; POST with
``action=save`` updates the settings through ``catalog_ai.services.ai_settings_update``
(switching the AI off returns the hand-off step's conversations to INITIAL_STEP) and
redirects back; POST with ``action=media`` saves the "Images and voice notes" section (the
``conversations.models.EnrichmentSettings`` singleton: image description on/off and its prompt, the
minutes of images the AI keeps in mind, voice-note transcription on/off; the models in use shown
read-only); POST with ``action=ask`` answers a question through
``catalog_ai.answerer.answer_question`` and shows the answer with its backend, latency,
cache flag and references (page, SKU, score, page image), and why it was chosen
(:func:`explain`): the top passages of the search with their fused, lexical and dense
scores beside the threshold, so an owner sees what to fix in the catalog.

Viewing needs ``catalog_ai.view_aisettings``; saving and asking (which may spend tokens)
need ``catalog_ai.change_aisettings``. Page thumbnails link to MEDIA_PUBLIC_BASE_URL when
set, else to MEDIA_URL: page images are published files (MEDIA_ROOT/public/catalogs/pages by
default), served at /media/public/ by Django (SERVE_MEDIA) or by the proxy in production.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from catalog_ai.answerer import answer_question
from catalog_ai.forms import CatalogUploadForm
from catalog_ai.models import AISettings, Catalog
from catalog_ai.services import AI_SETTINGS_FIELDS, ai_settings_update
from catalog_ai.tasks import catalog_ingest_enqueue
from conversations.models import EnrichmentSettings
from conversations.models.enrichment import DEFAULT_VISION_PROMPT

logger = logging.getLogger(__name__)

TEMPLATE = "admin/catalog_ai/aisettings/settings.html"
MAX_QUESTION = 1000


class AISettingsForm(forms.ModelForm):
    """The AI settings in a business owner's words; the technical ones are shown folded under "Advanced"."""

    ADVANCED = (
        "gen_model",
        "embed_model",
        "max_output_tokens",
        "response_max_sentences",
        "response_max_chars",
        "top_k",
        "min_score",
        "cache_ttl",
    )

    class Meta:
        model = AISettings
        fields = list(AI_SETTINGS_FIELDS)
        widgets = {
            "fallback_message": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "handoff_step": forms.TextInput(attrs={"list": "ai-steps"}),
        }
        labels = {
            "enabled": gettext_lazy("Let the AI answer customers"),
            "handoff_step": gettext_lazy("Conversation step where the AI takes over"),
            "fallback_message": gettext_lazy("What to say when the catalog has no answer"),
            "gen_model": gettext_lazy("AI model that writes the answers"),
            "embed_model": gettext_lazy("AI model that indexes the catalog"),
            "max_output_tokens": gettext_lazy("Longest answer the model may write (tokens)"),
            "response_max_sentences": gettext_lazy("Most sentences in an answer"),
            "response_max_chars": gettext_lazy("Most characters in an answer"),
            "top_k": gettext_lazy("Catalog excerpts read for each question"),
            "min_score": gettext_lazy("How closely the catalog must match (0 to 1)"),
            "cache_ttl": gettext_lazy("Reuse the answer to a repeated question for (seconds)"),
        }
        help_texts = {
            "enabled": gettext_lazy(
                "When on, customers who reach the step below get answers written from your PDF catalogs."
            ),
            "handoff_step": gettext_lazy("Rules that move a chat to this step hand it over to the AI."),
            "fallback_message": gettext_lazy(
                "Sent when the catalog has nothing that answers the question. Empty: the default message "
                "(AI_FALLBACK_MESSAGE)."
            ),
            "gen_model": gettext_lazy("An OpenAI model name; used only when an OpenAI key is configured."),
            "embed_model": gettext_lazy("Used with an OpenAI key; changing it needs the index rebuilt."),
            "max_output_tokens": gettext_lazy("A token is about three quarters of a word."),
            "min_score": gettext_lazy(
                "Below this relevance (0 to 1) of the best catalog match, the fallback message is sent. "
                "Empty: the value calibrated for the indexing model in use (“Try a question” shows it)."
            ),
            "cache_ttl": gettext_lazy("Repeated questions are answered from the cache for this many seconds."),
        }

    def basic_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in self.ADVANCED]

    def advanced_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name in self.ADVANCED]

    def advanced_has_errors(self) -> bool:
        return any(self[name].errors for name in self.ADVANCED if name in self.fields)

    def clean_min_score(self) -> float | None:
        value = self.cleaned_data["min_score"]
        if value is not None and not 0 <= value <= 1:
            raise forms.ValidationError(_("Enter a number between 0 and 1."))
        return value

    def clean_top_k(self) -> int:
        value = self.cleaned_data["top_k"]
        if not 1 <= value <= 50:
            raise forms.ValidationError(_("Enter a number between 1 and 50."))
        return value

    def clean_handoff_step(self) -> str:
        value = self.cleaned_data["handoff_step"].strip()
        if not value:
            raise forms.ValidationError(_("The hand-off step cannot be empty."))
        return value


class EnrichmentSettingsForm(forms.ModelForm):
    """ "Images and voice notes": how customer images and voice notes become text (``EnrichmentSettings``)."""

    MAX_MINUTES = 1440

    class Meta:
        model = EnrichmentSettings
        fields = ["description_enabled", "vision_prompt", "visual_context_minutes", "transcription_enabled"]
        widgets = {"vision_prompt": forms.Textarea(attrs={"rows": 5, "cols": 80})}
        labels = {
            "description_enabled": gettext_lazy("Describe the images customers send"),
            "vision_prompt": gettext_lazy("Instructions for describing an image"),
            "visual_context_minutes": gettext_lazy("Images the AI keeps in mind (minutes)"),
            "transcription_enabled": gettext_lazy("Transcribe the voice notes customers send"),
        }
        help_texts = {
            "description_enabled": gettext_lazy(
                "Each image gets a description (or the text read in it) that the bot, the AI and the agents read."
            ),
            "vision_prompt": gettext_lazy(
                "What the vision model is asked for every image (only with an OpenAI key). "
                "Empty: the built-in instructions shown in the box."
            ),
            "visual_context_minutes": gettext_lazy(
                "The AI's answer reads the descriptions of the images the customer sent this many minutes "
                "before the question (the last five at most). 0: only the images sent with the question."
            ),
            "transcription_enabled": gettext_lazy(
                "The text of each voice note goes to the bot and the AI, and agents read it in the console."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["vision_prompt"].widget.attrs["placeholder"] = built_in_vision_prompt()

    def clean_vision_prompt(self) -> str:
        return self.cleaned_data["vision_prompt"].strip()

    def clean_visual_context_minutes(self) -> int:
        value = self.cleaned_data["visual_context_minutes"]
        if not 0 <= value <= self.MAX_MINUTES:
            raise forms.ValidationError(
                _("Enter a number of minutes between 0 and %(most)d (one day).") % {"most": self.MAX_MINUTES}
            )
        return value


def built_in_vision_prompt() -> str:
    """The instructions the vision model gets when the page leaves them empty (AI_VISION_PROMPT, else ours)."""
    return (getattr(settings, "AI_VISION_PROMPT", "") or "").strip() or DEFAULT_VISION_PROMPT


def media_models() -> list[tuple[str, str]]:
    """Which models turn customer media into text, as (what, which) lines an owner reads."""
    if getattr(settings, "OPENAI_API_KEY", ""):
        vision = _("OpenAI %(model)s (describes the image)") % {"model": settings.AI_VISION_MODEL}
    else:
        vision = _("Tesseract OCR (text read in the image)")
    backend = str(getattr(settings, "TRANSCRIPTION_BACKEND", "vosk") or "vosk").lower()
    if backend == "openai":
        voice = _("OpenAI %(model)s (transcribes the audio)") % {"model": settings.OPENAI_TRANSCRIPTION_MODEL}
    elif backend == "vosk":
        path = getattr(settings, "VOSK_MODEL_PATH", "")
        voice = (
            _("Vosk, offline (model in %(path)s)") % {"path": path}
            if path
            else _("Vosk, offline (no model folder set: VOSK_MODEL_PATH)")
        )
    else:
        voice = backend
    return [(_("Images are read by"), vision), (_("Voice notes are transcribed by"), voice), *media_availability()]


def media_availability() -> list[tuple[str, str]]:
    """Can each step work right now (a model installed, a backend reachable)? The state agents will see."""
    from conversations.services.enrichment import enrichment_availability
    from conversations.services.enrichment_types import REASONS

    titles = {"transcription": _("Voice notes now"), "description": _("Images now")}
    lines = []
    for name, availability in enrichment_availability().items():
        if availability.available:
            state = _("ready")
        else:
            state = str(REASONS.get(availability.reason, availability.reason))
            if availability.detail:
                state = f"{state} ({availability.detail})"
        lines.append((titles.get(name, name), state))
    return lines


class AskForm(forms.Form):
    question = forms.CharField(
        label=gettext_lazy("Question"),
        max_length=MAX_QUESTION,
        widget=forms.TextInput(attrs={"size": 70, "placeholder": gettext_lazy("How much is the black granite top?")}),
    )
    no_cache = forms.BooleanField(label=gettext_lazy("Skip the cache"), required=False)


EXCERPT_CHARS = 220


def explain(question: str, *, ai: AISettings, cited: set[tuple[Any, int]] | None = None) -> dict[str, Any]:
    """Why an answer was (or was not) chosen: the search's top passages with their scores and the threshold.

    Each passage: page, catalog, a short excerpt (plain text, its lines joined by " · "; the template escapes
    it), the fused score and its lexical and dense parts (None when the search had no dense side), whether
    it reaches the threshold and whether the answer cites its page (``cited``: (catalog id, page) pairs).
    Also the embedder that searched, the threshold used, and whether it is the admin's or the default.
    """
    from catalog_ai.answerer import effective_min_score
    from catalog_ai.prompting import strip_instructions
    from catalog_ai.retrieval import LEXICAL_ONLY, search_explained

    found = search_explained(strip_instructions(question), k=max(int(ai.top_k or 5), 1))
    own = effective_min_score(ai)
    threshold = found.threshold if own is None else own
    passages = []
    for hit in found.hits:
        lines = [" ".join(line.split()) for line in strip_instructions(hit.text).splitlines()]
        text = " · ".join(line for line in lines if line)
        passages.append(
            {
                "page": hit.page,
                "catalog": hit.catalog,
                "excerpt": text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…",
                "score": hit.score,
                "lexical": hit.lexical,
                "dense": hit.dense,
                "passed": hit.score >= threshold,
                "cited": (hit.catalog_id, hit.page) in (cited or set()),
                "image_url": media_link(hit.image),
            }
        )
    return {
        "passages": passages,
        "translations": sorted(found.translations.items()),
        "translation_missing": _translation_missing(question),
        "threshold": threshold,
        "threshold_is_default": own is None,
        "embedder": found.embedder,
        "lexical_only": found.embedder == LEXICAL_ONLY,
    }


def _translation_missing(question: str) -> str:
    """Why a question in another language than the catalog's is searched as written ("" when it is not)."""
    from catalog_ai.prompting import strip_instructions
    from catalog_ai.translation import unavailable_for
    from catalog_ai.vector_store import load_current

    try:
        store = load_current()
    except Exception:
        logger.warning("No catalog store for the catalog's language", exc_info=True)
        return ""
    if store is None or not len(store):
        return ""
    return unavailable_for(strip_instructions(question), store.lexical.language)


def media_link(path: str) -> str:
    """Where the admin's browser can load a file under MEDIA_ROOT."""
    if not path:
        return ""
    if "://" in path:
        return path
    from conversations.services.outbound_media import public_url

    if settings.MEDIA_PUBLIC_BASE_URL:
        return public_url(path)
    return settings.MEDIA_URL + quote(path.lstrip("/"))


def _steps() -> list[str]:
    from conversations.services.bots import known_steps

    return known_steps()  # the rules' steps, from the responder flows registers


def catalog_summary_text(catalog: Catalog) -> str:
    """One line a business owner reads: chunks, SKUs, OCR pages and time (or why it stopped)."""
    from catalog_ai.ingestion import catalog_is_stalled
    from catalog_ai.models import CatalogStatus

    summary = catalog.summary if isinstance(catalog.summary, dict) else {}
    if catalog.status in (CatalogStatus.FAILED, CatalogStatus.STALLED):
        return catalog.error[:120]
    if catalog_is_stalled(catalog=catalog):
        return _("Stalled: no sign of life from its worker. Resume or reset it.")
    if "chunks" not in summary:
        return "—"
    return _("%(chunks)d chunks · %(skus)d SKUs · %(ocr)d OCR pages · %(seconds)s s") % {
        "chunks": summary.get("chunks", 0),
        "skus": summary.get("skus", 0),
        "ocr": summary.get("ocr_pages", 0),
        "seconds": summary.get("seconds", 0),
    }


def _summary(catalog: Catalog) -> list[tuple[str, str]]:
    # The ingestion's raw figures (English keys, extraction backends) stay on the catalog's own page.
    return [("", catalog_summary_text(catalog))]


def _index_status() -> dict[str, Any] | None:
    try:
        from catalog_ai.index import index_status

        return index_status()
    except Exception:
        logger.warning("Catalog index status unavailable", exc_info=True)
        return None


def ai_settings_view(request: HttpRequest, *, context: dict[str, Any], opts: Any, admin: Any) -> HttpResponse:
    if not admin.has_view_permission(request):
        raise PermissionDenied
    can_change = admin.has_change_permission(request)
    ai = AISettings.load()
    form = AISettingsForm(instance=ai)
    ask_form = AskForm()
    media_form = EnrichmentSettingsForm(instance=EnrichmentSettings.load())
    upload_form = CatalogUploadForm()
    result = None
    explanation = None
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied
        action = request.POST.get("action")
        if action == "save":
            form = AISettingsForm(request.POST, instance=AISettings.load())
            if form.is_valid():
                values = {name: form.cleaned_data[name] for name in AI_SETTINGS_FIELDS}
                _ai, moved = ai_settings_update(**values)
                messages.success(request, _("The AI settings were saved."))
                if moved:
                    messages.info(
                        request,
                        ngettext(
                            "%(count)d conversation in the hand-off step went back to the initial step.",
                            "%(count)d conversations in the hand-off step went back to the initial step.",
                            moved,
                        )
                        % {"count": moved},
                    )
                return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        elif action == "media":
            media_form = EnrichmentSettingsForm(request.POST, instance=EnrichmentSettings.load())
            if media_form.is_valid():
                media_form.save()
                messages.success(request, _("The image and voice note settings were saved."))
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                return HttpResponseRedirect(url + "#ai-media")
        elif action == "upload":
            upload_form = CatalogUploadForm(request.POST, request.FILES)
            if upload_form.is_valid():  # a bad or already loaded file is a form error
                catalog_ingest_enqueue(upload_form.catalog)
                messages.success(
                    request,
                    _("“%(name)s” is queued for processing; its progress shows in the catalog list.")
                    % {"name": upload_form.catalog.name},
                )
                return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        elif action == "ask":
            ask_form = AskForm(request.POST)
            if ask_form.is_valid():
                question = ask_form.cleaned_data["question"]
                result = answer_question(question, use_cache=not ask_form.cleaned_data["no_cache"])
                cited = {(ref.catalog_id, ref.page) for ref in result.references}
                explanation = explain(question, ai=AISettings.load(), cited=cited)
        else:
            return HttpResponseNotAllowed(["GET", "POST"])
    elif request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST"])

    catalogs = list(Catalog.objects.annotate(chunk_count=Count("chunks")).order_by("-created_at"))
    references = []
    if result is not None:
        shown = {ref.image for ref in result.images}
        references = [
            {"ref": ref, "image_url": media_link(ref.image), "sent": ref.image in shown} for ref in result.references
        ]
    page = {
        **context,
        "opts": opts,
        "title": _("AI settings"),
        "ai": ai,
        "form": form,
        "ask_form": ask_form,
        "media_form": media_form,
        "media_models": media_models(),
        "upload_form": upload_form,
        "result": result,
        "references": references,
        "explanation": explanation,
        "catalogs": [{"catalog": c, "summary": _summary(c)} for c in catalogs],
        "catalog_add_url": reverse("admin:catalog_ai_catalog_add"),
        "index": _index_status(),
        "ailog_url": reverse("admin:catalog_ai_ailog_changelist"),
        "can_change": can_change,
        "online": bool(getattr(settings, "OPENAI_API_KEY", "")),
        "initial_step": settings.INITIAL_STEP,
        "steps": _steps(),
        "media_not_served": not settings.SERVE_MEDIA,
    }
    return TemplateResponse(request, TEMPLATE, page)
