from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ResponseType(models.TextChoices):
    TEXT = "text", _("Text")
    LIST = "list", _("List")
    BUTTON = "button", _("Buttons")
    IMAGE = "image", _("Image")
    VIDEO = "video", _("Video")
    AUDIO = "audio", _("Audio")
    DOCUMENT = "document", _("Document")


def rule_key(step: str, input_text: str) -> str:
    """The stable key of a rule without an explicit one: its step and normalized keywords."""
    from whatsapp_ia.text import normalize_text

    keywords = ",".join(sorted(normalize_text(k) or k.strip() for k in input_text.split(",") if k.strip()))
    return f"{step.strip()}:{keywords}"[:191]


class Rule(models.Model):
    """One step of a flow: when the chat is in `step` and the input matches, answer and move on."""

    key = models.CharField(
        _("key"),
        max_length=191,
        unique=True,
        blank=True,
        help_text=_("Stable identifier used by Excel import/export; filled from step and keywords when empty."),
    )
    step = models.CharField(_("step"), max_length=100, db_index=True)
    input_text = models.TextField(
        _("input keywords"), default="*", help_text=_("Comma-separated keywords or phrases; * is the step's default.")
    )
    match_image_description = models.BooleanField(
        _("match image descriptions"),
        default=False,
        help_text=_(
            "Also match the input keywords against the description of a photo the customer sends (what the "
            "vision model or OCR read in it), e.g. to route a photo of a receipt. What the customer types "
            "always wins over it."
        ),
    )
    priority = models.IntegerField(_("priority"), default=100, help_text=_("Lower numbers are tried first."))
    response_type = models.CharField(
        _("response type"), max_length=10, choices=ResponseType.choices, default=ResponseType.TEXT
    )
    response_text = models.TextField(_("response text"), blank=True)
    options = models.TextField(
        _("options"),
        blank=True,
        help_text=_("Buttons or list rows separated by |; a row may be 'title: description'."),
    )
    next_step = models.CharField(_("next step"), max_length=100, blank=True)
    advance_steps = models.PositiveSmallIntegerField(
        _("advance steps"), default=0, help_text=_("Run the * rule of the following steps this many times.")
    )
    role_keyword = models.CharField(_("role keyword"), max_length=50, blank=True)
    handler = models.CharField(_("handler"), max_length=100, blank=True)
    calculation = models.CharField(_("calculation"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["step", "priority", "id"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        indexes = [models.Index(fields=["step", "active", "priority"], name="rule_step_active_prio")]

    def __str__(self) -> str:
        return f"[{self.step}] {self.input_text[:40]} → {self.next_step or '·'}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.key:
            base = rule_key(self.step, self.input_text)[:180]
            candidate, n = base, 2
            while Rule.objects.filter(key=candidate).exclude(pk=self.pk).exists():
                candidate, n = f"{base}#{n}", n + 1
            self.key = candidate
        super().save(*args, **kwargs)


class MediaType(models.TextChoices):
    IMAGE = "image", _("Image")
    VIDEO = "video", _("Video")
    AUDIO = "audio", _("Audio")
    DOCUMENT = "document", _("Document")


class RuleMedia(models.Model):
    """Extra media sent with a rule's response (the seed's regla_medias)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="media", verbose_name=_("rule"))
    media_type = models.CharField(_("type"), max_length=10, choices=MediaType.choices, default=MediaType.IMAGE)
    url = models.URLField(_("URL"), max_length=1000, blank=True)
    # Published by the business: under MEDIA_ROOT/public/, the only public media folder.
    file = models.FileField(_("file"), upload_to="public/rules/%Y/%m", blank=True)
    caption = models.CharField(_("caption"), max_length=1024, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("rule media")
        verbose_name_plural = _("rule media")

    def __str__(self) -> str:
        return self.url or (self.file.name if self.file else "")


class QuickReply(models.Model):
    """A canned answer agents send with one click in the console (the seed's botones)."""

    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"), blank=True)
    roles = models.ManyToManyField(
        "accounts.Role",
        blank=True,
        related_name="quick_replies",
        help_text=_("Empty: every agent sees it."),
        verbose_name=_("roles"),
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "title"]
        verbose_name = _("quick reply")
        verbose_name_plural = _("quick replies")

    def __str__(self) -> str:
        return self.title


class QuickReplyMedia(models.Model):
    quick_reply = models.ForeignKey(
        QuickReply, on_delete=models.CASCADE, related_name="media", verbose_name=_("quick reply")
    )
    media_type = models.CharField(_("type"), max_length=10, choices=MediaType.choices, default=MediaType.IMAGE)
    url = models.URLField(_("URL"), max_length=1000, blank=True)
    file = models.FileField(_("file"), upload_to="public/quick_replies/%Y/%m", blank=True)
    caption = models.CharField(_("caption"), max_length=1024, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("quick reply media")
        verbose_name_plural = _("quick reply media")

    def __str__(self) -> str:
        return self.url or (self.file.name if self.file else "")


class GlobalCommand(models.Model):
    """Keywords checked before any rule, mapped to a registered handler (restart, help, ...)."""

    keywords = models.CharField(_("keywords"), max_length=300, help_text=_("Comma-separated."))
    handler = models.CharField(_("handler"), max_length=100)
    response_text = models.TextField(_("response text"), blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    priority = models.IntegerField(_("priority"), default=100)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("global command")
        verbose_name_plural = _("global commands")

    def __str__(self) -> str:
        return f"{self.keywords} → {self.handler}"


class RuleImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RuleImport(models.Model):
    """A rules workbook imported in the background (flows/imports.py): a check (dry run), then, confirmed, the
    import itself. The file is kept here, private (never under MEDIA); live progress is in the cache."""

    file_name = models.CharField(_("file"), max_length=255)
    data = models.BinaryField(_("workbook"))
    dry_run = models.BooleanField(_("check only"), default=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RuleImportStatus.choices, default=RuleImportStatus.QUEUED
    )
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("new"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    checked = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The check it confirms."),
        verbose_name=_("checked"),
    )
    created_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("rules import")
        verbose_name_plural = _("rules imports")

    def __str__(self) -> str:
        return self.file_name
