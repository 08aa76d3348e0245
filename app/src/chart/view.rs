//! The interactive chart component. It renders the SVG of [`super::draw`] and lays a transparent overlay on top:
//! moving the pointer (or the arrow keys) shows a crosshair and a box with the time and every visible series'
//! value there; dragging across the plot zooms into that time range (double-click, Escape or "Reset zoom" goes
//! back); legend buttons hide and show series. New points given through the `series` signal are drawn as they come,
//! unless the chart is zoomed (a zoomed view holds still).
//!
//! Pages own the data: they pass signals of series and range, and may pass `on_zoom` to fetch finer points for the
//! zoomed range. The last render's duration is kept in `data-render-ms` for the browser benchmarks.

use super::draw::{color_css, color_slots, render, ChartSeries, ChartSpec, Frame, Rendered};
use crate::types::{format_value, Point};
use leptos::prelude::*;
use std::collections::BTreeSet;

/// A drag shorter than this (in SVG pixels) is a click, not a zoom.
const MIN_DRAG: f64 = 6.0;

#[component]
pub fn Chart(
    /// The lines to draw, each in time order.
    #[prop(into)]
    series: Signal<Vec<ChartSeries>>,
    /// The time range shown when not zoomed, in milliseconds since the epoch.
    #[prop(into)]
    x_range: Signal<(i64, i64)>,
    /// Unit of the values ("ms", "bytes", …).
    #[prop(into, default = String::new())]
    unit: String,
    #[prop(into, default = Signal::stored(None))] threshold: Signal<Option<f64>>,
    /// Spans shaded red (e.g. when a rule would have fired).
    #[prop(into, default = Signal::stored(Vec::new()))]
    marks: Signal<Vec<(i64, i64)>>,
    /// Told of every zoom (`Some(range)`) and reset (`None`), e.g. to fetch finer points.
    #[prop(optional)]
    on_zoom: Option<Callback<Option<(i64, i64)>>>,
    /// What the chart shows, for screen readers.
    #[prop(into)]
    label: String,
    #[prop(default = 880)] width: u32,
    #[prop(default = 280)] height: u32,
) -> impl IntoView {
    let hidden = RwSignal::new(BTreeSet::<String>::new());
    let zoom = RwSignal::new(None::<(i64, i64)>);
    let hover = RwSignal::new(None::<f64>);
    let drag = RwSignal::new(None::<(f64, f64)>);
    let range = Memo::new(move |_| zoom.get().unwrap_or_else(|| x_range.get()));
    // Effects run only in the browser: the attribute says the chart's handlers are attached (tests wait for it).
    let interactive = RwSignal::new(false);
    Effect::new(move |_| interactive.set(true));
    let unit_for_spec = unit.clone();

    let drawn = Memo::new(move |_| {
        let started = now_ms();
        let spec = ChartSpec {
            width,
            height,
            unit: unit_for_spec.clone(),
            x_range: range.get(),
            threshold: threshold.get(),
            marks: marks.get(),
        };
        let rendered = series.with(|all| {
            hidden.with(|h| {
                render(
                    all,
                    &|i| all.get(i).is_some_and(|s| h.contains(&s.name)),
                    &spec,
                )
            })
        });
        (rendered, now_ms() - started)
    });
    let frame = move || drawn.with(|(r, _)| r.frame);
    let set_zoom = move |z: Option<(i64, i64)>| {
        zoom.set(z);
        hover.set(None);
        if let Some(cb) = on_zoom {
            cb.run(z);
        }
    };

    let on_down = move |ev: leptos::ev::PointerEvent| {
        if ev.button() != 0 {
            return;
        }
        if let Some(x) = svg_x(&ev, width) {
            if frame().contains_x(x) {
                capture(&ev);
                drag.set(Some((x, x)));
            }
        }
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        let Some(x) = svg_x(&ev, width) else { return };
        let f = frame();
        let x = x.clamp(f.left, f.right);
        if drag.get_untracked().is_some() {
            drag.update(|d| {
                if let Some((_, end)) = d {
                    *end = x;
                }
            });
        }
        hover.set(Some(x));
    };
    let on_up = move |_ev: leptos::ev::PointerEvent| {
        if let Some((a, b)) = drag.get_untracked() {
            drag.set(None);
            if (a - b).abs() >= MIN_DRAG {
                let f = frame();
                let (t0, t1) = (f.time_at(a.min(b)), f.time_at(a.max(b)));
                if t1 > t0 {
                    set_zoom(Some((t0, t1)));
                }
            }
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let f = frame();
        let step = (f.right - f.left) / 50.0;
        match ev.key().as_str() {
            "ArrowLeft" | "ArrowRight" => {
                ev.prevent_default();
                let dir = if ev.key() == "ArrowLeft" { -1.0 } else { 1.0 };
                let x = hover.get_untracked().unwrap_or(f.right);
                hover.set(Some((x + dir * step).clamp(f.left, f.right)));
            }
            "Escape" if zoom.get_untracked().is_some() => set_zoom(None),
            _ => {}
        }
    };

    let pct = move |px: f64, of: u32| format!("{:.3}%", px / of as f64 * 100.0);
    let crosshair = move || {
        hover.get().map(|x| {
            let f = frame();
            view! {
                <div class="chart-crosshair" aria-hidden="true"
                    style:left=pct(x, width) style:top=pct(f.top, height)
                    style:height=pct(f.bottom - f.top, height)></div>
            }
        })
    };
    let selection = move || {
        drag.get().filter(|(a, b)| (a - b).abs() >= 1.0).map(|(a, b)| {
            let f = frame();
            view! {
                <div class="chart-selection" aria-hidden="true"
                    style:left=pct(a.min(b), width) style:width=pct((a - b).abs(), width)
                    style:top=pct(f.top, height) style:height=pct(f.bottom - f.top, height)></div>
            }
        })
    };
    let slots =
        Memo::new(move |_| series.with(|all| color_slots(all.iter().map(|s| s.name.as_str()))));
    let slot = move |i: usize| slots.with(|s| s.get(i).copied().unwrap_or(i));
    let unit_for_box = unit.clone();
    let readout = move || {
        let x = hover.get()?;
        let f = frame();
        let t = f.time_at(x);
        // One instant for every series: the sample nearest the pointer among all of them; then each series' sample
        // at that instant (within half its own spacing), or "no data" where it has none.
        let rows = series.with(|all| {
            hidden.with(|h| {
                let shown: Vec<(usize, &ChartSeries)> = all
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !h.contains(&s.name))
                    .collect();
                let when = shown
                    .iter()
                    .filter_map(|(_, s)| nearest(&s.points, t, f))
                    .min_by_key(|p| (p.t - t).abs())
                    .map(|p| p.t);
                let rows: Vec<(usize, String, Option<Point>)> = when
                    .map(|when| {
                        shown
                            .iter()
                            .map(|(i, s)| (*i, s.name.clone(), nearest(&s.points, when, f)))
                            .collect()
                    })
                    .unwrap_or_default();
                (when, rows)
            })
        });
        let (when, rows) = rows;
        let when = when.unwrap_or(t);
        let on_right = x < (f.left + f.right) / 2.0;
        let unit = unit_for_box.clone();
        Some(view! {
            <div class="chart-readout" role="status" data-t=when
                class:right=on_right
                style:left=move || if on_right { pct(x, width) } else { "auto".into() }
                style:right=move || if on_right { "auto".into() } else { pct(width as f64 - x, width) }>
                <div class="chart-readout-time">{format_time(when)}</div>
                {if rows.is_empty() {
                    view! { <div class="muted">"no data here"</div> }.into_any()
                } else {
                    rows.into_iter()
                        .map(|(i, name, p)| {
                            let name = if name.is_empty() { "value".to_string() } else { name };
                            let value = p.map(|p| format_value(p.v, &unit)).unwrap_or_else(|| "no data".into());
                            view! {
                                <div class="chart-readout-row" data-series=name.clone() data-value=p.map(|p| p.v.to_string())
                                    class:muted=p.is_none()>
                                    <span class="swatch" style:background=color_css(slot(i))></span>
                                    <span class="name">{name.clone()}</span>
                                    <span class="value">{value}</span>
                                </div>
                            }
                        })
                        .collect_view()
                        .into_any()
                }}
            </div>
        })
    };
    let legend = move || {
        series.with(|all| {
            (all.len() > 1 || all.iter().any(|s| !s.name.is_empty())).then(|| {
                all.iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let name = s.name.clone();
                        let shown = {
                            let name = name.clone();
                            move || !hidden.with(|h| h.contains(&name))
                        };
                        let toggle = {
                            let name = name.clone();
                            move |_| {
                                hidden.update(|h| {
                                    if !h.remove(&name) {
                                        h.insert(name.clone());
                                    }
                                })
                            }
                        };
                        view! {
                            <button type="button" class="legend-item" aria-pressed=move || shown().to_string()
                                data-series=name.clone() on:click=toggle>
                                <span class="swatch" style:background=color_css(slot(i))></span>
                                {name.clone()}
                            </button>
                        }
                    })
                    .collect_view()
            })
        })
    };
    let points_shown = move || {
        let (t0, t1) = range.get();
        series.with(|all| {
            hidden.with(|h| {
                all.iter()
                    .filter(|s| !h.contains(&s.name))
                    .map(|s| s.points.iter().filter(|p| p.t >= t0 && p.t <= t1).count())
                    .sum::<usize>()
            })
        })
    };

    // The text alternative: what is shown, the range, and each line's last, lowest and highest value.
    let unit_for_label = unit.clone();
    let described = move || {
        let (t0, t1) = range.get();
        let mut text = format!("{label}, from {} to {}", format_time(t0), format_time(t1));
        series.with(|all| {
            hidden.with(|h| {
                let shown: Vec<&ChartSeries> =
                    all.iter().filter(|s| !h.contains(&s.name)).collect();
                if shown.iter().all(|s| s.points.is_empty()) {
                    text.push_str(": no data");
                }
                for s in shown.iter().take(12) {
                    let values: Vec<f64> = s
                        .points
                        .iter()
                        .filter(|p| p.t >= t0 && p.t <= t1 && p.v.is_finite())
                        .map(|p| p.v)
                        .collect();
                    let Some(last) = values.last() else { continue };
                    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let name = if s.name.is_empty() { "value" } else { &s.name };
                    text.push_str(&format!(
                        "; {name}: last {}, min {}, max {}",
                        format_value(*last, &unit_for_label),
                        format_value(min, &unit_for_label),
                        format_value(max, &unit_for_label)
                    ));
                }
                if shown.len() > 12 {
                    text.push_str(&format!("; and {} more series", shown.len() - 12));
                }
            })
        });
        text
    };

    view! {
        <div class="chart-box">
            <div class="chart" role="img" aria-label=described tabindex="0"
                data-points=points_shown
                data-render-ms=move || format!("{:.2}", drawn.with(|(_, ms)| *ms))
                data-x0=move || range.get().0 data-x1=move || range.get().1
                data-zoomed=move || zoom.get().is_some().to_string()
                data-interactive=move || interactive.get().to_string()
                style:aspect-ratio=format!("{width} / {height}")
                on:pointerdown=on_down on:pointermove=on_move on:pointerup=on_up
                on:pointerleave=move |_| { if drag.get_untracked().is_none() { hover.set(None) } }
                on:dblclick=move |_| { if zoom.get_untracked().is_some() { set_zoom(None) } }
                on:keydown=on_key>
                <div class="chart-svg" inner_html=move || drawn.with(|(Rendered { svg, .. }, _)| svg.clone())></div>
                {crosshair}
                {selection}
                {readout}
            </div>
            <div class="chart-foot">
                <div class="legend" role="group" aria-label="Series">{legend}</div>
                {on_zoom.is_some().then(|| view! {
                    <button type="button" class="secondary" data-action="zoom-out"
                        title="Show twice the time range, centred on this one"
                        on:click=move |_| {
                            let (t0, t1) = range.get_untracked();
                            let span = (t1 - t0).max(1000);
                            let centre = t0 + span / 2;
                            set_zoom(Some((centre - span, centre + span)));
                        }>"Zoom out"</button>
                })}
                <Show when=move || zoom.get().is_some()>
                    <button type="button" class="secondary" data-action="reset-zoom"
                        on:click=move |_| set_zoom(None)>"Reset zoom"</button>
                </Show>
            </div>
        </div>
    }
    .into_any()
}

