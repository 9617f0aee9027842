//! Building blocks shared by the normalizers: lenient scalars, Mimecast time formats, ids for
//! records that carry none, and the one table that turns Mimecast's outcome words into a
//! [`Verdict`], so every stream agrees on what "held" or "bounce" means.

use crate::event::Verdict;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A scalar field read as text whatever JSON type it arrives as. Mimecast sends the same field
/// as `"1"` or `1` depending on the route (docs/mimecast-api.md#siem-batch-cloud-gateway), so a
/// type change must never make a record unreadable. Objects and arrays read as absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The value, or `None` when absent, null, empty or a placeholder such as "N/A".
    pub fn get(&self) -> Option<Cow<'a, str>> {
        match self.0.as_deref() {
            None => None,
            Some(s) if s.trim().is_empty() || s == "N/A" => None,
            Some(_) => self.0.clone(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.trim().is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An address as plain text or as `{"emailAddress": "..."}`, the form Mimecast's newer shapes
/// use (held-release logs docs/mimecast-api.md#held-message-release-logs, Threats details
/// docs/mimecast-api.md#threats-api). The same field arrives in either form depending on the route
/// or sample (Elastic's held-release mock sends `operator` as a string), so both read; an object
/// without `emailAddress` reads as absent.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Address<'a> {
    Object {
        #[serde(borrow, rename = "emailAddress")]
        email_address: Text<'a>,
    },
    Plain(#[serde(borrow)] Text<'a>),
}

impl<'a> Address<'a> {
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match self {
            Address::Object { email_address } => email_address.get(),
            Address::Plain(t) => t.get(),
        }
    }
}

/// A field that is a list in one shape and a single value in another (CG `recipients` is a
/// string, CI's an array, docs/mimecast-api.md#siem-batch-cloud-integrated). A single value is read
/// rather than failing the record.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            OneOrMany::Many(v) => v.iter(),
            OneOrMany::One(t) => std::slice::from_ref(t).iter(),
        }
    }
}

impl<'a> OneOrMany<Text<'a>> {
    /// The first non-empty value.
    pub fn first(&self) -> Option<Cow<'a, str>> {
        self.iter().find_map(Text::get)
    }
}

impl<'a> OneOrMany<Address<'a>> {
    /// Every address; a single string may hold several, comma- or semicolon-separated.
    pub fn addresses(&self) -> Vec<Cow<'a, str>> {
        match self {
            OneOrMany::Many(v) => v.iter().filter_map(Address::text).collect(),
            OneOrMany::One(a) => split_addresses(a.text()),
        }
    }
}

/// Parses every time format Mimecast records use: `2021-11-17T12:04:24+0000`,
/// `2021-10-18T09:02:43+0100`, `2021-11-19T01:28:37.099Z`, RFC 3339 with `+00:00`, and epoch
/// milliseconds as a number or a string (SIEM `timestamp`).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let s = text.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i128 = s.parse().ok()?;
        // Ten or fewer digits are seconds; more are milliseconds.
        // Checked: a number of 35 digits is valid JSON, not a time.
        let nanos = if s.len() <= 10 {
            n.checked_mul(1_000_000_000)?
        } else {
            n.checked_mul(1_000_000)?
        };
        return OffsetDateTime::from_unix_timestamp_nanos(nanos).ok();
    }
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let date = Date::from_calendar_date(
        num(0..4)? as i32,
        Month::try_from(num(5..7)? as u8).ok()?,
        num(8..10)? as u8,
    )
    .ok()?;
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut text = frac[..digits.min(9)].to_string();
        while text.len() < 9 {
            text.push('0');
        }
        nanos = text.parse().ok()?;
        rest = &frac[digits..];
    }
    let time = Time::from_hms_nano(
        num(11..13)? as u8,
        num(14..16)? as u8,
        num(17..19)? as u8,
        nanos,
    )
    .ok()?;
    let offset = match rest {
        "" | "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i8 = digits[0..2].parse().ok()?;
            let m: i8 = digits[2..4].parse().ok()?;
            UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        }
    };
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(UtcOffset::UTC),
    )
}

