"""The failover drill: 16 client threads post orders and restocks through nginx; the
primary's machine dies (its keeper and PostgreSQL killed together); the drill waits
for the secondary's promotion, measures how long the service could not write, checks
that every acknowledged write is on the new primary and that verify_ledger is clean,
then lets the old primary rejoin as a secondary. Exits 1 if anything is missing.

Every answer that is neither a success nor a 503 is recorded (when, method, path,
status, body) and printed. An answer of 5xx other than 503 is a bug (a write that meets
a dying or demoted primary must answer 503, which a client retries): the drill then
fails and copies the cluster's logs, with the tracebacks, to a directory under
.data/cluster-logs/ that it prints and that make cluster-down keeps (--keep-logs: always).

Run by deploy/failover-drill (make cluster-failover-drill) on a running cluster.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cluster

MAX_OUTAGE_S = 30
PRINTED_ANSWERS = 50  # the first ones; all of them go to the logs' directory


class Clients:
    """Writers: each loop posts an order (customer) or a restock (warehouse), with an
    Idempotency-Key, and retries the same request until it is answered, as a careful
    client does. Records every acknowledged write and when it was acknowledged."""

    def __init__(self, threads: int, products: list[int]) -> None:
        self.customer, self.warehouse = cluster.login("customer"), cluster.login("warehouse")
        self.products = products
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.orders: list[int] = []  # acknowledged order ids
        self.restocks: list[int] = []  # acknowledged movement ids
        self.acks: list[float] = []  # monotonic time of each acknowledgement
        self.errors: dict[str, int] = {}
        # Answers neither 2xx nor 503: (UTC time, method, path, status, body, key).
        self.unexpected: list[tuple[str, str, str, int, str, str]] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        while not self.stop.is_set():
            product = rng.choice(self.products)
            key = str(uuid.uuid4())
            if rng.random() < 0.6:
                kind, token = "order", self.customer
                path, body = "/api/v1/orders/", {"lines": [{"product": product, "quantity": 1}]}
            else:
                kind, token = "restock", self.warehouse
                path = f"/api/v1/products/{product}/restocks/"
                body = {"quantity": 5, "reference": f"drill-{key[:8]}"}
            while not self.stop.is_set():
                try:
                    status, answer, _ = cluster.request(
                        "POST", path, body, token=token, timeout=20, Idempotency_Key=key
                    )
                except OSError as exc:
                    status, answer = 0, type(exc).__name__
                if status == 201:
                    with self.lock:
                        (self.orders if kind == "order" else self.restocks).append(answer["id"])
                        self.acks.append(time.monotonic())
                    break
                if status and status != 503:
                    self._record("POST", path, status, answer, key)
                if isinstance(answer, dict) and answer.get("code") == "insufficient_stock":
                    break  # refused, not lost: nothing was written
                label = f"{status} {answer.get('code') if isinstance(answer, dict) else ''}"
                with self.lock:
                    self.errors[label.strip()] = self.errors.get(label.strip(), 0) + 1
                time.sleep(0.2)

    def _record(self, method: str, path: str, status: int, answer, key: str) -> None:
        at = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        body = answer if isinstance(answer, (bytes, str)) else json.dumps(answer)
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        with self.lock:
            self.unexpected.append((at, method, path, status, body[:500], key))

    def server_errors(self) -> list:
        """The recorded answers of 5xx other than 503: bugs, never retryable answers."""
        return [answer for answer in self.unexpected if answer[3] >= 500]


def report_unexpected(clients: Clients, keep_logs: bool) -> None:
    """Print the answers neither 2xx nor 503; keep the cluster's logs when one of them is
    a 5xx (or when asked)."""
    print(f"answers neither 2xx nor 503       {len(clients.unexpected):6d}")
    for at, method, path, status, body, key in clients.unexpected[:PRINTED_ANSWERS]:
        print(f"  {at} UTC {method} {path} -> {status} {body} (Idempotency-Key {key})")
    if len(clients.unexpected) > PRINTED_ANSWERS:
        print(f"  ... and {len(clients.unexpected) - PRINTED_ANSWERS} more")
    server_errors = clients.server_errors()
    print(f"answers of 5xx other than 503     {len(server_errors):6d} (expected 0)")
    if server_errors or keep_logs:
        reason = f"{len(server_errors)} answers of 5xx other than 503" if server_errors else "asked"
        kept = cluster.keep_logs(f"failover drill: {reason}")
        with open(kept / "answers.txt", "w") as out:
            for answer in clients.unexpected:
                print(" ".join(map(str, answer)), file=out)
        print(f"cluster logs kept in {kept} ({reason})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--before", type=float, default=8, help="seconds of writes before")
    parser.add_argument("--after", type=float, default=8, help="seconds of writes after")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the cluster's logs even without a 5xx"
    )
    args = parser.parse_args()

    old = cluster.primary()
    assert old and cluster.states().get(old) == "primary", cluster.states()
    new = next(name for name in cluster.NODE_PORTS if name != old)
    with cluster.connect(old) as conn:
        products = [row[0] for row in conn.execute("SELECT id FROM catalog_product")]
    clients = Clients(args.threads, products)
    print(f"formation: {cluster.states()}; {args.threads} writing clients through nginx")
    clients.start()
    time.sleep(args.before)

    crashed_at = time.monotonic()
    pids = cluster.crash(old)
    print(f"crashed {old}: SIGKILL to its keeper and PostgreSQL ({len(pids)} processes)")
    promoted = cluster.wait_until(
        lambda: cluster.states().get(new) in ("wait_primary", "primary"), timeout=60, step=0.2
    )
    promoted_at = time.monotonic()
    resumed = cluster.wait_until(
        lambda: next(
            (t for t in list(clients.acks) if t > promoted_at - 60 and t > crashed_at + 0.5), None
        ),
        timeout=60,
        step=0.1,
    )
    time.sleep(args.after)
    clients.join()
    if not promoted:
        print(f"FAILED: {new} was not promoted: {cluster.states()}")
        report_unexpected(clients, keep_logs=True)
        return 1

    # The longest time without an acknowledged write, around the crash.
    acks = sorted(clients.acks)
    gaps = [(b - a, a) for a, b in itertools.pairwise(acks) if b > crashed_at - 1]
    outage, gap_start = max(gaps) if gaps else (float("inf"), crashed_at)

    with cluster.connect(new) as conn:
        orders = {r[0] for r in conn.execute("SELECT id FROM ordering_order")}
        movements = {r[0] for r in conn.execute("SELECT id FROM ledger_movement")}
    lost_orders = set(clients.orders) - orders
    lost_restocks = set(clients.restocks) - movements
    verify = cluster.manage("verify_ledger")

    cluster.restart_keeper(old)
    rejoined = cluster.wait_until(
        lambda: cluster.states() == {new: "primary", old: "secondary"}, timeout=180
    )
    rejoin_s = time.monotonic() - promoted_at

    acked = len(clients.orders) + len(clients.restocks)
    print(f"promotion of {new} seen after       {promoted_at - crashed_at:6.1f} s")
    print(f"writes answered again after       {gap_start + outage - crashed_at:6.1f} s")
    print(f"longest time without a write      {outage:6.1f} s (limit {MAX_OUTAGE_S} s)")
    print(
        f"acknowledged writes               {acked:6d} ({len(clients.orders)} orders, "
        f"{len(clients.restocks)} restocks)"
    )
    print(f"acknowledged writes missing       {len(lost_orders) + len(lost_restocks):6d}")
    print(f"client retries by answer          {dict(sorted(clients.errors.items()))}")
    print(f"verify_ledger                     {'clean' if verify.returncode == 0 else 'PROBLEMS'}")
    print(
        f"old primary rejoined as secondary {'yes' if rejoined else 'NO'}"
        f" ({rejoin_s:.0f} s after the promotion)"
    )
    print(f"formation now: {cluster.states()}")
    report_unexpected(clients, args.keep_logs)
    ok = (
        not clients.server_errors()
        and not lost_orders
        and not lost_restocks
        and verify.returncode == 0
        and outage <= MAX_OUTAGE_S
        and rejoined
        and resumed
    )
    if verify.returncode != 0:
        print(verify.stdout + verify.stderr)
    print("DRILL PASSED" if ok else "DRILL FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
