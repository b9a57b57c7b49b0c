//! The query front ends: the first byte picks PromQL, LogQL or TraceQL, the rest is the query
//! text. A malformed query must give a parse error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    match selector % 3 {
        0 => {
            let _ = promql_parser::parser::parse(text);
        }
        1 => {
            let _ = lookout_query::logql::parse_log_query(text);
            let _ = lookout_query::logql::selector_matchers(text);
        }
        _ => {
            let _ = lookout_query::traceql::parse(text);
        }
    }
});
