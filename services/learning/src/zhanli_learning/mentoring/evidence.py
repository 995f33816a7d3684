"""Evidence files: a size limit, an allowed type list, and the bytes must be what the
declared type says (magic bytes), so a renamed executable is refused. Pure, no I/O."""

from __future__ import annotations

import re

MAGIC: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
EXTENSIONS = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "application/pdf": (".pdf",),
    "text/plain": (".txt",),
}
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


class EvidenceProblem(ValueError):
    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def safe_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "evidence"
    return _SAFE_NAME.sub("_", base)[:120]


def check(data: bytes, media_type: str, allowed: list[str], max_bytes: int) -> None:
    if media_type not in allowed:
        raise EvidenceProblem(
            "content-type",
            f"{media_type[:60]!r} is not accepted: send one of {', '.join(allowed)}.",
            415,
        )
    if len(data) > max_bytes:
        raise EvidenceProblem("file", f"The file is larger than {max_bytes // 1024} KiB.", 413)
    if not data:
        raise EvidenceProblem("file", "The file is empty.")
    if media_type == "text/plain":
        if b"\x00" in data:
            raise EvidenceProblem("file", "The file is not plain text.")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                data.decode("gb18030")
            except UnicodeDecodeError:
                raise EvidenceProblem("file", "The file is not UTF-8 or GBK text.") from None
        return
    if not any(data.startswith(m) for m in MAGIC.get(media_type, ())):
        raise EvidenceProblem(
            "file", f"The file's content is not {media_type} (its first bytes say otherwise)."
        )
