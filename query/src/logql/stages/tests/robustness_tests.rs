use super::super::decolorize::decolorize;
use super::super::format::{LabelFormat, LabelSource, LineFormat};
use super::super::json::{JsonParser, MAX_JSON_DEPTH};
use super::super::logfmt::LogfmtParser;
use super::super::pattern::PatternParser;
use super::super::regexp::RegexpParser;
use super::super::template::{ExecInput, MAX_TEMPLATE_OUTPUT, Template};
use super::super::unpack::Unpack;
use super::super::values::{go_parse_bytes, go_parse_duration, go_parse_float};
use super::builder;

/// Small deterministic xorshift generator for fuzz-like inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len).map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize]).collect()
    }
}

#[test]
fn random_lines_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let alphabet: &[u8] = b"{}[]\":,\\ =abc01-.ue\xff\xc3\x28\n\ttrnl";
    let mut json = JsonParser::new(vec![]).expect("json");
    let mut json_expr = JsonParser::new(vec![("a".into(), "a.b[0]".into()), ("c".into(), "c".into())]).expect("json");
    let mut logfmt = LogfmtParser::new(true, true, vec![]).expect("logfmt");
    let mut logfmt_lax = LogfmtParser::new(false, false, vec![("x".into(), "a".into())]).expect("logfmt");
    let mut pattern = PatternParser::new("<a> <b>=<_>").expect("pattern");
    let mut regexp = RegexpParser::new(r"(?P<k>\w+)=(?P<v>\S*)").expect("regexp");
    let mut unpack = Unpack::new();
    let mut fmt = LineFormat::new("{{ .a }} {{ __line__ | trunc 5 }} {{ .c | default \"-\" | upper }}").expect("fmt");
    for i in 0..3000 {
        let len = (rng.next() % 64) as usize;
        let line = rng.bytes(alphabet, len);
        let mut b = builder(&[("a", "stream")]);
        json.process(&line, &mut b);
        json_expr.process(&line, &mut b);
        logfmt.process(&line, &mut b);
        logfmt_lax.process(&line, &mut b);
        pattern.process(&line, &mut b);
        regexp.process(&line, &mut b);
        let _ = unpack.process(&line, &mut b);
        let _ = fmt.process(&line, i, &mut b);
        let _ = decolorize(&String::from_utf8_lossy(&line));
        let s = String::from_utf8_lossy(&line);
        let _ = (go_parse_duration(&s), go_parse_bytes(&s), go_parse_float(&s));
        let _ = b.labels();
    }
}

#[test]
fn random_templates_never_panic() {
    let mut rng = Rng(42);
    let alphabet: &[u8] = b"{{}}- .$|()\"'`=:,abcdeifnrgtwhlu0123456789\n";
    let labels = vec![("a".to_owned(), "1".to_owned())];
    for _ in 0..3000 {
        let len = (rng.next() % 40) as usize;
        let src = String::from_utf8_lossy(&rng.bytes(alphabet, len)).into_owned();
        if let Ok(mut t) = Template::parse("line", &src) {
            let _ = t.execute(ExecInput { labels: &labels, line: "l", ts: 0 });
        }
    }
}

#[test]
fn deep_json_is_bounded() {
    let depth = 100_000;
    let nested = |n: usize| format!("{}{{\"k\":1}}{}", "{\"a\":".repeat(n - 1), "}".repeat(n - 1));
    let line = nested(depth);
    let mut p = JsonParser::new(vec![]).expect("json");
    let mut b = builder(&[]);
    p.process(line.as_bytes(), &mut b);
    assert!(b.labels().is_empty());
    let mut b = builder(&[]);
    p.process(nested(MAX_JSON_DEPTH).as_bytes(), &mut b);
    assert_eq!(b.labels().len(), 1);
    let mut b = builder(&[]);
    p.process(nested(MAX_JSON_DEPTH + 1).as_bytes(), &mut b);
    assert!(b.labels().is_empty());
    let arrays = format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
    let mut b = builder(&[]);
    p.process(arrays.as_bytes(), &mut b);
    assert!(b.labels().is_empty());
    let mut e = JsonParser::new(vec![("x".into(), "a.a.a.a.a".into())]).expect("json");
    let mut b = builder(&[]);
    e.process(line.as_bytes(), &mut b);
    assert!(b.get("x").is_some_and(|v| v.starts_with("{\"a\":{")));
}

