//! Masterminds/semver v3.4.0, the version `bao agent` links (sprig asks for v3.2 and gets the newer one):
//! versions parsed loosely (`v` prefix, `1.2` → `1.2.0`, leading zeros coerced) and constraints checked
//! with its rules (`~`, `^`, `x` wildcards, hyphen ranges, `,`/space for AND, `||` for OR; a version with a
//! prerelease only matches an AND group that names a prerelease). The Rust `semver` crate follows Cargo's
//! rules instead. The library's regular expressions are used as they are, with `\s` spelled as Go's ASCII
//! class, so constraints split and match exactly as in Go.

use std::any::Any;
use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::LazyLock;

use regex::Regex;

use crate::template::object::GoObject;
use crate::template::value::Value;

/// A parsed version (Go's `semver.Version`).
#[derive(Clone)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

/// One comparison of a constraint string (Go's `constraint`).
struct Constraint {
    op: Op,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

#[derive(Clone, Copy)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// A `*semver.Version` (what `semver` returns) or a `semver.Version` (what `IncMajor` and friends return:
/// a value, whose pointer methods such as `.Original` a template cannot call).
struct SemverObject {
    v: Version,
    pointer: bool,
}

// === regular expressions ===

/// Go's `\s`: ASCII white space only.
const SPACE: &str = r"[\t\n\x0C\r ]";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";

static LOOSE_VERSION: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(
        r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$",
    )
});
static CONSTRAINT: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(&format!(r"^{SPACE}*({OPS}){SPACE}*({CV}){SPACE}*$")));
static RANGE: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(&format!(r"{SPACE}*({CV}){SPACE}+-{SPACE}+({CV}){SPACE}*")));
static FIND: LazyLock<Result<Regex, regex::Error>> =
    LazyLock::new(|| Regex::new(&format!(r"({OPS}){SPACE}*({CV})")));
static VALID: LazyLock<Result<Regex, regex::Error>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^({SPACE}*({OPS}){SPACE}*({CV}){SPACE}*)((?:{SPACE}+|,{SPACE}*)({OPS}){SPACE}*({CV}){SPACE}*)*$"
    ))
});

