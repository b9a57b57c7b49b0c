"""AMQP 0-9-1 scenarios run with pika against a broker: exchange types, work queues with fair
dispatch and redelivery, publisher confirms, mandatory returns, basic.get, and protocol errors.

    python amqp_scenarios.py PORT [SCENARIO ...]

Prints `ok NAME` per scenario; exits non-zero at the first failure.
"""
import sys
import time
import traceback

import pika
import pika.exceptions

PORT = int(sys.argv[1])
PATIENCE = 20


def connect():
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", PORT, heartbeat=30))


def drain(channel, queue, expect, timeout=PATIENCE):
    """Consumes from `queue` until `expect` messages arrived (auto-ack); returns their bodies."""
    got = []
    deadline = time.time() + timeout
    for method, _props, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.2):
        if method is not None:
            got.append(body.decode())
        if len(got) >= expect or time.time() > deadline:
            break
    channel.cancel()
    return got


def get_all(channel, queue):
    """Everything ready in `queue`, by basic.get."""
    out = []
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body.decode())


def fanout_to_three_queues():
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("fan", "fanout")
    queues = [ch.queue_declare("", exclusive=True).method.queue for _ in range(3)]
    for q in queues:
        ch.queue_bind(q, "fan")
    ch.confirm_delivery()
    for i in range(5):
        ch.basic_publish("fan", "ignored", f"m{i}".encode())
    for q in queues:
        assert get_all(ch, q) == [f"m{i}" for i in range(5)], q
    conn.close()


def direct_by_routing_key():
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("dir", "direct")
    errors = ch.queue_declare("", exclusive=True).method.queue
    infos = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(errors, "dir", "error")
    ch.queue_bind(infos, "dir", "info")
    ch.queue_bind(infos, "dir", "warning")
    ch.confirm_delivery()
    for key in ["error", "info", "warning", "debug", "error"]:
        ch.basic_publish("dir", key, key.encode())
    assert get_all(ch, errors) == ["error", "error"]
    assert get_all(ch, infos) == ["info", "warning"]
    conn.close()


def topic_patterns():
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("top", "topic")
    bound = {}
    for pattern in ["sensor.*", "*.error", "#"]:
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "top", pattern)
        bound[pattern] = q
    ch.confirm_delivery()
    keys = ["sensor.temp", "sensor.temp.room", "db.error", "sensor.error", "order"]
    for key in keys:
        ch.basic_publish("top", key, key.encode())
    assert get_all(ch, bound["sensor.*"]) == ["sensor.temp", "sensor.error"]
    assert get_all(ch, bound["*.error"]) == ["db.error", "sensor.error"]
    assert get_all(ch, bound["#"]) == keys
    conn.close()


def headers_all_and_any():
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("hdr", "headers")
    all_q = ch.queue_declare("", exclusive=True).method.queue
    any_q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(all_q, "hdr", arguments={"x-match": "all", "format": "pdf", "type": "report"})
    ch.queue_bind(any_q, "hdr", arguments={"x-match": "any", "format": "pdf", "type": "report"})
    ch.confirm_delivery()
    for name, headers in [
        ("both", {"format": "pdf", "type": "report"}),
        ("format", {"format": "pdf", "type": "log"}),
        ("none", {"format": "zip"}),
        ("bare", None),
    ]:
        ch.basic_publish("hdr", "", name.encode(), pika.BasicProperties(headers=headers))
    assert get_all(ch, all_q) == ["both"]
    assert get_all(ch, any_q) == ["both", "format"]
    conn.close()


def work_queue_fair_dispatch_and_redelivery():
    setup = connect()
    sch = setup.channel()
    sch.queue_declare("tasks", durable=True)
    sch.queue_purge("tasks")
    workers = []
    for _ in range(3):
        conn = connect()
        ch = conn.channel()
        ch.basic_qos(prefetch_count=1)
        workers.append((conn, ch))
    received = {i: [] for i in range(3)}

    def on_message(i):
        def handle(ch, method, _props, body):
            received[i].append(body.decode())
            ch.basic_ack(method.delivery_tag)
        return handle

    for i, (_, ch) in enumerate(workers):
        ch.basic_consume("tasks", on_message(i))
    sch.confirm_delivery()
    for n in range(30):
        sch.basic_publish("", "tasks", f"t{n}".encode(), pika.BasicProperties(delivery_mode=2))
    deadline = time.time() + PATIENCE
    while sum(len(v) for v in received.values()) < 30 and time.time() < deadline:
        for conn, _ in workers:
            conn.process_data_events(time_limit=0.01)
    everything = sorted(m for v in received.values() for m in v)
    assert everything == sorted(f"t{n}" for n in range(30)), received
    assert all(len(v) >= 5 for v in received.values()), {i: len(v) for i, v in received.items()}
    for conn, _ in workers:
        conn.close()

    # A worker that dies holding an unacknowledged message: it goes to another, redelivered.
    dying = connect()
    dch = dying.channel()
    dch.basic_qos(prefetch_count=1)
    sch.basic_publish("", "tasks", b"fragile")
    method, _props, body = next(dch.consume("tasks", inactivity_timeout=PATIENCE))
    assert body == b"fragile" and not method.redelivered
    dying.close()
    method, _props, body = sch.basic_get("tasks", auto_ack=False)
    assert body == b"fragile" and method.redelivered, (method, body)
    sch.basic_ack(method.delivery_tag)
    # Nack with requeue puts it back; reject without requeue drops it.
    sch.basic_publish("", "tasks", b"again")
    method, _props, _ = sch.basic_get("tasks")
    sch.basic_nack(method.delivery_tag, requeue=True)
    method, _props, body = sch.basic_get("tasks")
    assert body == b"again" and method.redelivered
    sch.basic_reject(method.delivery_tag, requeue=False)
    assert sch.basic_get("tasks")[0] is None
    sch.queue_delete("tasks")
    setup.close()


