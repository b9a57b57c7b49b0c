"""Sends logs from two services through the OpenTelemetry Python SDK's logging handler and
OTLP/gRPC log exporter, some written inside spans. Prints what it sent as JSON: per service,
the trace and span ids of the spans the lines were written in."""

import json
import logging
import sys

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

endpoint = sys.argv[1]


def service(name):
    resource = Resource.create(
        {"service.name": name, "deployment.environment": "test", "host.name": "node-1"}
    )
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=logs))
    tracer = TracerProvider(resource=resource).get_tracer(name)
    return logs, logger, tracer


def ids(span):
    ctx = span.get_span_context()
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


sent = {}
checkout_logs, checkout, checkout_tracer = service("checkout")
with checkout_tracer.start_as_current_span("place-order") as span:
    checkout.info("order placed order_id=41 total=12.50")
    checkout.error("payment declined for order_id=41")
    sent["checkout"] = ids(span)
checkout.warning("inventory low sku=A1 left=3")

payments_logs, payments, payments_tracer = service("payments")
with payments_tracer.start_as_current_span("charge") as span:
    payments.info("charge ok amount=12.50 currency=EUR", extra={"customer": "c-7"})
    sent["payments"] = ids(span)
payments.error("card expired amount=99.00 currency=EUR", extra={"customer": "c-9"})
payments.debug("retry scheduled in=5s")

checkout_logs.shutdown()
payments_logs.shutdown()
print(json.dumps(sent))
