//! Go's `fmt` rules for the values a template prints: `%v`, `Sprint`, `Sprintln` and a `Sprintf` subset.

use super::value::Value;

/// Append `v` formatted as Go's `%v`.
pub fn write_v(out: &mut String, v: &Value) {
    match v {
        Value::Missing(_) | Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_g(*f, 6)),
        Value::Str(s) => out.push_str(s),
        Value::JsonNumber(n) => out.push_str(n),
        Value::List(l) => {
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

fn special(f: f64) -> Option<String> {
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
fn format_float_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let s = format!("{:.*e}", prec, f);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut out = mant.to_string();
    exp_suffix(&mut out, exp.parse().unwrap_or(0), upper);
    out
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
            c if c.is_control() => {
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

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let len = body.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, rest) = match body.strip_prefix(['-', '+']) {
            Some(r) => (&body[..1], r),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Missing(_) | Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), to_v(v)),
    }
}

fn sign(s: String, spec: &Spec) -> String {
    if s.starts_with('-') {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_one(verb: char, spec: &Spec, v: &Value) -> (String, bool) {
    match (verb, v) {
        ('T', Value::Missing(_) | Value::Nil) => ("<nil>".to_string(), false),
        ('T', _) => (v.type_name().to_string(), false),
        ('v', Value::Float(f)) => (sign(format_float_g(*f, 6), spec), true),
        ('v', Value::Int(i)) => (sign(i.to_string(), spec), true),
        ('v', Value::Str(s)) if spec.sharp => (quote(s), false),
        ('v', _) => (to_v(v), false),
        ('s', Value::Str(s)) => (
            match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            },
            false,
        ),
        ('s', Value::List(_) | Value::Map(_)) => (to_v(v), false),
        ('q', Value::Str(s)) => (quote(s), false),
        // json.Number is a string type: %s and %q see the text; %d is a wrong verb for it, as in Go.
        ('s' | 'q', Value::JsonNumber(n)) => {
            (if verb == 'q' { quote(n) } else { n.to_string() }, false)
        }
        ('x', Value::JsonNumber(n)) => (hex::encode(n.as_bytes()), false),
        ('X', Value::JsonNumber(n)) => (hex::encode_upper(n.as_bytes()), false),
        ('t', Value::Bool(b)) => (b.to_string(), false),
        ('d', Value::Int(i)) => (sign(i.to_string(), spec), true),
        ('x', Value::Int(i)) => (
            sign(
                format!("{}{:x}", if *i < 0 { "-" } else { "" }, i.unsigned_abs()),
                spec,
            ),
            true,
        ),
        ('X', Value::Int(i)) => (
            sign(
                format!("{}{:X}", if *i < 0 { "-" } else { "" }, i.unsigned_abs()),
                spec,
            ),
            true,
        ),
        ('o', Value::Int(i)) => (
            sign(
                format!("{}{:o}", if *i < 0 { "-" } else { "" }, i.unsigned_abs()),
                spec,
            ),
            true,
        ),
        ('b', Value::Int(i)) => (
            sign(
                format!("{}{:b}", if *i < 0 { "-" } else { "" }, i.unsigned_abs()),
                spec,
            ),
            true,
        ),
        ('c', Value::Int(i)) => (
            u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}')
                .to_string(),
            false,
        ),
        ('x', Value::Str(s)) => (hex::encode(s.as_bytes()), false),
        ('X', Value::Str(s)) => (hex::encode_upper(s.as_bytes()), false),
        ('f' | 'F', Value::Float(f)) => (
            sign(
                special(*f).unwrap_or_else(|| format!("{:.*}", spec.prec.unwrap_or(6), f)),
                spec,
            ),
            true,
        ),
        ('e' | 'E', Value::Float(f)) => (
            sign(
                format_float_e(*f, spec.prec.unwrap_or(6), verb == 'E'),
                spec,
            ),
            true,
        ),
        ('g' | 'G', Value::Float(f)) => {
            let s = match spec.prec {
                None => format_float_g(*f, 6),
                Some(p) => {
                    // %.Ng: N significant digits, e-notation when exp < -4 || exp >= N.
                    let p = p.max(1);
                    let e = format_float_e(*f, p - 1, false);
                    let exp: i32 = e
                        .rsplit_once('e')
                        .and_then(|(_, x)| x.parse().ok())
                        .unwrap_or(0);
                    if exp < -4 || exp >= i32::try_from(p).unwrap_or(i32::MAX) {
                        let (m, x) = e.split_once('e').unwrap_or((&e, ""));
                        let m = if m.contains('.') {
                            m.trim_end_matches('0').trim_end_matches('.')
                        } else {
                            m
                        };
                        format!("{m}e{x}")
                    } else {
                        let decimals =
                            usize::try_from(i32::try_from(p).unwrap_or(0) - 1 - exp).unwrap_or(0);
                        let s = format!("{:.*}", decimals, f);
                        if s.contains('.') {
                            s.trim_end_matches('0').trim_end_matches('.').to_string()
                        } else {
                            s
                        }
                    }
                }
            };
            let s = if verb == 'G' { s.to_uppercase() } else { s };
            (sign(s, spec), true)
        }
        _ => (bad_verb(verb, v), false),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %t %f %e %g %x %X %o %b %c %%`, with flags,
/// width and precision. Wrong verbs and operand counts produce Go's `%!` markers.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                   argi: &mut usize|
         -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = match args.get(*argi) {
                    Some(Value::Int(i)) => usize::try_from(*i).ok(),
                    _ => None,
                };
                *argi += 1;
                return v;
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let (body, numeric) = format_one(verb, &spec, v);
        pad(&mut out, &body, &spec, numeric);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Missing(_) | Value::Nil => out.push_str("<nil>"),
                _ => out.push_str(&format!("{}={}", a.type_name(), to_v(a))),
            }
        }
        out.push(')');
    }
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

    #[test]
    fn sprintf_matches_go() {
        let s = |v: &str| Value::str(v);
        assert_eq!(
            sprintf(
                "%e|%g|%.3g|%.3g",
                &[
                    Value::Float(1234.5678),
                    Value::Float(1234.5678),
                    Value::Float(1234.5678),
                    Value::Float(0.0001234)
                ]
            ),
            "1.234568e+03|1234.5678|1.23e+03|0.000123"
        );
        assert_eq!(
            sprintf(
                "%8.3f|%x|%5t|%v",
                &[
                    Value::Float(1.23456),
                    s("hi"),
                    Value::Bool(true),
                    Value::list(vec![Value::Int(1), s("a"), Value::Nil])
                ]
            ),
            "   1.235|6869| true|[1 a <nil>]"
        );
        assert_eq!(
            sprintf("%d|%s", &[Value::Float(3.5), Value::Int(5)]),
            "%!d(float64=3.5)|%!s(int=5)"
        );
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        let n = Value::JsonNumber("5432".into());
        assert_eq!(
            sprintf("%v %s %d", &[n.clone(), n.clone(), n]),
            "5432 5432 %!d(json.Number=5432)"
        );
        assert_eq!(
            sprintf("%d", &[Value::Int(1), Value::Int(2)]),
            "1%!(EXTRA int=2)"
        );
        assert_eq!(
            sprintf(
                "%q|%-3d|%+d|100%%",
                &[s("a\"b\n"), Value::Int(7), Value::Int(7)]
            ),
            "\"a\\\"b\\n\"|7  |+7|100%"
        );
    }
}
