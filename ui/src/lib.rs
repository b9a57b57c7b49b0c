//! Lookout's web UI: static assets compiled into the binary, served on :3000 (issue 10).
//!
//! Empty for now: the pages need the query APIs first. The binary serves no UI yet.
