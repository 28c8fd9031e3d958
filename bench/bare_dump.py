"""The baseline the export is measured against: the same rows, one plain SELECT through the
driver, written with the csv module and nothing else (no ORM, no formula guard, no audit).

Run as its own process, ``python bench/bare_dump.py DATABASE_URL CAMPAIGN_ID FILE``, so its peak
memory is measured the same way as the export command's.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from typing import Any

QUERY = """
SELECT s.created_at, s.verified_at, s.name, s.email, s.country, s.actions, s.opt_in, p.slug,
       s.language
FROM signature s LEFT OUTER JOIN partner p ON s.partner_id = p.id
WHERE s.campaign_id = {param} AND s.verified_at IS NOT NULL AND s.withdrawn_at IS NULL
  AND s.invalidated_at IS NULL AND s.anonymised_at IS NULL
ORDER BY s.verified_at, s.id
"""
BATCH = 2000


def sqlite_rows(path: str, campaign_id: int) -> Iterator[tuple[Any, ...]]:
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        yield from connection.execute(QUERY.format(param="?"), (campaign_id,))
    finally:
        connection.close()


def postgres_rows(url: str, campaign_id: int) -> Iterator[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as connection, connection.cursor(name="dump") as cursor:
        cursor.itersize = BATCH
        cursor.execute(QUERY.format(param="%s"), (campaign_id,))
        yield from cursor


def main() -> None:
    database_url, campaign_id, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # Parsed by hand: importing SQLAlchemy would add its own memory to the baseline's.
    scheme, _, rest = database_url.partition("://")
    if scheme == "sqlite":
        rows = sqlite_rows(rest.removeprefix("/"), campaign_id)
    else:
        rows = postgres_rows(f"postgresql://{rest}", campaign_id)
    with open(output, "w", encoding="utf-8", newline="") as target:
        writer = csv.writer(target, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerows(rows)


if __name__ == "__main__":
    main()
