"""Identifiers that sort by creation time (the UUIDv7 layout, as 32 hex characters).

Decision and log-entry ids are primary or unique keys. Random ids (UUIDv4) land on random pages
of their B-tree indexes, so every commit dirties pages all over the database file and the WAL
grows with them; time-ordered ids append to the right-hand edge. The 74 random bits keep them
unguessable, and unlike a sequence they do not reveal how many decisions were taken.
"""

from __future__ import annotations

import time

from api.core.crypto import random_bytes

__all__ = ["new_id"]


def new_id() -> str:
    """A new identifier: 48 bits of Unix milliseconds, version 7, variant, 74 random bits."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(random_bytes(10), "big")
    value = (milliseconds & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (random >> 68) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= random & (2**62 - 1)  # 62 random bits
    return f"{value:032x}"
