//! The observable inside a STIX 2 indicator's `pattern`.
//!
//! Mimecast's threat feed gives an indicator's hash, URL or address only inside its pattern
//! (`[file:hashes.'SHA-256' = 'ec5a…']`), and a SIEM matches on the value, not on STIX syntax.
//! This reads just enough of the pattern language (STIX 2.1 §9,
//! <https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html#_e8slinrhxcc9>) to find the
//! first equality on an object path it knows: comparisons joined by AND/OR/FOLLOWEDBY, brackets
//! and parentheses, qualifiers after them, quoted path steps and `\'` escapes. It is not a
//! validator: a pattern it cannot follow yields `None` (the pattern stays in `description`), and
//! nothing in it can panic on any input.

use crate::event::{Indicator, IndicatorType};
use std::borrow::Cow;

/// The first `path = 'value'` comparison whose path names a known observable.
pub fn indicator(pattern: &str) -> Option<Indicator<'_>> {
    let mut rest = pattern;
    loop {
        let (cmp, after) = next_comparison(rest)?;
        // Every observable it knows is a string: a bare token is not one of them.
        if cmp.op == "=" && cmp.quoted {
            if let Some(kind) = kind_of(cmp.path) {
                if !cmp.value.trim().is_empty() {
                    return Some(Indicator {
                        kind,
                        value: cmp.value,
                    });
                }
            }
        }
        rest = after;
    }
}

struct Comparison<'a> {
    path: &'a str,
    op: &'a str,
    value: Cow<'a, str>,
    quoted: bool,
}

/// Skips to the next comparison and reads it; `None` at the end or where the text stops making
/// sense.
fn next_comparison(text: &str) -> Option<(Comparison<'_>, &str)> {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || "[]()".contains(c));
        if rest.is_empty() {
            return None;
        }
        // Joining keywords and qualifiers, with a qualifier's numbers (`WITHIN 300 SECONDS`).
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            continue;
        }
        let word_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = &rest[..word_len];
        if [
            "AND",
            "OR",
            "NOT",
            "FOLLOWEDBY",
            "WITHIN",
            "REPEATS",
            "TIMES",
            "START",
            "STOP",
            "SECONDS",
        ]
        .contains(&word)
        {
            rest = &rest[word_len..];
            continue;
        }
        break;
    }
    let (path, rest) = read_path(rest)?;
    let rest = rest.trim_start();
    let (op, rest) = read_operator(rest)?;
    let rest = rest.trim_start();
    let quoted = rest.starts_with('\'');
    let (value, rest) = read_value(rest)?;
    Some((
        Comparison {
            path,
            op,
            value,
            quoted,
        },
        rest,
    ))
}

/// `object-type:property.path`, where a step may be quoted (`hashes.'SHA-256'`).
fn read_path(text: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            c if !quoted && (c.is_whitespace() || "=!<>]()".contains(c)) => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let path = &text[..end];
    (!path.is_empty() && path.contains(':')).then_some((path, &text[end..]))
}

/// A comparison operator. A negated one (`NOT =`) is returned as `NOT`: it names what the
/// value is not, so it is never an indicator.
fn read_operator(text: &str) -> Option<(&str, &str)> {
    let mut rest = text;
    let mut negated = false;
    while let Some(after) = rest.strip_prefix("NOT") {
        if !after.starts_with(|c: char| c.is_whitespace() || "=!<>".contains(c)) {
            break;
        }
        negated = true;
        rest = after.trim_start();
    }
    let symbol = ["!=", "<=", ">=", "=", "<", ">"]
        .into_iter()
        .find_map(|op| Some((op, rest.strip_prefix(op)?)));
    let (op, rest) = match symbol {
        Some(found) => found,
        None => {
            // LIKE, MATCHES, IN, ISSUBSET, ISSUPERSET
            let len = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            if len == 0 {
                return None;
            }
            (&rest[..len], &rest[len..])
        }
    };
    Some((if negated { "NOT" } else { op }, rest))
}

