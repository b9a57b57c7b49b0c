"""Writes the seed inputs of the push, amqp and gateway targets, and amqp-handshake.bin.

    /path/to/venv/bin/python seeds.py      # from fuzz/, with pika installed

The wal target's seeds come from `cargo run --example seeds`.
"""

import gzip
import json
import os
import struct

import pika.frame
import pika.spec


def write(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data)


# --- protobuf, by hand (the few messages needed) -------------------------------------------
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def string(number, text):
    return field(number, 2, text.encode() if isinstance(text, str) else text)


def snappy(raw):
    """Snappy block format with literals only: valid, not compressed."""
    out = varint(len(raw))
    for i in range(0, len(raw), 60):
        chunk = raw[i : i + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return out


def write_request():
    """A remote_write 1.0 WriteRequest: two series, one with an exemplar, and metadata."""
    label = lambda n, v: string(1, string(1, n) + string(2, v))
    sample = lambda v, t: string(2, field(1, 1, struct.pack("<d", v)) + field(2, 0, varint(t)))
    exemplar = string(3, label("trace_id", "0af7651916cd43dd") + field(2, 1, struct.pack("<d", 0.5)) + field(3, 0, varint(1700000000000)))
    s1 = string(1, label("__name__", "http_requests_total") + label("job", "api") + sample(1.0, 1700000000000) + sample(2.0, 1700000015000) + exemplar)
    s2 = string(1, label("__name__", "up") + label("instance", "a:9100") + sample(float("nan"), 1700000000000))
    meta = string(3, field(1, 0, varint(1)) + string(2, "http_requests_total") + string(4, "Requests.") + string(5, ""))
    return s1 + s2 + meta


def push_request():
    """A Loki PushRequest with structured metadata."""
    ts = lambda s, n: string(1, field(1, 0, varint(s)) + field(2, 0, varint(n)))
    meta = string(3, string(1, "trace_id") + string(2, "0af7651916cd43dd8448eb211c80319c"))
    entry = string(2, ts(1700000000, 5) + string(2, "level=info msg=hello") + meta)
    return string(1, string(1, '{job="api", level="info"}') + entry + entry)


# selector byte: bit 0 picks the endpoint (0 remote_write, 1 Loki push), the rest the headers
# (0 protobuf+snappy, 1 json, 2 json+gzip, 3 none, ...).
write("push", "remote-write", bytes([0]) + snappy(write_request()))
write("push", "remote-write-no-headers", bytes([3 << 1]) + snappy(write_request()))
write("push", "loki-protobuf", bytes([1]) + snappy(push_request()))
loki_json = json.dumps({
    "streams": [
        {"stream": {"job": "api", "level": "warn"},
         "values": [["1700000000000000000", "disk 91% full", {"trace_id": "0af7651916cd43dd8448eb211c80319c"}],
                    ["1700000000000000001", "{\"msg\": \"json line\", \"n\": 3}"]]},
        {"stream": {"service_name": "orders"}, "values": [["1700000000000000002", "plain"]]},
    ]
}).encode()
write("push", "loki-json", bytes([1 | 1 << 1]) + loki_json)
write("push", "loki-json-gzip", bytes([1 | 2 << 1]) + gzip.compress(loki_json))

# --- AMQP -------------------------------------------------------------------------------------
m = lambda ch, method: pika.frame.Method(ch, method).marshal()
handshake = (
    b"AMQP\x00\x00\x09\x01"
    + m(0, pika.spec.Connection.StartOk(client_properties={"product": "fuzz"}, mechanism="PLAIN", response="\0guest\0guest", locale="en_US"))
    + m(0, pika.spec.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=0))
    + m(0, pika.spec.Connection.Open(virtual_host="/"))
)
with open("amqp-handshake.bin", "wb") as f:
    f.write(handshake)


def publish(ch, exchange, key, body, **props):
    return (
        m(ch, pika.spec.Basic.Publish(exchange=exchange, routing_key=key))
        + pika.frame.Header(ch, len(body), pika.spec.BasicProperties(**props)).marshal()
        + pika.frame.Body(ch, body).marshal()
    )


