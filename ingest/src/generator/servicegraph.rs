//! Service graphs: requests between services, found by pairing the two spans of each call,
//! as Tempo's `service-graphs` processor does with its defaults
//! (`modules/generator/processor/servicegraphs/servicegraphs.go`, `store/store.go`).
//!
//! # Pairing
//! A client or producer span is the client half of the edge keyed `(trace id, its span id)`;
//! a server or consumer span is the server half of the edge keyed `(trace id, its parent span
//! id)` (a root server span has no parent, and its key can never meet a client). Producer and
//! consumer set the connection type `messaging_system`; whichever half arrives last sets it.
//! A client span with a database attribute (`db.namespace`, `db.name`, `db.system`) is a whole
//! edge by itself, of type `database`, to a server named by `peer.service`, `server.address`,
//! `network.peer.address[:network.peer.port]` or the database name, in that order.
//!
//! A half edge waits in the pending store until its other half arrives or `wait` passes (on the
//! caller's clock). When it expires, it becomes an edge to a virtual node if it can: a root
//! server span gets the client named by its peer attribute or `user`; a client span with a peer
//! attribute (`peer.service`, `db.name`, `db.system`) gets that server. Otherwise it counts in
//! `traces_service_graph_unpaired_spans_total`. A half edge that finds the store full
//! (`max_items`) is dropped and counts in `traces_service_graph_dropped_spans_total`.

use std::collections::{BTreeMap, HashMap};

use lookout_storage::{
    AnyValue, Attributes, Labels, Resource, SeriesSamples, Span, SpanId, SpanKind, StatusCode, TraceId,
};

use super::GeneratorOptions;
use super::registry::{CounterVec, HistogramVec, SeriesBudget};
use super::spanmetrics::duration_seconds;

/// `traces_service_graph_request_total`.
pub(super) const REQUEST_TOTAL: &str = "traces_service_graph_request_total";
/// `traces_service_graph_request_failed_total`.
pub(super) const REQUEST_FAILED_TOTAL: &str = "traces_service_graph_request_failed_total";
/// `traces_service_graph_request_server_seconds`.
pub(super) const REQUEST_SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
/// `traces_service_graph_request_client_seconds`.
pub(super) const REQUEST_CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";
/// `traces_service_graph_unpaired_spans_total`.
pub(super) const UNPAIRED_SPANS_TOTAL: &str = "traces_service_graph_unpaired_spans_total";
/// `traces_service_graph_dropped_spans_total`.
pub(super) const DROPPED_SPANS_TOTAL: &str = "traces_service_graph_dropped_spans_total";

/// The `connection_type` label; `Unknown` is an absent label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectionType {
    Unknown,
    MessagingSystem,
    Database,
    VirtualNode,
}

impl ConnectionType {
    fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Unknown => "",
            ConnectionType::MessagingSystem => "messaging_system",
            ConnectionType::Database => "database",
            ConnectionType::VirtualNode => "virtual_node",
        }
    }
}

/// Trace id and the client's span id (for a server half: its parent span id).
type EdgeKey = (TraceId, Option<SpanId>);

/// A request between two services, possibly still missing one half.
#[derive(Debug)]
struct Edge {
    trace_id: TraceId,
    connection_type: ConnectionType,
    client: String,
    server: String,
    client_seconds: f64,
    server_seconds: f64,
    /// Either half had status error.
    failed: bool,
    /// A peer attribute's value, naming the other side should it never arrive.
    peer: String,
    /// When a pending edge expires, and its place in the expiry order.
    expires: (i64, u64),
}

impl Edge {
    fn new(trace_id: TraceId) -> Edge {
        Edge {
            trace_id,
            connection_type: ConnectionType::Unknown,
            client: String::new(),
            server: String::new(),
            client_seconds: 0.0,
            server_seconds: 0.0,
            failed: false,
            peer: String::new(),
            expires: (0, 0),
        }
    }

    fn is_complete(&self) -> bool {
        !self.client.is_empty() && !self.server.is_empty()
    }

    fn labels(&self) -> Labels {
        Labels::from_pairs([
            ("client", self.client.as_str()),
            ("server", self.server.as_str()),
            ("connection_type", self.connection_type.as_str()),
        ])
    }
}

