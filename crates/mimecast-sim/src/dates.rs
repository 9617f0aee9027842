//! Every date format Mimecast uses, parsed and formatted in one place.
//!
//! WHY: the API mixes several formats (docs/mimecast-api.md#api-10-signing `x-mc-date` RFC 1123
//! with `UTC`/`GMT`; docs/mimecast-api.md#date-formats body dates `2011-12-03T10:15:30+0000`;
//! docs/mimecast-api.md#siem-batch-cloud-gateway SIEM dates `YYYY-MM-DD` and epoch ms; STIX
//! `2021-11-19T01:28:37.099Z`; get-siem-logs file names `yyyymmddHHMMSSmmm`). Getting one wrong
//! makes the simulator accept what the real API rejects, so they live together and are tested.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

fn month_from_abbr(s: &str) -> Option<Month> {
    Some(match s.to_ascii_lowercase().as_str() {
        "jan" => Month::January,
        "feb" => Month::February,
        "mar" => Month::March,
        "apr" => Month::April,
        "may" => Month::May,
        "jun" => Month::June,
        "jul" => Month::July,
        "aug" => Month::August,
        "sep" => Month::September,
        "oct" => Month::October,
        "nov" => Month::November,
        "dec" => Month::December,
        _ => return None,
    })
}

fn month_abbr(m: Month) -> &'static str {
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m as usize - 1]
}

fn weekday_abbr(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

fn hms(s: &str) -> Option<Time> {
    let mut it = s.split(':');
    let h = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let sec = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Time::from_hms(h, m, sec).ok()
}

/// Parses an `x-mc-date` header: `Tue, 24 Nov 2015 12:50:11 UTC`
/// (docs/mimecast-api.md#api-10-signing; `GMT` and `+0000` also accepted, as Go's RFC1123 layout
/// and older docs produce them).
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let (_wd, rest) = s.split_once(", ")?;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    if parts.len() != 5 {
        return None;
    }
    let day: u8 = parts[0].parse().ok()?;
    let month = month_from_abbr(parts[1])?;
    let year: i32 = parts[2].parse().ok()?;
    let t = hms(parts[3])?;
    if !matches!(parts[4], "UTC" | "GMT" | "+0000" | "Z") {
        return None;
    }
    let d = Date::from_calendar_date(year, month, day).ok()?;
    Some(PrimitiveDateTime::new(d, t).assume_utc())
}

/// Formats an `x-mc-date` header exactly as the official samples do (`... UTC`).
pub fn format_http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} UTC",
        weekday_abbr(t.weekday()),
        t.day(),
        month_abbr(t.month()),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats an HTTP `Date` header value (RFC 7231 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn format_imf_fixdate(t: OffsetDateTime) -> String {
    let s = format_http_date(t);
    match s.strip_suffix(" UTC") {
        Some(head) => format!("{head} GMT"),
        None => s,
    }
}

/// Parses a body date: `2011-12-03T10:15:30+0000` (docs/mimecast-api.md#date-formats). Tolerates
/// `+00:00`, `Z` and fractional seconds, which lenient clients send; anything else is an error
/// message.
pub fn parse_mc_date(s: &str) -> Result<OffsetDateTime, String> {
    let bad = || format!("invalid date {s:?}: expected yyyy-MM-ddTHH:mm:ss+0000");
    let s = s.trim();
    if s.len() < 19 || !s.is_char_boundary(10) || !s.is_char_boundary(19) {
        return Err(bad());
    }
    let (date_part, rest) = s.split_at(10);
    let mut dp = date_part.split('-');
    let year: i32 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let month: u8 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let day: u8 = dp.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let rest = rest.strip_prefix('T').ok_or_else(bad)?;
    if rest.len() < 8 || !rest.is_char_boundary(8) {
        return Err(bad());
    }
    let (clock, mut tail) = rest.split_at(8);
    let mut t = hms(clock).ok_or_else(bad)?;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let mut nanos_str = frac[..digits].to_string();
        nanos_str.truncate(9);
        while nanos_str.len() < 9 {
            nanos_str.push('0');
        }
        let nanos: u32 = nanos_str.parse().map_err(|_| bad())?;
        t = t.replace_nanosecond(nanos).map_err(|_| bad())?;
        tail = &frac[digits..];
    }
    let offset = match tail {
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let (sign, digits) = match tail.as_bytes().first() {
                Some(b'+') => (1i8, &tail[1..]),
                Some(b'-') => (-1i8, &tail[1..]),
                _ => return Err(bad()),
            };
            let digits: String = digits.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let h: i8 = digits[..2].parse().map_err(|_| bad())?;
            let m: i8 = digits[2..].parse().map_err(|_| bad())?;
            UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())?
        }
    };
    Ok(PrimitiveDateTime::new(date, t).assume_offset(offset))
}

