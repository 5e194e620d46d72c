"""Runs the rewritten `per_user` fixture under real cashews; prints JSON.

    per_user.py app   PROJECT    requests as two users and as nobody
    per_user.py pages PROJECT    a client's response object against its data

`app` counts the slow backend's calls through a wrapper (installed before
the routes import it), so a cache hit shows as a request that never reaches
it. `pages` serves JSON from a local aiohttp server and calls the cached
client functions with the disk backend in a temporary folder.
"""

import asyncio
import json
import sys
import tempfile

mode, project = sys.argv[1], sys.argv[2]
sys.path.insert(0, project)


def run_app():
    import app.store as store

    calls = []
    real_orders, real_greet = store.orders_of, store.greet

    async def orders_of(user_id):
        calls.append(["orders", user_id])
        return await real_orders(user_id)

    async def greet(name):
        calls.append(["greet", name])
        return await real_greet(name)

    store.orders_of, store.greet = orders_of, greet
    from fastapi.testclient import TestClient

    from app.main import app

    asked = [("/orders", "1"), ("/orders", "1"), ("/orders", "2"),
             ("/greeting", None), ("/greeting", None), ("/greeting", "1")]
    out = []
    with TestClient(app) as client:
        for path, user in asked:
            before = len(calls)
            response = client.get(path, headers={"x-user": user} if user else {})
            out.append({"path": path, "user": user, "status": response.status_code,
                        "body": response.json(), "computed": len(calls) > before})
    print(json.dumps({"requests": out}))


async def run_pages():
    import aiohttp
    from aiohttp import web
    from cashews import cache

    hits = []

    async def data(request):
        hits.append(request.path)
        return web.json_response({"n": len(hits)})

    server = web.Application()
    server.router.add_get("/data", data)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/data"
    cache.setup(f"disk://?directory={tempfile.mkdtemp()}&shards=0")
    import app.pages as pages

    facts = {}
    async with aiohttp.ClientSession() as session:
        first = await pages.fetch_json(session, url)
        second = await pages.fetch_json(session, url)
        facts["json"] = {"first": first, "second": second, "server_hits": len(hits)}
        try:
            await pages.fetch_page(session, url)
            facts["page"] = "stored"
        except Exception as error:  # what the disk backend raises on a response object
            facts["page"] = type(error).__name__ + ": " + str(error)[:120]
    await runner.cleanup()
    print(json.dumps(facts))


if mode == "app":
    run_app()
else:
    asyncio.run(run_pages())
