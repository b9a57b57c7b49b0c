"""AMQPS (AMQP 0-9-1 over TLS) with pika, and HTTPS with requests, against Lookout's broker.

Usage: amqps_client.py AMQPS_PORT CA_FILE [MANAGEMENT_PORT]
Connects to 127.0.0.1:AMQPS_PORT verifying the server certificate against CA_FILE (host name
localhost), declares a queue, publishes a message, gets it back and prints its body; with a
management port, reads /api/overview over HTTPS with the same CA and prints the product name.
Exits non-zero on any failure (an untrusted certificate included).
"""

import ssl
import sys

import pika
import requests

port, ca = int(sys.argv[1]), sys.argv[2]
context = ssl.create_default_context(cafile=ca)
params = pika.ConnectionParameters(
    host="127.0.0.1",
    port=port,
    ssl_options=pika.SSLOptions(context, server_hostname="localhost"),
    credentials=pika.PlainCredentials("guest", "guest"),
    connection_attempts=1,
    socket_timeout=10,
)
connection = pika.BlockingConnection(params)
channel = connection.channel()
channel.queue_declare(queue="over-tls")
channel.basic_publish(exchange="", routing_key="over-tls", body=b"sealed")
method, _, body = channel.basic_get(queue="over-tls", auto_ack=True)
print("amqps got", body.decode())
connection.close()

if len(sys.argv) > 3:
    overview = requests.get(
        f"https://localhost:{sys.argv[3]}/api/overview", auth=("guest", "guest"), verify=ca, timeout=10
    ).json()
    print("management product", overview.get("product_name"))
