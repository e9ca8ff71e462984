"""The active rules and commands are kept per process and reloaded only when they change."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from flows import rules_cache
from flows.models import GlobalCommand, Rule, RuleMedia
from flows.rules_cache import (
    RULES_CACHE_MAX_AGE,
    RULES_VERSION_CHECK_EVERY,
    RULES_VERSION_KEY,
    rules_and_commands,
)
from flows.tests import factories

pytestmark = pytest.mark.django_db


def _inputs(now: float = 0.0) -> set[str]:
    rules, _commands = rules_and_commands(now=now)
    return {r.input_text for r in rules}


def test_a_turn_with_unchanged_rules_reads_no_rule_from_the_database(django_assert_num_queries: Any) -> None:
    factories.rule(step="inicio", input_text="hola")
    first = rules_and_commands(now=0.0)
    with django_assert_num_queries(0):
        again = rules_and_commands(now=1.0)
    assert again == first and {r.input_text for r in again[0]} == {"hola"}


def test_saving_deleting_and_media_changes_are_seen_at_the_next_turn() -> None:
    rule = factories.rule(step="inicio", input_text="hola")
    assert _inputs() == {"hola"}
    factories.rule(step="inicio", input_text="precio")
    assert _inputs() == {"hola", "precio"}
    rule.input_text = "buenas"
    rule.save()
    assert _inputs() == {"buenas", "precio"}
    RuleMedia.objects.create(rule=rule, media_type="image", url="https://example.com/a.jpg")
    rules, _ = rules_and_commands(now=0.0)
    assert [m.url for r in rules if r.id == rule.pk for m in r.media] == ["https://example.com/a.jpg"]
    rule.delete()
    assert _inputs() == {"precio"}


def test_a_global_command_change_is_seen_at_the_next_turn() -> None:
    before = {c.keywords for c in rules_and_commands(now=0.0)[1]}
    GlobalCommand.objects.create(keywords="promo", response_text="Promociones", active=True)
    after = {c.keywords for c in rules_and_commands(now=0.0)[1]}
    assert after - before == {"promo"}


def test_another_process_change_is_seen_through_the_version(redis_client: Any) -> None:
    factories.rule(step="inicio", input_text="hola")
    assert _inputs(now=100.0) == {"hola"}
    Rule.objects.filter(input_text="hola").update(input_text="otra")  # no signal: as another process's write
    assert _inputs(now=101.0) == {"hola"}  # this process's copy, until told
    redis_client.set(RULES_VERSION_KEY, "another-process-token")  # what that process's change announces
    assert _inputs(now=101.0 + RULES_VERSION_CHECK_EVERY / 2) == {"hola"}  # the version was read just now
    assert _inputs(now=101.0 + RULES_VERSION_CHECK_EVERY) == {"otra"}


def test_a_change_nobody_announced_is_seen_after_the_max_age() -> None:
    factories.rule(step="inicio", input_text="hola")
    assert _inputs(now=100.0) == {"hola"}
    Rule.objects.filter(input_text="hola").update(input_text="a mano")  # e.g. SQL typed by hand
    assert _inputs(now=100.0 + RULES_CACHE_MAX_AGE - 1) == {"hola"}
    assert _inputs(now=100.0 + RULES_CACHE_MAX_AGE) == {"a mano"}


def test_the_admin_bulk_actions_announce_their_change(admin_client: Client) -> None:
    rule = factories.rule(step="inicio", input_text="hola")
    assert _inputs() == {"hola"}
    response = admin_client.post(
        "/admin/flows/rule/", {"action": "deactivate", "_selected_action": [str(rule.pk)]}, follow=True
    )
    assert response.status_code == 200
    assert _inputs() == set()
    admin_client.post("/admin/flows/rule/", {"action": "activate", "_selected_action": [str(rule.pk)]})
    assert _inputs() == {"hola"}


def test_without_redis_every_turn_reads_the_database(settings: Any, django_assert_num_queries: Any) -> None:
    factories.rule(step="inicio", input_text="hola")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    rules_cache.rules_cache_clear()
    assert _inputs() == {"hola"}
    with django_assert_num_queries(3):  # rules, their media, commands: as before the cache
        assert _inputs() == {"hola"}
