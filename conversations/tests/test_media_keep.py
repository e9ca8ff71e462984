"""Customer media is never thrown away: checksum mismatches are kept and marked, transient failures fetched later."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from conversations.models import Message
from conversations.tests.media_support import JPEG, receive_media

pytestmark = pytest.mark.django_db

VOICE = b"OggS\x00\x02" + b"\x00" * 20 + b"opus-voice-note" * 50


def _stored_bytes(message: Message) -> bytes:
    return (Path(django_settings.MEDIA_ROOT) / message.media_file.name).read_bytes()


def test_a_download_that_keeps_differing_from_the_checksum_is_kept_and_marked(
    meta_settings: Any, fake_graph: Any
) -> None:
    # given: Graph announces a sha256 that the bytes never match
    message = receive_media(
        fake_graph, VOICE, kind="audio", mime_type="audio/ogg", graph_media={"sha256": "0" * 64}, sha256=""
    )

    assert message.media_state == "stored"
    assert message.media_checksum_mismatch is True
    assert "sha256 mismatch" in message.media_error
    assert _stored_bytes(message) == VOICE
    assert message.media_file.name.endswith(".ogg")
    assert fake_graph.downloads == [message.media_provider_id] * 2  # downloaded again once, then kept


def test_a_corrupted_download_is_fetched_again_once_and_the_good_copy_kept(meta_settings: Any, fake_graph: Any) -> None:
    message = receive_media(
        fake_graph, JPEG, kind="image", mime_type="image/jpeg", graph_media={"corrupt_downloads": 1}
    )

    assert message.media_state == "stored"
    assert message.media_checksum_mismatch is False
    assert message.media_error == ""
    assert _stored_bytes(message) == JPEG
    assert len(fake_graph.downloads) == 2


def test_a_transient_failure_is_fetched_again_by_the_sweeper(meta_settings: Any, fake_graph: Any) -> None:
    from conversations.services.media import message_media_refetch
    from conversations.services.sweeper import media_refetch_due

    # given: Graph is unavailable for the first three lookups (the in-process tries)
    message = receive_media(fake_graph, VOICE, kind="audio", mime_type="audio/ogg", graph_media={"failing_lookups": 3})
    assert message.media_state == "retry", message.media_error
    assert message.processing_state == "done"  # the conversation went on
    now = timezone.now()

    # when: the sweeper runs too early, then after MEDIA_REFETCH_AFTER_SECONDS
    assert media_refetch_due(now=now) == 0
    later = now + timedelta(seconds=django_settings.MEDIA_REFETCH_AFTER_SECONDS + 1)
    assert media_refetch_due(now=later) == 1  # one task on the broker; what that task runs:
    state = message_media_refetch(message_id=message.pk)

    # then
    message.refresh_from_db()
    assert state == "stored" and message.media_state == "stored"
    assert _stored_bytes(message) == VOICE


def test_the_sweeper_stops_once_the_provider_no_longer_keeps_the_file(meta_settings: Any, fake_graph: Any) -> None:
    from conversations.services.sweeper import media_refetch_due

    message = receive_media(fake_graph, VOICE, kind="audio", mime_type="audio/ogg", graph_media={"failing_lookups": 3})
    assert message.media_state == "retry"

    too_late = timezone.now() + timedelta(hours=django_settings.MEDIA_REFETCH_MAX_AGE_HOURS, seconds=1)
    assert media_refetch_due(now=too_late) == 0

    message.refresh_from_db()
    assert message.media_state == "failed"
    assert "limited time" in message.media_error


def test_when_the_second_download_fails_the_first_copy_is_kept(meta_settings: Any, fake_graph: Any) -> None:
    # given: the first download is damaged, then Graph no longer has the file (a permanent error)
    graph_media = {"corrupt_downloads": 1, "gone_after_lookups": 1}
    message = receive_media(fake_graph, JPEG, kind="image", mime_type="image/jpeg", graph_media=graph_media)

    assert message.media_state == "stored", message.media_error
    assert message.media_checksum_mismatch is True
    assert len(_stored_bytes(message)) == len(JPEG)  # the damaged copy, kept rather than nothing
    assert len(fake_graph.media_lookups) == 2 and len(fake_graph.downloads) == 1
