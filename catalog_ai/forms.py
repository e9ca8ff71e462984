"""Catalog upload forms: the checks run through catalog_ai.ingestion, whose reasons become form errors.

- CatalogUploadForm: a plain form (name + PDF) for any page, e.g. the AI settings page. After is_valid(),
  `form.catalog` is the stored catalog; the caller enqueues it (catalog_ai.tasks.catalog_ingest_enqueue).
- CatalogAddForm / CatalogChangeForm: the catalog admin's add page and change page (with "replace PDF").

Validation stores the file (it must read it whole anyway); call is_valid() inside the request's transaction.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog_ai.ingestion import (
    CatalogRejected,
    catalog_create_from_upload,
    catalog_is_stalled,
    catalog_replace_file,
)
from catalog_ai.models import Catalog, CatalogStatus


def _pdf_field(*, required: bool = True, label: Any = None) -> forms.FileField:
    return forms.FileField(
        label=label or _("PDF catalog"),
        required=required,
        help_text=_("A PDF with text or scanned pages (scanned pages go through OCR). Not password-protected."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,application/pdf"}),
    )


class _CreatesCatalog:
    """clean(): store the upload as a catalog; a file already loaded is an error (nothing changes)."""

    catalog: Catalog | None = None
    created: bool = False

    def _create(self, form: forms.BaseForm, name: str) -> Catalog | None:
        upload = form.cleaned_data.get("pdf")
        if upload is None or form.errors:
            return None
        try:
            catalog, created = catalog_create_from_upload(name=name, file=upload, filename=upload.name)
        except CatalogRejected as exc:
            form.add_error("pdf", exc.reason)
            return None
        if not created:
            form.add_error(
                "pdf",
                gettext("This file is already loaded as the catalog “%(name)s” (same content); nothing changed.")
                % {"name": catalog.name},
            )
            return None
        self.catalog, self.created = catalog, True
        return catalog


class CatalogUploadForm(_CreatesCatalog, forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=200, required=False, help_text=_("Leave empty to use the file name.")
    )
    pdf = _pdf_field()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self._create(self, cleaned.get("name") or "")
        return cleaned


class CatalogAddForm(_CreatesCatalog, forms.ModelForm):
    pdf = _pdf_field()

    class Meta:
        model = Catalog
        fields = ["name"]
        help_texts = {"name": _("Leave empty to use the file name.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        catalog = self._create(self, cleaned.get("name") or "")
        if catalog is not None:
            self.instance = catalog
            cleaned["name"] = catalog.name
        return cleaned


class CatalogChangeForm(forms.ModelForm):
    replace_pdf = _pdf_field(required=False, label=_("Replace PDF"))
    replaced = False

    class Meta:
        model = Catalog
        fields = ["name", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["replace_pdf"].help_text = _(
            "Upload a new version of this catalog: its pages and chunks are replaced when the new file is processed."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("replace_pdf")
        busy = self.instance.status == CatalogStatus.PROCESSING and not catalog_is_stalled(catalog=self.instance)
        if upload is not None and busy:
            self.add_error("replace_pdf", gettext("The catalog is being processed; replace its file when it finishes."))
        elif upload is not None and not self.errors:
            try:
                self.replaced = catalog_replace_file(catalog=self.instance, file=upload, filename=upload.name)
            except CatalogRejected as exc:
                self.add_error("replace_pdf", exc.reason)
            else:
                if not self.replaced:
                    self.add_error("replace_pdf", gettext("This is the file the catalog already has; nothing changed."))
        return cleaned
