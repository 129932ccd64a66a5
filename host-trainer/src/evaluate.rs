//! The loss of a model over a whole dataset: validation during training, and `eval`.

use crate::bptt::ForwardStats;
use crate::data::batch::{BatchBuf, Dataset, EpochPlan, eval_shape};
use lstm_core::format::CellKind;

use crate::bptt::stack::{self, StackWorkspace};
use crate::model::{Params, Stack};

/// Mean loss of a one-layer LSTM `p` over a whole dataset (lines: batches of `batch` lines; stream:
/// sequential streams with carried state from zero); [`evaluate_stack`] of the same parameters.
pub fn evaluate(p: &Params<f32>, data: &Dataset, batch: usize, seq_len: usize) -> ForwardStats {
    evaluate_stack(&Stack::from_params(p), data, batch, seq_len)
}

/// Mean loss of a model of any cell kind and layer count over a whole dataset (dropout off): lines in
/// batches of `batch`, or sequential streams with state carried from zero.
pub fn evaluate_stack(
    p: &Stack<f32>,
    data: &Dataset,
    batch: usize,
    seq_len: usize,
) -> ForwardStats {
    let mut ws = StackWorkspace::new();
    let mut buf = BatchBuf::default();
    let mut total = ForwardStats {
        loss_sum: 0.0,
        count: 0,
    };
    let (h, nl) = (p.dims.n_h, p.layers.len());
    let lstm = p.kind == CellKind::Lstm;
    let (plan, batch, seq_len) = eval_plan(data, batch, seq_len);
    let stream = matches!(data, Dataset::Stream { .. });
    let state = |rows: usize| vec![0.0f32; nl * rows * h];
    let mut hc = (state(batch), if lstm { state(batch) } else { Vec::new() });
    for i in 0..data.num_batches(&plan, batch, seq_len) {
        data.fill(&plan, i, batch, seq_len, &mut buf);
        let rows = buf.batch;
        let stats = if stream {
            let s = stack::forward(p, &mut ws, &buf.as_ref(), &hc.0, &hc.1, None);
            for k in 0..nl {
                hc.0[k * rows * h..(k + 1) * rows * h].copy_from_slice(ws.h_last(k));
                if lstm {
                    hc.1[k * rows * h..(k + 1) * rows * h].copy_from_slice(ws.c_last(k));
                }
            }
            s
        } else {
            let zc = if lstm { state(rows) } else { Vec::new() };
            stack::forward(p, &mut ws, &buf.as_ref(), &state(rows), &zc, None)
        };
        total.loss_sum += stats.loss_sum;
        total.count += stats.count;
    }
    total
}

/// The batches of an evaluation: every line once (lines), or sequential streams over the whole text
/// (stream, with the batch shape [`eval_shape`] picks); returns the plan, batch size and sequence length.
pub(crate) fn eval_plan(data: &Dataset, batch: usize, seq_len: usize) -> (EpochPlan, usize, usize) {
    match data {
        Dataset::Lines { lines, .. } => (
            EpochPlan::Lines {
                order: (0..lines.len() as u32).collect(),
            },
            batch,
            seq_len,
        ),
        Dataset::Stream { tokens } => {
            let (b, s) = eval_shape(tokens.len(), batch, seq_len);
            (
                EpochPlan::Stream {
                    offset: 0,
                    tail: true,
                },
                b,
                s,
            )
        }
    }
}
