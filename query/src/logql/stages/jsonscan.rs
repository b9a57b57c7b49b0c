//! Lenient JSON scanning primitives with the exact acceptance rules and error messages of the
//! `jsonparser` library Loki uses (values are located by skipping, not by full validation).

use std::borrow::Cow;

/// Type of a scanned JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A string (the value slice excludes the quotes).
    String,
    /// A number (not validated beyond its first character).
    Number,
    /// An object (the value slice includes the braces).
    Object,
    /// An array (the value slice includes the brackets).
    Array,
    /// `true` or `false`.
    Boolean,
    /// `null`.
    Null,
}

/// Scanning errors, displayed with jsonparser's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// "Unknown value type"
    UnknownValueType,
    /// "Malformed JSON error"
    MalformedJson,
    /// "Value is string, but can't find closing '\"' symbol"
    MalformedString,
    /// "Value is array, but can't find closing ']' symbol"
    MalformedArray,
    /// "Value looks like object, but can't find closing '}' symbol"
    MalformedObject,
    /// "Encountered an invalid escape sequence in a string"
    MalformedStringEscape,
}

impl JsonError {
    /// The jsonparser error message.
    pub fn message(self) -> &'static str {
        match self {
            JsonError::UnknownValueType => "Unknown value type",
            JsonError::MalformedJson => "Malformed JSON error",
            JsonError::MalformedString => "Value is string, but can't find closing '\"' symbol",
            JsonError::MalformedArray => "Value is array, but can't find closing ']' symbol",
            JsonError::MalformedObject => "Value looks like object, but can't find closing '}' symbol",
            JsonError::MalformedStringEscape => "Encountered an invalid escape sequence in a string",
        }
    }
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// Index of the first non-whitespace byte.
pub fn next_token(data: &[u8]) -> Option<usize> {
    data.iter().position(|&c| !is_ws(c))
}

/// End of a string whose opening quote was already consumed: index after the closing quote and
/// whether a backslash was seen.
pub fn string_end(data: &[u8]) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = 0;
    while let Some(off) = memchr::memchr2(b'"', b'\\', &data[i..]) {
        let j = i + off;
        if data[j] == b'\\' {
            escaped = true;
            i = j + 1;
            continue;
        }
        if !escaped {
            return Some((j + 1, false));
        }
        // Count the backslashes right before the quote.
        let run = data[..j].iter().rev().take_while(|&&c| c == b'\\').count();
        if run % 2 == 0 {
            return Some((j + 1, true));
        }
        i = j + 1;
    }
    None
}

/// End (exclusive) of the block opened at `data[0]`, counting only `open`/`close` outside strings.
pub fn block_end(data: &[u8], open: u8, close: u8) -> Option<usize> {
    let mut level = 0usize;
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if c == b'"' {
            let (se, _) = string_end(&data[i + 1..])?;
            i += se;
        } else if c == open {
            level += 1;
        } else if c == close {
            level = level.saturating_sub(1);
            if level == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

fn token_end(data: &[u8]) -> usize {
    data.iter().position(|&c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']')).unwrap_or(data.len())
}

/// A value located in a buffer: `value` excludes string quotes, `end` is the offset after it.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// Raw value bytes (without quotes for strings).
    pub value: &'a [u8],
    /// Value type.
    pub typ: JsonType,
    /// Offset of the first byte after the value in the scanned buffer.
    pub end: usize,
}

/// jsonparser's `Get(data)`: the first value of `data`.
pub fn get_value(data: &[u8]) -> Result<Located<'_>, JsonError> {
    let offset = next_token(data).ok_or(JsonError::MalformedJson)?;
    let first = data[offset];
    let (typ, end) = match first {
        b'"' => {
            let (idx, _) = string_end(&data[offset + 1..]).ok_or(JsonError::MalformedString)?;
            (JsonType::String, offset + idx + 1)
        }
        b'[' => (JsonType::Array, offset + block_end(&data[offset..], b'[', b']').ok_or(JsonError::MalformedArray)?),
        b'{' => (JsonType::Object, offset + block_end(&data[offset..], b'{', b'}').ok_or(JsonError::MalformedObject)?),
        _ => {
            let end = offset + token_end(&data[offset..]);
            let v = &data[offset..end];
            let typ = match first {
                b't' | b'f' if v == b"true" || v == b"false" => JsonType::Boolean,
                b'u' | b'n' if v == b"null" => JsonType::Null,
                b'0'..=b'9' | b'-' => JsonType::Number,
                _ => return Err(JsonError::UnknownValueType),
            };
            (typ, end)
        }
    };
    let value = if typ == JsonType::String { &data[offset + 1..end - 1] } else { &data[offset..end] };
    Ok(Located { value, typ, end })
}

/// One key/value pair of an object.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Unescaped key.
    pub key: Cow<'a, [u8]>,
    /// Located value.
    pub value: Located<'a>,
}

/// Error of [`ObjectIter`]: the key whose value failed to scan, if the failure happened there.
#[derive(Debug, Clone)]
pub struct IterError<'a> {
    /// Key being read when the error happened (value scanning errors only).
    pub key: Option<Cow<'a, [u8]>>,
    /// The error.
    pub error: JsonError,
}

/// jsonparser's `ObjectEach` as an iterator (same quirks, same errors).
#[derive(Debug, Clone)]
pub struct ObjectIter<'a> {
    data: &'a [u8],
    offset: usize,
    last_comma: Option<usize>,
    state: IterState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IterState {
    Start,
    Running,
    Done,
}

