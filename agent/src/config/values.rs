//! Small value parsers shared by the validators: booleans as Go reads them, file modes, signal names, and the
//! "did you mean" suggestion.

use std::str::FromStr;

use nix::sys::signal::Signal;

/// A boolean written as a string, as Go's `strconv.ParseBool` reads it (Vault Agent accepts `"true"`).
pub(crate) fn go_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The largest mode sidekey writes: permission bits only (no setuid, setgid or sticky bit).
const MAX_MODE: u32 = 0o777;

/// A file mode written as an octal string: `"0640"`, `"640"`, `"0o640"`.
pub(crate) fn octal_mode(s: &str) -> Result<u32, String> {
    let digits = s.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    let mode = if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        None
    } else {
        u32::from_str_radix(digits, 8).ok()
    };
    match mode {
        Some(m) if m <= MAX_MODE => Ok(m),
        Some(_) => Err(format!(
            "{s:?}: only permission bits (0000 to 0777) may be set"
        )),
        None => Err(format!(
            "{s:?} is not an octal file mode (write e.g. \"0640\")"
        )),
    }
}

/// A file mode written as a number: with a leading zero it is octal (`0640`, as in Vault Agent's HCL),
/// otherwise it is the mode's value (`416` is `0640`).
pub(crate) fn numeric_mode(n: &str) -> Result<u32, String> {
    if n.len() > 1 && n.starts_with('0') {
        return octal_mode(n)
            .map_err(|_| format!("{n} is not an octal file mode (write e.g. \"0640\")"));
    }
    match n.parse::<u32>() {
        Ok(m) if m <= MAX_MODE => Ok(m),
        Ok(m) => Err(format!(
            "{n} is not a file mode: a number without a leading zero is decimal ({n} = {m:#o}); write the mode as a string, e.g. \"0{n}\""
        )),
        Err(_) => Err(format!("{n} is not a file mode (write e.g. \"0640\")")),
    }
}

/// A signal name, with or without `SIG` (`"SIGTERM"`, `"term"`), as its number.
pub(crate) fn signal(name: &str) -> Result<i32, String> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map(|s| s as i32).map_err(|_| {
        format!("{name:?} is not a signal name (write e.g. \"SIGTERM\" or \"SIGINT\")")
    })
}

/// The candidate closest to `word` (by edit distance), if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let cost = usize::from(ca != *cb);
            let best = (diag + cost).min(above + 1).min(left + 1);
            diag = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = best;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(octal_mode("0640"), Ok(0o640));
        assert_eq!(octal_mode("400"), Ok(0o400));
        assert_eq!(numeric_mode("0640"), Ok(0o640));
        assert_eq!(numeric_mode("416"), Ok(0o640));
        assert!(octal_mode("0999").is_err());
        assert!(octal_mode("4755").is_err());
        assert!(numeric_mode("600").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(signal("SIGTERM"), Ok(15));
        assert_eq!(signal("hup"), Ok(1));
        assert!(signal("SIGNOPE").is_err());
    }

    #[test]
    fn suggestions() {
        let keys = ["destination", "source", "contents"];
        assert_eq!(closest("destinaton", &keys), Some("destination"));
        assert_eq!(closest("sorce", &keys), Some("source"));
        assert_eq!(closest("zzz", &keys), None);
    }
}
