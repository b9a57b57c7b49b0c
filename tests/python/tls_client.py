"""TLS and mutual TLS against Lookout, with the OpenTelemetry Python SDK's exporters and requests.

Usage:
  tls_client.py check HTTP GRPC OTLP_HTTP CERTS   # every case below; prints one JSON object
  tls_client.py serial HTTP CERTS                 # the serial number of the certificate HTTP serves
HTTP, GRPC and OTLP_HTTP are host:port; CERTS is the folder tls_certs.py wrote.
"""

import json
import socket
import ssl
import sys
import time

import grpc
import requests
from cryptography import x509
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def read(path):
    with open(path, "rb") as f:
        return f.read()


def export_one(exporter, name):
    """Exports one span through `exporter`; the export's result name (SUCCESS or FAILURE)."""
    results = []
    inner = exporter.export

    def export(batch, *args, **kwargs):
        result = inner(batch, *args, **kwargs)
        results.append(result.name)
        return result

    exporter.export = export
    provider = TracerProvider(resource=Resource.create({"service.name": "tls-client"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("lookout.tls").start_as_current_span(name):
        pass
    provider.shutdown()
    return results[0] if results else "NOT EXPORTED"


def grpc_exporter(addr, certs, client):
    key, chain = (read(f"{certs}/{client}.key"), read(f"{certs}/{client}.pem")) if client else (None, None)
    credentials = grpc.ssl_channel_credentials(read(f"{certs}/ca.pem"), key, chain)
    return GrpcExporter(endpoint=addr, insecure=False, credentials=credentials, timeout=3)


def http_exporter(addr, certs, client):
    extra = {"client_key_file": f"{certs}/{client}.key", "client_certificate_file": f"{certs}/{client}.pem"} if client else {}
    return HttpExporter(endpoint=f"https://{addr}/v1/traces", certificate_file=f"{certs}/ca.pem", timeout=3, **extra)


def check(http, grpc_addr, otlp_http, certs):
    ca = f"{certs}/ca.pem"
    out = {}
    deadline = time.time() + 30
    while True:
        try:
            out["https_ready"] = requests.get(f"https://{http}/-/ready", verify=ca, timeout=5).status_code
            if out["https_ready"] == 200:
                break
        except requests.RequestException:
            pass
        if time.time() > deadline:
            break
        time.sleep(0.1)
    try:
        requests.get(f"http://{http}/-/ready", timeout=5)
        out["plain_http_refused"] = False
    except requests.RequestException:
        out["plain_http_refused"] = True
    try:
        requests.get(f"https://{http}/-/ready", timeout=5)
        out["unknown_ca_refused"] = False
    except requests.exceptions.SSLError:
        out["unknown_ca_refused"] = True
    out["grpc_client_cert"] = export_one(grpc_exporter(grpc_addr, certs, "client"), "over grpc")
    out["grpc_no_client_cert"] = export_one(grpc_exporter(grpc_addr, certs, None), "refused")
    out["grpc_stranger_cert"] = export_one(grpc_exporter(grpc_addr, certs, "stranger"), "refused")
    out["http_client_cert"] = export_one(http_exporter(otlp_http, certs, "client"), "over http")
    out["http_no_client_cert"] = export_one(http_exporter(otlp_http, certs, None), "refused")
    out["http_stranger_cert"] = export_one(http_exporter(otlp_http, certs, "stranger"), "refused")
    # What arrived, read back over HTTPS (no client certificate needed on the query port).
    names = []
    deadline = time.time() + 20
    while time.time() < deadline:
        found = requests.get(f"https://{http}/api/search", params={"q": '{resource.service.name="tls-client"}'}, verify=ca, timeout=5).json()
        names = sorted(t.get("rootTraceName") for t in found.get("traces", []))
        if len(names) >= 2:
            break
        time.sleep(0.2)
    out["stored"] = names
    print(json.dumps(out))


def serial(http, certs):
    context = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    host, port = http.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    print(cert.serial_number)


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(*sys.argv[2:6])
    else:
        serial(*sys.argv[2:4])
