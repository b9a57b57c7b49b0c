"""The broker's management API against what pika did: RabbitMQ's JSON fields and counts.

    python amqp_management.py AMQP_PORT MANAGEMENT_PORT
"""
import sys
import time

import pika
import requests

AMQP, HTTP = int(sys.argv[1]), int(sys.argv[2])
BASE = f"http://127.0.0.1:{HTTP}/api"
AUTH = ("guest", "guest")


def api(path, auth=AUTH):
    return requests.get(BASE + path, auth=auth, timeout=10)


conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", AMQP))
ch = conn.channel()
ch.confirm_delivery()
ch.exchange_declare("mgmt.topic", "topic", durable=True)
ch.queue_declare("mgmt.q", durable=True, arguments={"x-message-ttl": 60000})
ch.queue_bind("mgmt.q", "mgmt.topic", "order.*")
for i in range(5):
    ch.basic_publish("mgmt.topic", "order.created", f"m{i}".encode())
method, _props, _body = ch.basic_get("mgmt.q")
ch.basic_ack(method.delivery_tag)
consumer = conn.channel()
consumer.basic_qos(prefetch_count=2)
consumer.basic_consume("mgmt.q", lambda *a: None, consumer_tag="mgmt-consumer")
conn.process_data_events(time_limit=0.5)

assert api("/overview", auth=None).status_code == 401
bad = api("/queues", auth=("guest", "nope"))
assert bad.status_code == 401 and bad.json() == {"error": "not_authorized", "reason": "Not_Authorized"}, bad.text
assert 'realm="RabbitMQ Management"' in bad.headers["WWW-Authenticate"]

q = api("/queues/%2F/mgmt.q").json()
assert q["name"] == "mgmt.q" and q["vhost"] == "/" and q["durable"] and not q["exclusive"], q
assert q["arguments"] == {"x-message-ttl": 60000}, q["arguments"]
# 4 left after the get: 2 delivered to the consumer (prefetch 2) and unacked, 2 ready.
assert (q["messages"], q["messages_ready"], q["messages_unacknowledged"], q["consumers"]) == (4, 2, 2, 1), q
stats = q["message_stats"]
assert (stats["publish"], stats["get"], stats["deliver"], stats["ack"], stats["deliver_get"]) == (5, 1, 2, 1, 3), stats
assert api("/queues/%2F/missing").status_code == 404
assert api("/queues/other-vhost/mgmt.q").status_code == 404

queues = {x["name"]: x for x in api("/queues").json()}
assert "mgmt.q" in queues

exchanges = {x["name"]: x for x in api("/exchanges").json()}
assert exchanges["mgmt.topic"]["type"] == "topic" and exchanges["mgmt.topic"]["durable"], exchanges["mgmt.topic"]
assert exchanges["mgmt.topic"]["message_stats"]["publish_in"] == 5
assert exchanges["mgmt.topic"]["message_stats"]["publish_out"] == 5
assert {"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers"} <= set(exchanges)
assert api("/exchanges/%2F/amq.default").json()["type"] == "direct"

bindings = api("/bindings").json()
assert {
    "source": "mgmt.topic", "vhost": "/", "destination": "mgmt.q", "destination_type": "queue",
    "routing_key": "order.*", "arguments": {}, "properties_key": "order.*",
} in bindings, bindings
assert any(b["source"] == "" and b["destination"] == "mgmt.q" and b["routing_key"] == "mgmt.q" for b in bindings)

connections = api("/connections").json()
assert len(connections) == 1, connections
c = connections[0]
assert c["user"] == "guest" and c["protocol"] == "AMQP 0-9-1" and c["channels"] == 2, c
assert c["client_properties"]["product"] == "Pika Python Client Library", c["client_properties"]

channels = sorted(api("/channels").json(), key=lambda x: x["number"])
assert [x["number"] for x in channels] == [1, 2], channels
assert channels[0]["confirm"] and channels[1]["prefetch_count"] == 2 and channels[1]["consumer_count"] == 1, channels
assert channels[1]["messages_unacknowledged"] == 2

consumers = api("/consumers").json()
assert len(consumers) == 1 and consumers[0]["consumer_tag"] == "mgmt-consumer", consumers
assert consumers[0]["queue"] == {"name": "mgmt.q", "vhost": "/"} and consumers[0]["ack_required"]

overview = api("/overview").json()
totals = overview["object_totals"]
assert (totals["connections"], totals["channels"], totals["queues"], totals["consumers"]) == (1, 2, 1, 1), totals
assert overview["queue_totals"] == {"messages": 4, "messages_ready": 2, "messages_unacknowledged": 2}
assert overview["listeners"][0]["protocol"] == "amqp" and overview["listeners"][0]["port"] == AMQP

# Rates follow the counters within a few seconds of traffic.
deadline = time.time() + 20
while time.time() < deadline:
    for i in range(20):
        ch.basic_publish("mgmt.topic", "order.created", b"r")
    conn.process_data_events(time_limit=0.3)
    rate = api("/queues/%2F/mgmt.q").json()["message_stats"]["publish_details"]["rate"]
    if rate > 0:
        break
assert rate > 0, rate
conn.close()
print("ok management")