fn re(r: &'static LazyLock<Result<Regex, regex::Error>>) -> Result<&'static Regex, String> {
    r.as_ref()
        .map_err(|e| format!("semver: internal pattern: {e}"))
}

// === functions ===

/// sprig's `semver`: the version as a `*semver.Version`.
pub(super) fn object(version: &str) -> Result<Value, String> {
    Ok(Value::Object(Rc::new(SemverObject {
        v: Version::parse(version)?,
        pointer: true,
    })))
}

/// sprig's `semverCompare`: whether `version` satisfies `constraint`. Error messages leave both strings
/// out, as either may come from a secret.
pub(super) fn compare(constraint: &str, version: &str) -> Result<bool, String> {
    let groups = parse_constraints(constraint)?;
    let v = Version::parse(version)?;
    Ok(groups
        .iter()
        .any(|(and, has_pre)| and.iter().all(|c| c.check(&v, *has_pre))))
}

/// Go's `NewConstraint`: hyphen ranges rewritten, then OR groups of AND-ed comparisons, each group with
/// whether one of its comparisons names a prerelease.
fn parse_constraints(text: &str) -> Result<Vec<(Vec<Constraint>, bool)>, String> {
    let text = rewrite_range(text)?;
    let mut groups = Vec::new();
    for part in text.split("||") {
        if !re(&VALID)?.is_match(part) {
            return Err("improper constraint".into());
        }
        let found: Vec<&str> = re(&FIND)?.find_iter(part).map(|m| m.as_str()).collect();
        let found = if found.is_empty() { vec![part] } else { found };
        let and = found
            .into_iter()
            .map(Constraint::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let has_pre = and.iter().any(|c| !c.con.pre.is_empty());
        groups.push((and, has_pre));
    }
    Ok(groups)
}

/// Go's `rewriteRange`: each `A - B` becomes `>= A, <= B `, replacing the first occurrence of its text.
fn rewrite_range(text: &str) -> Result<String, String> {
    let mut out = text.to_string();
    for m in re(&RANGE)?.captures_iter(text) {
        let (Some(all), Some(from), Some(to)) = (m.get(0), m.get(1), m.get(11)) else {
            continue;
        };
        let with = format!(">= {}, <= {} ", from.as_str(), to.as_str());
        out = out.replacen(all.as_str(), &with, 1);
    }
    Ok(out)
}

// === impl Version ===

impl Version {
    /// Go's `NewVersion` with `CoerceNewVersion` (the default): the loose pattern, then the prerelease and
    /// metadata checked.
    fn parse(text: &str) -> Result<Self, String> {
        let m = re(&LOOSE_VERSION)?
            .captures(text)
            .ok_or("invalid semantic version")?;
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let number = |s: &str| -> Result<u64, String> {
            if s.is_empty() {
                return Ok(0);
            }
            s.trim_start_matches('.')
                .parse::<u64>()
                .map_err(|_| "error parsing version segment: value out of range".to_string())
        };
        let v = Version {
            major: number(group(1))?,
            minor: number(group(2))?,
            patch: number(group(3))?,
            pre: group(5).to_string(),
            metadata: group(8).to_string(),
            original: text.to_string(),
        };
        if !v.pre.is_empty() {
            validate_prerelease(&v.pre)?;
        }
        if !v.metadata.is_empty() {
            validate_metadata(&v.metadata)?;
        }
        Ok(v)
    }

    /// Go's `Version.String`: without the `v` prefix, with zeros filled in.
    fn to_text(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    /// Go's `Version.Compare`: by numbers, then a prerelease sorts before the release; metadata is ignored.
    fn compare(&self, o: &Version) -> Ordering {
        let numbers = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        if numbers != Ordering::Equal {
            return numbers;
        }
        match (self.pre.is_empty(), o.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_prerelease(&self.pre, &o.pre),
        }
    }

    /// The same version with new `pre`/`metadata`/numbers, its `Original` rebuilt as Go's `Inc*`/`Set*` do.
    fn derive(&self, f: impl FnOnce(&mut Version)) -> Version {
        let mut next = self.clone();
        f(&mut next);
        let prefix = if self.original.starts_with('v') {
            "v"
        } else {
            ""
        };
        next.original = format!("{prefix}{}", next.to_text());
        next
    }
}

/// Go's `comparePrerelease`: dot-separated parts compared in turn, a missing part sorting first.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let d = compare_pre_part(
            pa.get(i).copied().unwrap_or(""),
            pb.get(i).copied().unwrap_or(""),
        );
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

/// Go's `comparePrePart`: numbers numerically and before words; words by bytes; an empty part first.
fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => s.cmp(o),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        // Equal numbers in different spellings (`01`, `1`) are not equal to Go either.
        (Ok(x), Ok(y)) if x > y => Ordering::Greater,
        (Ok(_), Ok(_)) => Ordering::Less,
    }
}

const ALLOWED: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789";

/// Go's `validatePrerelease`: non-empty identifiers of `[0-9A-Za-z-]`, numbers without leading zeros.
fn validate_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if part.is_empty() {
            return Err("invalid prerelease string".into());
        }
        if part.bytes().all(|b| b.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err("version segment starts with 0".into());
            }
        } else if !part.chars().all(|c| ALLOWED.contains(c)) {
            return Err("invalid prerelease string".into());
        }
    }
    Ok(())
}

/// Go's `validateMetadata`: non-empty identifiers of `[0-9A-Za-z-]`.
fn validate_metadata(m: &str) -> Result<(), String> {
    if m.split('.')
        .any(|part| part.is_empty() || !part.chars().all(|c| ALLOWED.contains(c)))
    {
        return Err("invalid metadata string".into());
    }
    Ok(())
}

// === impl Constraint ===

