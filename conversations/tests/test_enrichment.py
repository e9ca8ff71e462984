"""The pipeline waits for a voice note's transcription or an image's description, then the bots read it once.

A scripted step stands in for the backends here (registered for audio, as the real transcription step is):
the backends themselves are tested against real ffmpeg, Vosk, Tesseract and a local OpenAI server in
test_transcription.py, test_audio.py and test_vision.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from conversations.models import Conversation, EnrichmentSettings, Message
from conversations.services import bots
from conversations.services.enrichment import enrichment_wait, message_enrich
from conversations.services.enrichment_types import (
    Availability,
    EnrichmentFailed,
    EnrichmentResult,
    EnrichmentSkipped,
    EnrichmentTransient,
)
from conversations.services.processing import conversation_process

pytestmark = pytest.mark.django_db

HOLA = "¡Hola! ¿En qué te ayudo?"
FALLBACK = "No entendí"


class ScriptedStep:
    """A transcription step whose backend answers what the test says, and counts its runs."""

    def __init__(self) -> None:
        self.outcomes: list[Callable[[], EnrichmentResult]] = []
        self.runs: list[int] = []
        self.available = Availability(True, "scripted")

    def then(self, outcome: Callable[[], EnrichmentResult] | EnrichmentResult | Exception) -> ScriptedStep:
        if isinstance(outcome, Exception):
            self.outcomes.append(lambda: (_ for _ in ()).throw(outcome))
        elif isinstance(outcome, EnrichmentResult):
            self.outcomes.append(lambda: outcome)
        else:
            self.outcomes.append(outcome)
        return self

    def enrich(self, *, message: Message, path: Path) -> EnrichmentResult:
        assert path.read_bytes() == b"OggS voice note"  # the stored file, by its path
        self.runs.append(message.pk)
        return self.outcomes.pop(0)()


def said(text: str) -> EnrichmentResult:
    return EnrichmentResult(text=text, backend="scripted", source="transcription", elapsed_ms=1200, duration_ms=4000)


@pytest.fixture
def step(settings: Any) -> Iterator[ScriptedStep]:
    settings.FLOW_FALLBACK_MESSAGE = FALLBACK
    scripted = ScriptedStep()
    bots.enrichment_register(
        "scripted_transcription",
        scripted.enrich,
        1,  # before the real one: it reads the audio
        kinds=["audio"],
        field="transcription",
        queue="transcription",
        availability=lambda: scripted.available,
    )
    yield scripted
    bots.enrichment_unregister("scripted_transcription")


@pytest.fixture
def conversation(open_conversation: Conversation) -> Conversation:
    """Laura's chat with its 24-hour window open, so the bots' replies go out (and flag nothing)."""
    return open_conversation


@pytest.fixture
def rules() -> None:
    from flows.models import Rule

    Rule.objects.create(step="inicio", input_text="hola", response_text=HOLA, next_step="menu")


def voice_note(conversation: Conversation, n: int = 1, *, stored: bool = True) -> Message:
    message = Message.objects.create(
        conversation=conversation, direction="in", kind="audio", provider="meta",
        provider_message_id=f"wamid.VOICE{n:04d}", processing_state="pending",
        media_state="stored" if stored else "failed", media_mime="audio/ogg; codecs=opus",
    )  # fmt: skip
    if stored:
        message.media_file.name = default_storage.save(f"test/{n}.ogg", ContentFile(b"OggS voice note"))
        message.save(update_fields=["media_file"])
    return message


def text(conversation: Conversation, body: str, n: int) -> Message:
    return Message.objects.create(
        conversation=conversation, direction="in", kind="text", text=body, provider="meta",
        provider_message_id=f"wamid.TEXT{n:04d}", processing_state="pending",
    )  # fmt: skip


def task_enqueues(callbacks: list[Callable[[], object]]) -> int:
    """How many of a transaction's on-commit callbacks enqueue the transcription task (not the console events)."""
    return sum("_enqueue" in getattr(c, "__qualname__", "") for c in callbacks)


def replies(conversation: Conversation) -> list[str]:
    return list(Message.objects.filter(conversation=conversation, direction="out").values_list("text", flat=True))


