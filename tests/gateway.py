"""A real gateway for the tests: nginx in front of a sandbox, configured as production gateways
are (TLS with a certificate from a local CA, gzip for JSON, a short keep-alive, proxy buffering,
keep-alive to the upstream), so that `fieldproof run` meets a real HTTP stack.

nginx runs in the foreground as a child of the tests, on a loopback port, with its own config,
pid, logs and temporary folders in a folder of the test session: never the system's service.
The certificates are made with the openssl command line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from helpers import staging

from fieldproof.sandbox.server import bind

INSTALL_HINT = "install it with `apt-get install -y nginx openssl` (Debian, Ubuntu) or your system's package manager"
# where Debian puts nginx: not on a non-root user's PATH
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin")


class GatewayUnavailable(Exception):
    """nginx would not start, or a certificate could not be made: the message says why."""


class NotInstalled(GatewayUnavailable):
    """nginx or openssl is missing: the message says which, and how to install it."""


def default_search_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN])


def program(name: str, search_path: str | None = None) -> str:
    """The full path of a program the lane needs, looked up on PATH and in the sbin folders (or
    only in `search_path`)."""
    search_path = default_search_path() if search_path is None else search_path
    found = shutil.which(name, path=search_path)
    if found is None:
        raise NotInstalled(f"`{name}` is not installed (looked in {search_path}); {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class LocalCA:
    """A certificate authority made for one test session, and a server certificate it issued."""

    ca_file: Path  # the CA's certificate (PEM): what a client trusts
    certificate: Path  # the server's certificate (PEM), for localhost and 127.0.0.1
    key: Path  # the server's private key

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def local_ca(folder: Path, search_path: str | None = None) -> LocalCA:
    """A CA and a server certificate for localhost and 127.0.0.1, with the extensions strict
    verifiers ask for (a critical CA basic constraint and key usage, key identifiers, serverAuth)."""
    openssl = program("openssl", search_path)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_file = folder / "ca.key", folder / "ca.pem"
    key, request, certificate = folder / "server.key", folder / "server.csr", folder / "server.pem"
    extensions = folder / "server.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *new_key, "-keyout", ca_key, "-out", ca_file, "-days", "2", "-subj", "/CN=fieldproof test CA",
         "-addext", "basicConstraints = critical, CA:TRUE", "-addext", "keyUsage = critical, keyCertSign, cRLSign"],
        [openssl, "req", "-new", *new_key, "-keyout", key, "-out", request, "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", request, "-CA", ca_file, "-CAkey", ca_key, "-set_serial", str(time.time_ns()),
         "-days", "2", "-extfile", extensions, "-out", certificate],
    ]
    for step in steps:
        done = subprocess.run([str(arg) for arg in step], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise GatewayUnavailable(f"`openssl {step[1]}` failed making the test CA: {done.stderr.strip()}")
    return LocalCA(ca_file, certificate, key)


def free_port() -> int:
    """A loopback port nothing listens on now (another process may take it before it is used:
    the gateway retries on a busy port)."""
    sock = bind("127.0.0.1", 0)
    try:
        port: int = sock.getsockname()[1]
        return port
    finally:
        sock.close()


def config(folder: Path, port: int, upstream_port: int, ca: LocalCA, keepalive_requests: int = 5) -> str:
    """nginx.conf for a gateway as production ones are set up, in front of 127.0.0.1:upstream_port."""
    user = "user root;" if os.geteuid() == 0 else ""  # as root, workers would run as nobody, who cannot read the test's folders
    return f"""\
