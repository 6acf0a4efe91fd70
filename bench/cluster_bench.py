"""make bench-cluster: figures of the local cluster (deploy/cluster-up), through nginx.

1. orders/s with 1 app instance (nginx's second port) and with 3 (its main port);
2. audit reads/s (movement history pages) on the replica and on the primary, while
   restocks run on the primary;
3. the failover drill: time without writes and acknowledged writes lost.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy"))
import cluster  # noqa: E402


def load(port: int, threads: int, seconds: float, make_request) -> tuple[float, dict]:
    """Run ``make_request(thread index)`` -> (status) in ``threads`` loops for
    ``seconds``; (successes per second, {status: count})."""
    stop, lock, counts = threading.Event(), threading.Lock(), {}

    def loop(index: int) -> None:
        while not stop.is_set():
            try:
                status = make_request(index, port)
            except OSError:
                status = 0
            with lock:
                counts[status] = counts.get(status, 0) + 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    ok = sum(n for status, n in counts.items() if 200 <= status < 300)
    return ok / elapsed, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--no-drill", action="store_true")
    args = parser.parse_args()

    customer, warehouse, auditor = (cluster.login(u) for u in ("customer", "warehouse", "auditor"))
    with cluster.connect(cluster.primary()) as conn:
        products = [r[0] for r in conn.execute("SELECT id FROM catalog_product ORDER BY id")]
    # Enough stock that no order in the run is refused.
    for product in products:
        cluster.request(
            "POST",
            f"/api/v1/products/{product}/restocks/",
            {"quantity": 1_000_000},
            token=warehouse,
        )

    def order(index: int, port: int) -> int:
        product = products[index % len(products)]
        status, _, _ = request_on(
            port,
            "POST",
            "/api/v1/orders/",
            {"lines": [{"product": product, "quantity": 1}]},
            token=customer,
            Idempotency_Key=str(uuid.uuid4()),
        )
        return status

    def restock(index: int, port: int) -> int:
        product = products[index % len(products)]
        status, _, _ = request_on(
            port, "POST", f"/api/v1/products/{product}/restocks/", {"quantity": 1}, token=warehouse
        )
        return status

    def history(where: str):
        def read(index: int, port: int) -> int:
            product = products[index % len(products)]
            headers = {"X-Read-Your-Writes": "primary"} if where == "primary" else {}
            status, _, answer_headers = request_on(
                port, "GET", f"/api/v1/movements/?product={product}", token=auditor, **headers
            )
            assert status != 200 or answer_headers.get("X-Read-From") == where
            return status

        return read

    print(
        f"machine: {os.cpu_count()} cores; {args.threads} client threads, {args.seconds:.0f} s each"
    )
    print(
        "3 gunicorn instances x 2 sync workers, PgBouncer (transaction mode), "
        "pg_auto_failover primary + synchronous secondary, all on this machine\n"
    )
    rates = {}
    for label, port in (
        ("1 instance", cluster.NGINX_PORT + 1),
        ("3 instances", cluster.NGINX_PORT),
    ):
        rate, counts = load(port, args.threads, args.seconds, order)
        rates[label] = rate
        print(f"orders/s through nginx, {label:11}  {rate:7.1f}   answers {counts}")
    gain = rates["3 instances"] / rates["1 instance"]
    print(f"3 instances / 1 instance                  {gain:7.2f}x\n")

    for where in ("replica", "primary"):
        writes: dict = {}

        def write(writes=writes) -> None:
            writes["rate"] = load(cluster.NGINX_PORT, 4, args.seconds, restock)[0]

        writer = threading.Thread(target=write)
        writer.start()
        rate, counts = load(cluster.NGINX_PORT, args.threads - 4, args.seconds, history(where))
        writer.join()
        print(
            f"history reads/s on the {where:8} {rate:7.1f}   (restocks/s meanwhile "
            f"{writes['rate']:.1f})   answers {counts}"
        )

    if args.no_drill:
        return 0
    print("\nfailover drill (deploy/failover_drill.py):")
    drill = subprocess.run([sys.executable, str(ROOT / "deploy" / "failover_drill.py")], cwd=ROOT)
    return drill.returncode


def request_on(port: int, *args, **kwargs):
    return cluster.request(*args, port=port, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
