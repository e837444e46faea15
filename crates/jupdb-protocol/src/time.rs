//! Timestamps as RFC 3339 text in UTC with microseconds,
//! e.g. `"2025-11-23T09:12:00.123456Z"` (the form Jupyter uses).
//!
//! This fixed form sorts lexically in time order. [`parse_rfc3339`] reads it
//! back (with 0 to 9 fraction digits), for the debuggee's check that a
//! request is fresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time as RFC 3339 UTC text with microseconds.
pub fn now_rfc3339() -> String {
    format_rfc3339(SystemTime::now())
}

/// `time` as RFC 3339 UTC text with microseconds. Times before 1970 are
/// written as 1970-01-01T00:00:00.000000Z.
pub fn format_rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since_epoch.subsec_micros()
    )
}

/// The instant written as `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC; 1 to 9
/// fraction digits, or none), as [`format_rfc3339`] and Jupyter write it.
/// `None` for anything else: other shapes, offsets other than `Z`, dates
/// that do not exist, years before 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let main = bytes.get(..19)?;
    let fraction = bytes[19..].strip_suffix(b"Z")?;
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = main.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| main[at] != c) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) => {
            let value = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date from 1970 on (Howard
/// Hinnant's `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400; // [0, 399]
    let mp = if month > 2 { month - 3 } else { month + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u64) -> String {
        format_rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(951_868_799, 999_999), "2000-02-29T23:59:59.999999Z");
        assert_eq!(at(1_700_000_000, 123_456), "2023-11-14T22:13:20.123456Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }

    #[test]
    fn before_epoch_clamps() {
        let early = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(format_rfc3339(early), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn parse_reads_what_format_writes_and_jupyters_forms() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_micros(123_456);
        assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        let whole = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(whole));
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.5Z"),
            Some(whole + Duration::from_millis(500))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.000000001Z"),
            Some(whole + Duration::from_nanos(1))
        );
        for bad in [
            "",
            "2000-02-29",
            "2000-02-29T00:00:00",
            "2000-02-29T00:00:00+00:00",
            "2000-02-30T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2001-02-29T00:00:00Z",
            "2000-13-01T00:00:00Z",
            "2000-00-01T00:00:00Z",
            "2000-01-01T24:00:00Z",
            "2000-01-01T00:60:00Z",
            "2000-01-01T00:00:60Z",
            "2000-01-01 00:00:00Z",
            "2000-01-01T00:00:00.Z",
            "2000-01-01T00:00:00.1234567890Z",
            "2000-01-01T00:00:00.12a4Z",
            "+000-01-01T00:00:00Z",
            "2000-01-01T00:00:00ZZ",
            "2000-01-01T00:00:00Zé",
            "２000-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Every instant from 1970 to 9999 is read back as written.
        #[test]
        fn parse_inverts_format(secs in 0u64..253_402_300_800, micros in 0u64..1_000_000) {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
            proptest::prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }

        /// Arbitrary text never panics.
        #[test]
        fn parse_never_panics(text in ".{0,40}") {
            let _ = parse_rfc3339(&text);
        }
    }

    #[test]
    fn now_has_fixed_shape() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 27);
        assert!(now.ends_with('Z'));
        assert!(now.as_str() > "2024");
    }
}
