"""A release's members as one zip, streamed as it is made: each member's original file,
decrypted chunk by chunk as track downloads decrypt it, stored (not compressed: audio
does not shrink, and STORED costs no CPU), named "NN - Title.ext" in release order.

Never the whole zip in memory, nor on disk: `zipfile` writes to a sink that the generator
empties after every chunk, so what is held at once is one 64 KiB chunk plus the zip's
headers. Python's zipfile handles an unseekable output by writing each entry's CRC and
sizes in a data descriptor after its bytes, and switches to Zip64 by itself past 4 GiB."""
from __future__ import annotations

import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import Callable, Iterator

from backend.crypto import decrypt_range

# What each track's original may be, by the content type its upload recorded.
EXTENSIONS = {"audio/wav": ".wav", "audio/flac": ".flac", "audio/mpeg": ".mp3", "audio/ogg": ".ogg"}


@dataclass(frozen=True)
class Entry:
    """One member's original, as its upload stored it."""
    name: str  # inside the zip
    size: int
    read_cipher: Callable[[int, int], bytes]  # (offset, length) of the encrypted file
    key: bytes
    nonce_prefix: bytes
    chunk_size: int


def safe_title(title: str, fallback: str) -> str:
    """A file name part without path separators or characters file systems refuse."""
    cleaned = re.sub(r"[^\w.,'()&+ -]", "_", title, flags=re.UNICODE).strip(" .")
    return (cleaned or fallback)[:120]


def member_name(position: int, title: str | None, file_name: str, content_type: str, width: int = 2) -> str:
    """"NN - Title.ext": NN the 1-based position, the extension the original had."""
    ext = PurePath(file_name).suffix.lower()
    if ext not in EXTENSIONS.values():
        ext = EXTENSIONS.get(content_type, ".bin")
    return f"{position:0{width}d} - {safe_title(title or '', f'Track {position}')}{ext}"


class _Sink:
    """An unseekable output that keeps what zipfile wrote until the generator takes it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def stream(entries: list[Entry]) -> Iterator[bytes]:
    """The zip's bytes, a chunk at a time. A member that fails to decrypt or fetch raises
    mid-stream: the response is cut, and the client sees a broken download, never a zip
    with a wrong file in it."""
    sink = _Sink()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[arg-type]
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = entry.size
            with zf.open(info, mode="w", force_zip64=entry.size >= zipfile.ZIP64_LIMIT) as out:
                if entry.size:
                    for plain in decrypt_range(entry.read_cipher, entry.key, entry.nonce_prefix, entry.size, 0,
                                               entry.size - 1, entry.chunk_size):
                        out.write(plain)
                        if chunk := sink.take():
                            yield chunk
            if chunk := sink.take():
                yield chunk
    if chunk := sink.take():
        yield chunk
