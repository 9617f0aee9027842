//! Human durations ("60s", "5m", "1h30m", "7d") for config values.
//!
//! Written by hand rather than pulled in so that the error can say exactly which part of the
//! value is wrong, and because the grammar operators need is tiny.

use std::time::Duration;

/// Parses `500ms`, `30s`, `5m`, `24h`, `7d` and concatenations such as `1h30m`.
/// A bare number is rejected: a unit-less `60` is too easy to misread as minutes.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("is empty; expected a duration such as \"60s\", \"5m\" or \"24h\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration: expected a number at {rest:?}"
            ));
        }
        let (num, tail) = rest.split_at(digits);
        let value: u64 = num
            .parse()
            .map_err(|_| format!("{text:?} is not a duration: {num} is too large"))?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            "d" => Duration::from_secs(value.saturating_mul(86_400)),
            "" if tail.starts_with(char::is_whitespace) => {
                return Err(format!(
                    "{text:?} is not a duration: write the unit right after the number, without a space, e.g. \"{num}s\" (units: ms, s, m, h, d)"
                ))
            }
            "" => {
                return Err(format!(
                    "{text:?} has no unit: write \"{num}s\", \"{num}m\", \"{num}h\" or \"{num}d\""
                ))
            }
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {other:?}: use ms, s, m, h or d"
                ))
            }
        };
        total = total.saturating_add(part);
        rest = tail;
    }
    Ok(total)
}

/// Formats a duration the way the parser reads it back, for messages and `status`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (hours, rem) = (rem / 3600, rem % 3600);
    let (mins, s) = (rem / 60, rem % 60);
    let mut out = String::new();
    for (v, u) in [(days, "d"), (hours, "h"), (mins, "m"), (s, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("60").unwrap_err().contains("no unit"));
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-5s").is_err());
        let spaced = parse_duration("30 seconds").unwrap_err();
        assert!(spaced.contains("without a space"), "{spaced}");
    }

    #[test]
    fn format_round_trips() {
        for s in ["1d2h3m4s", "5m", "90ms", "1h"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
