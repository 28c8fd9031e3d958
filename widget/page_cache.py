"""Rendered pages kept per process, with their per-request parts put in by substitution.

The widget page is the same for every reader of a campaign in a language, view and theme, but
for a few values of its own request (its single-use form token, the style nonce, the embedding
page, the form's action with the reader's query): those are *slots*. A page is rendered once
per distinct set of *inputs* with a unique placeholder in each slot, cut at the placeholders,
and kept; each request joins the pieces with its own slot values, escaped as Jinja would.

The cache key is made from the inputs dict itself (``key_of``), so every value handed to the
template is in the key without anyone listing it: a value with no stable key (an object
hashed by identity, a form) is refused with ``TypeError`` instead of silently making one entry
per request. Attacker-controlled strings (query values, the ``Referer``) belong in slots,
never in the inputs; the entries are bounded anyway (least recently used go first).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

from flask import Flask
from markupsafe import escape
from sqlalchemy import inspect
from sqlalchemy.exc import NoInspectionAvailable
from sqlalchemy.orm import InstanceState

#: rendered pages one process keeps (a few hundred KB each at most)
MAX_ENTRIES = 128

Render = Callable[[dict[str, object]], str]


#: the types whose values are their own keys, looked up before any ``isinstance``: a page's
#: key is made on every request
PLAIN = frozenset({type(None), str, int, float, bool, date, datetime})


def key_of(value: Any) -> Any:
    """A hashable, value-based key for ``value``: mappings, sequences and dataclasses by their
    contents, ORM objects by their columns, plain values as they are."""
    kind = type(value)
    if kind in PLAIN:
        return value
    if kind is dict or isinstance(value, Mapping):
        # in its order: the same builder gives the same order (another order is one more entry)
        return (dict, *((k, key_of(v)) for k, v in value.items()))
    if isinstance(value, str | int | float | bool | date | datetime):  # their subclasses
        return value
    if isinstance(value, list | tuple):
        return tuple(key_of(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(key_of(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (type(value).__name__, *(key_of(getattr(value, f.name)) for f in fields))
    try:
        state = inspect(value)
    except NoInspectionAvailable:
        pass
    else:
        return _row_key(value, state)
    if type(value).__hash__ in (None, object.__hash__):
        raise TypeError(
            f"a page input of type {type(value).__name__} has no key by value: "
            "give it one in widget.page_cache.key_of, or make it a slot"
        )
    return value


#: the keys of detached rows (``widget.public_facts`` hands out read-only ones), made once
_detached_keys: WeakKeyDictionary[Any, tuple[Any, ...]] = WeakKeyDictionary()


def _row_key(row: Any, state: InstanceState[Any]) -> tuple[Any, ...]:
    """An ORM row by its columns (a template reading a relationship would need it keyed too)."""
    if state.detached and row in _detached_keys:
        return _detached_keys[row]
    key = (
        state.mapper.class_.__name__,
        *(key_of(getattr(row, c.key)) for c in state.mapper.column_attrs),
    )
    if state.detached:
        _detached_keys[row] = key
    return key


@dataclasses.dataclass(frozen=True)
class Cut:
    """A rendered page cut at its slots: ``pieces[0] slot[0] pieces[1] … pieces[-1]``."""

    pieces: tuple[str, ...]
    slots: tuple[str, ...]
    #: whether the template escapes what it puts in (HTML, not a mail's plain text)
    escaped: bool = True

    def fill(self, values: Mapping[str, str | None]) -> str:
        out = [self.pieces[0]]
        for name, piece in zip(self.slots, self.pieces[1:], strict=True):
            out.append(str(escape(values[name])) if self.escaped else str(values[name]))
            out.append(piece)
        return "".join(out)


class PageCache:
    """One process's rendered pages (``app.extensions["widget.pages"]``)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Any, Cut] = OrderedDict()
        # letters and digits only, so escaping leaves it as it is; random per process, so no
        # campaign text can contain it
        self._mark = f"aw{secrets.token_hex(8)}slot"
        self._placeholder = re.compile(rf"{self._mark}([a-z_]+)x")

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def page(
        self,
        template: str,
        inputs: Mapping[str, object],
        slots: Mapping[str, str | None],
        render: Render,
        *,
        escaped: bool = True,
    ) -> str:
        """``template`` rendered from ``inputs`` and ``slots``; ``render(context)`` is called
        on a miss only. A slot that is None is passed as None (the template may leave its
        element out), so whether each slot is empty is part of the key. ``escaped=False`` for
        a template Jinja does not escape (plain text): its slots go in as they are."""
        key = (template, key_of(inputs), tuple((n, v is None) for n, v in slots.items()))
        cut = self._entries.get(key)
        if cut is None:
            context = dict(inputs)
            for name, value in slots.items():
                context[name] = None if value is None else f"{self._mark}{name}x"
            cut = self._cut(render(context), escaped)
            self._entries[key] = cut
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return cut.fill(slots)

    def _cut(self, html: str, escaped: bool) -> Cut:
        parts = self._placeholder.split(html)
        return Cut(tuple(parts[0::2]), tuple(parts[1::2]), escaped)


def page_cache(app: Flask) -> PageCache:
    cache: PageCache | None = app.extensions.get("widget.pages")
    if cache is None:
        cache = app.extensions["widget.pages"] = PageCache()
    return cache
