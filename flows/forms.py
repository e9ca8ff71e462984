"""(Being written) Admin forms for rules."""

from django import forms

from flows.models import Rule


class RuleAdminForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = "__all__"
