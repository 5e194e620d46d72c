"""Reads, writes, reads again through the rewritten `depot` fixture and prints JSON.

    invalidation.py PROJECT CACHE_URL

The rewrite tagged the cached reads and put `cache.delete_tags(...)` in the
writers; this checks under real cashews that a write is followed by fresh
reads: each step's value and how many queries reached the database (a hit
reaches none).
"""

import asyncio
import json
import os
import sys
import tempfile

PROJECT, URL = sys.argv[1:]
sys.path.insert(0, PROJECT)

from cashews import cache  # noqa: E402

from depot import stock  # noqa: E402
from depot.db import Connection  # noqa: E402


async def main():
    cache.setup(URL)
    await cache.clear()
    folder = tempfile.mkdtemp()
    conn = Connection(os.path.join(folder, "depot.db"))
    conn._db.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, level INTEGER)")
    conn._db.executemany("INSERT INTO stock VALUES (?, ?)", [("a", 1), ("b", 2)])
    conn._db.commit()
    steps = []

    async def read(label, sku):
        before = conn.queries
        value = await stock.stock_level(conn, sku)
        steps.append({"step": label, "value": value, "queries": conn.queries - before})

    await read("a first", "a")
    await read("a again", "a")
    await read("b first", "b")
    await stock.restock(conn, "a", 5)
    await read("a after restock of a", "a")
    await read("b after restock of a", "b")
    await stock.write_off_everything(conn)
    await read("b after write-off", "b")
    await cache.close()
    print(json.dumps(steps))


asyncio.run(main())
