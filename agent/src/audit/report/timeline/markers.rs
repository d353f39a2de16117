//! The timeline's markers (one shape per kind of mark), its legend, and the SVG numbers and paths
//! they are drawn with.

use super::{LEGEND, OVERDUE, UNRECORDED};
use crate::audit::report::markup::Markup;
use crate::audit::report::rotation::{Mark, MarkKind};

/// The marker of `mark` at (`x`, `y`), its time as tooltip.
pub(super) fn marker(m: &mut Markup, mark: &Mark, x: f64, y: f64) {
    let class = format!("mark {}", mark.kind.label());
    let tip = format!("{}: {}", mark.kind.label(), mark.time);
    let (tag, attrs) = shape(mark.kind, x, y);
    let mut all: Vec<(&str, &str)> = vec![("class", &class)];
    all.extend(attrs.iter().map(|(k, v)| (*k, v.as_str())));
    m.open(tag, &all).element("title", &[], &tip).close(tag);
}

/// The SVG element and attributes of a marker of `kind` centred on (`x`, `y`).
fn shape(kind: MarkKind, x: f64, y: f64) -> (&'static str, Vec<(&'static str, String)>) {
    match kind {
        MarkKind::Issue => (
            "path",
            vec![
                (
                    "d",
                    path(&[
                        ('M', x, y - 6.0),
                        ('L', x + 6.0, y),
                        ('L', x, y + 6.0),
                        ('L', x - 6.0, y),
                    ]) + "Z",
                ),
                ("fill", "#1a7f37".into()),
            ],
        ),
        MarkKind::Rotation => (
            "circle",
            vec![
                ("cx", num(x)),
                ("cy", num(y)),
                ("r", "5".into()),
                ("fill", "#0969da".into()),
            ],
        ),
        MarkKind::Renewal => (
            "line",
            vec![
                ("x1", num(x)),
                ("x2", num(x)),
                ("y1", num(y - 6.0)),
                ("y2", num(y + 6.0)),
                ("stroke", "#6e7781".into()),
                ("stroke-width", "2".into()),
            ],
        ),
        MarkKind::Failure => (
            "path",
            vec![
                (
                    "d",
                    path(&[
                        ('M', x - 4.0, y - 4.0),
                        ('L', x + 4.0, y + 4.0),
                        ('M', x - 4.0, y + 4.0),
                        ('L', x + 4.0, y - 4.0),
                    ]),
                ),
                ("stroke", "#cf222e".into()),
                ("stroke-width", "2".into()),
            ],
        ),
    }
}

/// The legend: each marker and the overdue shading, named.
pub(super) fn legend(m: &mut Markup) {
    let y = LEGEND / 2.0;
    let mut x = 12.0;
    m.open("g", &[("class", "legend")]);
    for kind in [
        MarkKind::Issue,
        MarkKind::Rotation,
        MarkKind::Renewal,
        MarkKind::Failure,
    ] {
        let (tag, attrs) = shape(kind, x, y);
        let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        m.empty(tag, &attrs);
        m.element(
            "text",
            &[("x", &num(x + 10.0)), ("y", &num(y + 4.0))],
            kind.label(),
        );
        x += 110.0;
    }
    swatch(
        m,
        x,
        y,
        OVERDUE,
        "overdue: longer than rotation_period without a rotation",
    );
    swatch(m, x + 380.0, y, UNRECORDED, "agent down: nothing recorded");
    m.close("g");
}

/// A shaded stretch's key in the legend: a box of `fill` at (`x`, `y`), and its `label`.
fn swatch(m: &mut Markup, x: f64, y: f64, fill: &str, label: &str) {
    m.empty(
        "rect",
        &[
            ("x", &num(x - 6.0)),
            ("y", &num(y - 7.0)),
            ("width", "24"),
            ("height", "14"),
            ("fill", fill),
        ],
    );
    m.element(
        "text",
        &[("x", &num(x + 24.0)), ("y", &num(y + 4.0))],
        label,
    );
}

/// SVG path data: each step a command (`M`ove, `L`ine) to a point.
fn path(steps: &[(char, f64, f64)]) -> String {
    steps
        .iter()
        .map(|(c, x, y)| format!("{c}{} {}", num(*x), num(*y)))
        .collect()
}

/// A coordinate, to a tenth of a pixel.
pub(super) fn num(v: f64) -> String {
    format!("{v:.1}")
}
