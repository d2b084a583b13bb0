//! `\plot`: the last result as a chart, drawn once by plotters into the terminal (in braille
//! dots, by a backend of fjq's), or into an SVG or PNG file. A date or number column against
//! one or more numeric columns is a line chart (a survival curve, cases by month); a label
//! column against a number is a bar chart.
//!
//! `\plot` takes the first column as x and every other numeric column as y;
//! `\plot X Y1 Y2 ...` names them; a name ending `.svg` or `.png` is the file to write.

use crate::print::LastResult;
use datafusion::arrow::datatypes::DataType;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, text_anchor,
};
use std::path::Path;

/// The size of a chart written to a file, in pixels.
pub const FILE_SIZE: (u32, u32) = (960, 540);
/// Lines of the terminal a chart takes.
const TERMINAL_LINES: u32 = 20;

/// What `\plot` was asked for: the columns (x first) and the file, if any.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotRequest {
    pub columns: Vec<String>,
    pub file: Option<String>,
}

impl PlotRequest {
    pub fn parse(args: Option<&str>) -> Result<PlotRequest, String> {
        let mut request = PlotRequest::default();
        for word in args
            .unwrap_or("")
            .split([' ', ','])
            .filter(|w| !w.is_empty())
        {
            let lower = word.to_ascii_lowercase();
            if lower.ends_with(".svg") || lower.ends_with(".png") {
                if request.file.is_some() {
                    return Err("\\plot writes one file at a time".to_string());
                }
                request.file = Some(word.trim_matches(['\'', '"']).to_string());
            } else {
                request.columns.push(word.to_string());
            }
        }
        if request.columns.len() == 1 {
            return Err(
                "\\plot takes an x column and at least one y column (or none: the first column against the numeric ones)"
                    .to_string(),
            );
        }
        Ok(request)
    }
}

enum Axis {
    /// Days since 1970-01-01, shown as dates.
    Dates(Vec<Option<f64>>),
    Numbers(Vec<Option<f64>>),
    Labels(Vec<String>),
}

