//! The progress bar of the long-running examples.
//!
//! indicatif draws on stderr and only when stderr is a terminal: piped or redirected
//! output (CI logs, `> file`) stays free of bar updates. Lines printed through
//! [`ProgressBar::suspend`] appear above the bar.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `len` steps of `unit` (e.g. `"images"`), with a message slot for the
/// running loss.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = format!(
        "{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec:0}}, {{eta}} left) {{msg}}"
    );
    // The template is ours and valid; should indicatif ever reject it, its default
    // style is still a progress bar.
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