impl Constraint {
    /// Go's `parseConstraint`: an operator and a version in which `x`, `X`, `*` or a missing part makes the
    /// comparison "dirty" (a range over that part).
    fn parse(text: &str) -> Result<Constraint, String> {
        let m = re(&CONSTRAINT)?
            .captures(text)
            .ok_or("improper constraint")?;
        let group = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let op = match group(1) {
            "" | "=" => Op::TildeOrEqual,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEqual,
            "<=" | "=<" => Op::LessEqual,
            "~" | "~>" => Op::Tilde,
            _ => Op::Caret,
        };
        let is_x = |s: &str| matches!(s, "x" | "X" | "*");
        let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
        let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
        let version = if is_x(major) {
            dirty = true;
            format!("0.0.0{pre}")
        } else if minor.is_empty() || is_x(&minor[1..]) {
            (dirty, minor_dirty) = (true, true);
            format!("{major}.0.0{pre}")
        } else if patch.is_empty() || is_x(&patch[1..]) {
            (dirty, patch_dirty) = (true, true);
            format!("{major}{minor}.0{pre}")
        } else {
            group(2).to_string()
        };
        let con = Version::parse(&version).map_err(|_| "constraint parser error".to_string())?;
        Ok(Constraint {
            op,
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    /// Whether `v` satisfies this comparison; a prerelease never does unless its AND group names one.
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op {
            Op::TildeOrEqual if self.dirty => self.tilde(v),
            Op::TildeOrEqual => v.compare(c) == Ordering::Equal,
            Op::NotEqual => self.not_equal(v),
            Op::Greater => self.greater(v),
            Op::Less => v.compare(c) == Ordering::Less,
            Op::GreaterEqual => v.compare(c) != Ordering::Less,
            Op::LessEqual => self.less_equal(v),
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if c.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                if !v.pre.is_empty() || !c.pre.is_empty() {
                    return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                }
                return false;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn less_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) != Ordering::Greater;
        }
        // `<=1.2` takes all of 1.2.x; `<=1` all of 1.x.
        !(v.major > c.major || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) == Ordering::Greater;
        }
        if v.major != c.major {
            return v.major > c.major;
        }
        if self.minor_dirty {
            // `>1` wants 2.0.0 or more: 1.x is not greater.
            return false;
        }
        if self.patch_dirty {
            return v.minor > c.minor;
        }
        v.compare(c) == Ordering::Greater
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        // `~0.0.0` (and `~*`) accepts everything.
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        c.patch == v.patch
    }
}

// === impl GoObject for SemverObject ===

impl SemverObject {
    fn value(v: Version) -> Value {
        Value::Object(Rc::new(SemverObject { v, pointer: false }))
    }

    /// The `*semver.Version` argument of `Compare` and friends; `None` for a nil pointer.
    fn pointer_arg<'a>(name: &str, arg: &'a Value) -> Result<Option<&'a Version>, String> {
        match arg {
            Value::Nil => Ok(None),
            Value::Object(o) => match o.as_any().downcast_ref::<SemverObject>() {
                Some(s) if s.pointer => Ok(Some(&s.v)),
                _ => Err(format!(
                    "wrong type for value; expected *semver.Version; got {}",
                    o.type_name()
                )),
            },
            other => Err(format!(
                "{name}: wrong type for value; expected *semver.Version; got {}",
                other.type_name()
            )),
        }
    }
}

/// Go's `uint64` fields, as the nearest template integer.
fn uint(n: u64) -> Value {
    Value::Int64(i64::try_from(n).unwrap_or(i64::MAX))
}

fn arity_error(name: &str, want: usize, got: usize) -> Result<Value, String> {
    Err(format!(
        "wrong number of args for {name}: want {want} got {got}"
    ))
}

/// Methods with a pointer receiver: a `semver.Version` value has none of them.
const POINTER_METHODS: &[&str] = &[
    "Original",
    "Compare",
    "Equal",
    "LessThan",
    "LessThanEqual",
    "GreaterThan",
    "GreaterThanEqual",
];

