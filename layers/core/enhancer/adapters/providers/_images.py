"""The type of an image from its magic bytes (the formats providers return), without decoding it."""

from __future__ import annotations


def sniff_image_type(data: bytes) -> str | None:
    """image/jpeg, image/png, image/webp or image/gif by magic bytes; None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None
