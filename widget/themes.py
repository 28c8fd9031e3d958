"""Partner themes from ``data-theme``: a mode (light, dark, auto) and an accent colour.

``data-theme="dark #d4351c"``. Text on the accent is black or white, whichever reads better
(WCAG contrast), so a partner's brand colour can never make the Sign button unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODES = ("light", "dark", "auto")
HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
#: the page backgrounds of the light and dark modes (see widget.css)
BACKGROUNDS = {"light": "#ffffff", "dark": "#121212"}
MIN_LINK_CONTRAST = 4.5


@dataclass(frozen=True)
class Theme:
    mode: str = "light"
    #: ``#rrggbb``, or None for the stylesheet's own accent
    accent: str | None = None

    @property
    def accent_text(self) -> str | None:
        """Black or white, whichever contrasts more with the accent."""
        if self.accent is None:
            return None
        return (
            "#000000"
            if contrast(self.accent, "#000000") >= contrast(self.accent, "#ffffff")
            else "#ffffff"
        )

    @property
    def accent_links(self) -> bool:
        """Whether the accent is readable as link text on this mode's backgrounds."""
        if self.accent is None:
            return False
        modes = ("light", "dark") if self.mode == "auto" else (self.mode,)
        return all(contrast(self.accent, BACKGROUNDS[m]) >= MIN_LINK_CONTRAST for m in modes)


def parse_theme(value: str | None) -> Theme:
    """Unknown words are ignored: a partner's typo must not break the widget."""
    mode, accent = "light", None
    for word in (value or "").replace(",", " ").split():
        if word.lower() in MODES:
            mode = word.lower()
        elif match := HEX.match(word):
            digits = match.group(1)
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            accent = f"#{digits.lower()}"
    return Theme(mode, accent)


def luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