open1 = m(1, pika.spec.Channel.Open())
close = m(1, pika.spec.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)) + m(
    0, pika.spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
write("amqp", "work-queue", open1
      + m(1, pika.spec.Queue.Declare(queue="tasks", durable=True))
      + m(1, pika.spec.Basic.Qos(prefetch_count=1))
      + publish(1, "", "tasks", b"job 1", delivery_mode=2, headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
      + m(1, pika.spec.Basic.Consume(queue="tasks", consumer_tag="c1"))
      + m(1, pika.spec.Basic.Ack(delivery_tag=1))
      + close)
write("amqp", "topic", open1
      + m(1, pika.spec.Exchange.Declare(exchange="orders", type="topic"))
      + m(1, pika.spec.Queue.Declare(queue="", exclusive=True))
      + m(1, pika.spec.Queue.Bind(queue="", exchange="orders", routing_key="order.*"))
      + m(1, pika.spec.Confirm.Select())
      + publish(1, "orders", "order.created", b'{"id": 1}', content_type="application/json")
      + m(1, pika.spec.Basic.Get(queue="", no_ack=False))
      + m(1, pika.spec.Basic.Nack(delivery_tag=1, requeue=True))
      + close)
write("amqp", "headers-fanout", open1
      + m(1, pika.spec.Exchange.Declare(exchange="h", type="headers"))
      + m(1, pika.spec.Exchange.Declare(exchange="f", type="fanout"))
      + m(1, pika.spec.Queue.Declare(queue="q", arguments={"x-message-ttl": 1000, "x-dead-letter-exchange": "f"}))
      + m(1, pika.spec.Queue.Bind(queue="q", exchange="h", arguments={"x-match": "all", "kind": "a"}))
      + publish(1, "h", "", b"x" * 200, headers={"kind": "a"}, expiration="10")
      + m(1, pika.spec.Tx.Select()) + m(1, pika.spec.Tx.Commit())
      + m(1, pika.spec.Queue.Purge(queue="q")) + m(1, pika.spec.Queue.Delete(queue="q"))
      + close)

# --- HTTP to the gateway ------------------------------------------------------------------------
write("gateway", "get", b"GET / HTTP/1.1\r\nHost: a\r\nx-user: u1\r\nConnection: close\r\n\r\n")
write("gateway", "keep-alive-two", b"GET /key/x HTTP/1.1\r\nHost: a\r\nx-api-key: fuzz-key\r\n\r\nGET /limited HTTP/1.1\r\nHost: a\r\nx-user: u\r\nConnection: close\r\n\r\n")
write("gateway", "post-chunked", b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
write("gateway", "smuggle", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /key HTTP/1.1\r\nConnection: close\r\n\r\n")
write("gateway", "jwt", b"GET /jwt/a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJmdXp6IiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJl\r\nx-user: u2\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nConnection: close\r\n\r\n")
write("gateway", "http10", b"GET /key HTTP/1.0\r\nx-api-key: nope\r\ncookie: a=b; c=d\r\nConnection: close\r\n\r\n")

# --- WAL records ---------------------------------------------------------------------------------
# The wal target's seeds are the records the push target's seeds leave in its WAL: run
#   TMPDIR=/tmp/fz cargo fuzz run -s none push -- -runs=0
# then `python seeds.py /tmp/fz/.tmp*/wal/0000000001.wal`.
import sys

if len(sys.argv) > 1:
    segment = open(sys.argv[1], "rb").read()[8:]
    frames, at = [], 0
    while at + 8 <= len(segment):
        (length,) = struct.unpack("<I", segment[at : at + 4])
        frames.append(segment[at : at + 8 + length])
        at += 8 + length
    for k, frame in enumerate(frames):
        write("wal", f"raw-{k}", b"\x00" + frame)  # mode 0: as the writer wrote it
        payload = frame[8:]  # mode 1: a two-byte length, the target adds the checksum
        write("wal", f"framed-{k}", b"\x01" + struct.pack("<H", len(payload)) + payload)
    write("wal", "raw-all", b"\x00" + segment)
    write("wal", "raw-torn", b"\x02" + segment[:-3])  # mode 2: repair