/// An id for a record Mimecast gives none: 128-bit xxh3 of the stream and the record's exact
/// bytes. Re-reading the same record yields the same id; two records that differ in any field
/// (time, recipient, URL…) get different ids even when Message-ID is missing. Records that are
/// byte-for-byte identical are indistinguishable and share one.
pub fn synthetic_id(stream: &str, raw: &RawValue) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(stream.as_bytes());
    h.update(&[0]);
    h.update(raw.get().as_bytes());
    // Lower-case hex, as `format!("{:032x}")` would write it, without the formatter.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = h.digest128();
    (0..32)
        .rev()
        .map(|i| char::from(HEX[((v >> (i * 4)) & 0xf) as usize]))
        .collect()
}

/// Splits a recipients field that may hold several comma- or semicolon-separated addresses.
pub fn split_addresses(value: Option<Cow<'_, str>>) -> Vec<Cow<'_, str>> {
    match value {
        None => Vec::new(),
        Some(Cow::Borrowed(s)) if !s.contains([',', ';']) => vec![Cow::Borrowed(s.trim())],
        Some(s) => s
            .split([',', ';'])
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| Cow::Owned(a.to_string()))
            .collect(),
    }
}

/// Mimecast's short action codes (SIEM `action`/`Act`) in words; anything else lower-cased.
pub fn action_word(code: Cow<'_, str>) -> Cow<'_, str> {
    let word = match code.as_ref() {
        "Acc" => "accept",
        "Rej" => "reject",
        "Hld" => "hold",
        "Bnc" => "bounce",
        "Sdbx" => "sandbox",
        "Jnl" => "journal",
        "Del" => "deliver",
        _ => {
            return if code.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(code.to_lowercase())
            } else {
                code
            }
        }
    };
    Cow::Borrowed(word)
}

/// Outcome words and their verdicts, lower case, words separated by one space.
const VERDICT_WORDS: &[(&str, Verdict)] = &[
    ("allow", Verdict::Allowed),
    ("allowed", Verdict::Allowed),
    ("accept", Verdict::Allowed),
    ("accepted", Verdict::Allowed),
    ("acc", Verdict::Allowed),
    ("safe", Verdict::Allowed),
    ("clean", Verdict::Allowed),
    ("continue", Verdict::Allowed),
    ("release", Verdict::Allowed),
    ("released", Verdict::Allowed),
    ("user release", Verdict::Allowed),
    ("deliver", Verdict::Allowed),
    ("delivered", Verdict::Allowed),
    ("delivery", Verdict::Allowed),
    ("delivery in progress", Verdict::Allowed),
    ("warn", Verdict::Allowed),
    ("warned", Verdict::Allowed),
    ("none", Verdict::Allowed),
    ("no action", Verdict::Allowed),
    ("do nothing", Verdict::Allowed),
    ("tag", Verdict::Allowed),
    ("tagged", Verdict::Allowed),
    ("notify", Verdict::Allowed),
    ("block", Verdict::Blocked),
    ("blocked", Verdict::Blocked),
    ("deny", Verdict::Blocked),
    ("denied", Verdict::Blocked),
    ("reject", Verdict::Blocked),
    ("rejected", Verdict::Blocked),
    ("rej", Verdict::Blocked),
    ("bounce", Verdict::Blocked),
    ("bounced", Verdict::Blocked),
    ("bnc", Verdict::Blocked),
    ("delete", Verdict::Blocked),
    ("deleted", Verdict::Blocked),
    ("remove", Verdict::Blocked),
    ("removed", Verdict::Blocked),
    ("drop", Verdict::Blocked),
    ("dropped", Verdict::Blocked),
    ("hold", Verdict::Held),
    ("held", Verdict::Held),
    ("hld", Verdict::Held),
    ("quarantine", Verdict::Held),
    ("quarantined", Verdict::Held),
];

