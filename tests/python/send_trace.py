"""Send one multi-service trace to Lookout over OTLP/gRPC with the OpenTelemetry Python SDK.

Usage: send_trace.py ENDPOINT
Prints a JSON object: the trace id (hex) and, per span, what Lookout must give back.
"""

import json
import sys

from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def provider(service, endpoint):
    p = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "e2e"}))
    p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    return p


def main():
    endpoint = sys.argv[1]
    gateway, orders, payments = (provider(s, endpoint) for s in ("gateway", "orders", "payments"))
    spans = []

    def record(span, service, parent):
        spans.append({"name": span.name, "service": service, "parent": parent})

    other = gateway.get_tracer("e2e").start_span("unrelated")
    other.end()
    link = other.get_span_context()

    tg, to, tp = gateway.get_tracer("gateway"), orders.get_tracer("orders"), payments.get_tracer("payments")
    with tg.start_as_current_span("GET /checkout", kind=SpanKind.SERVER, links=[Link(link, {"reason": "retry"})]) as root:
        root.set_attribute("http.route", "/checkout")
        root.set_attribute("http.response.status_code", 502)
        root.set_status(Status(StatusCode.ERROR, "payment failed"))
        with tg.start_as_current_span("POST orders", kind=SpanKind.CLIENT) as call:
            call.set_attribute("peer.service", "orders")
            with to.start_as_current_span("create order", kind=SpanKind.SERVER) as create:
                create.set_attribute("order.items", 3)
                create.set_attribute("order.tags", ["new", "priority"])
                create.add_event("validated", {"rules": 12})
                with to.start_as_current_span("publish order.created", kind=SpanKind.PRODUCER) as publish:
                    publish.set_attribute("messaging.system", "rabbitmq")
                    with tp.start_as_current_span("charge card", kind=SpanKind.CONSUMER) as charge:
                        charge.set_attribute("payment.amount", 99.5)
                        charge.record_exception(ValueError("card declined"))
                        charge.set_status(Status(StatusCode.ERROR, "card declined"))
                        record(charge, "payments", "publish order.created")
                    record(publish, "orders", "create order")
                record(create, "orders", "POST orders")
            record(call, "gateway", "GET /checkout")
        record(root, "gateway", None)
    for p in (gateway, orders, payments):
        p.shutdown()
    trace_id = format(root.get_span_context().trace_id, "032x")
    print(json.dumps({"trace_id": trace_id, "spans": spans}))


if __name__ == "__main__":
    main()
