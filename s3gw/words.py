"""Counted nouns in what s3gw prints: a pure module, so that the steps and the renderer say them alike."""

from __future__ import annotations


def plural(count: int, word: str, words: str = "") -> str:
    """`1 object version`, `2 object versions` (`words`: the plural where it is not word + "s")."""
    return f"{count} {word if count == 1 else words or word + 's'}"
