//! Go's `fmt.Sprintf` (`printf`): flags, width, precision, `*` and `[n]` argument indexes, verbs applied to each
//! element of lists and maps, and Go's `%!` markers for wrong verbs and for missing, extra or bad arguments.
//! A wrong verb prints the operand with `%v` under the same flags, as Go does (`%.2f` of a string keeps two
//! characters).

use super::print::{format_float_e, format_float_g, is_print, quote, special, to_v};
use super::value::Value;

/// Go's `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.out
}

/// The flags of one verb (Go's `fmtFlags` plus width and precision).
#[derive(Clone, Copy, Default)]
struct Flags {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

#[derive(Default)]
struct Printer {
    out: String,
    f: Flags,
    /// An explicit `[n]` index was used: extra arguments are not reported.
    reordered: bool,
    good_arg_num: bool,
}

/// Go's `tooLarge`: widths and precisions beyond a million are refused.
const MAX_NUM: usize = 1_000_000;

/// Parse a decimal number at `chars[i..end]`: (value, found, next index).
fn parse_num(chars: &[char], mut i: usize, end: usize) -> (usize, bool, usize) {
    let mut n: usize = 0;
    let mut found = false;
    while i < end {
        let Some(d) = chars[i].to_digit(10) else {
            break;
        };
        if n > MAX_NUM {
            return (0, false, end);
        }
        n = n * 10 + d as usize;
        found = true;
        i += 1;
    }
    (n, found, i)
}

impl Printer {
    fn do_printf(&mut self, format: &str, args: &[Value]) {
        let chars: Vec<char> = format.chars().collect();
        let end = chars.len();
        let mut arg_num = 0usize;
        let mut i = 0usize;
        while i < end {
            self.good_arg_num = true;
            let start = i;
            while i < end && chars[i] != '%' {
                i += 1;
            }
            self.out.extend(&chars[start..i]);
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            while i < end {
                match chars[i] {
                    '#' => self.f.sharp = true,
                    '0' => self.f.zero = !self.f.minus,
                    '+' => self.f.plus = true,
                    '-' => {
                        self.f.minus = true;
                        self.f.zero = false;
                    }
                    ' ' => self.f.space = true,
                    _ => break,
                }
                i += 1;
            }
            let mut after_index;
            (arg_num, i, after_index) = self.arg_number(arg_num, &chars, i, args.len());
            if i < end && chars[i] == '*' {
                i += 1;
                let (w, ok, next) = int_from_arg(args, arg_num);
                arg_num = next;
                if !ok {
                    self.out.push_str("%!(BADWIDTH)");
                } else if w < 0 {
                    self.f.minus = true;
                    self.f.zero = false;
                    self.f.wid = Some(w.unsigned_abs() as usize);
                } else {
                    self.f.wid = Some(w.unsigned_abs() as usize);
                }
                after_index = false;
            } else {
                let (w, found, next) = parse_num(&chars, i, end);
                i = next;
                if found {
                    self.f.wid = Some(w);
                    if after_index {
                        self.good_arg_num = false;
                    }
                }
            }
            if i < end && chars[i] == '.' {
                i += 1;
                if after_index {
                    self.good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, &chars, i, args.len());
                if i < end && chars[i] == '*' {
                    i += 1;
                    let (p, ok, next) = int_from_arg(args, arg_num);
                    arg_num = next;
                    self.f.prec = (p >= 0 && ok).then_some(p.unsigned_abs() as usize);
                    if !ok {
                        self.out.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (p, found, next) = parse_num(&chars, i, end);
                    i = next;
                    self.f.prec = Some(if found { p } else { 0 });
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(arg_num, &chars, i, args.len());
            }
            if i >= end {
                self.out.push_str("%!(NOVERB)");
                break;
            }
            let verb = chars[i];
            i += 1;
            if verb == '%' {
                self.out.push('%');
            } else if !self.good_arg_num {
                self.out.push_str(&format!("%!{verb}(BADINDEX)"));
            } else if arg_num >= args.len() {
                self.out.push_str(&format!("%!{verb}(MISSING)"));
            } else {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[arg_num], verb, 0);
                arg_num += 1;
            }
        }
        if !self.reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.out.push_str("%!(EXTRA ");
            for (k, a) in args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.out.push_str(", ");
                }
                if is_nil(a) {
                    self.out.push_str("<nil>");
                } else {
                    self.out.push_str(a.type_name());
                    self.out.push('=');
                    self.print_arg(a, 'v', 0);
                }
            }
            self.out.push(')');
        }
    }

    /// Go's `argNumber`: an optional `[n]` (1-based) choosing the next operand.
    fn arg_number(
        &mut self,
        arg_num: usize,
        chars: &[char],
        i: usize,
        num_args: usize,
    ) -> (usize, usize, bool) {
        if i >= chars.len() || chars[i] != '[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let rest = &chars[i..];
        let (index, wid, ok) = match rest.iter().position(|&c| c == ']') {
            Some(close) if rest.len() >= 3 => {
                let (n, found, next) = parse_num(rest, 1, close);
                if !found || next != close {
                    (0, close + 1, false)
                } else {
                    (n.wrapping_sub(1), close + 1, true)
                }
            }
            _ => (0, 1, false),
        };
        if ok && index < num_args {
            return (index, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    /// Go's `printArg` (depth 0) and `printValue` (inside lists and maps).
    fn print_arg(&mut self, v: &Value, verb: char, depth: usize) {
        if is_nil(v) {
            if depth > 0 {
                self.out.push_str(if self.f.sharp_v {
                    "interface {}(nil)"
                } else {
                    "<nil>"
                });
                return;
            }
            match verb {
                'T' | 'v' => self.pad_str("<nil>"),
                _ => self.bad_verb(verb, v),
            }
            return;
        }
        if verb == 'T' {
            let t = v.type_name();
            self.fmt_s(t);
            return;
        }
        match v {
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad_str(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, v),
            },
            Value::Int(i) | Value::Int64(i) => self.fmt_integer_verb(*i, verb, v),
            Value::Float(x) => self.fmt_float_verb(*x, verb, v),
            Value::Str(s) => self.fmt_string(s, verb, v),
            // json.Number is a Stringer: %v %s %x %X %q print its text; `%#v` quotes it as a string kind.
            Value::JsonNumber(n) => self.fmt_string(n, verb, v),
            Value::List(l) | Value::Strings(l) => {
                let (open, sep, close) = if self.f.sharp_v {
                    ("[]interface {}{", ", ", '}')
                } else {
                    ("[", " ", ']')
                };
                self.out.push_str(open);
                for (k, e) in l.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(sep);
                    }
                    self.print_arg(e, verb, depth + 1);
                }
                self.out.push(close);
            }
            Value::Map(m) => {
                self.out.push_str(if self.f.sharp_v {
                    "map[string]interface {}{"
                } else {
                    "map["
                });
                for (k, (key, e)) in m.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.fmt_string(key, verb, &Value::str(key.as_str()));
                    self.out.push(':');
                    self.print_arg(e, verb, depth + 1);
                }
                self.out.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Secret(_)
            | Value::Scratch(_)
            | Value::Object(_)
            | Value::Missing(_)
            | Value::Nil => {
                self.pad_str(&to_v(v));
            }
        }
    }

    /// Go's `badVerb`: `%!verb(type=value)`, the value printed with `%v` under the current flags.
    fn bad_verb(&mut self, verb: char, v: &Value) {
        self.out.push_str("%!");
        self.out.push(verb);
        self.out.push('(');
        if is_nil(v) {
            self.out.push_str("<nil>");
        } else {
            self.out.push_str(v.type_name());
            self.out.push('=');
            let (plus_v, sharp_v) = (self.f.plus_v, self.f.sharp_v);
            self.f.plus_v = false;
            self.f.sharp_v = false;
            self.print_arg(v, 'v', 0);
            self.f.plus_v = plus_v;
            self.f.sharp_v = sharp_v;
        }
        self.out.push(')');
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, false),
            'X' => self.fmt_sx(s, true),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(verb, v),
        }
    }

    /// `%s`: at most `prec` characters, padded.
    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad_str(&s);
    }

    fn truncate(&self, s: &str) -> String {
        match self.f.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }
    }

    /// `%q`: Go-quoted (`%+q` ASCII only, `%#q` backquoted when possible).
    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(&s) {
            self.pad_str(&format!("`{s}`"));
        } else if self.f.plus {
            self.pad_str(&quote_ascii(&s));
        } else {
            self.pad_str(&quote(&s));
        }
    }

    /// `%x` / `%X` of a string: hex of its bytes (`% x` spaced, `%#x` with 0x).
    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let b = s.as_bytes();
        let length = self.f.prec.map_or(b.len(), |p| p.min(b.len()));
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if let Some(w) = self.f.wid {
                self.write_padding(w);
            }
            return;
        }
        let wid = self.f.wid.unwrap_or(0);
        if wid > width && !self.f.minus {
            self.write_padding(wid - width);
        }
        let x = if upper { "0X" } else { "0x" };
        if self.f.sharp {
            self.out.push_str(x);
        }
        for (k, byte) in b[..length].iter().enumerate() {
            if self.f.space && k > 0 {
                self.out.push(' ');
                if self.f.sharp {
                    self.out.push_str(x);
                }
            }
            if upper {
                self.out.push_str(&format!("{byte:02X}"));
            } else {
                self.out.push_str(&format!("{byte:02x}"));
            }
        }
        if wid > width && self.f.minus {
            self.write_padding(wid - width);
        }
    }

    fn fmt_integer_verb(&mut self, i: i64, verb: char, v: &Value) {
        match verb {
            'v' | 'd' => self.fmt_integer(i, 10, verb, false),
            'b' => self.fmt_integer(i, 2, verb, false),
            'o' | 'O' => self.fmt_integer(i, 8, verb, false),
            'x' => self.fmt_integer(i, 16, verb, false),
            'X' => self.fmt_integer(i, 16, verb, true),
            'c' => {
                let c = rune(i);
                self.pad_str(&c.to_string());
            }
            'q' => {
                let c = rune(i);
                let q = if self.f.plus {
                    quote_ascii(&c.to_string())
                } else {
                    quote(&c.to_string())
                };
                let inner = &q[1..q.len() - 1];
                let inner = if c == '\'' {
                    "\\'".to_string()
                } else {
                    inner.replace("\\\"", "\"")
                };
                self.pad_str(&format!("'{inner}'"));
            }
            'U' => {
                let digits = format!("{:X}", i.unsigned_abs());
                let min = self.f.prec.unwrap_or(4);
                let mut s = format!("U+{digits:0>min$}");
                let c = rune(i);
                if self.f.sharp && i >= 0 && is_print(c) {
                    s.push_str(&format!(" '{c}'"));
                }
                let zero = self.f.zero;
                self.f.zero = false;
                self.pad_str(&s);
                self.f.zero = zero;
            }
            _ => self.bad_verb(verb, v),
        }
    }

    /// Go's `fmt.fmtInteger`.
    fn fmt_integer(&mut self, i: i64, base: u32, verb: char, upper: bool) {
        let negative = i < 0;
        let u = i.unsigned_abs();
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let zero = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid.unwrap_or(0));
                self.f.zero = zero;
                return;
            }
        } else if self.f.zero && !self.f.minus && self.f.wid.is_some() {
            prec = self.f.wid.unwrap_or(0);
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut digits = match base {
            2 => format!("{u:b}"),
            8 => format!("{u:o}"),
            16 if upper => format!("{u:X}"),
            16 => format!("{u:x}"),
            _ => u.to_string(),
        };
        if digits.len() < prec {
            digits = format!("{}{digits}", "0".repeat(prec - digits.len()));
        }
        let mut s = String::new();
        if negative {
            s.push('-');
        } else if self.f.plus {
            s.push('+');
        } else if self.f.space {
            s.push(' ');
        }
        if self.f.sharp {
            match base {
                2 => s.push_str("0b"),
                8 if !digits.starts_with('0') => s.push('0'),
                16 => s.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            s.push_str("0o");
        }
        s.push_str(&digits);
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad_str(&s);
        self.f.zero = zero;
    }

    fn fmt_float_verb(&mut self, x: f64, verb: char, v: &Value) {
        let body = match verb {
            'v' | 'g' | 'G' => match self.f.prec {
                None => format_float_g(x, 6),
                Some(p) => format_float_prec_g(x, p),
            },
            'e' | 'E' => format_float_e(x, self.f.prec.unwrap_or(6), false),
            'f' | 'F' => {
                special(x).unwrap_or_else(|| format!("{:.*}", self.f.prec.unwrap_or(6), x))
            }
            _ => return self.bad_verb(verb, v),
        };
        let body = if verb == 'G' || verb == 'E' {
            body.to_uppercase()
                .replace("INF", "Inf")
                .replace("NAN", "NaN")
        } else {
            body
        };
        // Go reserves a sign: '+' for positive numbers, shown only with the plus (or space) flag.
        let (sign, num) = match body.strip_prefix('-') {
            Some(rest) => ('-', rest.to_string()),
            None => ('+', body.trim_start_matches('+').to_string()),
        };
        let sign = if self.f.space && sign == '+' && !self.f.plus {
            ' '
        } else {
            sign
        };
        if num.starts_with("Inf") || num.starts_with("NaN") {
            let zero = self.f.zero;
            self.f.zero = false;
            let s = if num.starts_with("NaN") && !self.f.space && !self.f.plus {
                num
            } else {
                format!("{sign}{num}")
            };
            self.pad_str(&s);
            self.f.zero = zero;
            return;
        }
        if self.f.plus || sign != '+' {
            let len = num.chars().count() + 1;
            let wid = self.f.wid.unwrap_or(0);
            if self.f.zero && !self.f.minus && wid > len {
                self.out.push(sign);
                self.write_padding(wid - len);
                self.out.push_str(&num);
                return;
            }
            self.pad_str(&format!("{sign}{num}"));
            return;
        }
        self.pad_str(&num);
    }

    /// Go's `padString`: width counted in characters, zeros only to the left.
    fn pad_str(&mut self, s: &str) {
        let Some(wid) = self.f.wid.filter(|w| *w > 0) else {
            self.out.push_str(s);
            return;
        };
        let fill = wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.out.push_str(s);
            self.write_padding(fill);
        } else {
            self.write_padding(fill);
            self.out.push_str(s);
        }
    }

    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        self.out.extend(std::iter::repeat_n(c, n));
    }
}

fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Nil | Value::Missing(_))
}

/// Go's `intFromArg`: (value, is an int, next argument index).
fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(i) | Value::Int64(i)) if i.unsigned_abs() <= MAX_NUM as u64 => {
            (*i, true, arg_num + 1)
        }
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

/// An integer as a character, U+FFFD when it is not one.
fn rune(i: i64) -> char {
    u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}')
}

/// Go's `%.Ng`: N significant digits, e-notation when the exponent is < -4 or >= N.
fn format_float_prec_g(x: f64, p: usize) -> String {
    if let Some(s) = special(x) {
        return s;
    }
    let p = p.max(1);
    let e = format_float_e(x, p - 1, false);
    let exp: i32 = e
        .rsplit_once('e')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    if exp < -4 || exp >= i32::try_from(p).unwrap_or(i32::MAX) {
        let (m, n) = e.split_once('e').unwrap_or((&e, ""));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{n}")
    } else {
        let decimals = usize::try_from(i32::try_from(p).unwrap_or(0) - 1 - exp).unwrap_or(0);
        let s = format!("{:.*}", decimals, x);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// Go's `strconv.QuoteToASCII`.
fn quote_ascii(s: &str) -> String {
    let q = quote(s);
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        match c as u32 {
            0..=0x7f => out.push(c),
            n if n < 0x10000 => out.push_str(&format!("\\u{n:04x}")),
            n => out.push_str(&format!("\\U{n:08x}")),
        }
    }
    out
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{feff}' && (c == '\t' || !(c.is_control() || c == '\u{7f}')))
}

#[cfg(test)]
mod tests {
    use super::*;

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