/// An attribute value as text, as Tempo's `StringifyAnyValue` gives it for scalars.
fn stringify(v: &AnyValue) -> String {
    match v {
        AnyValue::Empty => String::new(),
        AnyValue::String(s) => s.clone(),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Bytes(b) => hex::encode(b),
        AnyValue::Array(values) => format!("[{}]", values.iter().map(stringify).collect::<Vec<_>>().join(",")),
        AnyValue::Map(kvs) => {
            let parts: Vec<String> = kvs.iter().map(|kv| format!("{}:{}", kv.key, stringify(&kv.value))).collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// The first of `keys` present in `scopes` (each key tried in every scope, in order).
fn find<'a>(keys: impl IntoIterator<Item = &'a str>, scopes: &[&Attributes]) -> Option<String> {
    keys.into_iter().find_map(|key| {
        scopes.iter().find_map(|attrs| attrs.iter().find(|kv| kv.key == key).map(|kv| stringify(&kv.value)))
    })
}

/// The edge's metric families of one tenant.
#[derive(Debug)]
struct GraphMetrics {
    total: CounterVec,
    failed: CounterVec,
    server: HistogramVec,
    client: HistogramVec,
    unpaired: CounterVec,
    dropped: CounterVec,
}

impl GraphMetrics {
    /// Records a complete edge.
    fn record(&mut self, e: &Edge, now_ms: i64, budget: &mut SeriesBudget) {
        let labels = e.labels();
        self.total.inc(&labels, 1.0, now_ms, budget);
        if e.failed {
            self.failed.inc(&labels, 1.0, now_ms, budget);
        }
        self.server.observe(&labels, e.server_seconds, e.trace_id, now_ms, budget);
        self.client.observe(&labels, e.client_seconds, e.trace_id, now_ms, budget);
    }
}

/// Service graph state of one tenant: pending half edges and the metric families.
#[derive(Debug)]
pub(super) struct ServiceGraph {
    pending: HashMap<EdgeKey, Edge>,
    /// Pending keys by (expiry, arrival), so the oldest expire first.
    by_expiry: BTreeMap<(i64, u64), EdgeKey>,
    arrivals: u64,
    metrics: GraphMetrics,
}

impl ServiceGraph {
    pub(super) fn new(buckets: &[f64]) -> ServiceGraph {
        ServiceGraph {
            pending: HashMap::new(),
            by_expiry: BTreeMap::new(),
            arrivals: 0,
            metrics: GraphMetrics {
                total: CounterVec::new(REQUEST_TOTAL),
                failed: CounterVec::new(REQUEST_FAILED_TOTAL),
                server: HistogramVec::new(REQUEST_SERVER_SECONDS, buckets),
                client: HistogramVec::new(REQUEST_CLIENT_SECONDS, buckets),
                unpaired: CounterVec::new(UNPAIRED_SPANS_TOTAL),
                dropped: CounterVec::new(DROPPED_SPANS_TOTAL),
            },
        }
    }

    /// Half edges waiting for their other half.
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes one span of `service` (a non-empty `service.name`) into the graph.
    pub(super) fn observe(
        &mut self,
        opts: &GeneratorOptions,
        resource: &Resource,
        service: &str,
        span: &Span,
        now_ms: i64,
        budget: &mut SeriesBudget,
    ) {
        let (client_side, key, connection_type) = match span.kind {
            SpanKind::Producer => (true, (span.trace_id, Some(span.span_id)), ConnectionType::MessagingSystem),
            SpanKind::Client => (true, (span.trace_id, Some(span.span_id)), ConnectionType::Unknown),
            SpanKind::Consumer => (false, (span.trace_id, span.parent_span_id), ConnectionType::MessagingSystem),
            SpanKind::Server => (false, (span.trace_id, span.parent_span_id), ConnectionType::Unknown),
            SpanKind::Internal | SpanKind::Unspecified => return,
        };
        let update = |e: &mut Edge| {
            if client_side {
                update_client(e, opts, resource, service, span, connection_type);
            } else {
                update_server(e, opts, service, span, connection_type);
            }
        };

        if let Some(e) = self.pending.get_mut(&key) {
            update(e);
            if e.is_complete()
                && let Some(e) = self.pending.remove(&key)
            {
                self.by_expiry.remove(&e.expires);
                self.metrics.record(&e, now_ms, budget);
            }
            return;
        }

        let mut e = Edge::new(span.trace_id);
        update(&mut e);
        if e.is_complete() {
            // A database call: one span is the whole edge.
            self.metrics.record(&e, now_ms, budget);
        } else if self.pending.len() >= opts.max_items {
            self.metrics.dropped.inc(&e.labels(), 1.0, now_ms, budget);
        } else {
            let wait_ms = i64::try_from(opts.service_graph_wait.as_millis()).unwrap_or(i64::MAX);
            e.expires = (now_ms.saturating_add(wait_ms), self.arrivals);
            self.arrivals += 1;
            self.by_expiry.insert(e.expires, key);
            self.pending.insert(key, e);
        }
    }

    /// Expires half edges whose wait ended at or before `now_ms`.
    pub(super) fn expire(&mut self, now_ms: i64, budget: &mut SeriesBudget) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let key = entry.remove();
            if let Some(e) = self.pending.remove(&key) {
                self.on_expire(e, key, now_ms, budget);
            }
        }
    }

    fn on_expire(&mut self, mut e: Edge, key: EdgeKey, now_ms: i64, budget: &mut SeriesBudget) {
        let root_server = e.client.is_empty() && key.1.is_none();
        let called_peer = !e.client.is_empty() && e.server.is_empty() && !e.peer.is_empty();
        if root_server {
            // Called from outside: something named by a peer attribute, or a user.
            e.client = if e.peer.is_empty() { "user".to_owned() } else { std::mem::take(&mut e.peer) };
        } else if called_peer {
            // Called something that sends no spans, named by a peer attribute.
            e.server = std::mem::take(&mut e.peer);
        } else {
            self.metrics.unpaired.inc(&e.labels(), 1.0, now_ms, budget);
            return;
        }
        e.connection_type = ConnectionType::VirtualNode;
        self.metrics.record(&e, now_ms, budget);
    }

    pub(super) fn remove_stale(&mut self, cutoff_ms: i64, budget: &mut SeriesBudget) {
        let m = &mut self.metrics;
        for c in [&mut m.total, &mut m.failed, &mut m.unpaired, &mut m.dropped] {
            c.remove_stale(cutoff_ms, budget);
        }
        m.server.remove_stale(cutoff_ms, budget);
        m.client.remove_stale(cutoff_ms, budget);
    }

    pub(super) fn collect(&mut self, now_ms: i64, trace_label: &str, out: &mut Vec<SeriesSamples>) {
        let m = &mut self.metrics;
        m.total.collect(now_ms, out);
        m.failed.collect(now_ms, out);
        m.server.collect(now_ms, trace_label, out);
        m.client.collect(now_ms, trace_label, out);
        m.unpaired.collect(now_ms, out);
        m.dropped.collect(now_ms, out);
    }
}

