"""A PDF file from its objects: the page tree, cross-reference table and trailer every hand-written PDF needs.

Pure (standard library only). Where the project writes small PDFs itself: the demo's sample catalog
(whatsapp_ia/demo_data/build_demo_catalog.py), the evaluation catalog (bench/catalog_eval/make_catalog.py)
and the test fixtures (catalog_ai/tests/pdfs.py). The same objects always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["pdf_file"]


def pdf_file(objects: Sequence[bytes | None], page_ids: Sequence[int], *, info: bytes | None = None) -> bytes:
    """The PDF of ``objects`` (numbered from 1). Objects 1 and 2 are left empty by the caller: they become
    the document catalog and the page tree of ``page_ids``. ``info``, a document information dictionary,
    is added as the last object."""
    objects = list(objects)
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % page for page in page_ids),
        len(page_ids),
    )
    if info is not None:
        objects.append(info)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info_ref = b" /Info %d 0 R" % len(objects) if info is not None else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info_ref, xref)
    return bytes(out)
