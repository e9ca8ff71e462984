"""Customer images described: real Tesseract offline, the vision model through the local fake OpenAI
server online, and every kind of bad file refused with its reason (never a crash).

The images are drawn here with Pillow (DejaVu Sans), so what Tesseract must read is known.
"""

from __future__ import annotations

import base64
import io
import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from conversations.models.enrichment import DEFAULT_VISION_PROMPT
from conversations.services.enrichment_types import (
    EnrichmentFailed,
    EnrichmentTransient,
    EnrichmentUnavailable,
)
from conversations.services.vision import (
    MAX_TEXT_CHARS,
    OCR_MIN_WIDTH,
    cap_text,
    clean_ocr_text,
    image_describe,
    load_image,
    prepare_for_ocr,
    vision_availability,
)
from whatsapp_ia.fakes.openai import FakeOpenAI, ModelCall, Reply
from whatsapp_ia.tesseract import tesseract_probe

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
RECEIPT = ["Ferretería El Roble", "Mesón negro 120 cm", "TOTAL $45.900"]
PROMPT = "Describe la imagen del cliente en una frase."


# --------------------------------------------------------------------------- helpers


def render(lines: list[str], *, size: int = 44, mode: str = "RGB", background: Any = "white") -> Image.Image:
    """Black text on ``background``, one line under the other, with margins."""
    font = ImageFont.truetype(FONT, size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    height = int(len(lines) * size * 1.6) + 2 * size
    image = Image.new(mode, (width, height), background)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size + int(i * size * 1.6)), line, font=font, fill="black")
    return image


def save(image: Image.Image, path: Path, fmt: str, **options: Any) -> Path:
    image.save(path, format=fmt, **options)
    return path


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def clock(*values: float) -> Any:
    return iter(values).__next__


def reason_of(path: Path, mime: str = "image/jpeg") -> tuple[str, str]:
    with pytest.raises(EnrichmentFailed) as caught:
        image_describe(path, mime=mime, prompt=PROMPT)
    return caught.value.reason, caught.value.state


@pytest.fixture(autouse=True)
def offline(settings: Any) -> None:
    """Tesseract by default (no OpenAI key), the seed's OCR settings."""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.AI_OCR_LANG = "spa+eng"
    settings.AI_OCR_TESSERACT_CONFIG = ""
    settings.AI_OCR_TIMEOUT = 120
    settings.IMAGE_DESCRIPTION_MAX_PIXELS = 4_000_000