impl<'a> ObjectIter<'a> {
    /// Iterates over the object starting at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, offset: 0, last_comma: None, state: IterState::Start }
    }

    fn fail(&mut self, key: Option<Cow<'a, [u8]>>, error: JsonError) -> Option<Result<Entry<'a>, IterError<'a>>> {
        self.state = IterState::Done;
        Some(Err(IterError { key, error }))
    }

    fn start(&mut self) -> Result<bool, JsonError> {
        let off = next_token(self.data).ok_or(JsonError::MalformedObject)?;
        if self.data[off] != b'{' {
            return Err(JsonError::MalformedObject);
        }
        self.offset = off + 1;
        let off = next_token(&self.data[self.offset..]).ok_or(JsonError::MalformedJson)?;
        self.offset += off;
        Ok(self.data[self.offset] != b'}')
    }

    fn after_value(&mut self) -> Result<bool, JsonError> {
        let data = self.data;
        let off = next_token(&data[self.offset..]).ok_or(JsonError::MalformedArray)?;
        self.offset += off;
        match data[self.offset] {
            b'}' => return Ok(false),
            b',' => {
                self.last_comma = Some(self.offset);
                self.offset += 1;
            }
            _ => return Err(JsonError::MalformedObject),
        }
        let off = next_token(&data[self.offset..]).ok_or(JsonError::MalformedArray)?;
        if off > 0 {
            self.last_comma = self.last_comma.map(|c| c + off - 1);
        }
        self.offset += off;
        Ok(true)
    }
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = Result<Entry<'a>, IterError<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let data = self.data;
        match self.state {
            IterState::Done => return None,
            IterState::Start => match self.start() {
                Ok(true) => self.state = IterState::Running,
                Ok(false) => {
                    self.state = IterState::Done;
                    return None;
                }
                Err(e) => return self.fail(None, e),
            },
            IterState::Running => match self.after_value() {
                Ok(true) => {}
                Ok(false) => {
                    self.state = IterState::Done;
                    return None;
                }
                Err(e) => return self.fail(None, e),
            },
        }
        if self.offset >= data.len() {
            return self.fail(None, JsonError::MalformedObject);
        }
        match data[self.offset] {
            b'"' => self.offset += 1,
            b'}' => {
                if self.last_comma.is_some_and(|c| c + 1 == self.offset) {
                    return self.fail(None, JsonError::MalformedObject);
                }
                self.state = IterState::Done;
                return None;
            }
            _ => return self.fail(None, JsonError::MalformedObject),
        }
        let Some((off, escaped)) = string_end(&data[self.offset..]) else {
            return self.fail(None, JsonError::MalformedJson);
        };
        let raw_key = &data[self.offset..self.offset + off - 1];
        self.offset += off;
        let key = if escaped {
            match unescape(raw_key) {
                Some(k) => k,
                None => return self.fail(None, JsonError::MalformedStringEscape),
            }
        } else {
            Cow::Borrowed(raw_key)
        };
        match next_token(&data[self.offset..]) {
            Some(off) if data[self.offset + off] == b':' => self.offset += off + 1,
            _ => return self.fail(None, JsonError::MalformedJson),
        }
        match get_value(&data[self.offset..]) {
            Ok(mut v) => {
                v.end += self.offset;
                self.offset = v.end;
                Some(Ok(Entry { key, value: v }))
            }
            Err(e) => self.fail(Some(key), e),
        }
    }
}

/// Returns element `n` of the array starting at the beginning of `data` (jsonparser's `ArrayEach`
/// walk); `None` when absent or when a malformed element comes first.
pub fn array_nth(data: &[u8], n: usize) -> Option<Located<'_>> {
    let start = next_token(data)?;
    if data[start] != b'[' {
        return None;
    }
    let mut offset = start + 1;
    offset += next_token(&data[offset..])?;
    if data[offset] == b']' {
        return None;
    }
    let mut idx = 0;
    loop {
        let mut v = get_value(&data[offset..]).ok()?;
        v.end += offset;
        if idx == n {
            return Some(v);
        }
        idx += 1;
        offset = v.end;
        offset += next_token(&data[offset..])?;
        if data[offset] != b',' {
            return None;
        }
        offset += 1;
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let s = std::str::from_utf8(&b[..4]).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// jsonparser's `Unescape`: `None` on an invalid escape sequence; lone surrogates become U+FFFD.
pub fn unescape(input: &[u8]) -> Option<Cow<'_, [u8]>> {
    let Some(first) = memchr::memchr(b'\\', input) else {
        return Some(Cow::Borrowed(input));
    };
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&input[..first]);
    let mut i = first;
    while i < input.len() {
        let c = input[i];
        if c != b'\\' {
            let next = memchr::memchr(b'\\', &input[i..]).map_or(input.len(), |o| i + o);
            out.extend_from_slice(&input[i..next]);
            i = next;
            continue;
        }
        let e = *input.get(i + 1)?;
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0C),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        let r = hex4(&input[i + 2..])?;
        let (ch, consumed) = if !(0xD800..=0xDFFF).contains(&r) {
            (char::from_u32(r).unwrap_or('\u{FFFD}'), 6)
        } else if r >= 0xDC00 || input.get(i + 6) != Some(&b'\\') || input.get(i + 7) != Some(&b'u') {
            ('\u{FFFD}', 6)
        } else {
            let r2 = hex4(&input[i + 8..])?;
            if (0xDC00..=0xDFFF).contains(&r2) {
                let cp = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                (char::from_u32(cp).unwrap_or('\u{FFFD}'), 12)
            } else {
                ('\u{FFFD}', 6)
            }
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        i += consumed;
    }
    Some(Cow::Owned(out))
}