/// A quoted string (with `\'` and `\\` escapes), a parenthesised set, or a bare token (number,
/// boolean, `t'...'`/`h'...'`/`b'...'` literals read as their token).
fn read_value(text: &str) -> Option<(Cow<'_, str>, &str)> {
    if let Some(body) = text.strip_prefix('\'') {
        return read_quoted(body);
    }
    if text.starts_with('(') {
        let end = text.find(')')?;
        return Some((Cow::Borrowed(&text[..=end]), &text[end + 1..]));
    }
    let end = text
        .find(|c: char| c.is_whitespace() || "])".contains(c))
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    Some((Cow::Borrowed(&text[..end]), &text[end..]))
}

/// The body of a quoted string, from just after its opening quote. Borrowed unless it has
/// escapes. An unterminated string is not a value.
fn read_quoted(body: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut owned: Option<String> = None;
    let mut chars = body.char_indices();
    let mut copied_to = 0;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (j, escaped) = chars.next()?;
                let buf = owned.get_or_insert_with(String::new);
                buf.push_str(&body[copied_to..i]);
                buf.push(escaped);
                copied_to = j + escaped.len_utf8();
            }
            '\'' => {
                let value = match owned {
                    Some(mut buf) => {
                        buf.push_str(&body[copied_to..i]);
                        Cow::Owned(buf)
                    }
                    None => Cow::Borrowed(&body[..i]),
                };
                return Some((value, &body[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// The observable an object path names, for the paths a threat feed uses.
fn kind_of(path: &str) -> Option<IndicatorType> {
    let (object, property) = path.split_once(':')?;
    let object = object.trim();
    let property = property.trim();
    match object {
        "ipv4-addr" if property == "value" => Some(IndicatorType::Ipv4),
        "ipv6-addr" if property == "value" => Some(IndicatorType::Ipv6),
        "domain-name" if property == "value" => Some(IndicatorType::Domain),
        "url" if property == "value" => Some(IndicatorType::Url),
        "email-addr" if property == "value" => Some(IndicatorType::Email),
        "email-message"
            if matches!(
                property,
                "from_ref.value" | "sender_ref.value" | "to_refs[*].value"
            ) =>
        {
            Some(IndicatorType::Email)
        }
        "file" if property == "name" => Some(IndicatorType::FileName),
        "file" => {
            let hash = property.strip_prefix("hashes.")?.trim_matches('\'');
            let hash: String = hash
                .chars()
                .filter(|c| *c != '-')
                .map(|c| c.to_ascii_uppercase())
                .collect();
            match hash.as_str() {
                "MD5" => Some(IndicatorType::Md5),
                "SHA1" => Some(IndicatorType::Sha1),
                "SHA256" => Some(IndicatorType::Sha256),
                "SHA512" => Some(IndicatorType::Sha512),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    fn read(pattern: &str) -> Option<(IndicatorType, String)> {
        indicator(pattern).map(|i| (i.kind, i.value.into_owned()))
    }

    fn some(kind: IndicatorType, value: &str) -> Option<(IndicatorType, String)> {
        Some((kind, value.to_string()))
    }

    #[test]
    fn simple_patterns_of_every_supported_type() {
        for (pattern, want) in [
            (
                "[file:hashes.'SHA-256' = 'ec5a6c52acdc187fc6c1187f14cd685c686c2b283503a023c4a9d3a977b24be1']",
                some(
                    Sha256,
                    "ec5a6c52acdc187fc6c1187f14cd685c686c2b283503a023c4a9d3a977b24be1",
                ),
            ),
            ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", some(Md5, "d41d8cd98f00b204e9800998ecf8427e")),
            ("[file:hashes.'SHA-1'='aa']", some(Sha1, "aa")),
            ("[file:hashes.'sha512' = 'bb']", some(Sha512, "bb")),
            ("[ipv4-addr:value = '198.51.100.3']", some(Ipv4, "198.51.100.3")),
            ("[ipv6-addr:value = '2001:db8::1']", some(Ipv6, "2001:db8::1")),
            ("[domain-name:value = 'evil.example']", some(Domain, "evil.example")),
            ("[url:value = 'http://evil.example/a?b=c']", some(Url, "http://evil.example/a?b=c")),
            ("[email-addr:value='bad@evil.example']", some(Email, "bad@evil.example")),
            ("[email-message:from_ref.value = 'bad@evil.example']", some(Email, "bad@evil.example")),
            ("[file:name = 'Invoice_overdue.xlsm']", some(FileName, "Invoice_overdue.xlsm")),
            // whitespace variations
            ("  [  url:value\t=\n'http://a'  ]  ", some(Url, "http://a")),
        ] {
            assert_eq!(read(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn escaped_quotes_are_part_of_the_value() {
        let i = indicator(r"[file:name = 'it\'s here.exe']").unwrap();
        assert_eq!(i.value, "it's here.exe");
        assert!(matches!(i.value, Cow::Owned(_)));
        assert_eq!(
            read(r"[url:value = 'http://a/\\b']"),
            some(Url, r"http://a/\b")
        );
        let plain = indicator("[url:value = 'http://a']").unwrap();
        assert!(
            matches!(plain.value, Cow::Borrowed(_)),
            "no escape: borrowed"
        );
    }

    #[test]
    fn compound_patterns_give_their_first_supported_comparison() {
        for (pattern, want) in [
            (
                "[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '203.0.113.33']",
                some(Ipv4, "198.51.100.1"),
            ),
            (
                "[x-custom:value = 'n' AND domain-name:value = 'evil.example']",
                some(Domain, "evil.example"),
            ),
            (
                "[network-traffic:dst_port = 443 AND url:value = 'http://a']",
                some(Url, "http://a"),
            ),
            (
                "([file:size > 10] AND [file:hashes.'SHA-256' = 'cc']) WITHIN 300 SECONDS",
                some(Sha256, "cc"),
            ),
            (
                "[url:value LIKE '%evil%' OR url:value = 'http://b']",
                some(Url, "http://b"),
            ),
            (
                "[domain-name:value NOT = 'a.example'] FOLLOWEDBY [domain-name:value = 'b.example']",
                some(Domain, "b.example"),
            ),
            (
                "[ipv4-addr:value IN ('1.2.3.4', '5.6.7.8') OR ipv4-addr:value = '9.9.9.9']",
                some(Ipv4, "9.9.9.9"),
            ),
            (
                "[x-custom:a = 'b'] WITHIN 300 SECONDS FOLLOWEDBY [url:value = 'http://c']",
                some(Url, "http://c"),
            ),
            (
                "[file:name = 'a.exe'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
                some(FileName, "a.exe"),
            ),
        ] {
            assert_eq!(read(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn unknown_types_and_malformed_patterns_give_nothing_and_never_panic() {
        for pattern in [
            "",
            "[",
            "]",
            "[]",
            "[x-custom:value = 'n']",
            "[mutex:name = 'm']",
            "[file:hashes.'SHA-3' = 'aa']",
            "[url:value = 'unterminated]",
            "[url:value = ]",
            "[url:value 'no operator']",
            "[url:value = '']",
            "[:value = 'x']",
            "no brackets at all",
            "[file:hashes.'SHA-256 = 'a']",
            "[url:value = 'a\\",
            "[url:value = \\'",
            "[url:value = 'é' AND domain-name:value = 'ü.example'] ✓",
            "'''''''''",
            "((((((((",
            "[url:value NOT NOT NOT",
            "[ipv4-addr:value IN ('1.2.3.4'",
        ] {
            let got = read(pattern);
            if pattern.contains("ü.example") {
                assert_eq!(got, some(Url, "é"), "{pattern}");
            } else {
                assert_eq!(got, None, "{pattern}");
            }
        }
        // Cut short after a whole comparison: that comparison still reads.
        assert_eq!(
            read("[ipv4-addr:value = '1.2.3.4' AND"),
            some(Ipv4, "1.2.3.4")
        );
        // Every prefix of a valid pattern, cut at any char boundary.
        let full = r"[file:hashes.'SHA-256' = 'it\'s' OR url:value = 'http://ä/b']";
        for (i, _) in full.char_indices() {
            let _ = indicator(&full[..i]);
        }
    }
}
