"""A publisher and a consumer instrumented with the OpenTelemetry SDK, through the broker:
W3C trace context goes in the message headers, so one trace links publisher, broker and
consumer. Prints the trace id.

    python amqp_traced.py AMQP_PORT OTLP_GRPC_ENDPOINT
"""
import json
import sys

import pika
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

AMQP, OTLP = int(sys.argv[1]), sys.argv[2]


def provider(service):
    p = TracerProvider(resource=Resource.create({"service.name": service}))
    p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=OTLP, insecure=True)))
    return p


publisher, consumer = provider("shop-publisher"), provider("shop-consumer")
conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", AMQP))
ch = conn.channel()
ch.confirm_delivery()
ch.exchange_declare("shop", "topic")
ch.queue_declare("shop.orders", exclusive=True)
ch.queue_bind("shop.orders", "shop", "order.*")

with publisher.get_tracer("shop").start_as_current_span("send order", kind=SpanKind.PRODUCER) as span:
    headers = {}
    propagate.inject(headers)
    ch.basic_publish("shop", "order.created", b'{"order": 42}', pika.BasicProperties(headers=headers))
    trace_id = format(span.get_span_context().trace_id, "032x")

method, props, body = next(ch.consume("shop.orders", inactivity_timeout=20))
assert body == b'{"order": 42}', body
parent = propagate.extract(props.headers)
with consumer.get_tracer("shop").start_as_current_span("handle order", context=parent, kind=SpanKind.CONSUMER):
    ch.basic_ack(method.delivery_tag)
ch.cancel()
conn.close()
publisher.shutdown()
consumer.shutdown()
print(json.dumps({"trace_id": trace_id}))