struct Chart {
    x_name: String,
    x: Axis,
    series: Vec<(String, Vec<Option<f64>>)>,
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn date(text: &str) -> Option<f64> {
    fjq_engine::contract::calendar::parse_iso(text.get(..10)?).map(f64::from)
}

fn is_date(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

/// The chart the request makes of the last result, or why it cannot be made.
fn chart(last: &LastResult, request: &PlotRequest) -> Result<Chart, String> {
    let schema = &last.schema;
    let index = |name: &str| {
        schema
            .fields()
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("the last result has no column {name:?}"))
    };
    let (x, ys): (usize, Vec<usize>) = if request.columns.is_empty() {
        let ys: Vec<usize> = (1..schema.fields().len())
            .filter(|&i| schema.field(i).data_type().is_numeric())
            .collect();
        (0, ys)
    } else {
        let x = index(&request.columns[0])?;
        let ys = request.columns[1..]
            .iter()
            .map(|c| index(c))
            .collect::<Result<Vec<_>, _>>()?;
        (x, ys)
    };
    if ys.is_empty() {
        return Err(
            "nothing to plot: the last result has no numeric column after its first; name the columns, e.g. \\plot day survival"
                .to_string(),
        );
    }
    for &y in &ys {
        if !schema.field(y).data_type().is_numeric() {
            return Err(format!(
                "{} is not numeric: \\plot draws numbers against a date, a number or a label",
                schema.field(y).name()
            ));
        }
    }
    if last.rows.is_empty() {
        return Err("the last result has no rows".to_string());
    }
    let column = |i: usize| last.rows.iter().map(move |r| r[i].as_str());
    let x_type = schema.field(x).data_type();
    let x_axis = if is_date(x_type) {
        Axis::Dates(column(x).map(date).collect())
    } else if x_type.is_numeric() {
        Axis::Numbers(column(x).map(number).collect())
    } else {
        Axis::Labels(column(x).map(str::to_string).collect())
    };
    Ok(Chart {
        x_name: schema.field(x).name().clone(),
        x: x_axis,
        series: ys
            .iter()
            .map(|&y| {
                (
                    schema.field(y).name().clone(),
                    column(y).map(number).collect(),
                )
            })
            .collect(),
    })
}

/// The colours of the series, in order (dark enough to show as dots in the terminal).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 23, 23),
];

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if lo == hi {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

type DrawResult<E> = Result<(), DrawingAreaErrorKind<E>>;
type BackendResult = Result<(), DrawingErrorKind<std::io::Error>>;

/// Draws `chart` on `root`; `text` is the label font size (pixels in files, ignored in the
/// terminal), `legend` whether to draw a legend box (the terminal lists the series instead).
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    text: u32,
    legend: bool,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let y_range = range(
        chart
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .chain(matches!(chart.x, Axis::Labels(_)).then_some(0.0)),
    );
    let font = ("sans-serif", text).into_font();
    // Axis titles in files; the terminal says what is plotted in a line under the chart.
    let y_desc = if chart.series.len() == 1 && legend {
        chart.series[0].0.clone()
    } else {
        String::new()
    };
    let x_desc = if legend {
        chart.x_name.clone()
    } else {
        String::new()
    };
    match &chart.x {
        Axis::Labels(labels) => {
            let n = labels.len();
            let mut c = ChartBuilder::on(root)
                .margin(text / 2 + 2)
                .x_label_area_size(if legend { text * 3 } else { text * 2 })
                .y_label_area_size(text * 4)
                .build_cartesian_2d((0..n).into_segmented(), y_range.0..y_range.1)?;
            c.configure_mesh()
                .disable_x_mesh()
                .x_desc(x_desc.as_str())
                .y_desc(y_desc.as_str())
                .label_style(font.clone())
                .axis_desc_style(font.clone())
                .x_labels(n.min(20))
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()?;
            let (name, values) = &chart.series[0];
            c.draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|v| {
                    let mut bar = Rectangle::new(
                        [
                            (SegmentValue::Exact(i), 0.0),
                            (SegmentValue::Exact(i + 1), v),
                        ],
                        COLOURS[0].filled(),
                    );
                    bar.set_margin(0, 0, 2, 2);
                    bar
                })
            }))?
            .label(name.as_str());
        }
        Axis::Dates(xs) | Axis::Numbers(xs) => {
            let dates = matches!(chart.x, Axis::Dates(_));
            let x_range = range(xs.iter().flatten().copied());
            let mut c = ChartBuilder::on(root)
                .margin(text / 2 + 2)
                .x_label_area_size(if legend { text * 3 } else { text * 2 })
                .y_label_area_size(text * 4)
                .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
            let x_format = |v: &f64| {
                if dates {
                    fjq_engine::contract::calendar::iso(v.round() as i32)
                } else {
                    short(*v)
                }
            };
            c.configure_mesh()
                .x_desc(x_desc.as_str())
                .y_desc(y_desc.as_str())
                .label_style(font.clone())
                .axis_desc_style(font.clone())
                .x_labels(if dates { 5 } else { 8 })
                .y_labels(6)
                .x_label_formatter(&x_format)
                .y_label_formatter(&|v| short(*v))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            for (k, (name, ys)) in chart.series.iter().enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                // NULLs (a suppressed cell, a missing value) break the line rather than join it.
                let mut segment: Vec<(f64, f64)> = Vec::new();
                let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
                for (x, y) in xs.iter().zip(ys) {
                    match (x, y) {
                        (Some(x), Some(y)) => segment.push((*x, *y)),
                        _ => segments.push(std::mem::take(&mut segment)),
                    }
                }
                segments.push(segment);
                let mut first = true;
                for points in segments.into_iter().filter(|s| !s.is_empty()) {
                    let drawn = c.draw_series(LineSeries::new(
                        points,
                        ShapeStyle::from(&colour).stroke_width(2),
                    ))?;
                    if first {
                        drawn.label(name.as_str()).legend(move |(x, y)| {
                            PathElement::new(
                                vec![(x, y), (x + 16, y)],
                                ShapeStyle::from(&colour).stroke_width(2),
                            )
                        });
                        first = false;
                    }
                }
            }
            if legend && chart.series.len() > 1 {
                c.configure_series_labels()
                    .label_font(font.clone())
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()?;
            }
        }
    }
    root.present()
}

/// A number in a few characters: 1234567 -> 1.23M, 0.8125 -> 0.81.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Draws the last result: into the terminal (returns the lines), or into the file.
pub fn plot(last: &LastResult, request: &PlotRequest, width: usize) -> Result<String, String> {
    let chart = chart(last, request)?;
    match &request.file {
        Some(file) => {
            let path = Path::new(file);
            let failed = |e: &dyn std::fmt::Display| format!("cannot draw {file}: {e}");
            // The file is made here first: plotters reports a missing folder or a refused
            // write only in its own debug wording, deep in the chart's drawing.
            std::fs::File::create(path).map_err(|e| failed(&e))?;
            // Both backends measure text with the font (for the axes' room and the legend).
            register_font();
            if file.to_ascii_lowercase().ends_with(".svg") {
                let root = SVGBackend::new(path, FILE_SIZE).into_drawing_area();
                draw(&root, &chart, 18, true).map_err(|e| failed(&e))?;
            } else {
                let root = BitMapBackend::new(path, FILE_SIZE).into_drawing_area();
                draw(&root, &chart, 18, true).map_err(|e| failed(&e))?;
            }
            Ok(format!(
                "Wrote a {} by {} chart of {} to {file}.\n",
                FILE_SIZE.0,
                FILE_SIZE.1,
                names(&chart)
            ))
        }
        None => {
            let grid = std::rc::Rc::new(std::cell::RefCell::new(Grid::new(
                width.clamp(40, 200) as u32,
                TERMINAL_LINES,
            )));
            {
                let root = Braille(grid.clone()).into_drawing_area();
                draw(&root, &chart, 4, false).map_err(|e| format!("cannot draw: {e}"))?;
            }
            let mut text = grid.borrow().render();
            text.push_str(&names(&chart));
            text.push('\n');
            Ok(text)
        }
    }
}