fn update_client(
    e: &mut Edge,
    opts: &GeneratorOptions,
    resource: &Resource,
    service: &str,
    span: &Span,
    connection_type: ConnectionType,
) {
    e.trace_id = span.trace_id;
    e.connection_type = connection_type;
    e.client = service.to_owned();
    e.client_seconds = duration_seconds(span);
    e.failed |= span.status.code == StatusCode::Error;
    if let Some(peer) = find(opts.peer_attributes.iter().map(String::as_str), &[&span.attributes]) {
        e.peer = peer;
    }
    database_call(e, opts, resource, span);
}

fn update_server(e: &mut Edge, opts: &GeneratorOptions, service: &str, span: &Span, connection_type: ConnectionType) {
    e.connection_type = connection_type;
    e.server = service.to_owned();
    e.server_seconds = duration_seconds(span);
    e.failed |= span.status.code == StatusCode::Error;
    if span.parent_span_id.is_none() {
        // Only a root server span can become a virtual-node edge, named by its peer.
        if let Some(peer) = find(opts.peer_attributes.iter().map(String::as_str), &[&span.attributes]) {
            e.peer = peer;
        }
    }
}

/// Makes a client span with a database attribute a whole `database` edge.
fn database_call(e: &mut Edge, opts: &GeneratorOptions, resource: &Resource, span: &Span) {
    let scopes = [&resource.attributes, &span.attributes];
    let Some(db_name) = find(opts.database_name_attributes.iter().map(String::as_str), &scopes) else {
        return;
    };
    e.connection_type = ConnectionType::Database;
    e.server_seconds = duration_seconds(span);
    let server = find(["peer.service", "server.address"], &scopes).or_else(|| {
        let host = find(["network.peer.address"], &scopes)?;
        Some(match find(["network.peer.port"], &scopes) {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    match server {
        Some(name) => e.server = name,
        None if !db_name.is_empty() => e.server = db_name,
        None => {}
    }
}