@pytest.fixture
def vision_server(settings: Any) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server as a vision model: it describes what it was shown."""

    def describe(call: ModelCall) -> str:
        return "Un mesón negro de 120 cm con su factura." if call.images else "No veo ninguna imagen."

    with FakeOpenAI(answer=describe) as server:
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_TIMEOUT = 5.0
        settings.AI_VISION_MODEL = "gpt-4o-mini-test"
        yield server


# --------------------------------------------------------------------------- availability


def test_without_a_key_tesseract_describes_with_the_installed_languages(settings: Any) -> None:
    available = vision_availability()
    assert (available.available, available.backend, available.detail) == (True, "tesseract", "spa+eng")
    settings.AI_OCR_LANG = "spa+xyz"  # a language that is not installed is left out
    assert vision_availability().detail == "spa"


def test_with_a_key_the_vision_model_describes(settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-test"
    settings.AI_VISION_MODEL = "gpt-4o"
    assert vision_availability() == vision_availability().__class__(True, "openai-vision", detail="gpt-4o")


def test_no_backend_is_a_clear_state(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.AI_OCR_LANG = "xyz"
    available = vision_availability()
    assert (available.available, available.reason) == (False, "no_backend")
    assert "xyz" in available.detail
    image = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    with pytest.raises(EnrichmentUnavailable) as caught:
        image_describe(image, mime="image/png", prompt=PROMPT)
    assert (caught.value.reason, caught.value.state) == ("no_backend", "unavailable")

    import pytesseract

    settings.AI_OCR_LANG = "spa+eng"
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(tmp_path / "no-tesseract"))
    tesseract_probe.cache_clear()
    try:
        available = vision_availability()
        assert (available.available, available.reason) == (False, "no_backend")
        assert "not installed" in available.detail
        with pytest.raises(EnrichmentUnavailable):
            image_describe(image, mime="image/png", prompt=PROMPT)
    finally:
        tesseract_probe.cache_clear()


# --------------------------------------------------------------------------- offline: Tesseract reads


def test_tesseract_reads_a_receipt(tmp_path: Path) -> None:
    path = save(render(RECEIPT), tmp_path / "receipt.jpg", "JPEG", quality=90)
    result = image_describe(path, mime="image/jpeg", prompt=PROMPT, clock=clock(100.0, 100.25))
    assert (result.backend, result.source, result.elapsed_ms, result.duration_ms) == ("tesseract", "ocr", 250, None)
    text = result.text
    assert "TOTAL" in text
    assert "45900" in digits(text)
    assert "negro" in text and "120" in text
    assert "Mesón" in text or "Meson" in text
    assert "\n" in text  # one line per printed line


def test_tesseract_runs_at_idle_priority(tmp_path: Path, tesseract_policies: Any) -> None:
    """OCR yields the CPU to the pipeline (SCHED_IDLE); the worker's own thread does not."""
    path = save(render(RECEIPT), tmp_path / "receipt.png", "PNG")
    assert "TOTAL" in image_describe(path, mime="image/png", prompt=PROMPT).text
    reads = tesseract_policies()
    assert reads and all(policy == os.SCHED_IDLE for policy in reads)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_a_price_lists_prices_stay_on_their_items_lines(tmp_path: Path) -> None:
    """A photographed price list: items, codes and prices in columns far apart. Tesseract alone reads each
    column after the other (all the items, then all the codes, then all the prices)."""
    font = ImageFont.truetype(FONT, 34)
    rows = [
        ("Producto", "Ref.", "Precio"),
        ("Tanque de agua 500 litros", "TQ-500", "$399.000"),
        ("Tanque de agua 1.000 litros", "TQ-1000", "$559.000"),
        ("Bomba periférica 1/2 HP", "BO-B12", "$269.900"),
    ]
    image = Image.new("RGB", (1654, 900), "white")
    draw = ImageDraw.Draw(image)
    draw.text((150, 120), "Tanques y bombas", font=font, fill="black")
    for i, row in enumerate(rows):
        for x, cell in zip((150, 950, 1250), row, strict=True):
            draw.text((x, 200 + int(i * 34 * 1.6)), cell, font=font, fill="black")
    text = image_describe(save(image, tmp_path / "prices.png", "PNG"), mime="image/png", prompt=PROMPT).text
    assert "Tanque de agua 500 litros · TQ-500 · $399.000" in text, text
    assert "Bomba periférica 1/2 HP · BO-B12 · $269.900" in text, text


def test_an_image_turned_by_its_exif_orientation_is_read_upright(tmp_path: Path) -> None:
    upright = render(["Mesón negro 120 cm", "TOTAL $45.900"])
    sideways = upright.rotate(90, expand=True)  # how the phone's sensor stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = save(sideways, tmp_path / "photo.jpg", "JPEG", quality=90, exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.size == upright.size
    text = image_describe(path, mime="image/jpeg", prompt=PROMPT).text
    assert "45900" in digits(text) and "negro" in text


def test_a_transparent_png_is_read_on_white(tmp_path: Path) -> None:
    path = save(render(RECEIPT, mode="RGBA", background=(0, 0, 0, 0)), tmp_path / "label.png", "PNG")
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.getpixel((2, 2)) == (255, 255, 255)
    text = image_describe(path, mime="image/png", prompt=PROMPT).text
    assert "TOTAL" in text and "45900" in digits(text)


def test_an_animated_webp_sticker_is_read_from_its_first_frame(tmp_path: Path) -> None:
    first = render(["Mesón negro 120 cm"], mode="RGBA", background=(255, 255, 255, 0))
    second = Image.new("RGBA", first.size, (200, 30, 30, 255))
    path = tmp_path / "sticker.webp"
    first.save(path, format="WEBP", save_all=True, append_images=[second], duration=100, loop=0, lossless=True)
    with Image.open(path) as check:
        assert getattr(check, "n_frames", 1) == 2
    result = image_describe(path, mime="image/webp", prompt=PROMPT)
    assert "negro" in result.text and "120" in result.text


