//! The query front ends as the HTTP APIs call them: the first byte picks PromQL, LogQL or
//! TraceQL, the rest is the query text. A malformed query must give a parse error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    match selector % 3 {
        0 => {
            // promql-parser panics on a number too large for a `Duration` (`x[8888…]`), which
            // `lookout_query::promql::parse_expr` contains with `catch_unwind`; libFuzzer's panic
            // hook aborts even on a caught panic, so such input is left out here and covered by
            // `a_duration_too_large_is_a_parse_error_not_a_panic`.
            if text.as_bytes().windows(17).any(|w| w.iter().all(u8::is_ascii_digit)) {
                return;
            }
            let _ = lookout_query::promql::parse(text);
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
