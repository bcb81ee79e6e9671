"""Helpers shared by the upload tests (tests/backend/test_upload*.py)."""
from __future__ import annotations

from sqlmodel import Session, func, select

from backend.models import Upload


def uploads(stack) -> int:
    with Session(stack.services.engine) as db:
        return db.exec(select(func.count()).select_from(Upload)).one()


def encoded(fmt: str, subtype: str, seconds: float = 3.0, rate: int = 16000) -> bytes:
    import io

    import numpy as np
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    soundfile.write(out, (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"), rate, format=fmt, subtype=subtype)
    return out.getvalue()