def confirms_and_mandatory_returns():
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"routed", mandatory=True)
    try:
        ch.basic_publish("", "no-such-queue", b"lost", mandatory=True)
        raise AssertionError("an unroutable mandatory message was not returned")
    except pika.exceptions.UnroutableError as e:
        assert e.messages[0].body == b"lost"
    # Not mandatory: confirmed and dropped.
    ch.basic_publish("", "no-such-queue", b"dropped")
    assert get_all(ch, q) == ["routed"]
    conn.close()


def errors_close_the_channel_with_the_right_code():
    conn = connect()
    for action, code in [
        (lambda ch: ch.exchange_declare("missing", passive=True), 404),
        (lambda ch: ch.queue_declare("missing-queue", passive=True), 404),
        (lambda ch: ch.basic_publish("missing-exchange", "k", b"x") or ch.basic_qos(prefetch_count=1), 404),
        (lambda ch: (ch.exchange_declare("typed", "direct"), ch.exchange_declare("typed", "fanout")), 406),
        (lambda ch: ch.basic_ack(99), 406),
        (lambda ch: ch.exchange_declare("amq.mine", "direct"), 403),
    ]:
        ch = conn.channel()
        try:
            action(ch)
            ch.basic_qos(prefetch_count=1)
            raise AssertionError(f"expected a channel error {code}")
        except pika.exceptions.ChannelClosedByBroker as e:
            assert e.reply_code == code, (e.reply_code, e.reply_text)
    # The connection survives channel errors.
    ch = conn.channel()
    ch.queue_declare("", exclusive=True)
    # Another connection cannot use an exclusive queue.
    q = ch.queue_declare("", exclusive=True).method.queue
    other = connect()
    try:
        other.channel().queue_declare(q, passive=True)
        raise AssertionError("exclusive queue reached from another connection")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 405, (e.reply_code, e.reply_text)
    other.close()
    conn.close()


def dead_lettering_after_ttl_reject_and_max_length():
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("dlx", "fanout")
    dead = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(dead, "dlx")
    ch.confirm_delivery()

    # A queue TTL: the message expires unconsumed and arrives at the dead-letter queue.
    ttl_q = ch.queue_declare(
        "", exclusive=True, arguments={"x-message-ttl": 200, "x-dead-letter-exchange": "dlx"}
    ).method.queue
    ch.basic_publish("", ttl_q, b"late")
    method, props, body = next(ch.consume(dead, inactivity_timeout=PATIENCE))
    ch.cancel()
    assert body == b"late", body
    death = props.headers["x-death"][0]
    assert (death["reason"], death["queue"], death["count"]) == ("expired", ttl_q, 1), death
    assert death["routing-keys"] == [ttl_q], death
    assert props.headers["x-first-death-reason"] == "expired"
    assert ch.basic_get(ttl_q)[0] is None

    # A per-message expiration on a queue without TTL.
    plain = ch.queue_declare("", exclusive=True, arguments={"x-dead-letter-exchange": "dlx"}).method.queue
    ch.basic_publish("", plain, b"short-lived", pika.BasicProperties(expiration="100"))
    method, props, body = next(ch.consume(dead, inactivity_timeout=PATIENCE))
    ch.cancel()
    assert body == b"short-lived" and props.headers["x-death"][0]["original-expiration"] == "100", props
    assert props.expiration is None

    # Rejected without requeue, with a dead-letter routing key.
    rq = ch.queue_declare(
        "", exclusive=True, arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "rejected"}
    ).method.queue
    ch.basic_publish("", rq, b"bad")
    method, _props, _body = ch.basic_get(rq)
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, props, body = ch.basic_get(dead, auto_ack=True)
    assert body == b"bad" and method.routing_key == "rejected", (method, body)
    assert props.headers["x-death"][0]["reason"] == "rejected"

    # x-max-length drops from the head, dead-lettering what it drops.
    mq = ch.queue_declare(
        "", exclusive=True, arguments={"x-max-length": 2, "x-dead-letter-exchange": "dlx"}
    ).method.queue
    for b in [b"1", b"2", b"3"]:
        ch.basic_publish("", mq, b)
    assert get_all(ch, mq) == ["2", "3"]
    method, props, body = ch.basic_get(dead, auto_ack=True)
    assert body == b"1" and props.headers["x-death"][0]["reason"] == "maxlen", (body, props)

    # An expiration that is not a number closes the channel.
    try:
        ch.basic_publish("", plain, b"x", pika.BasicProperties(expiration="soon"))
        raise AssertionError("a bad expiration was accepted")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 406 and "invalid expiration" in e.reply_text, e
    conn.close()


