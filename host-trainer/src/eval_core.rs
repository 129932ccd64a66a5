//! The loss of a model file computed through lstm-core's step ([`lstm_core::Kernel::network_step`],
//! the code `sample` and the firmware run), one batch row at a time over exactly the batches
//! [`crate::evaluate`] uses: how `eval` measures a q8 model, whose products only lstm-core's q8
//! kernels compute, against the same held-out data as its f32 model.

use lstm_core::format::{FamilyView, InputKind, TokenKind};
use lstm_core::{Input, Kernel, NetworkView};

use crate::bptt::ForwardStats;
use crate::data::batch::{BatchBuf, Dataset};
use crate::evaluate::eval_plan;

/// Why a model could not be evaluated through lstm-core.
#[derive(Debug, thiserror::Error)]
pub enum CoreEvalError {
    /// lstm-core refused the model or a step.
    #[error(transparent)]
    Core(#[from] lstm_core::Error),
    /// The model cannot read characters.
    #[error("the model takes {0}, not characters; eval reads character models")]
    NotCharacters(&'static str),
}

/// `log Σ exp(logits) − logits[target]`, in f64: one target's cross-entropy.
fn cross_entropy(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let at = logits.get(target).copied().unwrap_or(f32::NEG_INFINITY);
    sum.ln() - f64::from(at - max)
}

/// Mean cross-entropy of the model `family` over `data`, batches and state carrying as
/// [`crate::evaluate::evaluate`] (lines: every line from a zero state; stream: `batch` sequential
/// streams, state carried from zero), each step through lstm-core with `kernel`.
///
/// # Errors
/// A dense-input or word-token model; lstm-core refusing the model (e.g. a dtype its network view
/// does not take) or a step (a token outside the vocabulary).
pub fn evaluate_family(
    family: &FamilyView<'_>,
    kernel: Kernel,
    data: &Dataset,
    batch: usize,
    seq_len: usize,
) -> Result<ForwardStats, CoreEvalError> {
    if family.header.input != InputKind::OneHot {
        return Err(CoreEvalError::NotCharacters("dense input vectors"));
    }
    if family.header.tokens != TokenKind::Chars {
        return Err(CoreEvalError::NotCharacters("word tokens"));
    }
    let mut storage = vec![0.0f32; NetworkView::storage_len(family)];
    let net = NetworkView::from_family(family, &mut storage)?;
    let (sl, cl) = (net.state_len(), net.cell_state_len());
    let mut scratch = vec![0.0f32; net.scratch_len()];
    let mut logits = vec![0.0f32; net.dims().n_y];
    let (plan, batch, seq_len) = eval_plan(data, batch, seq_len);
    let stream = matches!(data, Dataset::Stream { .. });
    let (mut h, mut c) = (vec![0.0f32; batch * sl], vec![0.0f32; batch * cl]);
    let mut buf = BatchBuf::default();
    let mut total = ForwardStats {
        loss_sum: 0.0,
        count: 0,
    };
    for i in 0..data.num_batches(&plan, batch, seq_len) {
        data.fill(&plan, i, batch, seq_len, &mut buf);
        if !stream {
            h.fill(0.0);
            c.fill(0.0);
        }
        let rows = buf.batch;
        for b in 0..rows {
            let h_b = &mut h[b * sl..(b + 1) * sl];
            let c_b = &mut c[b * cl..(b + 1) * cl];
            for t in 0..buf.steps {
                let r = t * rows + b;
                if buf.masked && buf.mask[r] == 0 {
                    continue;
                }
                kernel.network_step(
                    &net,
                    Input::Token(buf.x[r] as usize),
                    h_b,
                    c_b,
                    &mut scratch,
                )?;
                kernel.network_logits(&net, h_b, &mut logits, &mut scratch)?;
                total.loss_sum += cross_entropy(&logits, buf.y[r] as usize);
                total.count += 1;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batch::Mode;
    use crate::data::corpus::{Preprocess, Vocab};
    use crate::data::prepare_eval;
    use crate::evaluate::evaluate_stack;
    use crate::model::Stack;
    use crate::model_file::encode_stack;
    use crate::rng::Rng;
    use lstm_core::Dims;
    use lstm_core::format::CellKind;

    #[test]
    fn cross_entropy_of_known_logits() {
        // log(e^0 + e^0) − 0 = ln 2; log(e^2 + e^0) − 0 = ln(1 + e^2).
        assert!((cross_entropy(&[0.0, 0.0], 1) - 2f64.ln()).abs() < 1e-12);
        assert!((cross_entropy(&[2.0, 0.0], 1) - (1.0 + 2f64.exp()).ln()).abs() < 1e-12);
    }

    /// For f32 models, lstm-core's step gives the trainer's loss (the same batches, masks and
    /// carried state), for every cell kind, 1 and 3 layers, lines and stream data.
    #[test]
    fn f32_loss_through_lstm_core_matches_the_trainers() {
        let dims = Dims {
            n_x: 4,
            n_h: 7,
            n_y: 4,
        };
        let mut rng = Rng::new(11);
        // Lines of 3 to 7 symbols of "abc" (one a line), and the same text as one stream.
        let text: String = (0..40)
            .map(|i| {
                let line: String = (0..3 + i % 5)
                    .map(|_| ['a', 'b', 'c'][rng.below(3)])
                    .collect();
                line + "\n"
            })
            .collect();
        let vocab = Vocab::from_chars("\nabc".chars().collect());
        let sets = [Mode::Stream, Mode::Lines]
            .map(|mode| prepare_eval(&text, Preprocess::default(), mode, &vocab).expect("encodes"));
        for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            for layers in [1, 3] {
                let p = Stack::<f32>::init_uniform(kind, dims, layers, &mut rng);
                let bytes = encode_stack(&p, "\nabc", TokenKind::Chars).expect("encodes");
                let family = lstm_core::format::decode_family(&bytes).expect("decodes");
                for data in &sets {
                    let ours = evaluate_stack(&p, data, 4, 10);
                    for kernel in Kernel::available() {
                        let core =
                            evaluate_family(&family, kernel, data, 4, 10).expect("evaluates");
                        assert_eq!(core.count, ours.count);
                        let (a, b) = (core.mean(), ours.mean());
                        assert!(
                            (a - b).abs() < 1e-5 * b.abs().max(1.0),
                            "{kind:?} × {layers}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
