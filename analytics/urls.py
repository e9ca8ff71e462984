"""The dashboard (/tablero/) and its JSON/CSV endpoints (/api/metrics/<name>/), one per metric."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema

from analytics import views
from analytics.api import MetricApi, MetricListApi
from analytics.services.metrics import METRICS, Metric

app_name = "analytics"


def _metric_view(metric: Metric) -> type[MetricApi]:
    """MetricApi for one metric, documented in the OpenAPI schema by the metric's own docstring."""
    view = type(f"Metric_{metric.name}_Api", (MetricApi,), {"metric_name": metric.name})
    description = (metric.compute.__doc__ or "").strip()
    return extend_schema(summary=f"Metric: {metric.name}", description=description)(view)


urlpatterns = [
    path("tablero/", views.DashboardView.as_view(), name="dashboard"),
    path("api/metrics/", MetricListApi.as_view(), name="api-metrics"),
    *(
        path(f"api/metrics/{name}/", _metric_view(metric).as_view(), name=f"api-metric-{name}")
        for name, metric in METRICS.items()
    ),
]
