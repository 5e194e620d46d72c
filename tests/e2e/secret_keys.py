"""Calls the rewritten `secrets` fixture under real cashews; prints JSON.

    secret_keys.py PROJECT

Each function is called with two different secret values: both calls must
compute (the key tells the secrets apart) and a repeat must hit. Then every
stored key is read back with `cache.scan`; the driver lists the secret
values found in any of them (there must be none).
"""

import asyncio
import json
import sys

sys.path.insert(0, sys.argv[1])

SECRETS = ["s3cr3t-tok-AAA", "s3cr3t-tok-BBB"]


def calls(secret):
    from app import lookups as m

    return [
        ("profile", lambda: m.profile(secret, "name")),
        ("decode", lambda: m.decode(secret)),
        ("by_session", lambda: m.by_session(secret, secret + "-otp", 1234)),
        ("database_name", lambda: m.database_name(f"postgres://u:{secret}@h/db")),
        ("repository", lambda: m.repository("a/b", {"Authorization": f"Bearer {secret}"})),
        ("search", lambda: m.search("q", api_key=secret)),
        ("login", lambda: m.login(m.Credentials("ann", secret))),
        ("fingerprint", lambda: m.fingerprint(m.Credentials("ann", secret))),
    ]


async def main():
    from cashews import cache

    cache.setup("mem://")
    out = {"computed": {}, "leaks": []}
    for secret in SECRETS + SECRETS[:1]:
        for name, call in calls(secret):
            with cache.detect as detector:
                await call()
                # Read inside: leaving the block clears what it detected.
                hit = bool(detector.calls)
            out["computed"].setdefault(name, []).append(not hit)
    async for key in cache.scan("*"):
        for secret in SECRETS:
            if secret in key:
                out["leaks"].append(key)
    out["keys"] = [k async for k in cache.scan("*")]
    print(json.dumps(out))


asyncio.run(main())
