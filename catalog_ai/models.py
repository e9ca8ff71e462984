from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CatalogStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
    STALLED = "stalled", _("Stalled")


class Catalog(models.Model):
    """An uploaded PDF catalog; its chunks feed the AI's retrieval index."""

    name = models.CharField(_("name"), max_length=200)
    file = models.FileField(_("PDF file"), upload_to="catalogs/%Y/%m", max_length=500)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    status = models.CharField(_("status"), max_length=12, choices=CatalogStatus.choices, default=CatalogStatus.PENDING)
    stage = models.CharField(_("stage"), max_length=50, blank=True)
    pages_total = models.PositiveIntegerField(_("pages"), default=0)
    pages_done = models.PositiveIntegerField(_("pages done"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    heartbeat_at = models.DateTimeField(
        _("last sign of life"),
        null=True,
        blank=True,
        help_text=_("Touched on every page while processing; a processing catalog silent for long has stalled."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("catalog")
        verbose_name_plural = _("catalogs")

    def __str__(self) -> str:
        return self.name


class CatalogPage(models.Model):
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="pages", verbose_name=_("catalog"))
    number = models.PositiveIntegerField(_("page"), help_text=_("Counted from 1, as a person reads the PDF."))
    text = models.TextField(_("text"), blank=True)
    backend = models.CharField(_("extraction"), max_length=20, blank=True, help_text=_("pypdf, pdfium, tesseract..."))
    image = models.CharField(_("page image"), max_length=500, blank=True)
    needs_ocr = models.BooleanField(_("needed OCR"), default=False)
    no_text = models.BooleanField(_("no text found"), default=False)

    class Meta:
        ordering = ["catalog", "number"]
        verbose_name = _("catalog page")
        verbose_name_plural = _("catalog pages")
        constraints = [models.UniqueConstraint(fields=["catalog", "number"], name="uniq_catalog_page")]

    def __str__(self) -> str:
        return f"{self.catalog} p.{self.number}"


class CatalogChunk(models.Model):
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("catalog"))
    page = models.ForeignKey(CatalogPage, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("page"))
    position = models.PositiveIntegerField(_("position"), default=0)
    text = models.TextField(_("text"))
    skus = models.JSONField(_("SKUs"), default=list, blank=True)
    backend = models.CharField(_("extraction"), max_length=20, blank=True)

    class Meta:
        ordering = ["catalog", "page__number", "position"]
        verbose_name = _("catalog chunk")
        verbose_name_plural = _("catalog chunks")

    def __str__(self) -> str:
        return f"{self.page} #{self.position}"


class AISettings(models.Model):
    """The AI mode's switch and limits (a single row; defaults come from the AI_* variables)."""

    enabled = models.BooleanField(_("AI mode enabled"), default=False)
    handoff_step = models.CharField(_("hand-off step"), max_length=100, default="ia_chat")
    embed_model = models.CharField(_("embedding model"), max_length=100, default="text-embedding-3-small")
    gen_model = models.CharField(_("generation model"), max_length=100, default="gpt-4o-mini")
    max_output_tokens = models.PositiveIntegerField(_("max output tokens"), default=400)
    response_max_sentences = models.PositiveSmallIntegerField(_("max sentences"), default=4)
    response_max_chars = models.PositiveIntegerField(_("max characters"), default=900)
    fallback_message = models.TextField(_("fallback message"), blank=True)
    top_k = models.PositiveSmallIntegerField(_("chunks retrieved"), default=5)
    # Empty: the threshold calibrated for the embedder in use (catalog_ai.retrieval.DEFAULT_MIN_SCORES).
    min_score = models.FloatField(_("relevance threshold"), null=True, blank=True, default=None)
    cache_ttl = models.PositiveIntegerField(_("answer cache TTL (s)"), default=3600)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("AI settings")
        verbose_name_plural = _("AI settings")

    def __str__(self) -> str:
        return str(_("AI settings"))

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # singleton
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> AISettings:
        obj, _created = cls.objects.get_or_create(
            pk=1,
            defaults={
                "enabled": settings.AI_MODE_ENABLED,
                "handoff_step": settings.AI_HANDOFF_STEP,
                "embed_model": settings.AI_EMBED_MODEL,
                "gen_model": settings.AI_GEN_MODEL,
                "max_output_tokens": settings.AI_MAX_OUTPUT_TOKENS,
                "response_max_sentences": settings.AI_RESPONSE_MAX_SENTENCES,
                "response_max_chars": settings.AI_RESPONSE_MAX_CHARS,
                "fallback_message": settings.AI_FALLBACK_MESSAGE,
                "cache_ttl": settings.AI_CACHE_TTL,
            },
        )
        return obj


class AILog(models.Model):
    """One AI answer: what was asked, what was said, from which pages, how fast."""

    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ai_logs",
        verbose_name=_("conversation"),
    )
    question = models.TextField(_("question"))
    answer = models.TextField(_("answer"), blank=True)
    references = models.JSONField(_("references"), default=list, blank=True)
    cached = models.BooleanField(_("from cache"), default=False)
    backend = models.CharField(_("backend"), max_length=50, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    tokens_in = models.PositiveIntegerField(_("input tokens"), default=0)
    tokens_out = models.PositiveIntegerField(_("output tokens"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("AI log")
        verbose_name_plural = _("AI logs")

    def __str__(self) -> str:
        return self.question[:60]
