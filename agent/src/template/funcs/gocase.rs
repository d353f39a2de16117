//! Go's per-rune letter classes and case mappings (`unicode.IsUpper`, `ToUpper`, `ToTitle`, ...), which the
//! case functions of consul-template, sprig and xstrings are built on. Go maps one rune to one rune (Unicode's
//! simple mappings: `ß` stays `ß`); Rust's `char` methods apply the full mappings (`ß` → `SS`) and wider
//! properties, so they are corrected here. `title_full` is the full title-case mapping that
//! golang.org/x/text/cases applies (consul-template's `toTitle`: `ß` → `Ss`).

use std::sync::LazyLock;

use regex::Regex;

static UPPER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{Lu}$").ok());
static LOWER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{Ll}$").ok());
static TITLE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{Lt}$").ok());
static LETTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{L}$").ok());
static PUNCT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{P}$").ok());

/// Whether `c` is in a general category: `ascii` decides for ASCII, the category's pattern for the rest.
fn in_class(c: char, ascii: fn(&char) -> bool, class: &LazyLock<Option<Regex>>) -> bool {
    if c.is_ascii() {
        return ascii(&c);
    }
    class
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}

/// `unicode.IsUpper`: category Lu.
pub(super) fn is_upper(c: char) -> bool {
    in_class(c, char::is_ascii_uppercase, &UPPER)
}

/// `unicode.IsLower`: category Ll.
pub(super) fn is_lower(c: char) -> bool {
    in_class(c, char::is_ascii_lowercase, &LOWER)
}

/// `unicode.IsTitle`: category Lt (`ǅ`, `ᾈ`).
pub(super) fn is_title(c: char) -> bool {
    in_class(c, |_| false, &TITLE)
}

/// `unicode.IsLetter`: category L.
pub(super) fn is_letter(c: char) -> bool {
    in_class(c, char::is_ascii_alphabetic, &LETTER)
}

/// `unicode.IsPunct`: category P (ASCII `$+<=>^`|~` are symbols, not punctuation).
pub(super) fn is_punct(c: char) -> bool {
    in_class(
        c,
        |c| {
            c.is_ascii_punctuation()
                && !matches!(*c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
        },
        &PUNCT,
    )
}

/// The only rune of `mapped`, or `c` when the mapping is several runes (Go has no simple mapping then).
fn single(c: char, mut mapped: impl Iterator<Item = char>) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

/// `unicode.ToUpper`.
pub(super) fn upper(c: char) -> char {
    match c {
        // Greek with ypogegrammeni: the simple mapping is the letter with prosgegrammeni (`ᾀ` → `ᾈ`).
        '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
            char::from_u32(c as u32 + 8).unwrap_or(c)
        }
        '\u{1FB3}' => '\u{1FBC}',
        '\u{1FC3}' => '\u{1FCC}',
        '\u{1FF3}' => '\u{1FFC}',
        _ => single(c, c.to_uppercase()),
    }
}

/// `unicode.ToLower` (`İ` → `i`).
pub(super) fn lower(c: char) -> char {
    match c {
        '\u{130}' => 'i',
        _ => single(c, c.to_lowercase()),
    }
}

/// `unicode.ToTitle`: the upper-case mapping except for digraphs (`ǆ` → `ǅ`) and Georgian letters, whose
/// title case is themselves.
pub(super) fn title(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        '\u{10D0}'..='\u{10FA}' | '\u{10FD}'..='\u{10FF}' => c,
        _ if is_title(c) => c,
        _ => upper(c),
    }
}

/// The full title-case mapping (Unicode's SpecialCasing title column, as x/text/cases applies it).
pub(super) fn title_full(c: char, out: &mut String) {
    let special: Option<&str> = match c {
        'ß' => Some("Ss"),
        '\u{FB00}' => Some("Ff"),
        '\u{FB01}' => Some("Fi"),
        '\u{FB02}' => Some("Fl"),
        '\u{FB03}' => Some("Ffi"),
        '\u{FB04}' => Some("Ffl"),
        '\u{FB05}' | '\u{FB06}' => Some("St"),
        '\u{587}' => Some("\u{535}\u{582}"),
        '\u{FB13}' => Some("\u{544}\u{576}"),
        '\u{FB14}' => Some("\u{544}\u{565}"),
        '\u{FB15}' => Some("\u{544}\u{56B}"),
        '\u{FB16}' => Some("\u{54E}\u{576}"),
        '\u{FB17}' => Some("\u{544}\u{56D}"),
        '\u{1FB2}' => Some("\u{1FBA}\u{345}"),
        '\u{1FB4}' => Some("\u{386}\u{345}"),
        '\u{1FC2}' => Some("\u{1FCA}\u{345}"),
        '\u{1FC4}' => Some("\u{389}\u{345}"),
        '\u{1FF2}' => Some("\u{1FFA}\u{345}"),
        '\u{1FF4}' => Some("\u{38F}\u{345}"),
        '\u{1FB7}' => Some("\u{391}\u{342}\u{345}"),
        '\u{1FC7}' => Some("\u{397}\u{342}\u{345}"),
        '\u{1FF7}' => Some("\u{3A9}\u{342}\u{345}"),
        _ => None,
    };
    if let Some(s) = special {
        out.push_str(s);
    } else if title(c) != upper(c)
        || is_title(c)
        || matches!(
            c,
            '\u{1F80}'..='\u{1FAF}' | '\u{1FB3}' | '\u{1FC3}' | '\u{1FF3}'
        )
    {
        // Digraphs, Georgian, title-case letters and the Greek with ypogegrammeni: one rune.
        out.push(title(c));
    } else {
        out.extend(c.to_uppercase());
    }
}
