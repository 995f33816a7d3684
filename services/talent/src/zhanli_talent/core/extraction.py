"""Resume files to text: .txt (UTF-8, UTF-8 with BOM, GBK/GB18030), .docx (python-docx)
and .pdf (pypdf). The content must be what the name claims (magic bytes), the size is
limited, and a file with no readable text is refused with the reason: nothing here
guesses silently."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_PDF_PAGES = 50
MAX_DOCX_XML_BYTES = 50 * 1024 * 1024
MAX_TEXT_CHARS = 100_000
KINDS = ("txt", "docx", "pdf")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
MEDIA_TYPES = {
    "text/plain": "txt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/pdf": "pdf",
}


class ResumeFileError(ValueError):
    """The file cannot be used; ``field`` names what is wrong (``file``, ``encoding`` ...)."""

    def __init__(self, message: str, field: str = "file", status: int = 422) -> None:
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: str
    encoding: str | None
    truncated: bool


def kind_of(filename: str | None, media_type: str | None) -> str:
    """The claimed type from the file name's extension, else the media type."""
    if filename and "." in filename:
        ext = filename.rsplit(".", 1)[1].lower()
        if ext in KINDS:
            return ext
        raise ResumeFileError(
            f"Unsupported file type .{ext}: send .txt, .docx or .pdf.", field="filename", status=415
        )
    base = (media_type or "").split(";")[0].strip().lower()
    if base in MEDIA_TYPES:
        return MEDIA_TYPES[base]
    raise ResumeFileError(
        "Name the file (.txt, .docx or .pdf) or send its media type.", field="filename", status=415
    )


def extract(data: bytes, kind: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Extracted:
    """The text of a resume file of the claimed ``kind``."""
    if not data:
        raise ResumeFileError("The file is empty.")
    if len(data) > max_bytes:
        raise ResumeFileError(
            f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.", status=413
        )
    if kind == "pdf":
        if not data.startswith(PDF_MAGIC):
            raise ResumeFileError("The file is named .pdf but is not a PDF.", status=415)
        text, encoding = _pdf(data), None
    elif kind == "docx":
        if not data.startswith(ZIP_MAGIC):
            raise ResumeFileError("The file is named .docx but is not a Word document.", status=415)
        text, encoding = _docx(data), None
    elif kind == "txt":
        if data.startswith((PDF_MAGIC, ZIP_MAGIC)):
            raise ResumeFileError("The file is named .txt but is a PDF or Office file.", status=415)
        text, encoding = decode_text(data)
    else:
        raise ResumeFileError(f"Unsupported file type {kind!r}.", field="filename", status=415)
    text = "\n".join(line.strip() for line in text.replace("\r", "\n").split("\n"))
    text = "\n".join(p for p in text.split("\n\n\n") if p).strip()
    if not text:
        raise ResumeFileError(
            "No text could be read from the file (a scanned image? OCR is not supported)."
        )
    truncated = len(text) > MAX_TEXT_CHARS
    return Extracted(text[:MAX_TEXT_CHARS], kind, encoding, truncated)


def decode_text(data: bytes) -> tuple[str, str]:
    """UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030 (a superset of GBK and
    GB2312); text that decodes to control characters or unassigned code points in any of
    them is refused, never shown as mojibake."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        if b"\x00" in data:
            raise ResumeFileError("The text file contains NUL bytes: not text.", field="encoding")
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8" and _gbk_in_disguise(data, text):
            continue
        if _plausible(text):
            return text, "gbk" if encoding == "gb18030" else encoding.replace("-sig", "")
    raise ResumeFileError(
        "The text is neither UTF-8 nor GBK (save it as UTF-8 and upload again).",
        field="encoding",
    )


def _gbk_in_disguise(data: bytes, text: str) -> bool:
    """Short GBK text can also be valid UTF-8 (业 = D2 B5 = Cyrillic ҵ): UTF-8 with
    non-ASCII characters but no Chinese at all, that reads as Chinese in GBK, is GBK."""
    if text.isascii() or _CJK.search(text):
        return False
    try:
        other = data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return bool(_CJK.search(other)) and _plausible(other)


def _plausible(text: str) -> bool:
    import unicodedata

    if not text:
        return False
    bad = sum(
        1
        for ch in text
        if (unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs") and ch not in "\n\r\t\f")
    )
    return bad <= max(2, len(text) // 200)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ResumeFileError("The PDF is encrypted: upload it without a password.")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise ResumeFileError(f"The PDF has {len(pages)} pages; the limit is {MAX_PDF_PAGES}.")
        return "\n".join((page.extract_text() or "") for page in pages)
    except ResumeFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ResumeFileError(f"The PDF cannot be read ({type(exc).__name__}).") from exc
    except Exception as exc:  # pypdf raises many kinds on damaged files
        raise ResumeFileError(f"The PDF cannot be read ({type(exc).__name__}).") from exc


def _docx(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > MAX_DOCX_XML_BYTES:
                raise ResumeFileError("The Word document expands beyond the size limit.")
    except KeyError as exc:
        raise ResumeFileError("The file is a ZIP archive but not a Word document.") from exc
    except zipfile.BadZipFile as exc:
        raise ResumeFileError("The Word document is damaged (bad ZIP).") from exc
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds on damaged parts
        raise ResumeFileError(f"The Word document cannot be read ({type(exc).__name__}).") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(parts)
