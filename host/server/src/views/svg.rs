//! A view drawn as SVG with `plotters`: bars, lines, points, histograms and heatmaps, with a
//! title, axis labels and, where marks are coloured by a column, a legend.
//!
//! Every data mark (a bar, a point, a bin, a cell), and nothing else in the drawing, is filled
//! at opacity [`MARK_OPACITY`], so a reader of the SVG can count marks apart from the frame,
//! the grid and the legend's hollow keys.

use std::collections::BTreeMap;

use plotters::prelude::*;
use tessera_core::manifest::{View, ViewKind};

use super::data::{Series, ViewData, short_number};

/// Opacity of every data mark, and of nothing else.
pub const MARK_OPACITY: f64 = 0.85;

/// Width and height of a chart, in pixels (the SVG scales to its container).
const SIZE: (u32, u32) = (720, 420);

/// The most categories a bar chart draws (the first ones, in the data's order).
pub const MAX_BARS: usize = 200;

/// The most categories per axis of a heatmap.
pub const MAX_CELLS_PER_AXIS: usize = 60;

/// Up to this many points, a scatter or a line draws a mark per point; above it, points of a
/// series that fall on the same pixel are drawn once (the picture is the same, the SVG is not
/// megabytes of coincident circles).
pub const EXACT_POINTS: usize = 5_000;

/// Bins of a histogram (equal widths between the smallest and the largest value, the last
/// one closed, as numpy's `histogram` makes them).
pub const BINS: usize = 20;

/// Colours of the series, in order (Tableau 10).
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn colour(index: usize, alpha: f64) -> RGBAColor {
    let (r, g, b) = PALETTE
        .get(index % PALETTE.len())
        .copied()
        .unwrap_or((127, 127, 127));
    RGBAColor(r, g, b, alpha)
}

/// `view` drawn from `data`, as an SVG document.
pub fn render(view: &View, data: &ViewData) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let drawn = match view.kind {
            ViewKind::Bar => bars(&root, view, data),
            ViewKind::Line => points(&root, view, data, true),
            ViewKind::Scatter => points(&root, view, data, false),
            ViewKind::Histogram => histogram(&root, view, data),
            ViewKind::Heatmap => heatmap(&root, view, data),
        };
        drawn.map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(accessible(svg, view, data))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

fn title(view: &View, data: &ViewData) -> String {
    let title = if view.title.is_empty() {
        view.name.clone()
    } else {
        view.title.clone()
    };
    if data.truncated {
        format!("{title} (first {} rows)", short_number(data.rows() as f64))
    } else {
        title
    }
}

/// The range of `values`, widened when empty or a single value, with a little room.
fn span(values: impl Iterator<Item = f64>, include_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if include_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if let Some(widened) = widen_if_narrow(lo, hi) {
        return widened;
    }
    let pad = (hi - lo) * 0.05;
    (
        if include_zero && lo == 0.0 {
            0.0
        } else {
            lo - pad
        },
        hi + pad,
    )
}

/// A range around `lo..hi` wide enough to draw, if it is too narrow for its magnitude: axis
/// ticks of a range narrower than a millionth of its values' size are below `f64`'s precision
/// (the tick search would never end).
fn widen_if_narrow(lo: f64, hi: f64) -> Option<(f64, f64)> {
    let magnitude = lo.abs().max(hi.abs());
    if hi - lo >= (magnitude * 1e-6).max(1e-9) {
        return None;
    }
    let half = (magnitude * 1e-3).max(0.5);
    let middle = lo / 2.0 + hi / 2.0;
    Some((middle - half, middle + half))
}

fn clip_label(label: &str) -> String {
    if label.chars().count() > 16 {
        let mut cut: String = label.chars().take(15).collect();
        cut.push('…');
        cut
    } else {
        label.to_string()
    }
}