/// One outcome word in the [`Verdict`] vocabulary, or `None` when it names no outcome. Case and
/// the separators Mimecast mixes (`DO_NOTHING`, `no action`, `user-release`) do not matter;
/// short SIEM codes (`Acc`, `Hld`, `Bnc`...) read as their words do.
///
/// Choices worth knowing: `warn` is allowed (the user was warned and may proceed), `none` and
/// `tag` are allowed (the message went on, perhaps marked), `notify` is allowed (DLP told
/// someone and let the message go), a bounce is blocked. `sandbox`, `journal`, `archived`,
/// `report` and the like say where a message went next, not whether it got through: unknown.
/// The four values are OCSF's `disposition_id` collapsed (Rejected, Deleted and Blocked are all
/// blocked; Quarantined is held).
pub fn verdict_word(word: &str) -> Option<Verdict> {
    let word = word.trim();
    let same = |key: &str| {
        word.len() == key.len()
            && word.bytes().zip(key.bytes()).all(|(w, k)| {
                let w = match w {
                    b'_' | b'-' => b' ',
                    w => w.to_ascii_lowercase(),
                };
                w == k
            })
    };
    VERDICT_WORDS
        .iter()
        .find(|(key, _)| same(key))
        .map(|(_, v)| *v)
}

/// The verdict of an action field. Some fields list every step a message went through
/// (`actionTriggered: "sandbox, block"`); the strongest recognised step wins (blocked, then
/// held, then allowed), so a sandboxed-then-blocked attachment is blocked and `"none, none"`
/// allowed. Nothing recognised: [`Verdict::Unknown`].
pub fn verdict(text: &str) -> Verdict {
    let rank = |v: Verdict| match v {
        Verdict::Blocked => 3,
        Verdict::Held => 2,
        Verdict::Allowed => 1,
        Verdict::Unknown => 0,
    };
    text.split([',', ';'])
        .filter_map(verdict_word)
        .max_by_key(|v| rank(*v))
        .unwrap_or(Verdict::Unknown)
}

/// A delivery flag (`Delivered: false`, CG `delivered: "true"`): the message reached the next
/// hop or it did not.
pub fn delivered_verdict(flag: &str) -> Option<Verdict> {
    match flag.trim() {
        f if f.eq_ignore_ascii_case("true") => Some(Verdict::Allowed),
        f if f.eq_ignore_ascii_case("false") => Some(Verdict::Blocked),
        _ => None,
    }
}