def test_a_gif_is_read_from_its_first_frame(tmp_path: Path) -> None:
    first = render(["TOTAL $45.900"]).convert("P")
    second = Image.new("P", first.size, 0)
    path = tmp_path / "anim.gif"
    first.save(path, format="GIF", save_all=True, append_images=[second], duration=100)
    assert "45900" in digits(image_describe(path, mime="image/gif", prompt=PROMPT).text)


def test_a_small_image_is_enlarged_before_ocr(tmp_path: Path) -> None:
    small = render(["TOTAL $45.900"], size=14)
    assert small.width < 300
    path = save(small, tmp_path / "small.png", "PNG")
    prepared = prepare_for_ocr(load_image(path))
    assert prepared.mode == "L" and prepared.width >= OCR_MIN_WIDTH * 0.99
    assert prepared.height / prepared.width == pytest.approx(small.height / small.width, rel=0.02)
    assert "45900" in digits(image_describe(path, mime="image/png", prompt=PROMPT).text)


def test_a_dim_low_contrast_photo_of_a_label_is_read(tmp_path: Path) -> None:
    font = ImageFont.truetype(FONT, 40)
    photo = Image.new("RGB", (900, 260), (96, 92, 88))  # a label photographed in poor light
    draw = ImageDraw.Draw(photo)
    draw.text((40, 40), "Mesón negro 120 cm", font=font, fill=(58, 56, 54))
    draw.text((40, 140), "TOTAL $45.900", font=font, fill=(58, 56, 54))
    path = save(photo.rotate(2, expand=True, fillcolor=(96, 92, 88)), tmp_path / "dim.jpg", "JPEG", quality=80)
    text = image_describe(path, mime="image/jpeg", prompt=PROMPT).text
    assert "45900" in digits(text) and "negro" in text


@pytest.mark.parametrize(("size", "color"), [((1, 1), "black"), ((1, 40_000), "white"), ((6000, 2), "white")])
def test_odd_shapes_have_no_text_and_do_not_break_tesseract(tmp_path: Path, size: tuple[int, int], color: str) -> None:
    path = save(Image.new("RGB", size, color), tmp_path / "odd.png", "PNG")
    assert reason_of(path, "image/png") == ("no_text", "failed")


def test_a_blank_image_has_no_text(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (800, 600), "white"), tmp_path / "blank.jpg", "JPEG")
    assert reason_of(path) == ("no_text", "failed")


def test_tesseract_timing_out_is_worth_another_try(settings: Any, tmp_path: Path) -> None:
    settings.AI_OCR_TIMEOUT = 0.001  # no process starts that fast
    path = save(render(RECEIPT), tmp_path / "receipt.png", "PNG")
    with pytest.raises(EnrichmentTransient) as caught:
        image_describe(path, mime="image/png", prompt=PROMPT)
    assert (caught.value.reason, caught.value.state) == ("timeout", "queued")


def test_tesseract_refusing_its_options_is_a_recorded_failure(settings: Any, tmp_path: Path) -> None:
    settings.AI_OCR_TESSERACT_CONFIG = "--psm 99"
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    reason, state = reason_of(path, "image/png")
    assert (reason, state) == ("provider_error", "failed")


def test_ocr_text_is_tidied() -> None:
    raw = "  TOTAL    $45.900 \n\n —— | \n ~~~ \n\x0cMesón\tnegro  120 cm\n_ _\n"
    assert clean_ocr_text(raw) == "TOTAL $45.900\nMesón negro 120 cm"
    assert clean_ocr_text(" | — \n") == ""
    long = clean_ocr_text("palabra " * 1000)
    assert len(long) <= MAX_TEXT_CHARS and long.endswith("palabra…")
    assert cap_text("corto") == "corto"


# --------------------------------------------------------------------------- bad files: a reason, never a crash


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert reason_of(path) == ("empty", "failed")


def test_a_missing_file(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "gone.jpg") == ("no_media", "failed")


def test_random_bytes_are_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(bytes(range(256)) * 40)
    assert reason_of(path) == ("corrupt", "failed")


