"""Export one gauge value to Lookout with the OpenTelemetry Python SDK over OTLP/gRPC.

Usage: send_gauge.py ENDPOINT NAME VALUE [KEY=VALUE ...]
The attributes become labels; the export is flushed before the script exits. The resource is
the same on every run, so each run writes to the same series.
"""

import sys

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource


def main():
    endpoint, name, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
    attributes = dict(a.split("=", 1) for a in sys.argv[4:])
    exporter = OTLPMetricExporter(endpoint=endpoint, insecure=True)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "e2e-rules", "service.instance.id": "sensor-1"}), metric_readers=[reader])
    gauge = provider.get_meter("e2e").create_gauge(name, description="A value the rules watch.")
    gauge.set(value, attributes)
    if not provider.force_flush(timeout_millis=30_000):
        sys.exit("export did not finish")
    provider.shutdown()


if __name__ == "__main__":
    main()
