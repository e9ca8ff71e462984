"""/api/metrics/: one endpoint per dashboard metric, JSON or CSV, with the dashboard's filters.

GET /api/metrics/<name>/?start=YYYY-MM-DD&end=YYYY-MM-DD&channel=<id>&role=<id>&number=<digits>
answers {"metric", "title", "note", "filters", "columns", "rows", "summary", "chart", "figures"};
with ?format=csv (or Accept: text/csv) the same columns and rows as a CSV file. Session or token
auth and IsAuthenticated, like the console's API; every row comes from the chats the user may see.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.services.filters import MAX_DAYS, MetricFilters, default_range, metric_scope
from analytics.services.metrics import METRICS, Metric, metric_compute
from conversations.api.serializers import MAX_ID
from conversations.api.views import ConsoleApi
from conversations.models import Channel
from conversations.services.export import csv_cell

__all__ = ["MetricApi", "MetricFilterInput", "MetricListApi", "metric_csv"]


class MetricFilterInput(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (YYYY-MM-DD); default: 29 days before end.")
    end = serializers.DateField(required=False, help_text="Last day, included (YYYY-MM-DD); default: today.")
    channel = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    role = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    number = serializers.CharField(required=False, allow_blank=True, max_length=30)
    format = serializers.ChoiceField(choices=("json", "csv"), required=False)

    def validate_number(self, value: str) -> str:
        digits = value.strip().lstrip("+").replace(" ", "").replace("-", "")
        if digits and not (digits.isdigit() and 3 <= len(digits) <= 20):
            raise serializers.ValidationError(_("A number: 3 to 20 digits."))
        return digits

    def validate_channel(self, value: int | None) -> int | None:
        if value is not None and not Channel.objects.filter(pk=value).exists():
            raise serializers.ValidationError(_("Unknown channel."))
        return value

    def validate_role(self, value: int | None) -> int | None:
        from accounts.models import Role

        if value is not None and not Role.objects.filter(pk=value).exists():
            raise serializers.ValidationError(_("Unknown role."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if end is None:
            end = default_range()[1] if start is None else max(start, default_range()[1])
        if start is None:
            start = default_range(today=end)[0]
        if start > end:
            raise serializers.ValidationError({"start": [_("The start must not be after the end.")]})
        if (end - start).days + 1 > MAX_DAYS:
            raise serializers.ValidationError({"start": [_("At most %(days)s days at once.") % {"days": MAX_DAYS}]})
        return {**attrs, "start": start, "end": end}


FILTER_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (business time zone). Default: 30 days ago."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included. Default: today."),
    OpenApiParameter("channel", int, description="A channel id: only its chats."),
    OpenApiParameter("role", int, description="A role id: only the chats with that role."),
    OpenApiParameter("number", str, description="Digits of the contact's number (3 to 20)."),
    OpenApiParameter("format", str, enum=["json", "csv"], description="csv: the same columns and rows as a file."),
]


class MetricOutput(serializers.Serializer):
    metric = serializers.CharField()
    title = serializers.CharField()
    note = serializers.CharField()
    filters = serializers.DictField(help_text="The filters as applied, with the business's time zone.")
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField())
    summary = serializers.DictField(help_text="Key figures: totals, rates (0-1), median and p90 in seconds.")
    chart = serializers.DictField(help_text="How the dashboard draws it: type, label column, value columns.")
    figures = serializers.ListField(child=serializers.DictField(), help_text="The summary keys the card shows.")


class MetricListOutput(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())


def metric_csv(columns: tuple[str, ...], rows: list[list[Any]]) -> bytes:
    """The rows as CSV that Excel opens with its accents (UTF-8 with BOM), every cell formula-safe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8")


def _wants_csv(request: Request, requested: str | None) -> bool:
    if requested:
        return requested == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


class MetricListApi(ConsoleApi):
    @extend_schema(responses=MetricListOutput, operation_id="metrics_list")
    def get(self, request: Request) -> Response:
        """The dashboard's metrics: name, title and the URL of each."""
        return Response(
            {
                "results": [
                    {"metric": m.name, "title": str(m.title), "url": f"/api/metrics/{m.name}/"}
                    for m in METRICS.values()
                ]
            }
        )


class MetricApi(ConsoleApi):
    metric_name = ""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ?format= names the answer's format here (json or csv), not a DRF renderer.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={
            200: OpenApiResponse(MetricOutput, description="JSON; with format=csv a text/csv attachment instead."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="A filter is not valid: {field: [message]}."),
        },
    )
    def get(self, request: Request) -> Response | HttpResponse:
        values = MetricFilterInput(data=request.query_params)
        values.is_valid(raise_exception=True)
        v = values.validated_data
        filters = MetricFilters(
            start=v["start"],
            end=v["end"],
            channel_id=v.get("channel"),
            role_id=v.get("role"),
            number=v.get("number", ""),
        )
        metric: Metric = METRICS[self.metric_name]
        result = metric_compute(name=metric.name, scope=metric_scope(user=request.user, filters=filters))
        if _wants_csv(request, v.get("format")):
            response = HttpResponse(metric_csv(result.columns, result.rows), content_type="text/csv; charset=utf-8")
            filename = f"{metric.name}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            response["X-Content-Type-Options"] = "nosniff"
            return response
        return Response(
            {
                "metric": metric.name,
                "title": str(metric.title),
                "note": str(metric.note),
                "filters": filters.as_dict(),
                "columns": list(result.columns),
                "rows": result.rows,
                "summary": result.summary,
                "chart": metric.chart.as_dict(),
                "figures": [f.as_dict() for f in metric.figures],
            }
        )