fn bars(root: &Area<'_>, view: &View, data: &ViewData) -> Drawn {
    let y = data.y.as_ref().ok_or("a bar chart needs y")?;
    let shown = data.rows().min(MAX_BARS);
    let labels: Vec<String> = (0..shown)
        .map(|i| data.x.label(i).unwrap_or_else(|| "null".into()))
        .collect();
    let values: Vec<(u32, f64)> = (0..shown)
        .filter_map(|i| Some((u32::try_from(i).ok()?, y.number(i)?)))
        .collect();
    let (lo, hi) = span(values.iter().map(|(_, v)| *v), true);
    let mut chart = ChartBuilder::on(root)
        .caption(title(view, data), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(category_axis(shown), lo..hi)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .disable_x_mesh()
        .x_labels(shown.clamp(1, 24))
        .x_label_formatter(&|v| category_label(&labels, *v))
        .y_label_formatter(&|v| short_number(*v))
        .light_line_style(TRANSPARENT)
        .x_desc(view.x.as_str())
        .y_desc(view.y.as_deref().unwrap_or(""))
        .draw()?;
    chart.draw_series(values.iter().map(|&(i, v)| {
        let at = f64::from(i);
        Rectangle::new(
            [(at - 0.42, 0.0), (at + 0.42, v)],
            colour(0, MARK_OPACITY).filled(),
        )
    }))?;
    Ok(())
}

/// The x (or y) range of `n` categories: category `i` is centred on `i`.
fn category_axis(n: usize) -> std::ops::Range<f64> {
    -0.5..(n.max(1) as f64 - 0.5)
}

/// The label of the category at `v`, if `v` is one's centre.
fn category_label(labels: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    labels
        .get(i as usize)
        .map(|l| clip_label(l))
        .unwrap_or_default()
}

/// A series: the value of the colour column it stands for (none without one) and its items.
type Group<T> = (Option<String>, Vec<T>);

/// The groups of `color` in the data's order, each with its rows.
fn groups(data: &ViewData) -> Vec<Group<usize>> {
    let Some(color) = &data.color else {
        return vec![(None, (0..data.rows()).collect())];
    };
    let mut order: Vec<Group<usize>> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..data.rows() {
        let key = color.label(i).unwrap_or_else(|| "null".into());
        let at = *index.entry(key.clone()).or_insert_with(|| {
            order.push((Some(key), Vec::new()));
            order.len() - 1
        });
        if let Some((_, rows)) = order.get_mut(at) {
            rows.push(i);
        }
    }
    order
}

fn points(root: &Area<'_>, view: &View, data: &ViewData, line: bool) -> Drawn {
    let y = data.y.as_ref().ok_or("this chart needs y")?;
    let pairs = |rows: &[usize]| -> Vec<(f64, f64)> {
        let mut pairs: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|&i| Some((data.x.number(i)?, y.number(i)?)))
            .collect();
        if line {
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        pairs
    };
    let groups: Vec<Group<(f64, f64)>> = groups(data)
        .into_iter()
        .map(|(name, rows)| (name, pairs(&rows)))
        .collect();
    let all = || groups.iter().flat_map(|(_, p)| p.iter());
    let (x_lo, x_hi) = span(all().map(|p| p.0), false);
    let (y_lo, y_hi) = span(all().map(|p| p.1), false);
    let mut chart = ChartBuilder::on(root)
        .caption(title(view, data), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .x_desc(view.x.as_str())
        .y_desc(view.y.as_deref().unwrap_or(""))
        .x_label_formatter(&|v| short_number(*v))
        .y_label_formatter(&|v| short_number(*v))
        .light_line_style(TRANSPARENT)
        .draw()?;
    let crowded = all().count() > EXACT_POINTS;
    let radius = if crowded { 2 } else { 3 };
    for (n, (name, pairs)) in groups.iter().enumerate() {
        // Many points: those of a series that land on the same pixel are drawn once.
        let mut seen = std::collections::HashSet::new();
        let shown: Vec<(f64, f64)> = if crowded {
            pairs
                .iter()
                .copied()
                .filter(|p| seen.insert(chart.backend_coord(p)))
                .collect()
        } else {
            pairs.clone()
        };
        if line {
            chart.draw_series(LineSeries::new(
                pairs.iter().copied(),
                colour(n, 1.0).stroke_width(2),
            ))?;
        }
        let drawn = chart.draw_series(
            shown
                .iter()
                .map(|&p| Circle::new(p, radius, colour(n, MARK_OPACITY).filled())),
        )?;
        if let Some(name) = name {
            let key = colour(n, 1.0);
            drawn
                .label(format!(
                    "{} = {}",
                    view.color.as_deref().unwrap_or(""),
                    clip_label(name)
                ))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], key.stroke_width(2))
                });
        }
    }
    if groups.iter().any(|(name, _)| name.is_some()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
    }
    Ok(())
}

