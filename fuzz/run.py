"""Fuzz the API against its own OpenAPI schema with schemathesis, as every role.

`make fuzz` (or `python -m fuzz.run`): a throwaway PostgreSQL cluster with the demo
data (tests/live.py), gunicorn serving it as the image does, then one schemathesis run
per role: anonymous, customer, warehouse, auditor and admin, each with its own token.
Every run is bounded: at most --max-examples test cases per operation and phase, and
--timeout seconds. It fails on a 5xx, an error that is not a JSON ``{"code", "detail"}``
body (fuzz/checks.py), or a status, content type, header or body the schema does not
document; also when a request without a token is not refused.

Two of schemathesis's checks stay off, because the schema cannot say what they expect:
``positive_data_acceptance`` (schema-valid requests that business rules refuse: unknown
products, short stock, an Idempotency-Key reused by the generator with another body)
and ``negative_data_rejection`` (Django REST framework takes a number where the schema
says string, "5" for 5 and 0 for false, as it is meant to).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.live import Cluster, Gunicorn, prepare_demo_database

ROOT = Path(__file__).resolve().parent.parent
ROLES = {  # role: demo user (demo/services.py), None for no token
    "anonymous": None,
    "customer": "customer",
    "warehouse": "warehouse",
    "auditor": "auditor",
    "admin": "admin",
}
# Operations that revoke the token a run is using (logging out, changing the password):
# only the anonymous run sends them.
TOKEN_REVOKING = "logout|password"
SKIPPED_CHECKS = "positive_data_acceptance,negative_data_rejection"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=30, help="per operation (30)")
    parser.add_argument("--seed", default="1", help="schemathesis seed, or 'random' (1)")
    parser.add_argument("--timeout", type=int, default=150, help="seconds per role (150)")
    parser.add_argument("--workers", type=int, default=2, help="schemathesis workers (2)")
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated")
    args = parser.parse_args(argv)

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="inventory-fuzz-"))
    cluster = Cluster()
    server = None
    try:
        prepare_demo_database(cluster)
        # A failed-login limit far above the run's count, so that the login's logic is
        # fuzzed rather than its lockout.
        server = Gunicorn(cluster.url(), log=work / "gunicorn.log", LOGIN_FAILURE_LIMIT="1000000")
        # Every token first: fuzzing the login could throttle this client's logins.
        roles = args.roles.split(",")
        tokens = {
            role: server.login(ROLES[role], f"{ROLES[role]}-demo-pass")
            for role in roles
            if ROLES[role]
        }
        results = [run_role(server, role, tokens.get(role), args, work) for role in roles]
    finally:
        if server is not None:
            server.stop()
        cluster.remove()
    print_figures(results, time.monotonic() - started)
    failed = [r["role"] for r in results if not r["passed"]]
    if failed:
        print(f"fuzz: failures as {', '.join(failed)}; reports and gunicorn's log in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def run_role(server: Gunicorn, role: str, token: str | None, args, work: Path) -> dict:
    print(f"\n== fuzzing as {role}", flush=True)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{server.base_url}/api/schema/?format=json",
        "--url",
        server.base_url,
        "--checks",
        "all",
        "--exclude-checks",
        SKIPPED_CHECKS,
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        "--report",
        "json",
        "--report-json-path",
        str(work / f"{role}.json"),
    ]
    if args.seed != "random":
        command += ["--seed", args.seed]
    if token is not None:
        command += ["--header", f"Authorization: Token {token}"]
        command += ["--exclude-path-regex", TOKEN_REVOKING]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz.checks", "PYTHONPATH": str(ROOT)}
    try:
        exit_code = subprocess.run(command, cwd=work, env=env, timeout=args.timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"fuzz: the run as {role} took over {args.timeout} s")
        return {"role": role, "passed": False, "cases": 0, "operations": 0, "failures": "timeout"}
    report = json.loads((work / f"{role}.json").read_text())
    return {
        "role": role,
        "passed": exit_code == 0,
        "cases": report["test_cases"]["generated"],
        "operations": report["operations"]["tested"],
        "failures": report["test_cases"]["unique_failures"] + len(report["errors"]),
    }


def print_figures(results: list[dict], seconds: float) -> None:
    print("\n== fuzz figures")
    print(f"{'role':<10} {'operations':>10} {'cases':>7} {'failures':>8}")
    for r in results:
        print(f"{r['role']:<10} {r['operations']:>10} {r['cases']:>7} {r['failures']!s:>8}")
    total = sum(r["cases"] for r in results)
    failures = sum(r["failures"] for r in results if isinstance(r["failures"], int))
    print(f"{'total':<10} {'':>10} {total:>7} {failures:>8}   ({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
