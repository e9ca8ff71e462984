"""Write-only secrets in the admin: a stored secret is never sent back to the browser.

A secret field (a channel's access token, app secret, ...) shows whether a value is
set, an empty password input to replace it and a checkbox to clear it. Leaving the
input empty keeps the stored value; the value itself stays on the server. Staff who
may only view the object see "set" / "not set", never the value.

    class ChannelAdmin(WriteOnlySecretsAdmin, admin.ModelAdmin):
        secret_fields = ("access_token", "app_secret")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _


class SecretWidget(forms.MultiWidget):
    """An empty password input ("replace") and a "clear" checkbox, after the word "set" or "not set"."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        widgets = (
            forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false", "size": 60}
            ),
            forms.CheckboxInput(),
        )
        super().__init__(widgets, attrs)
        self.is_set = False  # told by SecretFormMixin; the widget is never given the value to show

    def decompress(self, value: Any) -> list[Any]:
        return [None, False]  # whatever the stored value is, the page gets an empty input

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        context = self.get_context(name, None, attrs)
        replace, clear = context["widget"]["subwidgets"]
        replace_html = self.widgets[0].render(replace["name"], None, replace["attrs"], renderer)
        state = _("set") if self.is_set else _("not set")
        clear_html = ""
        if self.is_set:
            clear_html = format_html(
                ' <label class="vCheckboxLabel secret-clear">{} {}</label>',
                self.widgets[1].render(clear["name"], False, clear["attrs"], renderer),
                _("Clear"),
            )
        return format_html(
            '<div class="secret-field"><strong class="secret-state">{}</strong> '
            '<label class="secret-replace">{} {}</label>{}</div>',
            state,
            _("Replace:") if self.is_set else _("Set:"),
            replace_html,
            clear_html,
        )


class SecretField(forms.MultiValueField):
    """Cleans to the new value, "" when cleared, or the stored value (`current`) when left empty."""

    widget = SecretWidget

    def __init__(self, *, required: bool = False, **kwargs: Any) -> None:
        fields = (forms.CharField(required=False), forms.BooleanField(required=False))
        super().__init__(fields=fields, require_all_fields=False, required=False, **kwargs)
        self.secret_required = required
        self.current = ""  # the stored value, set by SecretFormMixin for each form; never rendered

    def compress(self, data_list: Sequence[Any]) -> str:
        new, clear = [*data_list, "", False][:2]
        if new and clear:
            raise ValidationError(_("Enter a new value or tick “Clear”, not both."), code="replace_and_clear")
        value = "" if clear else (new or self.current or "")
        if self.secret_required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        new, clear = [*(data or []), "", False][:2]
        return bool(new) or bool(clear)


class SecretFormMixin:
    """Hands each SecretField the instance's stored value (kept on the server) and its widget the set/not set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, SecretField):
                field.current = getattr(self.instance, name, "") or ""
                field.widget.is_set = bool(field.current)


def _swap(fields: Sequence[Any], names: dict[str, str]) -> list[Any]:
    return [_swap(f, names) if isinstance(f, list | tuple) else names.get(f, f) for f in fields]


class WriteOnlySecretsAdmin:
    """ModelAdmin mixin: the model fields named in `secret_fields` are write-only (see the module doc)."""

    secret_fields: Sequence[str] = ()

    def __init__(self, model: Any, admin_site: Any) -> None:
        super().__init__(model, admin_site)
        for name in self.secret_fields:
            setattr(self, f"{name}_state", _state_display(name, model._meta.get_field(name).verbose_name))

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in self.secret_fields:
            return SecretField(
                required=not db_field.blank,
                label=capfirst(db_field.verbose_name),
                help_text=db_field.help_text
                or _("Stored encrypted and never shown. Leave empty to keep the current value."),
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if not issubclass(form, SecretFormMixin):
            form = type(form.__name__, (SecretFormMixin, form), {})
        return form

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Read-only: the admin would print the field's value; show whether it is set instead.
        names = {name: f"{name}_state" for name in self.secret_fields}
        return [(title, {**options, "fields": _swap(options["fields"], names)}) for title, options in fieldsets]


def _state_display(name: str, label: Any) -> Any:
    @admin.display(description=label)
    def state(obj: Any) -> str:
        return _("set") if getattr(obj, name, "") else _("not set")

    return state