# written by tests/gateway.py
worker_processes 1;
{user}
daemon off;
master_process on;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    log_format gateway escape=json '{{"request": "$request", "status": "$status", "content_encoding": "$sent_http_content_encoding", '
        '"gzip_ratio": "$gzip_ratio", "connection": "$connection", "connection_requests": "$connection_requests", '
        '"upstream_status": "$upstream_status", "ssl_protocol": "$ssl_protocol", "request_traceparent": "$http_traceparent", '
        '"request_tracestate": "$http_tracestate", "traceparent": "$sent_http_traceparent"}}';
    access_log {folder}/access.log gateway;
    server_tokens off;

    # the client's connections: closed by the gateway often
    keepalive_requests {keepalive_requests};
    keepalive_timeout 2s;

    # every JSON answer compressed for a client that accepts it (nginx compresses 200, 403 and 404)
    gzip on;
    gzip_types application/json application/problem+json;
    gzip_min_length 0;
    gzip_proxied any;
    gzip_vary on;

    upstream sandbox {{
        server 127.0.0.1:{upstream_port};
        keepalive 8;
        keepalive_timeout 2s;  # shorter than the upstream's own idle timeout, as it must be
    }}

    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost 127.0.0.1;
        ssl_certificate {ca.certificate};
        ssl_certificate_key {ca.key};
        ssl_protocols TLSv1.2 TLSv1.3;

        location = /_gateway/health {{
            access_log off;
            return 200 "ok\\n";
        }}

        location /v1/ {{
            proxy_pass http://sandbox;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_pass_request_headers on;
            proxy_buffering on;
            proxy_buffer_size 4k;
            proxy_buffers 8 4k;
            proxy_connect_timeout 5s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


@dataclass
class Gateway:
    folder: Path
    port: int
    upstream_port: int  # where the sandbox behind it must listen
    ca: LocalCA
    process: subprocess.Popen[bytes]

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/v1"

    def access_log(self, expected: int = 0, within_s: float = 10.0) -> list[dict[str, Any]]:
        """One entry per request the gateway answered (health checks left out). nginx writes an
        entry once it has finished with the request, which may be after the client has read the
        answer: with `expected`, read again until that many are there (or `within_s` passed)."""
        path = self.folder / "access.log"
        deadline = time.monotonic() + within_s
        while True:
            text = path.read_text() if path.exists() else ""
            lines = [line for line in text.splitlines() if line.endswith("}")]  # a line being written is not read
            if len(lines) >= expected or time.monotonic() > deadline:
                return [json.loads(line) for line in lines]
            time.sleep(0.05)

    def clear_access_log(self) -> None:
        # nginx keeps the file open and appends: truncating it starts the log afresh
        with (self.folder / "access.log").open("w"):
            pass

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""


def _start(folder: Path, nginx: str, ca: LocalCA, upstream_port: int, timeout_s: float) -> Gateway:
    port = free_port()
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / "tmp" / name).mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(config(folder, port, upstream_port, ca))
    (folder / "error.log").write_text("")
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    gateway = Gateway(folder, port, upstream_port, ca, process)
    deadline = time.monotonic() + timeout_s
    with httpx.Client(verify=ca.client_context(), timeout=1.0) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get(f"https://127.0.0.1:{port}/_gateway/health").status_code == 200:
                    return gateway
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    _stop(process)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    raise GatewayUnavailable(f"nginx did not start: {(gateway.error_log() + stderr).strip() or 'no error logged'}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # nginx's fast shutdown: the master stops its workers
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def nginx_gateway(folder: Path, timeout_s: float = 10.0, search_path: str | None = None) -> Iterator[Gateway]:
    """nginx with its own CA, config and logs in `folder`, proxying to 127.0.0.1:upstream_port
    (a port chosen here: start the sandbox on it); stopped on exit. GatewayUnavailable when
    nginx or openssl is missing (on PATH and in the sbin folders, or in `search_path`) or nginx
    does not start."""
    nginx = program("nginx", search_path)
    ca = local_ca(folder / "ca", search_path)
    upstream_port = free_port()
    for attempt in range(3):
        try:
            gateway = _start(folder / f"nginx-{attempt}", nginx, ca, upstream_port, timeout_s)
            break
        except GatewayUnavailable as exc:
            if "Address already in use" not in str(exc) or attempt == 2:
                raise
    try:
        yield gateway
    finally:
        _stop(gateway.process)




def gateway_target(gateway: Gateway, target: Path, sandbox_base_url: str, host: str = "127.0.0.1") -> Path:
    """The sandbox's target file with its base_url through the gateway, at `host`."""
    before = f"base_url = {json.dumps(sandbox_base_url)}\n"
    text = target.read_text()
    assert before in text, text
    after = f"base_url = {json.dumps(gateway.base_url(host))}\nca_file = {json.dumps(str(gateway.ca.ca_file))}\n"
    through = target.with_name(f"gateway-{host}.toml")
    through.write_text(text.replace(before, after))
    return through


@contextmanager
def sandbox_behind(gateway: Gateway, tmp_path: Path, *sandbox_args: str, host: str = "127.0.0.1") -> Iterator[tuple[Path, dict[str, str]]]:
    """A seeded sandbox (tests/helpers.py `staging`) on the gateway's upstream port, and a target
    file that reaches it through the gateway at `host`: (target file, environment for the run)."""
    with staging(tmp_path, *sandbox_args, "--port", str(gateway.upstream_port)) as (sandbox, target, tokens):
        yield gateway_target(gateway, target, sandbox.base_url, host), tokens
