"""Starts a rewritten framework fixture through its own startup hooks and prints JSON.

    hooks.py FRAMEWORK PROJECT COUNTED ARG ARG...

FRAMEWORK is fastapi, litestar, aiohttp, aiogram, discord, discord-main, arq, quart, sanic,
django, faststream, taskiq, pyrogram or telethon. COUNTED is
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


async def faststream_app(function):
    """FastStream's test app: its startup and shutdown hooks, a test broker."""
    from faststream import TestApp
    from faststream.redis import TestRedisBroker

    module = importlib.import_module("alerts.app")
    async with TestRedisBroker(module.broker):
        async with TestApp(module.app):
            return await run_all(function)


async def taskiq_worker(function):
    """An in-memory broker's startup runs the worker-startup handlers."""
    broker = importlib.import_module("shipping.tasks").broker
    await broker.startup()
    try:
        return await run_all(function)
    finally:
        await broker.shutdown()


def pyrogram_bot(function):
    """Imports the bot module, whose last lines run the client: `app.run()`
    with the network stood in for (start/stop do nothing, idle runs the
    calls), then whatever follows the run."""
    import pyrogram
    from pyrogram.methods.utilities import run as run_module

    results = []

    async def no_network(self, *args, **kwargs):
        return self

    async def idle():
        results.extend(await run_all(function))

    pyrogram.Client.start = no_network
    pyrogram.Client.stop = no_network
    run_module.idle = idle
    importlib.import_module("quotebot.bot")
    return results


def telethon_bot(function):
    """The launcher under its `__main__` guard, as `python -m` runs it, with
    the network stood in for (start does nothing, the run makes the calls)."""
    import os
    import runpy

    from telethon import TelegramClient

    results = []

    async def start(self, *args, **kwargs):
        return self

    async def run_until_disconnected(self):
        results.extend(await run_all(function))

    TelegramClient.start = start
    TelegramClient.run_until_disconnected = run_until_disconnected
    os.environ.update(API_ID="1", API_HASH="0" * 32, BOT_TOKEN="1:fake-token-for-tests")
    runpy.run_module("wordbot.bot", run_name="__main__")
    return results


# Frameworks whose module runs the event loop itself when it starts: the
# driver's own loop must not be running then.
SYNC_STARTS = {"pyrogram": pyrogram_bot, "telethon": telethon_bot}


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
        "faststream": faststream_app,
        "taskiq": taskiq_worker,
    }[FRAMEWORK]
    results = await start(function)
    report(calls, before, results)


def report(calls, before, results):
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


def main_sync(start):
    calls = counted(COUNTED)
    function = cached_function()
    before = configured()
    report(calls, before, start(function))


if FRAMEWORK in SYNC_STARTS:
    main_sync(SYNC_STARTS[FRAMEWORK])
else:
    asyncio.run(main())
