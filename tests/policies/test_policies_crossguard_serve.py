"""The CrossGuard pack serves as the Pulumi CLI runs it, and lists every SKY-AZ policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[2] / "policies" / "crossguard"


def test_pack_serves_and_lists_the_azure_rules() -> None:
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    assert (PACK / "PulumiPolicy.yaml").is_file()
    proc = subprocess.Popen([sys.executable, "__main__.py"], cwd=PACK, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().decode().strip())  # the pack prints its port first
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        names = sorted(p.name for p in info.policies)
        # 007, 008: issue 21; 009, 010: the private VPN path (issue 25)
        assert names == [f"sky-az-{i:03d}" for i in range(1, 11)]
    finally:
        proc.kill()
        proc.wait(timeout=30)