def test_a_voice_note_waits_for_its_transcription_then_the_rules_read_it_once(
    conversation: Conversation, rules: None, step: ScriptedStep, django_capture_on_commit_callbacks: Any
) -> None:
    note = voice_note(conversation)
    step.then(said("Hola"))

    with django_capture_on_commit_callbacks() as queued:
        result = conversation_process(conversation_id=conversation.pk)
    assert not result  # nothing to retry: the transcription task starts the chat again
    note.refresh_from_db()
    assert (note.enrichment_state, note.processing_state) == ("queued", "pending")
    assert replies(conversation) == []
    assert task_enqueues(queued) == 1  # the transcription task, after commit

    assert message_enrich(message_id=note.pk) == "done"
    note.refresh_from_db()
    assert (note.transcription, note.enrichment_state, note.enrichment_reason) == ("Hola", "done", "")
    assert note.data["enrichment"]["backend"] == "scripted"
    assert note.data["enrichment"]["duration_ms"] == 4000

    conversation_process(conversation_id=conversation.pk)
    assert replies(conversation) == [HOLA]

    # The task again (a duplicate delivery of it), and the chat processed again: nothing new.
    assert message_enrich(message_id=note.pk) == "already done"
    conversation_process(conversation_id=conversation.pk)
    assert step.runs == [note.pk]
    assert replies(conversation) == [HOLA]


def test_a_text_after_a_voice_note_waits_behind_it(conversation: Conversation, rules: None, step: ScriptedStep) -> None:
    note = voice_note(conversation)
    later = text(conversation, "precio", 2)
    step.then(said("Hola"))

    conversation_process(conversation_id=conversation.pk)
    later.refresh_from_db()
    assert later.processing_state == "pending"  # order holds: the text is not answered before the audio

    message_enrich(message_id=note.pk)
    conversation_process(conversation_id=conversation.pk)
    later.refresh_from_db()
    assert later.processing_state == "done"
    assert replies(conversation)[0] == HOLA


def test_no_model_is_a_clear_state_the_flow_falls_back_and_agents_are_told(
    conversation: Conversation, rules: None, step: ScriptedStep
) -> None:
    step.available = Availability(False, "vosk", "no_model", "VOSK_MODEL_PATH is empty")
    note = voice_note(conversation)

    conversation_process(conversation_id=conversation.pk)

    note.refresh_from_db()
    assert (note.enrichment_state, note.enrichment_reason) == ("unavailable", "no_model")
    assert note.data["enrichment"]["detail"] == "VOSK_MODEL_PATH is empty"
    assert step.runs == []  # nothing queued
    assert replies(conversation) == [FALLBACK]
    conversation.refresh_from_db()
    assert conversation.needs_attention
    assert conversation.attention_reason == "A voice note could not be transcribed: listen to it."


def test_a_file_that_can_not_be_read_is_recorded_and_the_flow_falls_back(
    conversation: Conversation, rules: None, step: ScriptedStep
) -> None:
    note = voice_note(conversation)
    step.then(EnrichmentFailed("corrupt", "Invalid data found when processing input"))

    conversation_process(conversation_id=conversation.pk)
    assert message_enrich(message_id=note.pk) == "failed"
    conversation_process(conversation_id=conversation.pk)

    note.refresh_from_db()
    assert (note.enrichment_state, note.enrichment_reason, note.transcription) == ("failed", "corrupt", "")
    assert "Invalid data" in note.data["enrichment"]["detail"]
    assert replies(conversation) == [FALLBACK]
    conversation.refresh_from_db()
    assert conversation.needs_attention


def test_a_voice_note_too_long_is_skipped_and_agents_still_get_the_audio(
    conversation: Conversation, rules: None, step: ScriptedStep
) -> None:
    note = voice_note(conversation)
    step.then(EnrichmentSkipped("too_long", "185 s; the limit is 120 s"))
    conversation_process(conversation_id=conversation.pk)
    message_enrich(message_id=note.pk)
    note.refresh_from_db()
    assert (note.enrichment_state, note.enrichment_reason) == ("skipped", "too_long")
    assert note.media_file  # the audio stays for agents


def test_a_media_file_that_was_not_downloaded_is_not_queued(
    conversation: Conversation, rules: None, step: ScriptedStep
) -> None:
    note = voice_note(conversation, stored=False)
    conversation_process(conversation_id=conversation.pk)
    note.refresh_from_db()
    assert (note.enrichment_state, note.enrichment_reason) == ("failed", "no_media")
    assert replies(conversation) == [FALLBACK]


