//! Lookout's query side: PromQL, LogQL and TraceQL engines and the Prometheus, Loki and Tempo
//! HTTP APIs, reading the stores through storage's querier traits.
//!
//! Empty for now: the stores it reads come first (issues 3, 4 and 6), then the engines
//! (issues 3, 5 and 6). Nothing here answers a query yet, and the binary serves no query API.
