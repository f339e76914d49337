"""HTTPS endpoints signed by a private CA (the OpenShift service CA in cluster): trusted via SSL_CERT_FILE.

The PostSync smoke Job calls the predictor's auth proxy over HTTPS and trusts the
service CA through ``SSL_CERT_FILE``. This test makes a CA and a server certificate
with the real ``openssl``, serves ``/health`` and ``/v1/models`` over TLS on loopback,
and checks both sides: trusted with the CA file, a clear TLS error without it.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmops.probes.endpoint import Endpoint, EndpointTLSError

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=test service CA", cwd=d)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"" if self.path == "/health" else json.dumps({"data": [{"id": "demo"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def https_url(certs: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_private_ca_is_trusted_through_ssl_cert_file(
    https_url: str, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "ca.crt"))
    with Endpoint(https_url, token="t") as ep:
        assert ep.health() == "/health"
        assert ep.models() == ["demo"]


def test_without_the_ca_the_certificate_is_refused_with_a_tls_error(
    https_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with Endpoint(https_url) as ep, pytest.raises(EndpointTLSError) as err:
        ep.health()
    assert "certificate" in err.value.message.lower()
    assert "SSL_CERT_FILE" in (err.value.hint or "")
