//! `| pattern` parser stage: `<name>` captures, `<_>` skips, everything else literal.

use super::error::StageError;
use super::labels::{LabelsBuilder, is_valid_label_name};
use super::text::go_lossy;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Capture(String),
    Literal(Vec<u8>),
}

impl Node {
    fn is_named_capture(&self) -> bool {
        matches!(self, Node::Capture(n) if n != "_")
    }

    fn render(&self) -> String {
        match self {
            Node::Capture(n) => format!("<{n}>"),
            Node::Literal(l) => go_lossy(l).into_owned(),
        }
    }
}

/// The `| pattern "<expr>"` stage.
#[derive(Debug, Clone)]
pub struct PatternParser {
    nodes: Vec<Node>,
    names: Vec<String>,
    captures: Vec<(usize, usize)>,
}

fn parse_nodes(pattern: &[u8]) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        if pattern[i] == b'<' {
            let rest = &pattern[i + 1..];
            let ident_len = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            let starts_ok = rest.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
            if starts_ok && rest.get(ident_len) == Some(&b'>') {
                let name = String::from_utf8_lossy(&rest[..ident_len]).into_owned();
                nodes.push(Node::Capture(name));
                i += ident_len + 2;
                continue;
            }
        }
        match nodes.last_mut() {
            Some(Node::Literal(l)) => l.push(pattern[i]),
            _ => nodes.push(Node::Literal(vec![pattern[i]])),
        }
        i += 1;
    }
    nodes
}

impl PatternParser {
    /// Parses and validates the pattern (Loki's errors: no capture, consecutive or duplicate captures).
    pub fn new(pattern: &str) -> Result<Self, StageError> {
        let nodes = parse_nodes(pattern.as_bytes());
        if nodes.is_empty() {
            return Err(StageError::new(
                "parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL",
            ));
        }
        let names: Vec<String> = nodes
            .iter()
            .filter(|n| n.is_named_capture())
            .map(|n| match n {
                Node::Capture(c) => c.clone(),
                Node::Literal(_) => String::new(),
            })
            .collect();
        if names.is_empty() {
            return Err(StageError::new("at least one capture is required"));
        }
        for pair in nodes.windows(2) {
            if let [a @ Node::Capture(_), b @ Node::Capture(_)] = pair {
                return Err(StageError::new(format!(
                    "found consecutive capture '{}{}': invalid expression",
                    a.render(),
                    b.render()
                )));
            }
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(StageError::new(format!("duplicate capture name ({n}): invalid expression")));
            }
        }
        if let Some(bad) = names.iter().find(|n| !is_valid_label_name(n)) {
            return Err(StageError::new(format!("invalid capture label name '{bad}'")));
        }
        Ok(Self { nodes, names, captures: Vec::new() })
    }

    /// Returns the byte ranges captured in `line` (possibly fewer than `names()` when the line ends early).
    pub fn matches(&mut self, line: &[u8]) -> &[(usize, usize)] {
        self.captures.clear();
        if line.is_empty() {
            return &self.captures;
        }
        let mut nodes = self.nodes.as_slice();
        let mut pos = 0;
        if let Some(Node::Literal(l)) = nodes.first() {
            if !line.starts_with(l) {
                return &self.captures;
            }
            pos = l.len();
            nodes = &nodes[1..];
        }
        while let Some(cap) = nodes.first() {
            let named = cap.is_named_capture();
            let Some(Node::Literal(lit)) = nodes.get(1) else {
                if named {
                    self.captures.push((pos, line.len()));
                }
                break;
            };
            nodes = &nodes[2..];
            match memchr::memmem::find(&line[pos..], lit) {
                None => {
                    if named {
                        self.captures.push((pos, line.len()));
                    }
                    break;
                }
                Some(i) => {
                    if named {
                        self.captures.push((pos, pos + i));
                    }
                    pos += i + lit.len();
                }
            }
        }
        &self.captures
    }

    /// Extracts the captures of one line as parsed labels.
    pub fn process(&mut self, line: &[u8], lbs: &mut LabelsBuilder) {
        self.matches(line);
        for (i, &(s, e)) in self.captures.iter().enumerate() {
            let Some(name) = self.names.get(i) else { break };
            let key = lbs.parsed_name(name);
            lbs.set_parsed(&key, &go_lossy(&line[s..e]));
        }
    }
}
