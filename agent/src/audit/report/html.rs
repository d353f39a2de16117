//! The evidence pack as one self-contained HTML page: the same findings and tables as the Markdown
//! form, and a timeline per secret (inline SVG). Nothing is loaded from anywhere: no script, font,
//! style sheet or image outside the file, and a Content-Security-Policy that forbids them all, so the
//! page opens offline and a string from the trail can never run.

use super::Report;
use super::markup::Markup;
use super::tables::{Block, Table};
use super::timeline;

/// Everything the page may use is inline style; nothing may be fetched, framed or run.
const HEAD: &str = concat!(
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; ",
    "base-uri 'none'; form-action 'none'\">",
    "<meta name=\"referrer\" content=\"no-referrer\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
);

const STYLE: &str = "<style>
body{font-family:system-ui,sans-serif;font-size:14px;color:#1f2328;margin:24px;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d0d7de}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f6f8fa}
.scroll{overflow-x:auto}
.alert{color:#b00020;font-weight:bold}
ul.facts li{margin:2px 0}
code{background:#f6f8fa;padding:0 3px}
footer{margin-top:32px;color:#656d76;font-size:12px}
</style>";

impl Report {
    /// The page.
    pub fn to_html(&self) -> String {
        let mut m = Markup::default();
        m.raw(HEAD);
        m.element(
            "title",
            &[],
            &format!("sidekey evidence report {} to {}", self.from, self.to),
        );
        m.raw(STYLE).raw("</head><body>\n");
        for block in self.blocks() {
            match block {
                Block::Heading { level, text, code } => {
                    let tag = match level {
                        1 => "h1",
                        2 => "h2",
                        _ => "h3",
                    };
                    m.open(tag, &[]).text(&text);
                    if let Some(code) = code {
                        m.text(" ").element("code", &[], &code);
                    }
                    m.close(tag).raw("\n");
                }
                Block::Para(text) => {
                    m.element("p", &[], &text).raw("\n");
                }
                Block::Facts(facts) => {
                    m.open("ul", &[("class", "facts")]);
                    for f in &facts {
                        m.element("li", class(f.alert), &f.text);
                    }
                    m.close("ul").raw("\n");
                }
                Block::Table(t) => table(&mut m, &t),
                Block::Timeline => {
                    m.element("h2", &[], "Timeline");
                    timeline::chart(&mut m, self);
                }
            }
        }
        m.element(
            "footer",
            &[],
            &format!(
                "Written by sidekey {} from the audit trail; times in UTC.",
                env!("CARGO_PKG_VERSION")
            ),
        );
        m.raw("\n</body></html>\n");
        m.finish()
    }
}

fn table(m: &mut Markup, t: &Table) {
    m.open("div", &[("class", "scroll")]).open("table", &[]);
    m.open("thead", &[]).open("tr", &[]);
    for h in &t.head {
        m.element("th", &[], h);
    }
    m.close("tr").close("thead").open("tbody", &[]);
    for row in &t.rows {
        m.open("tr", &[]);
        for c in row {
            m.element("td", class(c.alert), &c.text);
        }
        m.close("tr").raw("\n");
    }
    m.close("tbody").close("table").close("div").raw("\n");
}

fn class(alert: bool) -> &'static [(&'static str, &'static str)] {
    if alert { &[("class", "alert")] } else { &[] }
}