#[test]
fn hostile_templates_are_bounded() {
    let labels = vec![("a".to_owned(), "x".repeat(1000))];
    let run = |src: &str| -> Result<String, String> {
        let mut t = Template::parse("line", src)?;
        t.execute(ExecInput { labels: &labels, line: "l", ts: 0 })
    };
    assert!(run("{{ repeat 1000000000000 \"x\" }}").is_err());
    assert!(run("{{ repeat 9223372036854775807 .a }}").is_err());
    assert!(run("{{ .a | indent 100000000 }}").is_err());
    assert!(run("{{ alignLeft 100000000000 .a }}").is_err());
    assert!(run("{{ printf \"%100000000d\" 1 }}").is_ok_and(|s| s.starts_with("%!(BADWIDTH)")));
    assert!(run("{{ range $i := 100000000000 }}x{{ end }}").is_err());
    assert!(run("{{ range $i := 2000 }}{{ repeat 1000 $.a }}{{ end }}").is_err());
    let big = format!("{{{{ range $i := 10000 }}}}{}{{{{ end }}}}", "y".repeat(1000));
    assert!(run(&big).is_err_and(|e| e.contains(&MAX_TEMPLATE_OUTPUT.to_string())));
    let nested = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(run(&nested).is_err());
    let ifs = format!("{}x{}", "{{ if 1 }}".repeat(5000), "{{ end }}".repeat(5000));
    assert!(run(&ifs).is_err());
    let ok_ifs = format!("{}x{}", "{{ if 1 }}".repeat(50), "{{ end }}".repeat(50));
    assert_eq!(run(&ok_ifs).as_deref(), Ok("x"));
    assert!(run("{{ $x := .a }}{{ range $i := 100 }}{{ $x = printf \"%s%s\" $x $x }}{{ end }}").is_err());
    assert!(run("{{ regexReplaceAll \"(\" .a \"\" }}").is_err());
    assert!(run("{{ count \"(?:a{1000}){1000}\" .a }}").is_err());
    assert!(run(&"{{ .a }}".repeat(10_000)).is_err());
}

#[test]
fn hostile_formats_keep_lines() {
    let mut f = LineFormat::new("{{ repeat 100000000 __line__ }}").expect("parses");
    let mut b = builder(&[]);
    assert_eq!(f.process(b"keep me", 0, &mut b), "keep me");
    assert!(b.has_err());
    let mut lf = LabelFormat::new(vec![("x".into(), LabelSource::Template("{{ div 1 0 }}".into()))]).expect("ok");
    let mut b = builder(&[("x", "1")]);
    lf.process(b"l", 0, &mut b);
    assert_eq!(b.get("x"), Some("1"));
    assert_eq!(b.err(), Some("TemplateFormatErr"));
}

#[test]
fn long_lines() {
    let mut line = Vec::new();
    for i in 0..50_000 {
        line.extend_from_slice(format!("k{i}=v{i} ").as_bytes());
    }
    let mut p = LogfmtParser::new(false, false, vec![]).expect("logfmt");
    let mut b = builder(&[]);
    p.process(&line, &mut b);
    assert_eq!(b.labels().len(), 50_000);
    let quotes = vec![b'\\'; 1_000_000];
    let json = [b"{\"a\":\"".as_slice(), &quotes, b"\"}"].concat();
    let mut j = JsonParser::new(vec![]).expect("json");
    let mut b = builder(&[]);
    j.process(&json, &mut b);
    assert_eq!(b.get("a").map(str::len), Some(500_000));
}

#[test]
fn nesting_near_limits_fits_default_stack() {
    let labels = vec![("a".to_owned(), "1".to_owned())];
    let run = |src: &str| -> Result<String, String> {
        let mut t = Template::parse("line", src)?;
        t.execute(ExecInput { labels: &labels, line: "l", ts: 0 })
    };
    let parens = format!("{{{{ {}.a{} }}}}", "(".repeat(190), ")".repeat(190));
    assert_eq!(run(&parens).as_deref(), Ok("1"));
    let ifs = format!("{}x{}", "{{ if .a }}".repeat(190), "{{ end }}".repeat(190));
    assert_eq!(run(&ifs).as_deref(), Ok("x"));
    let else_ifs = format!("{{{{ if not .a }}}}{}y{{{{ end }}}}", "{{ else if not .a }}".repeat(90));
    assert!(run(&else_ifs).is_ok());
    let deep_json = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let labels = vec![("j".to_owned(), deep_json)];
    let mut t = Template::parse("line", "{{ fromJson .j }}").expect("parses");
    assert_eq!(t.execute(ExecInput { labels: &labels, line: "l", ts: 0 }).as_deref(), Ok("<no value>"));
    let ok_json = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let labels = vec![("j".to_owned(), ok_json)];
    assert!(t.execute(ExecInput { labels: &labels, line: "l", ts: 0 }).is_ok_and(|s| s.starts_with("[[[")));
}
