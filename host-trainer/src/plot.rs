//! The loss curve as a PNG (plotters, bitmap backend). Text needs a TrueType font: one is looked up at run
//! time (`HOST_TRAINER_FONT`, then common system paths); without one the curve is drawn unlabelled rather
//! than failing.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::history::HistoryRow;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font for plotters once; returns whether text can be drawn.
fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("HOST_TRAINER_FONT").ok();
        for path in env
            .iter()
            .map(String::as_str)
            .chain(FONT_CANDIDATES.iter().copied())
        {
            if let Ok(bytes) = std::fs::read(path) {
                // Leaked once per process: plotters keeps fonts for the program's lifetime.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Size of the plot in pixels.
const SIZE: (u32, u32) = (1000, 600);

/// Draws loss per step (light), smoothed loss (dark) and validation loss (points) into a PNG, written
/// atomically.
///
/// # Errors
/// A description of the drawing or file failure.
pub fn plot_losses(path: &Path, history: &[HistoryRow]) -> Result<(), String> {
    let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    draw(&mut rgb, history)?;
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, SIZE.0, SIZE.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    crate::files::write_atomic(path, &png_bytes).map_err(|e| format!("{e:#}"))
}

/// Draws the chart into an RGB buffer of [`SIZE`].
fn draw(rgb: &mut [u8], history: &[HistoryRow]) -> Result<(), String> {
    let text = font_available();
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let max_step = history.last().map_or(1, |r| r.step).max(1) as f64;
    let max_loss = history
        .iter()
        .map(|r| r.loss)
        .chain(history.iter().filter_map(|r| r.val_loss))
        .fold(0.1f64, f64::max);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(
                "training loss (mean cross-entropy per character)",
                ("sans-serif", 24),
            )
            .x_label_area_size(45)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d(0f64..max_step, 0f64..max_loss * 1.05)
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("step").y_desc("loss (nats)");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    let raw = history.iter().map(|r| (r.step as f64, r.loss));
    let series = chart
        .draw_series(LineSeries::new(raw, RGBColor(170, 190, 230)))
        .map_err(|e| e.to_string())?;
    if text {
        series
            .label("minibatch loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(170, 190, 230)));
    }
    let smooth = history.iter().map(|r| (r.step as f64, r.smoothed));
    let series = chart
        .draw_series(LineSeries::new(smooth, BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    if text {
        series
            .label("smoothed")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    }
    let val: Vec<(f64, f64)> = history
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step as f64, v)))
        .collect();
    if !val.is_empty() {
        let series = chart
            .draw_series(val.iter().map(|&p| Circle::new(p, 4, RED.filled())))
            .map_err(|e| e.to_string())?;
        if text {
            series
                .label("validation")
                .legend(|(x, y)| Circle::new((x + 10, y), 4, RED.filled()));
        }
        chart
            .draw_series(LineSeries::new(val, RED))
            .map_err(|e| e.to_string())?;
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