def test_switched_off_in_the_settings_the_bots_answer_at_once(
    conversation: Conversation, rules: None, step: ScriptedStep, settings: Any
) -> None:
    bots.enrichment_unregister("scripted_transcription")
    bots.enrichment_register(
        "scripted_transcription", step.enrich, 1, kinds=["audio"], field="transcription", queue="transcription",
        availability=lambda: step.available, enabled=lambda: EnrichmentSettings.load().transcription_enabled,
    )  # fmt: skip
    EnrichmentSettings.objects.update_or_create(pk=1, defaults={"transcription_enabled": False})
    note = voice_note(conversation)

    conversation_process(conversation_id=conversation.pk)

    note.refresh_from_db()
    assert (note.enrichment_state, note.enrichment_reason) == ("skipped", "disabled")
    assert replies(conversation) == [FALLBACK]
    conversation.refresh_from_db()
    assert conversation.attention_reason == "The bot did not understand the customer's last message."


def test_a_transient_failure_is_tried_again_then_given_up_after_the_last_attempt(
    conversation: Conversation, rules: None, step: ScriptedStep, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ENRICHMENT_MAX_ATTEMPTS = 3
    note = voice_note(conversation)
    conversation_process(conversation_id=conversation.pk)
    step.then(EnrichmentTransient("provider_error", "503")).then(said("Hola"))

    assert message_enrich(message_id=note.pk) == "retry"
    note.refresh_from_db()
    assert (note.enrichment_state, note.data["enrichment"]["attempts"]) == ("queued", 1)
    assert message_enrich(message_id=note.pk) == "done"
    conversation_process(conversation_id=conversation.pk)
    assert replies(conversation) == [HOLA]

    other = voice_note(conversation, 2)
    conversation_process(conversation_id=conversation.pk)
    for _ in range(3):
        step.then(EnrichmentTransient("timeout", "no answer in 30 s"))
    assert [message_enrich(message_id=other.pk) for _ in range(3)] == ["retry", "retry", "failed"]
    other.refresh_from_db()
    assert (other.enrichment_state, other.enrichment_reason) == ("failed", "timeout")
    assert "gave up after 3 attempts" in other.data["enrichment"]["detail"]


def test_an_unexpected_error_of_a_backend_is_recorded_not_lost(
    conversation: Conversation, rules: None, step: ScriptedStep
) -> None:
    note = voice_note(conversation)
    conversation_process(conversation_id=conversation.pk)
    step.then(ZeroDivisionError("bug"))
    assert message_enrich(message_id=note.pk) == "failed"
    note.refresh_from_db()
    assert note.enrichment_reason == "error"
    assert "ZeroDivisionError" in note.data["enrichment"]["detail"]


def test_a_queued_transcription_whose_task_was_lost_is_queued_again(
    conversation: Conversation, step: ScriptedStep, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TRANSCRIPTION_TIMEOUT_SEC = 60
    note = voice_note(conversation)
    start = timezone.now()
    with django_capture_on_commit_callbacks() as first:
        assert enrichment_wait(message=note, now=start)
    with django_capture_on_commit_callbacks() as soon:
        assert enrichment_wait(message=note, now=start + timedelta(seconds=120))  # still running, maybe
    with django_capture_on_commit_callbacks() as late:
        assert enrichment_wait(message=note, now=start + timedelta(seconds=200))  # lost: queued again
    assert (task_enqueues(first), task_enqueues(soon), task_enqueues(late)) == (1, 0, 1)


def test_two_runs_at_once_transcribe_once(conversation: Conversation, rules: None, step: ScriptedStep) -> None:
    note = voice_note(conversation)
    conversation_process(conversation_id=conversation.pk)
    inner: list[str] = []

    def second_run_meanwhile() -> EnrichmentResult:
        inner.append(message_enrich(message_id=note.pk))  # a duplicate task while this one works
        return said("Hola")

    step.then(second_run_meanwhile)
    assert message_enrich(message_id=note.pk) == "done"
    assert inner == ["running elsewhere"]
    assert step.runs == [note.pk]


def test_the_chat_list_shows_what_the_latest_voice_note_says(conversation: Conversation, step: ScriptedStep) -> None:
    note = voice_note(conversation)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_preview="[audio]")
    step.then(said("Quiero  cotizar\nun mesón"))
    conversation_process(conversation_id=conversation.pk)
    assert message_enrich(message_id=note.pk) == "done"
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "🎤 Quiero cotizar un mesón"  # spaces and lines folded


def test_an_older_voice_note_leaves_the_newer_message_s_preview(conversation: Conversation, step: ScriptedStep) -> None:
    note = voice_note(conversation)
    text(conversation, "¿y el precio?", 2)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_preview="¿y el precio?")
    step.then(said("Hola"))
    conversation_process(conversation_id=conversation.pk)
    assert message_enrich(message_id=note.pk) == "done"
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "¿y el precio?"
