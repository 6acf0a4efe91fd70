"""gunicorn settings for a tree the HTTP benchmark compares (bench/http_baseline.py):
that tree's own config/gunicorn.py (which reads its bind and workers from BIND_HOST,
PORT and WEB_CONCURRENCY), without the access log, as the single-tree benchmark runs,
and a hook that writes the file each worker imported ledger.posting from to a file
named by its pid in the directory BENCH_IMPORTED_DIR, so the benchmark can check whose
code answers.

gunicorn reads this file itself: BENCH_TREE names the tree.
"""

import os

_tree_settings = os.path.join(os.environ["BENCH_TREE"], "config", "gunicorn.py")
with open(_tree_settings) as _handle:
    exec(compile(_handle.read(), _tree_settings, "exec"))

accesslog = None
_tree_post_worker_init = globals().get("post_worker_init")


def post_worker_init(worker):
    if _tree_post_worker_init is not None:
        _tree_post_worker_init(worker)
    import ledger.posting

    # Written whole, then renamed: the benchmark never reads a half-written file.
    path = os.path.join(os.environ["BENCH_IMPORTED_DIR"], str(os.getpid()))
    with open(path + ".tmp", "w") as handle:
        handle.write(ledger.posting.__file__)
    os.replace(path + ".tmp", path)