/// Counts per bin: [`BINS`] equal-width bins between the smallest and the largest value, the
/// last one closed; one bin when every value is the same (or the values differ by less than
/// `f64` can draw). Returns the edges and the counts.
pub fn bin(values: &[f64]) -> (Vec<f64>, Vec<u64>) {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if values.is_empty() {
        return (Vec::new(), Vec::new());
    }
    if let Some((from, to)) = widen_if_narrow(lo, hi) {
        return (vec![from, to], vec![values.len() as u64]);
    }
    let width = (hi - lo) / BINS as f64;
    let edges: Vec<f64> = (0..=BINS).map(|i| lo + width * i as f64).collect();
    let mut counts = vec![0u64; BINS];
    for &v in values {
        let at = (((v - lo) / width).floor() as usize).min(BINS - 1);
        if let Some(c) = counts.get_mut(at) {
            *c += 1;
        }
    }
    (edges, counts)
}

fn histogram(root: &Area<'_>, view: &View, data: &ViewData) -> Drawn {
    let values: Vec<f64> = (0..data.rows()).filter_map(|i| data.x.number(i)).collect();
    let (edges, counts) = bin(&values);
    let (x_lo, x_hi) = match (edges.first(), edges.last()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => (0.0, 1.0),
    };
    let top = counts.iter().copied().max().unwrap_or(0) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(title(view, data), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, 0.0..(top * 1.05).max(1.0))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .disable_x_mesh()
        .x_desc(view.x.as_str())
        .y_desc("rows")
        .x_label_formatter(&|v| short_number(*v))
        .y_label_formatter(&|v| short_number(*v))
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .filter_map(|(i, &c)| {
                let (&from, &to) = (edges.get(i)?, edges.get(i + 1)?);
                let mut bar = Rectangle::new(
                    [(from, 0.0), (to, c as f64)],
                    colour(0, MARK_OPACITY).filled(),
                );
                bar.set_margin(0, 0, 1, 1);
                Some(bar)
            }),
    )?;
    Ok(())
}

/// Distinct labels of `series` in the order they first appear, at most `limit`.
fn categories(series: &Series, limit: usize) -> Vec<String> {
    let mut seen = BTreeMap::new();
    let mut order = Vec::new();
    for i in 0..series.len() {
        let label = series.label(i).unwrap_or_else(|| "null".into());
        if !seen.contains_key(&label) && order.len() < limit {
            seen.insert(label.clone(), order.len());
            order.push(label);
        }
    }
    order
}

/// A heatmap's grid: its x categories, its y categories, and the value of each (x, y) cell.
pub type Grid = (Vec<String>, Vec<String>, BTreeMap<(usize, usize), f64>);

/// The cells of a heatmap: per (x, y) category pair, the last value the data gives it.
pub fn cells(data: &ViewData) -> Grid {
    let (Some(y), Some(value)) = (&data.y, &data.color) else {
        return (Vec::new(), Vec::new(), BTreeMap::new());
    };
    let xs = categories(&data.x, MAX_CELLS_PER_AXIS);
    let ys = categories(y, MAX_CELLS_PER_AXIS);
    let mut grid = BTreeMap::new();
    for i in 0..data.rows() {
        let x_label = data.x.label(i).unwrap_or_else(|| "null".into());
        let y_label = y.label(i).unwrap_or_else(|| "null".into());
        let (Some(xi), Some(yi), Some(v)) = (
            xs.iter().position(|c| *c == x_label),
            ys.iter().position(|c| *c == y_label),
            value.number(i),
        ) else {
            continue;
        };
        grid.insert((xi, yi), v);
    }
    (xs, ys, grid)
}

