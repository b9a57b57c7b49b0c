//! Lookout's rules: Prometheus-format alerting and recording rules over metrics and logs, the
//! evaluation loop, alert state and the notifier (issue 7).
//!
//! Empty for now: rules need the query engines first. The binary loads no rule files yet.
