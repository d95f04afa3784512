"""One full node per region on a machine (decision 0033): the region's lock is held for the
node's life and freed when its process ends however it ends, kill -9 included; the API's port
is taken when the node starts, and a taken one is a clear refusal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from regions.api.server import bind_api_socket
from regions.node_lock import NodeAlreadyRunning, NodeCannotStart, region_lock, running_node
from regions.node_settings import NodeSettings


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    assert running_node(tmp_path, "350000") is None
    with region_lock(tmp_path, "350000"):
        assert running_node(tmp_path, "350000") == os.getpid()
        refused = pytest.raises(NodeAlreadyRunning, match=f"350000 already runs.*pid {os.getpid()}")
        with refused, region_lock(tmp_path, "350000"):
            pass
        with region_lock(tmp_path, "440000"):  # another region: its own lock
            pass
    assert running_node(tmp_path, "350000") is None
    with region_lock(tmp_path, "350000"):  # released: taken again
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from regions.node_lock import region_lock
                with region_lock(Path({str(tmp_path)!r}), "350000"):
                    print("held", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert running_node(tmp_path, "350000") == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert running_node(tmp_path, "350000") is None
        with region_lock(tmp_path, "350000"):
            pass
    finally:
        holder.kill()
        holder.wait()


def _settings(port: int, tmp_path: Path) -> NodeSettings:
    return NodeSettings(
        region="350000",
        temporal_address="127.0.0.1:7233",
        kafka_bootstrap="127.0.0.1:9092",
        postgres_dsn="postgresql://tongban@127.0.0.1/r",
        trust_dir=tmp_path,
        api_port=port,
    )


def test_a_taken_api_port_is_a_clear_refusal(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(NodeCannotStart, match=f"port {port} on 127.0.0.1 is taken"):
            bind_api_socket(_settings(port, tmp_path))
    with bind_api_socket(_settings(port, tmp_path)) as ours:  # free again: the node takes it
        assert ours.getsockname()[1] == port