fn heatmap(root: &Area<'_>, view: &View, data: &ViewData) -> Drawn {
    let (xs, ys, grid) = cells(data);
    let (lo, hi) = grid
        .values()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let legend = if grid.is_empty() {
        String::new()
    } else {
        format!(
            "  (colour: {} from {} to {})",
            view.color.as_deref().unwrap_or(""),
            short_number(lo),
            short_number(hi)
        )
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title(view, data), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(56)
        .y_label_area_size(96)
        .build_cartesian_2d(category_axis(xs.len()), category_axis(ys.len()))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .disable_mesh()
        .x_labels(xs.len().clamp(1, 30))
        .y_labels(ys.len().clamp(1, 30))
        .x_label_formatter(&|v| category_label(&xs, *v))
        .y_label_formatter(&|v| category_label(&ys, *v))
        .x_desc(format!("{}{legend}", view.x))
        .y_desc(view.y.as_deref().unwrap_or(""))
        .draw()?;
    let shade = |v: f64| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
        // From a pale to a deep blue.
        let mix = |a: f64, b: f64| (a + (b - a) * t).round().clamp(0.0, 255.0) as u8;
        RGBAColor(
            mix(222.0, 8.0),
            mix(235.0, 69.0),
            mix(247.0, 148.0),
            MARK_OPACITY,
        )
    };
    chart.draw_series(grid.iter().map(|(&(xi, yi), &v)| {
        let (x, y) = (xi as f64, yi as f64);
        Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], shade(v).filled())
    }))?;
    if grid.len() <= 144 {
        chart.draw_series(grid.iter().map(|(&(xi, yi), &v)| {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            let ink = if t > 0.5 { WHITE } else { BLACK };
            Text::new(
                short_number(v),
                (xi as f64, yi as f64),
                ("sans-serif", 13).into_font().color(&ink).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )
        }))?;
    }
    Ok(())
}