/// Parses an API 2.0 REST timestamp (`timestampRangeStartsAt`, `dateRangeStartsAt`, …):
/// "Extended ISO-8601 format with mandatory time zone" (docs/mimecast-api.md#date-formats), e.g.
/// `2023-04-17T00:00:00.000+05:30[Asia/Kolkata]`. Accepts `Z`, `+00:00` and `+0000`, optional
/// fractional seconds and an optional trailing `[Region/City]`, which is ignored (the offset
/// rules). A space where the offset's `+` should be (an unencoded `+` in a query string) is
/// refused with a hint.
pub fn parse_iso_zoned(s: &str) -> Result<OffsetDateTime, String> {
    let t = s.trim();
    let core = match (t.find('['), t.ends_with(']')) {
        (Some(i), true) => &t[..i],
        _ => t,
    };
    if core.contains(' ') {
        return Err(format!(
            "invalid timestamp {s:?}: expected e.g. 2026-11-23T10:15:30.000Z; a '+' in a query \
             string must be sent as %2B"
        ));
    }
    parse_mc_date(core).map_err(|_| {
        format!(
            "invalid timestamp {s:?}: expected extended ISO-8601 with a mandatory time zone, \
             e.g. 2026-11-23T10:15:30.000Z or 2026-11-23T10:15:30+00:00"
        )
    })
}

/// Formats a body date the Mimecast way: `2026-11-23T10:15:30+0000` (UTC, whole seconds).
pub fn format_mc_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// STIX / ISO 8601 with milliseconds: `2021-11-19T01:28:37.099Z`.
pub fn format_iso_ms(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// get-siem-logs file name stamp: `yyyymmddHHMMSSmmm`
/// (docs/mimecast-api.md#siem-mta-log-files-api-10).
pub fn format_file_stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// SIEM batch range dates: `YYYY-MM-DD` (docs/mimecast-api.md#siem-batch-cloud-gateway). Returns
/// midnight UTC.
pub fn parse_ymd(s: &str) -> Option<OffsetDateTime> {
    let mut it = s.trim().split('-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    let date = Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()?;
    Some(date.midnight().assume_utc())
}

/// Epoch milliseconds to a UTC time (saturating to the epoch on nonsense).
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// UTC time to epoch milliseconds.
pub fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn http_date_round_trip_and_gmt() {
        let t = datetime!(2015-11-24 12:50:11 UTC);
        assert_eq!(format_http_date(t), "Tue, 24 Nov 2015 12:50:11 UTC");
        assert_eq!(parse_http_date("Tue, 24 Nov 2015 12:50:11 UTC"), Some(t));
        assert_eq!(parse_http_date("Tue, 24 Nov 2015 12:50:11 GMT"), Some(t));
        assert_eq!(parse_http_date("2015-11-24T12:50:11Z"), None);
        assert_eq!(parse_http_date("Tue, 24 Nov 2015 12:50:11 PST"), None);
        assert_eq!(format_imf_fixdate(t), "Tue, 24 Nov 2015 12:50:11 GMT");
    }

    #[test]
    fn mc_date_variants() {
        let t = datetime!(2026-11-23 10:15:30 UTC);
        assert_eq!(format_mc_date(t), "2026-11-23T10:15:30+0000");
        assert_eq!(parse_mc_date("2026-11-23T10:15:30+0000"), Ok(t));
        assert_eq!(parse_mc_date("2026-11-23T10:15:30Z"), Ok(t));
        assert_eq!(parse_mc_date("2026-11-23T11:15:30+01:00"), Ok(t));
        assert_eq!(
            parse_mc_date("2026-11-23T10:15:30.500+0000").map(|x| x.millisecond()),
            Ok(500)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00+0000",
            "2026-11-23 10:15:30",
            "2026-11-23T10:15:30",
            "2026-11-23T10:15:30+00",
            "2026-11-23T10:15:3é+0000",
        ] {
            assert!(parse_mc_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iso_zoned_variants() {
        let t = datetime!(2026-11-23 10:15:30 UTC);
        for ok in [
            "2026-11-23T10:15:30Z",
            "2026-11-23T10:15:30+00:00",
            "2026-11-23T10:15:30+0000",
            "2026-11-23T10:15:30.000Z",
            "2026-11-23T15:45:30.000+05:30[Asia/Kolkata]",
        ] {
            assert_eq!(parse_iso_zoned(ok), Ok(t), "{ok}");
        }
        for bad in [
            "2026-11-23T10:15:30",
            "2026-11-23T10:15:30 0000",
            "2026-11-23",
            "[Europe/London]",
        ] {
            assert!(parse_iso_zoned(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_formats() {
        let t = datetime!(2021-10-18 09:33:29.655 UTC);
        assert_eq!(format_file_stamp(t), "20211018093329655");
        assert_eq!(format_iso_ms(t), "2021-10-18T09:33:29.655Z");
        assert_eq!(
            parse_ymd("2023-05-23"),
            Some(datetime!(2023-05-23 0:00 UTC))
        );
        assert_eq!(parse_ymd("2023-05-32"), None);
        assert_eq!(from_ms(to_ms(t)), t);
    }
}
