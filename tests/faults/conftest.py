import pytest

from tests.live import Cluster, prepare_demo_database


@pytest.fixture(scope="module")
def cluster():
    """A private PostgreSQL cluster with the demo data, for one module's faults."""
    cluster = Cluster()
    try:
        prepare_demo_database(cluster)
        yield cluster
    finally:
        cluster.remove()