/// The point of `points` nearest to `t`, if it lies within the shown range and within half the series' typical
/// spacing of `t` (or four pixels' time, whichever is more): across a gap there is no data, not a distant value.
fn nearest(points: &[Point], t: i64, f: Frame) -> Option<Point> {
    let i = points.partition_point(|p| p.t < t);
    let spacing = typical_spacing(points);
    let pixels = (f.x_range.1 - f.x_range.0) as f64 / (f.right - f.left).max(1.0) * 4.0;
    let reach = (spacing / 2).max(pixels as i64);
    let candidates = [i.checked_sub(1), Some(i)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|i| points.get(i))
        .filter(|p| p.t >= f.x_range.0 && p.t <= f.x_range.1 && p.v.is_finite())
        .filter(|p| (p.t - t).abs() <= reach)
        .min_by_key(|p| (p.t - t).abs())
        .copied()
}

/// The median gap between consecutive points (0 with fewer than two), from at most 64 of them.
fn typical_spacing(points: &[Point]) -> i64 {
    let mut gaps: Vec<i64> = points
        .windows(2)
        .take(64)
        .map(|w| w[1].t - w[0].t)
        .collect();
    if gaps.is_empty() {
        return 0;
    }
    let middle = gaps.len() / 2;
    *gaps.select_nth_unstable(middle).1
}

