//! The timeline chart of the HTML report (inline SVG): one row per secret path, a time axis in UTC,
//! a marker per issuance, rotation, renewal and failure, overdue stretches shaded, and a legend.

use std::collections::HashSet;

use super::markup::Markup;
use super::rotation::MarkKind;
use super::{Report, SecretLine, unix_ms};

mod markers;

use markers::{legend, marker, num};

const WIDTH: f64 = 1100.0;
/// The column of secret paths.
const LABEL: f64 = 330.0;
const RIGHT: f64 = 30.0;
const LEGEND: f64 = 34.0;
const AXIS: f64 = 26.0;
const ROW: f64 = 24.0;
/// Longer paths are cut at the front (their end says most); the whole path is the label's tooltip.
const LABEL_CHARS: usize = 42;

/// The shade of an overdue stretch.
const OVERDUE: &str = "#ffd7d5";
/// The shade of a stretch with nothing recorded.
const UNRECORDED: &str = "#afb8c1";

/// Tick steps, in milliseconds: the first that gives at most 8 ticks is used.
const STEPS: [i64; 24] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    1_209_600_000,
    2_592_000_000,
    7_776_000_000,
    31_536_000_000,
];

/// The time range drawn, and how a time maps to x.
struct Axis {
    from: i64,
    to: i64,
}

impl Axis {
    fn x(&self, ms: i64) -> f64 {
        let span = (self.to - self.from) as f64;
        let at = (ms.clamp(self.from, self.to) - self.from) as f64;
        LABEL + at / span * (WIDTH - LABEL - RIGHT)
    }

    /// Each tick's time and label.
    fn ticks(&self) -> Vec<(i64, String)> {
        let span = self.to - self.from;
        let step = STEPS
            .iter()
            .copied()
            .find(|s| span / s <= 8)
            // Centuries (a trail with a wrong clock): eight ticks at whatever times.
            .unwrap_or(span / 8);
        let format: &[time::format_description::BorrowedFormatItem<'_>] = if step >= 86_400_000 {
            time::macros::format_description!("[year]-[month]-[day]")
        } else if span < 86_400_000 {
            time::macros::format_description!("[hour]:[minute]:[second]")
        } else {
            time::macros::format_description!("[month]-[day] [hour]:[minute]")
        };
        let first = self.from.div_euclid(step) * step
            + if self.from.rem_euclid(step) == 0 {
                0
            } else {
                step
            };
        (0..)
            .map(|i| first + i * step)
            .take_while(|t| *t <= self.to)
            .filter_map(|t| {
                let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000);
                Some((t, at.ok()?.format(format).ok()?))
            })
            .collect()
    }
}

/// The chart of `r`'s secrets.
pub(super) fn chart(m: &mut Markup, r: &Report) {
    let Some(axis) = axis(r) else {
        m.element("p", &[], "No secret was retrieved in the window.");
        return;
    };
    let rows = r.secrets.len() as f64;
    let top = LEGEND + AXIS;
    let height = top + rows * ROW + AXIS;
    let (w, h) = (num(WIDTH), num(height));
    m.element(
        "p",
        &[],
        &format!(
            "Times in UTC, {} to {}. Hover a marker for its time.",
            r.from, r.to
        ),
    );
    m.open("div", &[("class", "scroll")]);
    m.open(
        "svg",
        &[
            ("id", "timeline"),
            ("width", &w),
            ("height", &h),
            ("viewBox", &format!("0 0 {w} {h}")),
            ("role", "img"),
            (
                "aria-label",
                "Issuances, rotations, renewals and failures per secret",
            ),
            ("font-family", "system-ui,sans-serif"),
            ("font-size", "12"),
        ],
    );
    legend(m);
    let bottom = top + rows * ROW;
    for (t, label) in axis.ticks() {
        let x = num(axis.x(t));
        m.empty(
            "line",
            &[
                ("x1", &x),
                ("x2", &x),
                ("y1", &num(top - 4.0)),
                ("y2", &num(bottom)),
                ("stroke", "#d0d7de"),
            ],
        );
        for y in [top - 8.0, bottom + 16.0] {
            m.element(
                "text",
                &[
                    ("x", &x),
                    ("y", &num(y)),
                    ("text-anchor", "middle"),
                    ("fill", "#57606a"),
                ],
                &label,
            );
        }
    }
    for (i, line) in r.secrets.iter().enumerate() {
        row(m, &axis, line, top + i as f64 * ROW, i % 2 == 0);
    }
    unrecorded(m, &axis, r, top, bottom);
    m.close("svg").close("div").raw("\n");
}