def test_a_truncated_jpeg(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    render(RECEIPT).save(buffer, format="JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert reason_of(path) == ("corrupt", "failed")


def test_a_png_with_a_broken_checksum(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    render(["HOLA"]).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[60] ^= 0xFF  # inside the first IDAT chunk
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    assert reason_of(path, "image/png") == ("corrupt", "failed")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("doc.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"),
        ("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64),
    ],
)
def test_files_of_another_kind_are_unsupported(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert reason_of(path) == ("unsupported", "failed")


def test_image_formats_pillow_could_open_but_we_do_not_decode_are_unsupported(tmp_path: Path) -> None:
    path = save(render(["HOLA"]), tmp_path / "icon.ico", "ICO")
    assert reason_of(path, "image/x-icon") == ("unsupported", "failed")


def _png_claiming(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose header claims ``width`` x ``height`` pixels (valid checksum)."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 255).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_a_decompression_bomb_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(100_000, 100_000))
    assert reason_of(path, "image/png") == ("too_large", "failed")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pillows_pixel_limit_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    over = save(Image.new("RGB", (120, 100), "white"), tmp_path / "over.png", "PNG")  # Pillow only warns
    far_over = save(Image.new("RGB", (400, 400), "white"), tmp_path / "far.png", "PNG")  # Pillow refuses
    assert reason_of(over, "image/png") == ("too_large", "failed")
    assert reason_of(far_over, "image/png") == ("too_large", "failed")


def test_large_images_are_scaled_down(settings: Any, tmp_path: Path) -> None:
    settings.IMAGE_DESCRIPTION_MAX_PIXELS = 250_000
    for fmt, name in (("JPEG", "big.jpg"), ("PNG", "big.png")):
        path = save(Image.new("RGB", (2000, 1500), "white"), tmp_path / name, fmt)
        loaded = load_image(path)
        assert loaded.width * loaded.height <= 250_000
        assert loaded.width / loaded.height == pytest.approx(2000 / 1500, rel=0.02)


# --------------------------------------------------------------------------- online: the vision model


def _sent(server: FakeOpenAI) -> dict[str, Any]:
    (request,) = server.requests_to("/chat/completions")
    return request.body


def test_the_vision_model_describes_the_image(vision_server: FakeOpenAI, tmp_path: Path) -> None:
    path = save(render(RECEIPT), tmp_path / "receipt.png", "PNG")
    result = image_describe(path, mime="image/png", prompt=PROMPT, clock=clock(5.0, 6.5))
    assert result.text == "Un mesón negro de 120 cm con su factura."
    assert (result.backend, result.source, result.elapsed_ms) == ("openai-vision", "vision", 1500)
    (request,) = vision_server.requests_to("/chat/completions")
    assert request.authorization == "Bearer sk-test"
    body = request.body
    assert body["model"] == "gpt-4o-mini-test"
    assert body["max_tokens"] == 300
    assert body["messages"][0] == {"role": "system", "content": PROMPT}
    (part,) = body["messages"][1]["content"]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_the_image_sent_is_a_scaled_jpeg_under_the_pixel_limit(
    vision_server: FakeOpenAI, settings: Any, tmp_path: Path
) -> None:
    settings.IMAGE_DESCRIPTION_MAX_PIXELS = 100_000
    seen: list[ModelCall] = []

    def model(call: ModelCall) -> str:
        seen.append(call)
        return "Una factura."

    vision_server.answer = model
    path = save(render(RECEIPT, size=80), tmp_path / "big.png", "PNG")
    with Image.open(path) as original:
        assert original.width * original.height > 100_000
        ratio = original.width / original.height
    image_describe(path, mime="image/png", prompt=PROMPT)
    (call,) = seen
    assert call.images == ("image/jpeg",) and call.model == "gpt-4o-mini-test" and call.instructions == PROMPT
    with Image.open(io.BytesIO(call.image_bytes(0))) as sent:
        assert sent.format == "JPEG" and sent.mode == "RGB"
        assert sent.width * sent.height <= 100_000
        assert sent.width / sent.height == pytest.approx(ratio, rel=0.02)


def test_without_a_prompt_the_built_in_one_is_used(vision_server: FakeOpenAI, settings: Any, tmp_path: Path) -> None:
    settings.AI_VISION_PROMPT = ""
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    image_describe(path, mime="image/png", prompt="  ")
    assert _sent(vision_server)["messages"][0]["content"] == DEFAULT_VISION_PROMPT


def test_a_long_description_is_capped(vision_server: FakeOpenAI, tmp_path: Path) -> None:
    vision_server.answer = "  Un mesón negro muy largo. " * 300
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    text = image_describe(path, mime="image/png", prompt=PROMPT).text
    assert len(text) <= MAX_TEXT_CHARS and text.startswith("Un mesón negro") and text.endswith("…")


@pytest.mark.parametrize("status", [500, 503, 429])
def test_provider_overload_is_worth_another_try(vision_server: FakeOpenAI, tmp_path: Path, status: int) -> None:
    vision_server.fail_next(status, message="overloaded")
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    with pytest.raises(EnrichmentTransient) as caught:
        image_describe(path, mime="image/png", prompt=PROMPT)
    assert (caught.value.reason, caught.value.state) == ("provider_error", "queued")
    assert str(status) in caught.value.detail
    assert len(vision_server.requests_to("/chat/completions")) == 1  # no hidden retries: the task retries


@pytest.mark.parametrize("status", [400, 401, 413])
def test_a_refused_request_is_final(vision_server: FakeOpenAI, tmp_path: Path, status: int) -> None:
    vision_server.answer = Reply(status=status, error="Invalid image.")
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    with pytest.raises(EnrichmentFailed) as caught:
        image_describe(path, mime="image/png", prompt=PROMPT)
    assert caught.value.reason == "provider_error" and caught.value.state == "failed"
    assert str(status) in caught.value.detail and "Invalid image" in caught.value.detail


def test_an_empty_description_is_a_failure(vision_server: FakeOpenAI, tmp_path: Path) -> None:
    vision_server.answer = "   "
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    with pytest.raises(EnrichmentFailed) as caught:
        image_describe(path, mime="image/png", prompt=PROMPT)
    assert (caught.value.reason, caught.value.detail) == ("provider_error", "empty description")


def test_a_slow_provider_times_out(vision_server: FakeOpenAI, settings: Any, tmp_path: Path) -> None:
    settings.OPENAI_TIMEOUT = 0.2
    vision_server.delay = 2.0
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    with pytest.raises(EnrichmentTransient) as caught:
        image_describe(path, mime="image/png", prompt=PROMPT)
    assert caught.value.reason == "timeout"


def test_an_unreachable_provider_is_worth_another_try(settings: Any, tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        base_url = server.base_url  # nobody listens there once it stops
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = base_url
    path = save(render(["HOLA"]), tmp_path / "a.png", "PNG")
    with pytest.raises(EnrichmentTransient) as caught:
        image_describe(path, mime="image/png", prompt=PROMPT)
    assert caught.value.reason == "provider_error" and "connection" in caught.value.detail


def test_a_bad_file_never_reaches_the_provider(vision_server: FakeOpenAI, tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(b"\xff\xd8\xff" + bytes(500))
    assert reason_of(path) == ("corrupt", "failed")
    assert vision_server.requests_to("/chat/completions") == []


def test_the_fake_server_shows_its_model_the_images_of_either_api() -> None:
    from openai import OpenAI

    from whatsapp_ia.fakes.openai import data_url_bytes, data_url_mime

    png = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    with FakeOpenAI(answer=lambda call: f"{len(call.images)} image(s): {','.join(call.images)}") as server:
        client = OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        answer = client.responses.create(
            model="m",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "¿Qué es?"},
                        {"type": "input_image", "image_url": url},
                        {"type": "input_image", "image_url": "https://example.com/a.jpg"},
                    ],
                }
            ],
        )
        assert answer.output_text == "2 image(s): image/png,url"
        chat = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hola"}])
        assert chat.choices[0].message.content == "0 image(s): "
    assert data_url_mime(url) == "image/png" and data_url_bytes(url) == png.getvalue()
    assert data_url_mime("data:,hola") == "application/octet-stream" and data_url_bytes("data:,hola%21") == b"hola!"
    assert data_url_bytes("https://example.com/a.jpg") == b""
