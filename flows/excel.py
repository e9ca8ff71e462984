"""(Being written) Excel import/export of rules."""

from import_export import resources

from flows.models import Rule


class RuleResource(resources.ModelResource):
    class Meta:
        model = Rule
