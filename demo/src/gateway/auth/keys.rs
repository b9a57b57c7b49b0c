//! Key material: PEM / DER checks, SHA-256 digests and constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

/// The `alg` of a compact JWS header, read without trusting anything else in it.
pub(super) fn header_alg(token: &str) -> Option<String> {
    let (head, _) = token.split_once('.')?;
    let bytes = URL_SAFE_NO_PAD.decode(head).ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Parses an RSA public key PEM, refusing private keys and malformed DER.
pub(super) fn rsa_public_key(pem: &str) -> Result<DecodingKey, String> {
    let pem = pem.trim();
    let label = if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        "PUBLIC KEY"
    } else if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        "RSA PUBLIC KEY"
    } else {
        return Err("expected a PEM \"PUBLIC KEY\" or \"RSA PUBLIC KEY\" block".to_owned());
    };
    if label == "RSA PUBLIC KEY" {
        // jsonwebtoken takes PKCS#1 content as-is: check it is SEQUENCE { INTEGER, INTEGER }.
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).flat_map(|l| l.trim().chars()).collect();
        let der = STANDARD.decode(body).map_err(|e| format!("bad base64: {e}"))?;
        if !is_pkcs1_public_key(&der) {
            return Err("not a PKCS#1 RSA public key".to_owned());
        }
    }
    DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())
}

/// Splits one DER TLV off `input`: (tag, content, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

fn is_pkcs1_public_key(der: &[u8]) -> bool {
    let Some((0x30, seq, [])) = der_tlv(der) else {
        return false;
    };
    let Some((0x02, n, rest)) = der_tlv(seq) else {
        return false;
    };
    matches!(der_tlv(rest), Some((0x02, e, []))
        if !n.is_empty() && !e.is_empty())
}

pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

pub(super) fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub(super) fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}