def persist_publish():
    """Before a kill -9: persistent and transient messages in a durable queue, some acked."""
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("orders", "direct", durable=True)
    ch.queue_declare("orders.durable", durable=True)
    ch.queue_bind("orders.durable", "orders", "new")
    ch.queue_declare("orders.transient-queue", durable=False)
    ch.queue_bind("orders.transient-queue", "orders", "new")
    ch.confirm_delivery()
    for i in range(20):
        ch.basic_publish("orders", "new", f"p{i}".encode(), pika.BasicProperties(delivery_mode=2))
    ch.basic_publish("orders", "new", b"transient", pika.BasicProperties(delivery_mode=1))
    # The first five are consumed and acknowledged; the next two delivered and left unacked.
    for _ in range(5):
        method, _props, _body = ch.basic_get("orders.durable")
        ch.basic_ack(method.delivery_tag)
    for _ in range(2):
        ch.basic_get("orders.durable")
    # A confirmed round trip: every ack above has been applied.
    ch.queue_declare("orders.durable", passive=True)
    print("published", flush=True)
    # Stay connected: the test kills the broker now.
    time.sleep(3600)


def persist_check():
    """After the restart: the 15 unacknowledged persistent messages, in order; nothing else."""
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("orders", "direct", passive=True)
    got = []
    while True:
        method, _props, body = ch.basic_get("orders.durable", auto_ack=True)
        if method is None:
            break
        got.append(body.decode())
    assert got == [f"p{i}" for i in range(5, 20)], got
    try:
        ch.queue_declare("orders.transient-queue", passive=True)
        raise AssertionError("a non-durable queue survived the restart")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404
    ch = conn.channel()
    # The binding survived: a new message through the durable exchange arrives.
    ch.confirm_delivery()
    ch.basic_publish("orders", "new", b"after", pika.BasicProperties(delivery_mode=2))
    assert ch.basic_get("orders.durable", auto_ack=True)[2] == b"after"
    conn.close()


def flow_pauses_and_resumes_deliveries():
    conn = connect()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    assert ch.flow(False) is False
    ch.basic_publish("", q, b"held")
    conn.process_data_events(time_limit=0.5)
    assert got == [], got
    assert ch.flow(True) is True
    deadline = time.time() + PATIENCE
    while not got and time.time() < deadline:
        conn.process_data_events(time_limit=0.1)
    assert got == [b"held"], got
    conn.close()


def an_unknown_vhost_is_not_allowed():
    try:
        pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", PORT, virtual_host="elsewhere"))
        raise AssertionError("opened an unknown vhost")
    except pika.exceptions.AMQPConnectionError as e:
        assert "530" in repr(e) or "NOT_ALLOWED" in repr(e), repr(e)


def wrong_password_is_refused():
    try:
        pika.BlockingConnection(
            pika.ConnectionParameters("127.0.0.1", PORT, credentials=pika.PlainCredentials("guest", "wrong"))
        )
        raise AssertionError("logged in with a wrong password")
    except pika.exceptions.ProbableAuthenticationError as e:
        assert "ACCESS_REFUSED" in str(e), e


SCENARIOS = [
    fanout_to_three_queues,
    direct_by_routing_key,
    topic_patterns,
    headers_all_and_any,
    work_queue_fair_dispatch_and_redelivery,
    confirms_and_mandatory_returns,
    errors_close_the_channel_with_the_right_code,
    dead_lettering_after_ttl_reject_and_max_length,
    flow_pauses_and_resumes_deliveries,
    an_unknown_vhost_is_not_allowed,
    wrong_password_is_refused,
]

# Run only when named: the persistence test drives them around a kill -9.
ON_REQUEST = [persist_publish, persist_check]

if __name__ == "__main__":
    wanted = set(sys.argv[2:])
    for scenario in SCENARIOS + ON_REQUEST:
        if (wanted and scenario.__name__ not in wanted) or (not wanted and scenario in ON_REQUEST):
            continue
        try:
            scenario()
        except Exception:
            traceback.print_exc()
            print(f"FAILED {scenario.__name__}", flush=True)
            sys.exit(1)
        print(f"ok {scenario.__name__}", flush=True)
