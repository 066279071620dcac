//! Durations as people write them in the manifest: `300s`, `5m`, `1h30m`, `500ms`.

use std::fmt::Write as _;
use std::time::Duration;

/// Parses a sum of `<digits><unit>` parts, units `ms`, `s`, `m`, `h`. `None` when the text is not one,
/// or when it is zero or overflows.
pub fn parse(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return None;
        }
        let number: u64 = rest[..digits_len].parse().ok()?;
        rest = &rest[digits_len..];
        let (unit_millis, unit_len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('s') {
            (1_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else {
            return None;
        };
        rest = &rest[unit_len..];
        total = total.checked_add(Duration::from_millis(number.checked_mul(unit_millis)?))?;
    }
    (!total.is_zero()).then_some(total)
}

/// Writes whole seconds the way [`parse`] reads them: `30s`, `10m`, `1h30m`, `1m5s`; `0s` for zero.
pub fn format(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let parts = [
        (seconds / 3600, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
    ];
    let mut text = String::new();
    for (value, unit) in parts {
        if value > 0 {
            let _ = write!(text, "{value}{unit}");
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_what_it_parses() {
        for (seconds, text) in [
            (0, "0s"),
            (30, "30s"),
            (90, "1m30s"),
            (600, "10m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (3661, "1h1m1s"),
        ] {
            assert_eq!(format(Duration::from_secs(seconds)), text);
            if seconds > 0 {
                assert_eq!(parse(text), Some(Duration::from_secs(seconds)), "{text}");
            }
        }
    }

    #[test]
    fn parses_the_forms_the_schema_allows() {
        assert_eq!(parse("300s"), Some(Duration::from_secs(300)));
        assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for text in [
            "",
            "300",
            "s",
            "5 m",
            "5d",
            "0s",
            "-5s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
