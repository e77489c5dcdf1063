use std::time::Duration;

use crate::advertisement::{IntervalError, parse_interval};

#[test]
fn accepts_go_style_durations_within_bounds() {
    let cases = [
        ("1s", 1),
        ("30s", 30),
        ("2m", 120),
        ("1m30s", 90),
        ("1h", 3600),
        ("1000ms", 1),
        ("59m60s", 3600),
    ];
    for (text, secs) in cases {
        assert_eq!(
            parse_interval(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }
    assert_eq!(parse_interval("1500ms"), Ok(Duration::from_millis(1500)));
}

#[test]
fn refuses_malformed_and_out_of_range() {
    for bad in ["", "fast", "30", "s", "1.5s", "-1s", "1d", "1 s", "1S"] {
        assert_eq!(
            parse_interval(bad),
            Err(IntervalError::Malformed(bad.to_string())),
            "{bad:?}"
        );
    }
    for bad in ["0s", "500ms", "2h", "61m", "99999999999999999999s"] {
        assert!(
            matches!(parse_interval(bad), Err(IntervalError::OutOfRange(_))),
            "{bad:?}"
        );
    }
}
