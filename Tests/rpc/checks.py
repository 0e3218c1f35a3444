"""Counted checks printed like the shell tests' (ok / FAIL lines, a summary, the exit status)."""
import sys
import traceback

passed = 0
failed = 0


def check(what, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   - {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL - {what}" + (f": {detail}" if detail else ""), flush=True)


def case(function):
    """Runs one case; an exception it raises is a failed check, not the end of the run."""
    try:
        function()
    except Exception:
        check(function.__name__, False, traceback.format_exc())
    return function


def report(name):
    print(f"{name}: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