/// The range drawn: the report's window, or the marks' times; a moment is widened to a second.
fn axis(r: &Report) -> Option<Axis> {
    if r.secrets.is_empty() {
        return None;
    }
    let marks = || {
        r.secrets
            .iter()
            .flat_map(|l| &l.timeline)
            .filter_map(|m| m.ms)
    };
    let from = unix_ms(&r.from).or_else(|| marks().min())?;
    let to = unix_ms(&r.to).or_else(|| marks().max())?.max(from);
    let to = if to - from < 1000 { from + 1000 } else { to };
    Some(Axis { from, to })
}

fn row(m: &mut Markup, axis: &Axis, l: &SecretLine, y: f64, stripe: bool) {
    let mid = y + ROW / 2.0;
    if stripe {
        m.empty(
            "rect",
            &[
                ("x", "0"),
                ("y", &num(y)),
                ("width", &num(WIDTH)),
                ("height", &num(ROW)),
                ("fill", "#f6f8fa"),
            ],
        );
    }
    let name = if l.workload.is_empty() {
        l.path.clone()
    } else {
        format!("{}: {}", l.workload, l.path)
    };
    let shown = if name.chars().count() > LABEL_CHARS {
        let tail: String = name.chars().rev().take(LABEL_CHARS - 1).collect();
        format!("…{}", tail.chars().rev().collect::<String>())
    } else {
        name.clone()
    };
    let (fill, weight, note) = if l.rotation_overdue {
        ("#b00020", "bold", " (overdue)")
    } else {
        ("#1f2328", "normal", "")
    };
    m.open(
        "text",
        &[
            ("x", "6"),
            ("y", &num(mid + 4.0)),
            ("fill", fill),
            ("font-weight", weight),
        ],
    )
    .element("title", &[], &format!("{name}{note}"))
    .text(&shown)
    .close("text");
    m.empty(
        "line",
        &[
            ("x1", &num(LABEL)),
            ("x2", &num(WIDTH - RIGHT)),
            ("y1", &num(mid)),
            ("y2", &num(mid)),
            ("stroke", "#8c959f"),
        ],
    );
    for o in &l.overdue {
        let (x1, x2) = (axis.x(o.from_ms), axis.x(o.to_ms));
        let until = if o.open {
            "the end of the window"
        } else {
            &o.to
        };
        m.open(
            "rect",
            &[
                ("class", "overdue"),
                ("x", &num(x1)),
                ("y", &num(y + 3.0)),
                ("width", &num((x2 - x1).max(1.0))),
                ("height", &num(ROW - 6.0)),
                ("fill", OVERDUE),
                ("fill-opacity", "0.8"),
                ("stroke", "#cf222e"),
            ],
        )
        .element(
            "title",
            &[],
            &format!(
                "overdue: {} s without a rotation (rotation_period {} s), {} to {until}",
                o.seconds,
                l.rotation_period_s.unwrap_or_default(),
                o.from
            ),
        )
        .close("rect");
    }
    // One marker per kind and pixel: a window of months holds thousands of renewals.
    let mut drawn: HashSet<(MarkKind, i64)> = HashSet::new();
    for mark in &l.timeline {
        let Some(ms) = mark.ms else { continue };
        let x = axis.x(ms);
        if drawn.insert((mark.kind, x.round() as i64)) {
            marker(m, mark, x, mid);
        }
    }
}

/// The stretches the agent was down (from a run's last event to the next run's first), across every
/// row: nothing was recorded then.
fn unrecorded(m: &mut Markup, axis: &Axis, r: &Report, top: f64, bottom: f64) {
    for restart in &r.restarts {
        let (Some(from), Some(to)) = (unix_ms(&restart.previous_time), unix_ms(&restart.time))
        else {
            continue;
        };
        let (x1, x2) = (axis.x(from), axis.x(to));
        m.open(
            "rect",
            &[
                ("class", "unrecorded"),
                ("x", &num(x1)),
                ("y", &num(top)),
                ("width", &num((x2 - x1).max(1.0))),
                ("height", &num(bottom - top)),
                ("fill", UNRECORDED),
                ("fill-opacity", "0.5"),
            ],
        )
        .element(
            "title",
            &[],
            &format!(
                "agent restart: nothing recorded from {} to {} ({} s); new run {}",
                restart.previous_time,
                restart.time,
                restart.down_s.unwrap_or_default(),
                restart.agent
            ),
        )
        .close("rect");
    }
}
