//! A small HTML/SVG writer: every text and attribute value is escaped on the way in, so a trail's
//! strings (paths, error texts: attacker-influenced) can only ever be text.

use std::fmt::Write as _;

/// A document being written.
#[derive(Default)]
pub(super) struct Markup {
    out: String,
}

impl Markup {
    /// `<tag a="v" ...>`.
    pub fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"{}\"", escape(value));
        }
        self.out.push('>');
        self
    }

    /// `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        let _ = write!(self.out, "</{tag}>");
        self
    }

    /// `<tag a="v" .../>` (SVG shapes).
    pub fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.open(tag, attrs);
        self.out.pop();
        self.out.push_str("/>");
        self
    }

    /// `<tag ...>text</tag>`.
    pub fn element(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(tag, attrs).text(text).close(tag)
    }

    /// Escaped text.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.out.push_str(&escape(text));
        self
    }

    /// Markup written by this module's callers from constants only (the page's style sheet, its head).
    pub fn raw(&mut self, constant: &'static str) -> &mut Self {
        self.out.push_str(constant);
        self
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// `text` safe inside an element or a quoted attribute value.
pub(super) fn escape(text: &str) -> String {
    let mut o = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Controls other than tab and newline have no place in a report (and some are invalid HTML).
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}
