"""Sealed mode and partners: while ``WIDGET_DATA_PUBLIC_KEY`` is set, the partner-level outputs
(a partner's supporters CSV, its API keys, its webhooks) are refused, each with the reason.

The organisation's outputs carry the sealed box, for the holder of the private key to open. A
partner does not hold that key, and handing it over would open every supporter's data, not
only the partner's consenting supporters'; and the server cannot open a box to pass on its
contents. So a partner gets nothing of a sealed signature, and is told why.
"""

from __future__ import annotations

REASON = (
    "Supporters' names and email addresses are sealed: only the organisation's private key "
    "opens them, and that key is not given to partners, because it opens every supporter's data."
)
CSV_REFUSED = (
    f"{REASON} So this server cannot give a partner its supporters' CSV while the data is "
    "sealed. The organisation can share them with the partner by other means: it exports them "
    "on the computer that holds its key and decides what to pass on."
)
API_REFUSED = (
    f"{REASON} Partner API keys read nothing while the data is sealed; the organisation can "
    "share the partner's supporters by other means."
)
KEY_REFUSED = (
    f"{REASON} So no partner API key can be made while the data is sealed; an organisation key "
    "carries the sealed data for the holder of the private key."
)
WEBHOOK_REFUSED = (
    f"{REASON} So no partner webhook can be added while the data is sealed; an organisation "
    "endpoint gets the sealed data for the holder of the private key."
)


def partner_output_refused(*, sealed: bool, partner: object | None) -> bool:
    """True when a partner-level output is asked for (``partner`` not None) in sealed mode."""
    return sealed and partner is not None