/// The SVG with a `viewBox` (so it scales), `role="img"` and the title as its label.
fn accessible(svg: String, view: &View, data: &ViewData) -> String {
    let label = escape_attribute(&title(view, data));
    let (w, h) = SIZE;
    let Some(at) = svg.find("<svg") else {
        return svg;
    };
    let opening = svg[at..].split('>').next().unwrap_or("");
    let view_box = if opening.contains("viewBox") {
        String::new()
    } else {
        format!(" viewBox=\"0 0 {w} {h}\"")
    };
    let (head, tail) = svg.split_at(at + 4);
    format!("{head} role=\"img\" aria-label=\"{label}\"{view_box}{tail}")
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(kind: ViewKind, y: Option<&str>, color: Option<&str>) -> View {
        View {
            name: "v".into(),
            kind,
            x: "x".into(),
            y: y.map(str::to_string),
            color: color.map(str::to_string),
            title: "A <test> & chart".into(),
        }
    }

    /// Elements drawn at the marks' opacity.
    fn marks(svg: &str) -> usize {
        svg.matches(&format!("opacity=\"{MARK_OPACITY}\"")).count()
    }

    fn numbers(values: &[f64]) -> Series {
        Series::Numbers(values.iter().map(|v| Some(*v)).collect())
    }

    fn text(values: &[&str]) -> Series {
        Series::Text(values.iter().map(|v| Some(v.to_string())).collect())
    }

    #[test]
    fn a_bar_chart_draws_one_bar_per_row_with_a_value() {
        let data = ViewData {
            x: text(&["benign", "malignant", "unsure"]),
            y: Some(Series::Numbers(vec![Some(3.0), None, Some(-2.0)])),
            color: None,
            truncated: false,
        };
        let svg = render(&view(ViewKind::Bar, Some("n"), None), &data).unwrap();
        assert_eq!(marks(&svg), 2, "{svg}");
        assert!(svg.contains("benign") && svg.contains("unsure"));
        assert!(svg.contains("aria-label=\"A &lt;test&gt; &amp; chart\""));
        let opening = svg.split('>').next().unwrap();
        assert_eq!(opening.matches("viewBox=").count(), 1, "{opening}");
        assert!(!svg.contains("<test>"));
    }

    #[test]
    fn what_the_data_says_is_written_as_text_never_as_markup() {
        let data = ViewData {
            x: text(&["<script>alert(1)</script>", "a\"b", "&amp;"]),
            y: Some(numbers(&[1.0, 2.0, 3.0])),
            color: Some(text(&["<img src=x onerror=alert(1)>", "x", "y"])),
            truncated: false,
        };
        for kind in [ViewKind::Bar, ViewKind::Heatmap] {
            let mut v = view(kind, Some("y"), Some("c"));
            v.title = "</svg><script>alert(2)</script>".into();
            let svg = render(&v, &data).unwrap();
            assert!(!svg.contains("<script") && !svg.contains("<img"), "{svg}");
            assert!(svg.contains("&lt;script&gt;"), "{svg}");
        }
    }

    #[test]
    fn a_scatter_draws_every_point_and_a_hollow_legend_key_per_colour() {
        let data = ViewData {
            x: numbers(&[1.0, 2.0, 3.0, 4.0, f64::NAN]),
            y: Some(numbers(&[1.0, 4.0, 9.0, 16.0, 1.0])),
            color: Some(text(&["a", "b", "a", "b", "a"])),
            truncated: false,
        };
        let svg = render(&view(ViewKind::Scatter, Some("y"), Some("c")), &data).unwrap();
        assert_eq!(svg.matches("<circle").count(), 4);
        assert_eq!(marks(&svg), 4);
        assert!(svg.contains("c = a") && svg.contains("c = b"), "legend");
    }

    #[test]
    fn many_points_on_one_pixel_are_drawn_once() {
        let n = EXACT_POINTS + 1000;
        // Two points per x: the same spot twice, so the drawing needs half the marks.
        let xs: Vec<f64> = (0..n).map(|i| (i / 2) as f64).collect();
        let data = ViewData {
            x: numbers(&xs),
            y: Some(numbers(&vec![1.0; n])),
            color: None,
            truncated: false,
        };
        let svg = render(&view(ViewKind::Scatter, Some("y"), None), &data).unwrap();
        // n / 2 distinct x over about 600 pixels: at most one mark per pixel column.
        let drawn = marks(&svg);
        assert!(drawn > 100 && drawn <= 720, "{drawn}");
        let few = ViewData {
            x: numbers(&xs[..1000]),
            y: Some(numbers(&vec![1.0; 1000])),
            color: None,
            truncated: false,
        };
        let svg = render(&view(ViewKind::Scatter, Some("y"), None), &few).unwrap();
        assert_eq!(marks(&svg), 1000, "below the threshold, every point");
    }

    #[test]
    fn a_line_draws_a_point_per_row_and_one_line_per_colour() {
        let data = ViewData {
            x: numbers(&[3.0, 1.0, 2.0]),
            y: Some(numbers(&[0.3, 0.1, 0.2])),
            color: None,
            truncated: false,
        };
        let svg = render(&view(ViewKind::Line, Some("y"), None), &data).unwrap();
        assert_eq!(marks(&svg), 3);
        let line = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke=\"#1F77B4\""))
            .collect::<Vec<_>>();
        assert_eq!(line.len(), 1, "one line, in the series' colour: {svg}");
        // Through the points in x order: (1, 0.1), (2, 0.2), (3, 0.3) rise to the right.
        let points: Vec<(i32, i32)> = line[0]
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .filter_map(|p| p.split_once(','))
            .map(|(x, y)| (x.parse().unwrap(), y.trim_end_matches('"').parse().unwrap()))
            .collect();
        assert_eq!(points.len(), 3);
        assert!(
            points
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 > w[1].1),
            "{points:?}"
        );
    }

    #[test]
    fn histograms_bin_as_numpy_does() {
        // numpy.histogram([0, 1, 2, 3, 4, 10], bins=20) puts 0..4 in bins 0, 2, 4, 6, 8
        // and 10 in the last, closed bin.
        let (edges, counts) = bin(&[0.0, 1.0, 2.0, 3.0, 4.0, 10.0]);
        assert_eq!(edges.len(), 21);
        assert_eq!(edges[20], 10.0);
        let expected: Vec<u64> = (0..20)
            .map(|i| u64::from([0, 2, 4, 6, 8, 19].contains(&i)))
            .collect();
        assert_eq!(counts, expected);
        let (_, one) = bin(&[5.0, 5.0]);
        assert_eq!(one, vec![2]);
        let data = ViewData {
            x: numbers(&[0.0, 1.0, 2.0, 3.0, 4.0, 10.0]),
            y: None,
            color: None,
            truncated: false,
        };
        let svg = render(&view(ViewKind::Histogram, None, None), &data).unwrap();
        assert_eq!(marks(&svg), 6);
    }

    #[test]
    fn a_heatmap_draws_a_cell_per_pair_with_its_value() {
        let data = ViewData {
            x: text(&["m1", "m1", "m2", "m2", "m1"]),
            y: Some(text(&["m1", "m2", "m1", "m2", "m2"])),
            color: Some(numbers(&[1.0, 0.5, 0.5, 1.0, 0.75])),
            truncated: false,
        };
        let svg = render(&view(ViewKind::Heatmap, Some("y"), Some("v")), &data).unwrap();
        // (m1, m2) appears twice: the last value wins.
        assert_eq!(marks(&svg), 4);
        assert!(svg.contains(">\n0.75\n<"), "cell values are written: {svg}");
        assert_eq!(
            svg.matches(">\n0.5\n<").count(),
            1,
            "the replaced value is gone"
        );
    }

    #[test]
    fn one_bar_and_one_cell_draw_alone() {
        let data = ViewData {
            x: text(&["only"]),
            y: Some(numbers(&[2.0])),
            color: Some(numbers(&[0.5])),
            truncated: false,
        };
        let bar = render(&view(ViewKind::Bar, Some("y"), None), &data).unwrap();
        assert_eq!(marks(&bar), 1);
        let cell = render(&view(ViewKind::Heatmap, Some("y"), Some("v")), &data).unwrap();
        assert_eq!(marks(&cell), 1);
        // The bar fills its one slot: no empty slot beside it.
        let widest = bar
            .lines()
            .filter(|l| l.contains(&format!("opacity=\"{MARK_OPACITY}\"")))
            .filter_map(|l| {
                l.split("width=\"")
                    .nth(1)?
                    .split('"')
                    .next()?
                    .parse::<i32>()
                    .ok()
            })
            .max()
            .unwrap();
        assert!(widest > 500, "{widest}");
    }

    #[test]
    fn extreme_values_draw_without_failing() {
        let extremes = [
            -f64::MAX,
            f64::MAX,
            0.0,
            f64::MIN_POSITIVE,
            1e-300,
            1e99,
            -1e99,
        ];
        let data = ViewData {
            x: numbers(&extremes),
            y: Some(numbers(&extremes)),
            color: Some(numbers(&extremes)),
            truncated: false,
        };
        for kind in [
            ViewKind::Bar,
            ViewKind::Line,
            ViewKind::Scatter,
            ViewKind::Histogram,
            ViewKind::Heatmap,
        ] {
            let svg = render(&view(kind, Some("y"), Some("c")), &data).unwrap();
            assert!(svg.starts_with("<svg"), "{kind:?}");
        }
        // Values a hair apart at a large magnitude.
        let close = [1e6, 1e6 + 3e-10, 1e6 + 6e-10];
        let data = ViewData {
            x: numbers(&close),
            y: Some(numbers(&close)),
            color: None,
            truncated: false,
        };
        for kind in [
            ViewKind::Bar,
            ViewKind::Line,
            ViewKind::Scatter,
            ViewKind::Histogram,
        ] {
            let svg = render(&view(kind, Some("y"), None), &data).unwrap();
            assert!(
                svg.matches(&format!("opacity=\"{MARK_OPACITY}\"")).count() >= 1,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn an_empty_port_draws_an_empty_chart() {
        let data = ViewData {
            x: Series::Numbers(Vec::new()),
            y: Some(Series::Numbers(Vec::new())),
            color: None,
            truncated: false,
        };
        for kind in [
            ViewKind::Bar,
            ViewKind::Line,
            ViewKind::Scatter,
            ViewKind::Histogram,
        ] {
            let svg = render(&view(kind, Some("y"), None), &data).unwrap();
            assert_eq!(marks(&svg), 0, "{kind:?}");
        }
    }
}
