//! Exchanges and how they route: exact keys (direct), everything (fanout), word patterns with
//! `*` and `#` (topic), and header tables with `x-match` (headers).

use amq_protocol::types::{AMQPValue, FieldTable, ShortString};

/// The exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// By exact routing key.
    Direct,
    /// To every bound queue.
    Fanout,
    /// By routing-key pattern (`*`, `#`).
    Topic,
    /// By message headers (`x-match` all / any).
    Headers,
}

impl ExchangeKind {
    /// The type from its AMQP name.
    pub fn parse(name: &str) -> Option<ExchangeKind> {
        match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        }
    }

    /// The AMQP name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// A queue bound to an exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub queue: String,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// An exchange.
#[derive(Debug)]
pub struct Exchange {
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub bindings: Vec<Binding>,
}

impl Exchange {
    /// The queues a message goes to, each once.
    pub fn route(&self, routing_key: &str, headers: Option<&FieldTable>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for b in &self.bindings {
            let matched = match self.kind {
                ExchangeKind::Direct => b.routing_key == routing_key,
                ExchangeKind::Fanout => true,
                ExchangeKind::Topic => topic_matches(&b.routing_key, routing_key),
                ExchangeKind::Headers => headers_match(&b.arguments, headers),
            };
            if matched && !out.contains(&b.queue) {
                out.push(b.queue.clone());
            }
        }
        out
    }
}

/// Whether a topic binding pattern (`*` one word, `#` zero or more) matches a routing key.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn matches(p: &[&str], k: &[&str]) -> bool {
        match p.split_first() {
            None => k.is_empty(),
            Some((&"#", rest)) => (0..=k.len()).any(|skip| matches(rest, &k[skip..])),
            Some((&"*", rest)) => !k.is_empty() && matches(rest, &k[1..]),
            Some((word, rest)) => k.first() == Some(word) && matches(rest, &k[1..]),
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if key.is_empty() { Vec::new() } else { key.split('.').collect() };
    matches(&p, &k)
}

/// Whether a headers binding (`x-match` `all` or `any`, default `all`; the `-with-x` forms also
/// compare `x-` keys) matches a message's headers. A binding value of void only asks for presence.
pub fn headers_match(binding: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let mode = match binding.inner().get("x-match") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Some(AMQPValue::ShortString(s)) => s.as_str().to_owned(),
        _ => "all".to_owned(),
    };
    let with_x = mode.ends_with("-with-x");
    let any = mode.starts_with("any");
    let empty = FieldTable::default();
    let headers = headers.unwrap_or(&empty).inner();
    let mut wanted =
        binding.inner().iter().filter(|(k, _)| k.as_str() != "x-match" && (with_x || !k.as_str().starts_with("x-")));
    let hit = |(k, v): (&ShortString, &AMQPValue)| match (v, headers.get(k)) {
        (_, None) => false,
        (AMQPValue::Void, Some(_)) => true,
        (v, Some(h)) => same_value(v, h),
    };
    if any { wanted.any(hit) } else { wanted.all(hit) }
}

/// Header values compare by meaning: strings of either kind, integers of any width.
fn same_value(a: &AMQPValue, b: &AMQPValue) -> bool {
    fn text(v: &AMQPValue) -> Option<Vec<u8>> {
        match v {
            AMQPValue::LongString(s) => Some(s.as_bytes().to_vec()),
            AMQPValue::ShortString(s) => Some(s.as_str().as_bytes().to_vec()),
            _ => None,
        }
    }
    fn int(v: &AMQPValue) -> Option<i128> {
        Some(match v {
            AMQPValue::ShortShortInt(n) => i128::from(*n),
            AMQPValue::ShortShortUInt(n) => i128::from(*n),
            AMQPValue::ShortInt(n) => i128::from(*n),
            AMQPValue::ShortUInt(n) => i128::from(*n),
            AMQPValue::LongInt(n) => i128::from(*n),
            AMQPValue::LongUInt(n) => i128::from(*n),
            AMQPValue::LongLongInt(n) => i128::from(*n),
            AMQPValue::Timestamp(n) => i128::from(*n),
            _ => return None,
        })
    }
    match (text(a), text(b), int(a), int(b)) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_words() {
        for (pattern, key, want) in [
            ("sensor.*", "sensor.temp", true),
            ("sensor.*", "sensor.temp.room", false),
            ("sensor.*", "sensor", false),
            ("*.error", "db.error", true),
            ("*.error", "error", false),
            ("#", "", true),
            ("#", "a.b.c", true),
            ("a.#", "a", true),
            ("a.#.z", "a.b.c.z", true),
            ("a.#.z", "a.z", true),
            ("a.#.z", "a.b.c", false),
            ("order.created", "order.created", true),
        ] {
            assert_eq!(topic_matches(pattern, key), want, "{pattern} ~ {key}");
        }
    }

    #[test]
    fn headers_match_all_and_any() {
        let table = |pairs: &[(&str, &str)]| {
            let mut t = FieldTable::default();
            for (k, v) in pairs {
                t.insert((*k).into(), AMQPValue::LongString((*v).into()));
            }
            t
        };
        let all = table(&[("x-match", "all"), ("format", "pdf"), ("type", "report")]);
        let any = table(&[("x-match", "any"), ("format", "pdf"), ("type", "report")]);
        let msg = table(&[("format", "pdf"), ("type", "log")]);
        assert!(!headers_match(&all, Some(&msg)));
        assert!(headers_match(&any, Some(&msg)));
        assert!(headers_match(&all, Some(&table(&[("format", "pdf"), ("type", "report"), ("x", "y")]))));
        assert!(!headers_match(&any, None));
        let mut short = FieldTable::default();
        short.insert("format".into(), AMQPValue::ShortString("pdf".into()));
        assert!(headers_match(&table(&[("format", "pdf")]), Some(&short)));
    }
}
