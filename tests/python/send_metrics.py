"""Export a known set of metrics to Lookout with the OpenTelemetry Python SDK over OTLP/gRPC.

Usage: send_metrics.py ENDPOINT
Two exports per provider: values after the second export are what the test expects. One
provider prefers cumulative temporality, the other delta for counters and histograms.
"""

import sys

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

RESOURCE = Resource.create(
    {
        "service.name": "shop",
        "service.namespace": "demo",
        "service.instance.id": "i-1",
        "deployment.environment": "e2e",
        "host.name": "h1",
    }
)
BOUNDS = [0.25, 0.5, 1.0, 2.5]


def provider(endpoint, temporality):
    exporter = OTLPMetricExporter(endpoint=endpoint, insecure=True, preferred_temporality=temporality)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [
        View(instrument_name="*duration*", aggregation=ExplicitBucketHistogramAggregation(BOUNDS)),
        View(instrument_name="payload.size", aggregation=ExponentialBucketHistogramAggregation()),
    ]
    return MeterProvider(resource=RESOURCE, metric_readers=[reader], views=views), reader


def main():
    endpoint = sys.argv[1]
    cumulative, cumulative_reader = provider(endpoint, {})
    delta, delta_reader = provider(
        endpoint,
        {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA},
    )
    m = cumulative.get_meter("e2e")
    requests = m.create_counter("http.server.requests", unit="{request}", description="Requests served.")
    depth = m.create_up_down_counter("queue.depth", unit="{item}", description="Items waiting.")
    temperature = m.create_gauge("cpu.temperature", unit="Cel", description="CPU temperature.")
    latency = m.create_histogram("http.server.duration", unit="s", description="Request latency.")
    size = m.create_histogram("payload.size", unit="By", description="Payload sizes.")
    d = delta.get_meter("e2e")
    rpc = d.create_histogram("rpc.duration", unit="ms", description="RPC latency.")
    sent = d.create_counter("messages.sent", unit="{message}", description="Messages sent.")

    requests.add(3, {"http.method": "GET"})
    depth.add(5)
    temperature.set(40.0)
    latency.record(0.1)
    latency.record(0.3)
    size.record(1000)
    rpc.record(0.2)
    sent.add(2)
    cumulative_reader.collect()
    delta_reader.collect()

    requests.add(2, {"http.method": "GET"})
    depth.add(-2)
    temperature.set(42.5)
    latency.record(1.5)
    rpc.record(3.0)
    rpc.record(0.7)
    sent.add(4)
    cumulative_reader.collect()
    delta_reader.collect()
    cumulative.shutdown()
    delta.shutdown()


if __name__ == "__main__":
    main()
