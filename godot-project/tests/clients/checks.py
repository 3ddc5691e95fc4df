"""The check protocol of the Python clients: one "ok NAME" or "FAIL NAME: why" line per check,
which the shell runners count (scripts/run-client-tests.sh, scripts/test-deploy-nginx.sh), and an
exit code that says whether any failed."""
import asyncio
import os
import time

CHECK_TIMEOUT_S = 20.0
failures = 0


def report(name, why=None):
    """Prints the check's line; `why` is None for a pass, else the reason it failed."""
    global failures
    if why is None:
        print(f"ok {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {why}", flush=True)


async def check(name, coroutine, timeout=CHECK_TIMEOUT_S):
    """Runs one check: the coroutine returns None (pass) or a reason (fail); exceptions fail it."""
    started = time.monotonic()
    try:
        why = await asyncio.wait_for(coroutine, timeout)
    except asyncio.TimeoutError:
        why = f"timed out after {timeout:.0f} s"
    except Exception as e:  # noqa: BLE001 - any error is this check's failure
        why = f"{type(e).__name__}: {e}"
    if why is None and os.environ.get("CLIENT_TESTS_VERBOSE"):
        name = f"{name} ({(time.monotonic() - started) * 1000:.0f} ms)"
    report(name, why)
    return why is None


def exit_code():
    """1 when any check failed, else 0."""
    return 1 if failures else 0
