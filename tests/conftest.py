"""Make the repository root importable so tests can use ``bench`` (it is not installed)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    # Appended, not prepended: an installed ``tessera`` must win over the source folder.
    sys.path.append(ROOT)


# ---- the three-master Redis Cluster, one for every cluster test of the run

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A 3-master Redis Cluster on loopback ports, started once for the session."""
    from tessera.server.redis_runtime import LocalCluster

    with LocalCluster(str(tmp_path_factory.mktemp("cluster"))) as running:
        yield running


@pytest.fixture
def cluster_harness(cluster):
    """An empty cluster and a wallet store on it; every member verifies after the test."""
    import redis.cluster
    from tessera.server.wallets import WalletStore

    from tests.wallets_support import Harness, program

    client = cluster.client()
    client.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    store = WalletStore(client, program(), hold_seconds=600)
    yield Harness(store)
    report = store.verify()
    assert report.ok, report.problems
    client.close()