impl GoObject for SemverObject {
    fn type_name(&self) -> &'static str {
        if self.pointer {
            "*semver.Version"
        } else {
            "semver.Version"
        }
    }

    fn kind(&self) -> &'static str {
        if self.pointer { "ptr" } else { "struct" }
    }

    fn field(&self, name: &str) -> Option<Result<Value, String>> {
        self.method(name, &[])
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if !self.pointer && POINTER_METHODS.contains(&name) {
            return None;
        }
        let v = &self.v;
        let want = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            }
        };
        let text = |s: &str| Value::str(s);
        let bytes = |s: &str| Value::list(s.bytes().map(|b| Value::Int(i64::from(b))).collect());
        Some(match name {
            "Major" => want(0).map(|()| uint(v.major)),
            "Minor" => want(0).map(|()| uint(v.minor)),
            "Patch" => want(0).map(|()| uint(v.patch)),
            "Prerelease" => want(0).map(|()| text(&v.pre)),
            "Metadata" => want(0).map(|()| text(&v.metadata)),
            "Original" => want(0).map(|()| text(&v.original)),
            "String" | "Value" => want(0).map(|()| text(&v.to_text())),
            "MarshalText" => want(0).map(|()| bytes(&v.to_text())),
            "MarshalJSON" => want(0).map(|()| bytes(&format!("{:?}", v.to_text()))),
            "IncPatch" => want(0).map(|()| {
                Self::value(v.derive(|n| {
                    if n.pre.is_empty() {
                        n.patch = n.patch.wrapping_add(1);
                    }
                    n.pre.clear();
                    n.metadata.clear();
                }))
            }),
            "IncMinor" => want(0).map(|()| {
                Self::value(v.derive(|n| {
                    (n.minor, n.patch) = (n.minor.wrapping_add(1), 0);
                    n.pre.clear();
                    n.metadata.clear();
                }))
            }),
            "IncMajor" => want(0).map(|()| {
                Self::value(v.derive(|n| {
                    (n.major, n.minor, n.patch) = (n.major.wrapping_add(1), 0, 0);
                    n.pre.clear();
                    n.metadata.clear();
                }))
            }),
            "SetPrerelease" | "SetMetadata" => match args {
                [Value::Str(s)] => {
                    let s = s.as_str();
                    let checked = if s.is_empty() {
                        Ok(())
                    } else if name == "SetPrerelease" {
                        validate_prerelease(s)
                    } else {
                        validate_metadata(s)
                    };
                    checked.map(|()| {
                        Self::value(v.derive(|n| {
                            if name == "SetPrerelease" {
                                n.pre = s.to_string();
                            } else {
                                n.metadata = s.to_string();
                            }
                        }))
                    })
                }
                [other] => Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                )),
                _ => arity_error(name, 1, args.len()),
            },
            "Compare" | "Equal" | "LessThan" | "LessThanEqual" | "GreaterThan"
            | "GreaterThanEqual" => {
                let [arg] = args else {
                    return Some(arity_error(name, 1, args.len()));
                };
                match Self::pointer_arg(name, arg) {
                    Err(e) => Err(e),
                    // Go's Equal checks for nil; the others dereference it and panic.
                    Ok(None) if name == "Equal" => Ok(Value::Bool(false)),
                    Ok(None) => Err(
                        "runtime error: invalid memory address or nil pointer dereference".into(),
                    ),
                    Ok(Some(o)) => {
                        let d = v.compare(o);
                        Ok(match name {
                            "Compare" => Value::Int(match d {
                                Ordering::Less => -1,
                                Ordering::Equal => 0,
                                Ordering::Greater => 1,
                            }),
                            "Equal" => Value::Bool(d == Ordering::Equal),
                            "LessThan" => Value::Bool(d == Ordering::Less),
                            "LessThanEqual" => Value::Bool(d != Ordering::Greater),
                            "GreaterThan" => Value::Bool(d == Ordering::Greater),
                            _ => Value::Bool(d != Ordering::Less),
                        })
                    }
                }
            }
            _ => return None,
        })
    }

    fn write_v(&self, out: &mut String) {
        out.push_str(&self.v.to_text());
    }

    /// `MarshalJSON` and `MarshalText` both give the `String()` form.
    fn plain(&self) -> Result<Value, String> {
        Ok(Value::str(self.v.to_text()))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