fn names(chart: &Chart) -> String {
    let ys: Vec<&str> = chart.series.iter().map(|(n, _)| n.as_str()).collect();
    format!("{} against {}", ys.join(", "), chart.x_name)
}

/// Text in files is measured (and in PNGs drawn) with the DejaVu Sans font shipped with fjq (shell/assets/fonts).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../assets/fonts/DejaVuSans.ttf"),
        );
    });
}

/// The drawing backend of the terminal, over a grid the caller keeps to print afterwards.
struct Braille(std::rc::Rc<std::cell::RefCell<Grid>>);

/// A terminal canvas: each character cell holds 2 x 4 braille dots, or one character of text.
struct Grid {
    columns: u32,
    lines: u32,
    dots: Vec<u8>,
    text: Vec<Option<char>>,
}

impl Grid {
    fn new(columns: u32, lines: u32) -> Grid {
        let cells = (columns * lines) as usize;
        Grid {
            columns,
            lines,
            dots: vec![0; cells],
            text: vec![None; cells],
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for line in 0..self.lines {
            let mut row = String::new();
            for column in 0..self.columns {
                let cell = (line * self.columns + column) as usize;
                row.push(match self.text[cell] {
                    Some(c) => c,
                    None if self.dots[cell] == 0 => ' ',
                    None => char::from_u32(0x2800 + self.dots[cell] as u32).unwrap_or(' '),
                });
            }
            out.push_str(row.trim_end());
            out.push('\n');
        }
        out
    }
}

impl DrawingBackend for Braille {
    type ErrorType = std::io::Error;

    fn get_size(&self) -> (u32, u32) {
        let grid = self.0.borrow();
        (grid.columns * 2, grid.lines * 4)
    }

    fn ensure_prepared(&mut self) -> BackendResult {
        Ok(())
    }

    fn present(&mut self) -> BackendResult {
        Ok(())
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> BackendResult {
        let (x, y) = point;
        let (r, g, b) = color.rgb;
        // White, transparent and light grey (the background, faint grid lines) leave no dot.
        let light = (r as u32 + g as u32 + b as u32) > 3 * 200;
        if x < 0 || y < 0 || color.alpha < 0.5 || light {
            return Ok(());
        }
        let (x, y) = (x as u32, y as u32);
        let mut grid = self.0.borrow_mut();
        if x >= grid.columns * 2 || y >= grid.lines * 4 {
            return Ok(());
        }
        const BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
        let cell = ((y / 4) * grid.columns + x / 2) as usize;
        grid.dots[cell] |= BITS[(x % 2) as usize][(y % 4) as usize];
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        _style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<std::io::Error>> {
        Ok((text.chars().count() as u32 * 2, 4))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> BackendResult {
        // Text is written in character cells, horizontally (a rotated axis title included).
        let width = text.chars().count() as i32 * 2;
        let x = match style.anchor().h_pos {
            text_anchor::HPos::Left => pos.0,
            text_anchor::HPos::Right => pos.0 - width,
            text_anchor::HPos::Center => pos.0 - width / 2,
        };
        let y = match style.anchor().v_pos {
            text_anchor::VPos::Top => pos.1,
            text_anchor::VPos::Center => pos.1 - 2,
            text_anchor::VPos::Bottom => pos.1 - 4,
        };
        let mut grid = self.0.borrow_mut();
        if y < 0 || y as u32 >= grid.lines * 4 {
            return Ok(());
        }
        let line = y as u32 / 4;
        for (k, c) in text.chars().enumerate() {
            let column = x / 2 + k as i32;
            if column < 0 || column as u32 >= grid.columns {
                continue;
            }
            let cell = (line * grid.columns + column as u32) as usize;
            grid.text[cell] = Some(c);
        }
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult {
        // The background fill would only be cleared again: skip the 100k white pixels.
        if fill && style.color().rgb == (255, 255, 255) {
            return Ok(());
        }
        let color = style.color();
        for x in upper_left.0..=bottom_right.0 {
            for y in upper_left.1..=bottom_right.1 {
                let edge = x == upper_left.0
                    || x == bottom_right.0
                    || y == upper_left.1
                    || y == bottom_right.1;
                if fill || edge {
                    self.draw_pixel((x, y), color)?;
                }
            }
        }
        Ok(())
    }
}
