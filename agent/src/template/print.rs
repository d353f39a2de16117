//! Go's `fmt` rules for the values a template prints: `%v`, `Sprint`, `Sprintln` and a `Sprintf` subset.

use super::value::Value;

/// Append `v` formatted as Go's `%v`.
pub fn write_v(out: &mut String, v: &Value) {
    match v {
        Value::Missing(_) | Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_g(*f, 6)),
        Value::Str(s) => out.push_str(s),
        Value::JsonNumber(n) => out.push_str(n),
        Value::List(l) | Value::Strings(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e);
            }
            out.push(']');
        }
        Value::Secret(s) => {
            // Go prints a *Secret as &{RequestID LeaseID LeaseDuration Renewable Data Warnings Auth WrapInfo}.
            out.push_str("&{ ");
            out.push_str(&s.lease_id);
            out.push_str(&format!(" {} {} ", s.lease_duration, s.renewable));
            for f in ["Data", "Warnings"] {
                if let Some(v) = Value::secret_field(s, f) {
                    write_v(out, &v);
                }
                out.push(' ');
            }
            out.push_str("<nil> <nil>}");
        }
        Value::Object(o) => o.write_v(out),
        Value::Scratch(s) => {
            out.push_str("&{{0 0} ");
            write_v(out, &Value::Map(std::rc::Rc::new(s.borrow().clone())));
            out.push('}');
        }
    }
}

/// `v` formatted as Go's `%v`.
pub fn to_v(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v);
    s
}

/// Go's `fmt.Sprint`: operands formatted with `%v`, a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        // json.Number is a Go string type: no space next to it either.
        let is_str = |v: &Value| matches!(v, Value::Str(_) | Value::JsonNumber(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        write_v(&mut out, a);
    }
    out
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a);
    }
    out.push('\n');
    out
}

/// Split Rust's shortest `{:e}` form into (negative, digits, decimal exponent of the first digit).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    (f.is_sign_negative(), digits, exp.parse().unwrap_or(0))
}

fn exp_suffix(out: &mut String, exp: i32, upper: bool) {
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

/// Go's text for NaN and infinities.
pub fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (what `%v` and `%g` print): the shortest digits that round-trip,
/// in `e` notation when the decimal exponent is < -4 or >= `eprec` (6 for `fmt`, 21 for `encoding/json`).
pub fn format_float_g(f: f64, eprec: i32) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        exp_suffix(&mut out, exp, false);
    } else {
        out.push_str(&format!("{}", f.abs()));
    }
    out
}

/// Go's `%e` with a precision.
pub fn format_float_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let s = format!("{:.*e}", prec, f);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut out = mant.to_string();
    exp_suffix(&mut out, exp.parse().unwrap_or(0), upper);
    out
}

/// Go's `unicode.IsPrint`, near enough: visible characters and the ASCII space, not controls, separators, format
/// characters or private-use ones.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
            | 0x2028..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb
            | 0xe000..=0xf8ff | 0xfff0..=0xfff8 | 0xfffe | 0xffff))
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !is_print(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_v() {
        // Go's %v is strconv 'g' with the shortest digits: e-notation from exponent 6 up (helm/helm#12195:
        // 999999 prints as is, 1000000 as 1e+06) and below -4.
        let cases = [
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (123456.7, "123456.7"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (0.0, "0"),
            (f64::INFINITY, "+Inf"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_g(f, 6), want, "{f}");
        }
    }
}
