"""Writes the app icons (PNG, no image library needed): `python static/icons/generate.py`.

A teal square with a white ring and dot, the "check-in" mark; the maskable icon keeps the
mark inside the central 80% safe zone that launchers may crop to a circle."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEAL = (11, 94, 99)
WHITE = (255, 255, 255)


def pixel(x: float, y: float, size: int, scale: float) -> tuple[int, int, int]:
    c = size / 2
    r = ((x - c) ** 2 + (y - c) ** 2) ** 0.5 / (size / 2) / scale
    if 0.52 <= r <= 0.72 or r <= 0.22:
        return WHITE
    return TEAL


def png(size: int, scale: float) -> bytes:
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for x in range(size):
            row.extend(pixel(x + 0.5, y + 0.5, size, scale))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    for size in (192, 512):
        (HERE / f"icon-{size}.png").write_bytes(png(size, 1.0))
        (HERE / f"maskable-{size}.png").write_bytes(png(size, 0.8))
    (HERE / "apple-touch-icon.png").write_bytes(png(180, 0.9))
