//! Tables and ages as kubectl prints them: columns aligned with elastic tabstops, ages in the
//! largest unit or two that fit.

use std::io::Write;

use k8s_openapi::jiff::Timestamp;
use tabwriter::TabWriter;

/// A table with a header row.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new<const N: usize>(header: [&str; N]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row.
    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.into());
    }

    /// The aligned text, one line per row, three spaces between columns.
    pub fn render(&self) -> String {
        let mut w = TabWriter::new(Vec::new()).padding(3);
        for row in &self.rows {
            // A tab or newline inside a cell would break the columns.
            let cells: Vec<String> = row.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
            // Writing to a Vec cannot fail.
            let _ = writeln!(w, "{}", cells.join("\t"));
        }
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A cell's text, or `-` when there is nothing to show.
pub fn dash(s: Option<&str>) -> String {
    s.unwrap_or("-").to_owned()
}

/// How long ago `then` was, as kubectl's AGE column says it: `45s`, `3m12s`, `5h4m`, `12d`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        0..120 => format!("{secs}s"),
        120..600 => format!("{m}m{}s", secs % 60),
        600..10_800 => format!("{m}m"),
        10_800..28_800 => format!("{h}h{}m", m % 60),
        28_800..172_800 => format!("{h}h"),
        172_800..691_200 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(["NAME", "ADDRESS"]);
        t.row(["web".to_owned(), "192.168.100.240".to_owned()]);
        t.row(["a-longer-name".to_owned(), "fd00::1".to_owned()]);
        let text = t.render();
        let starts: Vec<usize> = text
            .lines()
            .map(|l| l.len() - l.split_once(' ').expect("two columns").1.trim_start().len())
            .collect();
        assert_eq!(starts, [16, 16, 16], "{text}");
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = Timestamp::from_second(1_000_000).expect("time");
        let ago = |s: i64| age(Timestamp::from_second(1_000_000 - s).expect("time"), now);
        assert_eq!(ago(0), "0s");
        assert_eq!(ago(119), "119s");
        assert_eq!(ago(192), "3m12s");
        assert_eq!(ago(1_800), "30m");
        assert_eq!(ago(5 * 3600 + 240), "5h4m");
        assert_eq!(ago(20 * 3600), "20h");
        assert_eq!(ago(3 * 86_400 + 7200), "3d2h");
        assert_eq!(ago(12 * 86_400), "12d");
        // A clock behind the API server's says no time has passed, not a negative one.
        assert_eq!(
            age(now, Timestamp::from_second(999_000).expect("time")),
            "0s"
        );
    }
}