/// The value when it is an IP address, else `None`: a field that should hold one is passed on
/// only when it does.
pub fn ip_address(text: &str) -> Option<&str> {
    let text = text.trim();
    text.parse::<std::net::IpAddr>().is_ok().then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_every_mimecast_time_format() {
        assert_eq!(
            parse_time("2021-11-17T12:04:24+0000"),
            Some(datetime!(2021-11-17 12:04:24 UTC))
        );
        assert_eq!(
            parse_time("2021-10-18T09:02:43+0100"),
            Some(datetime!(2021-10-18 08:02:43 UTC))
        );
        assert_eq!(
            parse_time("2021-11-19T01:28:37.099Z"),
            Some(datetime!(2021-11-19 01:28:37.099 UTC))
        );
        assert_eq!(
            parse_time("2026-11-23T10:15:30-05:30"),
            Some(datetime!(2026-11-23 15:45:30 UTC))
        );
        assert_eq!(
            parse_time("1731621865697"),
            Some(datetime!(2024-11-14 22:04:25.697 UTC))
        );
        assert_eq!(
            parse_time("1731621865"),
            Some(datetime!(2024-11-14 22:04:25 UTC))
        );
        for bad in [
            "",
            "yesterday",
            "2021-13-01T00:00:00Z",
            "2021-11-17T12:04:24+00",
            "2021-11-17T12:04:24.Z",
            "2021-11-17T25:00:00Z",
            // Digits only, but no time: 35 digits overflowed the nanosecond arithmetic.
            "48775533829143500000000000000000000",
            "99999999999999999999999999999999999999",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_accepts_any_scalar() {
        let v: Vec<Text> =
            serde_json::from_str(r#"["a", 1, 2.5, true, null, {"x":1}, [1]]"#).unwrap();
        let got: Vec<Option<&str>> = v.iter().map(|t| t.0.as_deref()).collect();
        assert_eq!(
            got,
            vec![
                Some("a"),
                Some("1"),
                Some("2.5"),
                Some("true"),
                None,
                None,
                None
            ]
        );
        assert_eq!(Text(Some("N/A".into())).get(), None);
    }

    #[test]
    fn synthetic_ids_are_stable_and_distinct() {
        let a = RawValue::from_string(r#"{"date":"2024-11-14T19:44:02+0000","url":"u"}"#.into())
            .unwrap();
        let b = RawValue::from_string(r#"{"date":"2024-11-14T19:44:03+0000","url":"u"}"#.into())
            .unwrap();
        assert_eq!(synthetic_id("ttp_url", &a), synthetic_id("ttp_url", &a));
        assert_ne!(synthetic_id("ttp_url", &a), synthetic_id("ttp_url", &b));
        assert_ne!(synthetic_id("ttp_url", &a), synthetic_id("siem_cg", &a));
        assert_eq!(synthetic_id("ttp_url", &a).len(), 32);
    }

    #[test]
    fn addresses_arrive_as_text_objects_or_lists() {
        let v: Vec<Option<OneOrMany<Address>>> = serde_json::from_str(
            r#"["a@x; b@y", [{"emailAddress":"c@z","deliveryStatus":"held"}, "d@w", {"name":"n"}],
                {"emailAddress":"e@v"}, null, 7]"#,
        )
        .unwrap();
        let got: Vec<Vec<String>> = v
            .iter()
            .map(|a| {
                a.iter()
                    .flat_map(|a| a.addresses())
                    .map(|c| c.into_owned())
                    .collect()
            })
            .collect();
        assert_eq!(
            got,
            vec![
                vec!["a@x", "b@y"],
                vec!["c@z", "d@w"],
                vec!["e@v"],
                vec![],
                vec!["7"]
            ]
        );
        let names: OneOrMany<Text> =
            serde_json::from_str(r#"[null, "", "a.pdf", "b.pdf"]"#).unwrap();
        assert_eq!(names.first().as_deref(), Some("a.pdf"));
    }

    #[test]
    fn addresses_and_actions() {
        assert_eq!(split_addresses(Some("a@x, b@y".into())), vec!["a@x", "b@y"]);
        assert_eq!(split_addresses(Some("a@x".into())), vec!["a@x"]);
        assert_eq!(action_word("Hld".into()), "hold");
        assert_eq!(action_word("Block".into()), "block");
    }

    #[test]
    fn outcome_words_in_four_verdicts() {
        use Verdict::*;
        for (text, want) in [
            // SIEM codes and their words
            ("Acc", Allowed),
            ("accept", Allowed),
            ("Rej", Blocked),
            ("reject", Blocked),
            ("Bnc", Blocked),
            ("bounce", Blocked),
            ("Hld", Held),
            ("hold", Held),
            ("Sdbx", Unknown),
            ("journal", Unknown),
            // TTP URL: the user may proceed past a warning
            ("allow", Allowed),
            ("warn", Allowed),
            ("block", Blocked),
            ("Block", Blocked),
            // Attachment Protect lists every step; the strongest wins
            ("none, none", Allowed),
            ("sandbox, block", Blocked),
            ("sandbox, hold", Held),
            ("sandbox", Unknown),
            // Impersonation, DLP, held-message release, Threats, CI
            ("none", Allowed),
            ("notify", Allowed),
            ("released", Allowed),
            ("rejected", Blocked),
            ("deliver", Allowed),
            ("quarantined", Held),
            ("DO_NOTHING", Allowed),
            ("BLOCK", Blocked),
            ("DELIVERY_IN_PROGRESS", Allowed),
            ("deleted", Blocked),
            // names no outcome
            ("", Unknown),
            ("N/A", Unknown),
            ("report", Unknown),
            ("archived", Unknown),
            ("processing", Unknown),
            ("Browser Isolation", Unknown),
        ] {
            assert_eq!(verdict(text), want, "{text:?}");
        }
        assert_eq!(delivered_verdict("true"), Some(Allowed));
        assert_eq!(delivered_verdict("False"), Some(Blocked));
        assert_eq!(delivered_verdict("1"), None);
    }

    #[test]
    fn only_addresses_pass_as_ips() {
        assert_eq!(ip_address(" 8.8.8.8 "), Some("8.8.8.8"));
        assert_eq!(ip_address("2001:db8::1"), Some("2001:db8::1"));
        for bad in [
            "",
            "8.8.8",
            "8.8.8.256",
            "example.com",
            "8.8.8.8, Application: Web",
        ] {
            assert_eq!(ip_address(bad), None, "{bad}");
        }
    }
}
