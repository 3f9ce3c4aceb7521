//! Reads Thrift IDL files (`protocols.thrift.idl_files`) into the kernel's
//! fixed name table, so that Thrift documents show parameter and exception
//! names instead of field ids. Only service definitions matter here:
//! `service S [extends B] { [oneway] T m(1: T a, ...) [throws (1: E e)] }`.

use anyhow::{bail, Context, Result};
use tapbeat_core::proto::thrift::ThriftIdl;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Num(i64),
    Punct(char),
}

fn tokens(src: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' || (c == '/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < b.len() && b[i] as char != c {
                i += 1;
            }
            i += 1;
            out.push(Tok::Word(String::new()));
        } else if c.is_ascii_digit() || (c == '-' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let s = i;
            i += 1;
            while i < b.len() && (b[i] as char).is_ascii_alphanumeric() {
                i += 1;
            }
            out.push(Tok::Num(src[s..i].parse().unwrap_or(0)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Word(src[s..i].to_string()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// Parses a field list after its `(`; returns the fields and the index
/// after the closing `)`.
fn fields(t: &[Tok], mut i: usize) -> Result<(Vec<(i16, String)>, usize)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut id: Option<i64> = None;
    let mut last_word: Option<String> = None;
    let mut in_default = false;
    while let Some(tok) = t.get(i) {
        i += 1;
        match tok {
            Tok::Punct('<') => depth += 1,
            Tok::Punct('>') => depth -= 1,
            Tok::Num(n) if id.is_none() && t.get(i) == Some(&Tok::Punct(':')) => id = Some(*n),
            Tok::Punct('=') if depth == 0 => in_default = true,
            Tok::Word(w) if !in_default && depth == 0 => last_word = Some(w.clone()),
            Tok::Punct(',' | ';' | ')') if depth == 0 => {
                if let (Some(n), Some(w)) = (id.take(), last_word.take()) {
                    out.push((i16::try_from(n).context("field id out of range")?, w));
                }
                in_default = false;
                if *tok == Tok::Punct(')') {
                    return Ok((out, i));
                }
            }
            _ => {}
        }
    }
    bail!("unterminated field list")
}

/// Adds every service method of IDL text `src` to `table`.
pub fn parse_into(src: &str, table: &mut ThriftIdl) -> Result<usize> {
    let t = tokens(src);
    let mut added = 0;
    let mut i = 0;
    while i < t.len() {
        if t[i] != Tok::Word("service".into()) {
            i += 1;
            continue;
        }
        let Some(Tok::Word(service)) = t.get(i + 1).cloned() else { bail!("service without a name") };
        // Skip to the body.
        while i < t.len() && t[i] != Tok::Punct('{') {
            i += 1;
        }
        i += 1;
        while i < t.len() && t[i] != Tok::Punct('}') {
            // A method: the word right before '('.
            if t[i] == Tok::Punct('(') {
                let Some(Tok::Word(method)) = t.get(i.wrapping_sub(1)).cloned() else { bail!("method without a name") };
                let (params, next) = fields(&t, i + 1)?;
                i = next;
                let mut exceptions = Vec::new();
                if t.get(i) == Some(&Tok::Word("throws".into())) && t.get(i + 1) == Some(&Tok::Punct('(')) {
                    let (ex, next) = fields(&t, i + 2)?;
                    exceptions = ex;
                    i = next;
                }
                let p: Vec<(i16, &str)> = params.iter().map(|(n, s)| (*n, s.as_str())).collect();
                let e: Vec<(i16, &str)> = exceptions.iter().map(|(n, s)| (*n, s.as_str())).collect();
                table
                    .add_method(&service, &method, &p, &e)
                    .map_err(|_| anyhow::anyhow!("too many IDL names for the fixed table (at {service}.{method})"))?;
                added += 1;
                continue;
            }
            i += 1;
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_methods_fields_and_exceptions() {
        let src = r#"
            /* tutorial */ namespace py t
            exception InvalidOperation { 1: i32 whatOp, 2: string why }
            struct Work { 1: i32 num1 = 0, 2: i32 num2 }
            service Calculator extends shared.SharedService {
              void ping(),
              i32 add(1:i32 num1, 2:i32 num2), // comment
              i32 calculate(1:i32 logid, 2:Work w) throws (1:InvalidOperation ouch),
              map<string, list<i32>> m(1: map<string,i32> a = {"x": 1}; 2: optional list<string> b)
              oneway void zip()
            }"#;
        let mut t = ThriftIdl::default();
        assert_eq!(parse_into(src, &mut t).unwrap(), 5);
        let m = t.find(b"Calculator", b"calculate").unwrap();
        assert_eq!(t.field_name(m.params, 2), Some(&b"w"[..]));
        assert_eq!(t.field_name(m.exceptions, 1), Some(&b"ouch"[..]));
        let m = t.find(b"", b"m").unwrap();
        assert_eq!(t.field_name(m.params, 1), Some(&b"a"[..]));
        assert_eq!(t.field_name(m.params, 2), Some(&b"b"[..]));
        assert!(t.find(b"", b"zip").is_some());
    }
}
