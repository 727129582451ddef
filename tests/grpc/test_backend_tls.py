"""grpcs:// endpoints: both gRPC backends call real TLS servers (trustme PKI) and verify them."""

import os
import subprocess
import sys
from pathlib import Path

import trustme

REPO = Path(__file__).resolve().parents[2]


def test_grpcs_endpoints_speak_tls_to_both_kinds_of_grpc_backend(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    env = {**os.environ, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(tmp_path / "ca.pem")}
    done = subprocess.run([sys.executable, "-m", "tests.grpc.backend_tls_client", str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "tfserving-grpc grpcs ok [2.5, 4.5]",
        "tfserving-grpc plaintext refused",
        "kserve-v2-grpc grpcs ok [2.0, 4.0]",
        "kserve-v2-grpc plaintext refused",
    ]
