"""Send traces, logs and metrics to Lookout with the OpenTelemetry Python SDK.

Usage: send_otlp.py TRANSPORT ENDPOINT [TENANT]
  TRANSPORT: grpc | http-protobuf | http-json
  ENDPOINT:  http://127.0.0.1:4317 for grpc, http://127.0.0.1:4318 for the HTTP transports
  TENANT:    sent as X-Scope-OrgID
$LOOKOUT_AUTHORIZATION, when set, is sent as the Authorization header (gRPC metadata).

Prints one JSON object with the number of spans, log records and metric data points the
exporters reported as successfully exported. Exits non-zero if any export failed.
"""

import json
import logging
import os
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.metrics import Observation


def exporters(transport, endpoint, headers):
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw = dict(endpoint=endpoint, insecure=True, headers=headers)
        return OTLPSpanExporter(**kw), OTLPLogExporter(**kw), OTLPMetricExporter(**kw)
    if transport == "http-protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    elif transport == "http-json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
    else:
        raise SystemExit(f"unknown transport {transport}")
    return (
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers),
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers=headers),
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", headers=headers),
    )


class Tally:
    """Wraps an exporter's export() to count what it reports as exported."""

    def __init__(self, exporter, count):
        self.exported = 0
        self.failures = 0
        inner = exporter.export

        def export(batch, *args, **kwargs):
            result = inner(batch, *args, **kwargs)
            if result.name == "SUCCESS":
                self.exported += count(batch)
            else:
                self.failures += 1
            return result

        exporter.export = export


def points(metrics_data):
    return sum(
        len(metric.data.data_points)
        for rm in metrics_data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


def main():
    transport, endpoint = sys.argv[1], sys.argv[2]
    tenant = sys.argv[3] if len(sys.argv) > 3 else None
    # gRPC metadata keys must be lowercase; HTTP header names are case-insensitive.
    headers = {"x-scope-orgid": tenant} if tenant else {}
    if os.environ.get("LOOKOUT_AUTHORIZATION"):
        headers["authorization"] = os.environ["LOOKOUT_AUTHORIZATION"]
    span_exporter, log_exporter, metric_exporter = exporters(transport, endpoint, headers)
    spans, logs, metrics = Tally(span_exporter, len), Tally(log_exporter, len), Tally(metric_exporter, points)
    resource = Resource.create({"service.name": f"e2e-{transport}", "service.namespace": "lookout-tests"})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("lookout.e2e", "1.0")
    previous = None
    for i in range(5):
        links = [Link(previous)] if previous else []
        with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER, links=links) as root:
            root.set_attribute("http.request.method", "GET")
            root.set_attribute("http.response.status_code", 200 if i % 2 == 0 else 500)
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as child:
                child.set_attribute("db.system", "postgresql")
                child.add_event("rows fetched", {"rows": i})
            with tracer.start_as_current_span("publish order", kind=SpanKind.PRODUCER) as publish:
                if i % 2:
                    publish.set_status(Status(StatusCode.ERROR, "broker unavailable"))
            previous = root.get_span_context()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logging.getLogger(f"lookout.e2e.{transport}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider))
    with tracer.start_as_current_span("logging"):
        for i, level in enumerate([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.INFO, logging.INFO, logging.CRITICAL]):
            logger.log(level, "order %d processed", i, extra={"order.id": i, "customer": f"c-{i}"})
    logger_provider.shutdown()
    tracer_provider.shutdown()

    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("lookout.e2e", "1.0")
    requests_counter = meter.create_counter("e2e.requests", unit="{request}", description="Requests handled")
    in_flight = meter.create_up_down_counter("e2e.in_flight")
    latency = meter.create_histogram("e2e.latency", unit="s")
    meter.create_observable_gauge("e2e.temperature", callbacks=[lambda _options: [Observation(21.5, {"room": "lab"})]])
    for route in ["/a", "/b", "/c"]:
        requests_counter.add(3, {"route": route})
    in_flight.add(2)
    in_flight.add(-1)
    for value, route in [(0.1, "/a"), (0.4, "/a"), (2.5, "/b")]:
        latency.record(value, {"route": route})
    meter_provider.shutdown()

    failures = spans.failures + logs.failures + metrics.failures
    print(json.dumps({"spans": spans.exported, "logs": logs.exported, "points": metrics.exported, "failures": failures}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
