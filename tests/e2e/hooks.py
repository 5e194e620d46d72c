"""Starts a rewritten framework fixture through its own startup hooks and prints JSON.

    hooks.py FRAMEWORK PROJECT COUNTED ARG ARG...

FRAMEWORK is fastapi, litestar, aiohttp, aiogram, discord, discord-main, arq, quart, sanic
or django. COUNTED is
MODULE:NAME, the helper the cached function calls; a wrapper records its
calls, so a cache hit is a call that never reaches it. The app is started
the way the framework starts it (the lifespan, the startup signals, the
dispatcher's startup event, the bot's setup_hook, a launcher's main(), the hooks arq reads from
the worker settings, Quart's test app, Sanic's ASGI lifespan, Django's
setup()), then the cached function
runs once per ARG, then the app shuts down. Without the generated
`cache.setup(...)` the first call raises NotConfiguredError.

Prints {"results", "calls", "closed": N, "setup_before_start", "setup_while_running"}:
`closed` counts `cache.close()` calls, which the shutdown hook makes.
"""

import asyncio
import importlib
import json
import sys

import cashews

FRAMEWORK, PROJECT, COUNTED, *ARGS = sys.argv[1:]
sys.path.insert(0, PROJECT)

closed = []
real_close = cashews.cache.close


async def counting_close(*args, **kwargs):
    closed.append(1)
    return await real_close(*args, **kwargs)


cashews.cache.close = counting_close


def counted(spec):
    module_name, attr = spec.split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, attr)
    calls = []

    async def wrapper(*args, **kwargs):
        calls.append(list(args))
        return await real(*args, **kwargs)

    setattr(module, attr, wrapper)
    return calls


def cached_function():
    """The one function of the counted module the rewrite decorated."""
    module = importlib.import_module(COUNTED.split(":")[0])
    source = open(module.__file__).read()
    name = source.split("@cache(", 1)[1].split("async def ", 1)[1].split("(", 1)[0]
    return getattr(module, name)


def configured():
    return bool(cashews.cache.is_setup())


during = []


async def run_all(function):
    during.append(configured())
    return [await function(arg) for arg in ARGS]


async def fastapi_app(function):
    app = importlib.import_module("shop.main").app
    async with app.router.lifespan_context(app):
        return await run_all(function)


async def litestar_app(function):
    from litestar.testing import AsyncTestClient

    app = importlib.import_module("menu.app").app
    async with AsyncTestClient(app=app) as client:
        during.append(configured())
        results = []
        for arg in ARGS:
            response = await client.get(f"/dish/{arg}")
            results.append(response.json())
        return results


async def aiohttp_app(function):
    from aiohttp.test_utils import TestClient, TestServer

    app = importlib.import_module("names.server").build_app()
    async with TestClient(TestServer(app)) as client:
        during.append(configured())
        results = []
        for arg in ARGS:
            response = await client.get(f"/names/{arg}")
            results.append(await response.json())
        return results


async def aiogram_bot(function):
    from aiogram import Bot

    dp = importlib.import_module("tipbot.bot").dp
    bot = Bot("123456:fake-token-for-tests")
    await dp.emit_startup(bot=bot)
    try:
        return await run_all(lambda a: function(int(a)))
    finally:
        await dp.emit_shutdown(bot=bot)
        await bot.session.close()


async def discord_bot(function):
    bot = importlib.import_module("jokebot.bot").bot
    await bot.setup_hook()
    try:
        return await run_all(function)
    finally:
        await bot.close()


async def discord_main(function):
    """The launcher's main(), with bot.start standing in for the gateway."""
    import os

    module = importlib.import_module("fortunebot.bot")
    results = []

    async def start(*args, **kwargs):
        results.extend(await run_all(function))

    module.bot.start = start
    os.environ["DISCORD_TOKEN"] = "fake-token-for-tests"
    await module.main()
    return results


async def arq_worker(function):
    from arq.worker import get_kwargs

    # The hooks as arq's Worker takes them from the settings class.
    hooks = get_kwargs(importlib.import_module("rates.worker").WorkerSettings)
    ctx = {}
    await hooks["on_startup"](ctx)
    try:
        return await run_all(function)
    finally:
        await hooks["on_shutdown"](ctx)


async def quart_app(function):
    app = importlib.import_module("forecast.web").app
    async with app.test_app() as test_app:
        client = test_app.test_client()
        during.append(configured())
        results = []
        for arg in ARGS:
            response = await client.get(f"/sky/{arg}")
            results.append(await response.get_json())
        return results


async def sanic_app(function):
    """Sanic's ASGI lifespan, which runs the before_server_start listeners."""
    app = importlib.import_module("prices.server").app
    inbox = asyncio.Queue()
    sent = []
    done = asyncio.Event()

    async def send(message):
        sent.append(message["type"])
        if message["type"].endswith(".complete") or message["type"].endswith(".failed"):
            done.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await done.wait()
    assert sent == ["lifespan.startup.complete"], sent
    try:
        return await run_all(function)
    finally:
        done.clear()
        await inbox.put({"type": "lifespan.shutdown"})
        await done.wait()
        await task


async def django_app(function):
    import os

    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    django.setup()  # loads the apps: each AppConfig.ready() runs
    return await run_all(function)


async def main():
    calls = counted(COUNTED)
    function = cached_function()
    before = configured()
    start = {
        "fastapi": fastapi_app,
        "litestar": litestar_app,
        "aiohttp": aiohttp_app,
        "aiogram": aiogram_bot,
        "discord": discord_bot,
        "discord-main": discord_main,
        "arq": arq_worker,
        "quart": quart_app,
        "sanic": sanic_app,
        "django": django_app,
    }[FRAMEWORK]
    results = await start(function)
    print(
        json.dumps(
            {
                "results": results,
                "calls": calls,
                "closed": len(closed),
                "setup_before_start": before,
                "setup_while_running": during == [True],
            }
        )
    )


asyncio.run(main())
