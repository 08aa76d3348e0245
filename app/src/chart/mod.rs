//! Time-series charts. [`draw`] renders series into SVG with plotters; the same code runs on the server (first
//! render, and the charts of HTML reports) and in the browser (live updates, zoom), so a chart looks the same
//! everywhere. [`view`] wraps it in an interactive component: hover crosshair with every series' value, drag to
//! zoom, legend to hide series, threshold line, live appends.
//!
//! Input: series of points in time order; output: a self-contained `<svg>` string plus the pixel frame of its plot
//! area, which the component uses to map the pointer back to times.

pub mod draw;
pub mod view;

pub use draw::{format_axis, line_chart_svg, render, ChartSeries, ChartSpec, Frame, Rendered};
pub use view::Chart;