fn format_time(t: i64) -> String {
    super::draw::format_time(t, super::draw::TimeFormat::Full)
}

/// Milliseconds from the page's clock (0 on the server).
fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.performance())
            .map(|p| p.now())
            .unwrap_or(0.0)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// The pointer's x in the SVG's own pixels (the chart scales with its box).
fn svg_x(ev: &leptos::ev::PointerEvent, width: u32) -> Option<f64> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let el: web_sys::Element = ev.current_target()?.dyn_into().ok()?;
        let rect = el.get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return None;
        }
        Some((ev.client_x() as f64 - rect.left()) * width as f64 / rect.width())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (ev, width);
        None
    }
}

/// Keeps pointer events coming while dragging outside the chart.
fn capture(ev: &leptos::ev::PointerEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let _ = el.set_pointer_capture(ev.pointer_id());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_point_is_found_either_side() {
        let points: Vec<Point> = (0..10)
            .map(|i| Point {
                t: i * 1000,
                v: i as f64,
            })
            .collect();
        let f = Frame {
            left: 0.0,
            right: 100.0,
            top: 0.0,
            bottom: 100.0,
            x_range: (0, 9000),
            y_range: (0.0, 9.0),
        };
        assert_eq!(nearest(&points, 2400, f).unwrap().t, 2000);
        assert_eq!(nearest(&points, 2600, f).unwrap().t, 3000);
        assert!(
            nearest(&points, 99_000, f).is_none(),
            "far beyond the last point: no data"
        );
        assert!(nearest(&[], 0, f).is_none());
        // Across a gap, a point far from the cursor is not its value.
        let gappy = vec![
            Point { t: 0, v: 1.0 },
            Point { t: 1000, v: 2.0 },
            Point { t: 2000, v: 3.0 },
            Point { t: 9000, v: 4.0 },
        ];
        assert!(nearest(&gappy, 5000, f).is_none());
        assert_eq!(nearest(&gappy, 8800, f).unwrap().t, 9000);
    }
}
