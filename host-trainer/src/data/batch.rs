//! Minibatches: `lines` mode (every line one sequence from a zero state, newline as start and end symbol)
//! and `stream` mode (d2l's sequential partitioning into parallel streams, state carried across batches).

use serde::{Deserialize, Serialize};

/// One minibatch, time-major: element `[t][b]` of `x`, `y` and `mask` is at `t·batch + b`.
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    /// Time steps.
    pub steps: usize,
    /// Sequences in the batch.
    pub batch: usize,
    /// Input symbol indices, `[T][B]`.
    pub x: &'a [u32],
    /// Target symbol indices, `[T][B]`.
    pub y: &'a [u32],
    /// `1` where the target counts in the loss, `0` for padding; `None` means all count.
    pub mask: Option<&'a [u8]>,
}

/// How the corpus is cut into sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Mode {
    /// Each line is one sequence from a zero state; `\n` starts and ends it.
    Lines,
    /// One long text read as `batch` parallel streams, `seq_len` characters at a time.
    Stream,
}

/// Training data, already encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dataset {
    /// One entry per non-empty line, without its newline.
    Lines {
        /// The lines' symbol indices.
        lines: Vec<Vec<u32>>,
        /// Index of `\n` (start and end symbol).
        newline: u32,
    },
    /// The whole text.
    Stream {
        /// The text's symbol indices.
        tokens: Vec<u32>,
    },
}

/// The order of one epoch: chosen from the RNG at the epoch's start and stored in checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EpochPlan {
    /// The lines in their shuffled order.
    Lines {
        /// Line indices.
        order: Vec<u32>,
    },
    /// d2l's random start offset in `0..seq_len`.
    Stream {
        /// Tokens skipped at the start.
        offset: usize,
        /// Also train on the streams' remainder as a last, shorter minibatch (d2l drops it).
        #[serde(default)]
        tail: bool,
    },
}

/// A reusable minibatch buffer (time-major `[T][B]`).
#[derive(Debug, Clone, Default)]
pub struct BatchBuf {
    /// Time steps of the current batch.
    pub steps: usize,
    /// Sequences in the current batch.
    pub batch: usize,
    /// Inputs.
    pub x: Vec<u32>,
    /// Targets.
    pub y: Vec<u32>,
    /// 1 where the target counts.
    pub mask: Vec<u8>,
    /// Whether `mask` has any zero.
    pub masked: bool,
}

impl BatchBuf {
    /// A borrowed view for [`crate::bptt`].
    pub fn as_ref(&self) -> BatchRef<'_> {
        let n = self.steps * self.batch;
        BatchRef {
            steps: self.steps,
            batch: self.batch,
            x: &self.x[..n],
            y: &self.y[..n],
            mask: if self.masked {
                Some(&self.mask[..n])
            } else {
                None
            },
        }
    }
}

/// Splits encoded lines (`\n` excluded) from a token stream; empty lines are dropped.
pub fn split_lines(tokens: &[u32], newline: u32) -> Vec<Vec<u32>> {
    tokens
        .split(|&t| t == newline)
        .filter(|l| !l.is_empty())
        .map(<[u32]>::to_vec)
        .collect()
}

impl Dataset {
    /// Number of target symbols in one pass over the data (lines: chars + one newline each).
    pub fn target_count(&self) -> usize {
        match self {
            Self::Lines { lines, .. } => lines.iter().map(|l| l.len() + 1).sum(),
            Self::Stream { tokens } => tokens.len().saturating_sub(1),
        }
    }

    /// How often each of `vocab_len` symbols is a target in one pass over the data.
    pub fn targets_counts(&self, vocab_len: usize) -> Vec<usize> {
        let mut counts = vec![0usize; vocab_len];
        let mut add = |t: u32| {
            if let Some(c) = counts.get_mut(t as usize) {
                *c += 1;
            }
        };
        match self {
            Self::Lines { lines, newline } => {
                for l in lines {
                    l.iter().copied().for_each(&mut add);
                    add(*newline);
                }
            }
            Self::Stream { tokens } => tokens.iter().skip(1).copied().for_each(&mut add),
        }
        counts
    }

    /// Whether at least one full batch fits whatever the epoch's offset.
    pub fn fits(&self, batch: usize, seq_len: usize) -> bool {
        match self {
            Self::Lines { lines, .. } => !lines.is_empty(),
            Self::Stream { tokens } => {
                batch > 0
                    && seq_len > 0
                    && tokens.len() >= seq_len
                    && (tokens.len() - seq_len) / batch >= seq_len
            }
        }
    }

    /// Draws the plan of a new epoch: lines shuffled, or a stream offset in `0..max_offset`; `tail` keeps the
    /// streams' remainder as a last, shorter minibatch.
    pub fn plan(&self, rng: &mut crate::rng::Rng, max_offset: usize, tail: bool) -> EpochPlan {
        match self {
            Self::Lines { lines, .. } => {
                let mut order: Vec<u32> = (0..lines.len() as u32).collect();
                rng.shuffle(&mut order);
                EpochPlan::Lines { order }
            }
            Self::Stream { .. } => EpochPlan::Stream {
                offset: rng.below(max_offset),
                tail,
            },
        }
    }

    /// Minibatches in an epoch with this plan.
    pub fn num_batches(&self, plan: &EpochPlan, batch: usize, seq_len: usize) -> usize {
        match (self, plan) {
            (Self::Lines { .. }, EpochPlan::Lines { order }) => order.len().div_ceil(batch),
            (Self::Stream { tokens }, EpochPlan::Stream { offset, tail }) => {
                let len = stream_len(tokens.len(), *offset, batch);
                len / seq_len.max(1) + usize::from(*tail && !len.is_multiple_of(seq_len.max(1)))
            }
            _ => 0,
        }
    }

    /// Fills `buf` with minibatch `i` of the epoch planned by `plan`.
    pub fn fill(
        &self,
        plan: &EpochPlan,
        i: usize,
        batch: usize,
        seq_len: usize,
        buf: &mut BatchBuf,
    ) {
        match (self, plan) {
            (Self::Lines { lines, newline }, EpochPlan::Lines { order }) => {
                let end = ((i + 1) * batch).min(order.len());
                let chosen = &order[(i * batch).min(end)..end];
                let nb = chosen.len();
                let steps = chosen
                    .iter()
                    .map(|&l| lines[l as usize].len() + 1)
                    .max()
                    .unwrap_or(0);
                buf.steps = steps;
                buf.batch = nb;
                buf.x.resize(steps * nb, 0);
                buf.y.resize(steps * nb, 0);
                buf.mask.resize(steps * nb, 0);
                buf.masked = false;
                for (b, &l) in chosen.iter().enumerate() {
                    let line = &lines[l as usize];
                    for t in 0..steps {
                        let r = t * nb + b;
                        // input: '\n' then the line; target: the line then '\n'.
                        let (x, y, valid) = match t.cmp(&line.len()) {
                            std::cmp::Ordering::Less => {
                                (if t == 0 { *newline } else { line[t - 1] }, line[t], true)
                            }
                            std::cmp::Ordering::Equal => {
                                (if t == 0 { *newline } else { line[t - 1] }, *newline, true)
                            }
                            std::cmp::Ordering::Greater => (*newline, *newline, false),
                        };
                        buf.x[r] = x;
                        buf.y[r] = y;
                        buf.mask[r] = u8::from(valid);
                        buf.masked |= !valid;
                    }
                }
            }
            (Self::Stream { tokens }, EpochPlan::Stream { offset, .. }) => {
                let len = stream_len(tokens.len(), *offset, batch);
                let start0 = i * seq_len;
                // The last minibatch of a `tail` plan is shorter.
                let seq_len = seq_len.min(len.saturating_sub(start0));
                buf.steps = seq_len;
                buf.batch = batch;
                buf.x.resize(seq_len * batch, 0);
                buf.y.resize(seq_len * batch, 0);
                buf.mask.resize(seq_len * batch, 1);
                buf.masked = false;
                for b in 0..batch {
                    let start = offset + b * len + start0;
                    for t in 0..seq_len {
                        buf.x[t * batch + b] = tokens[start + t];
                        buf.y[t * batch + b] = tokens[start + t + 1];
                    }
                }
            }
            _ => {
                buf.steps = 0;
                buf.batch = 0;
            }
        }
    }
}

/// Length of each of `batch` streams after skipping `offset` tokens (d2l: `(len − offset − 1) // B`).
pub fn stream_len(tokens: usize, offset: usize, batch: usize) -> usize {
    tokens.saturating_sub(offset + 1) / batch.max(1)
}

/// The (batch, seq_len) to evaluate a stream of `tokens` with: as requested, shrunk to fit short texts.
pub fn eval_shape(tokens: usize, batch: usize, seq_len: usize) -> (usize, usize) {
    let seq_len = seq_len.min(tokens.saturating_sub(1)).max(1);
    let batch = batch.min(tokens.saturating_sub(1) / seq_len).max(1);
    (batch, seq_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use proptest::prelude::*;

    proptest! {
        /// Stream batches: targets are inputs shifted by one, each stream continues where it stopped, and
        /// the epoch reads the text in order from `offset`.
        #[test]
        fn stream_batches_partition_sequentially(len in 2usize..400, batch in 1usize..6, seq_len in 1usize..12, seed in 0u64..1000) {
            let tokens: Vec<u32> = (0..len as u32).collect();
            let data = Dataset::Stream { tokens };
            let plan = data.plan(&mut Rng::new(seed), seq_len, false);
            let EpochPlan::Stream { offset, .. } = plan else { unreachable!() };
            prop_assert!(offset < seq_len);
            let n = data.num_batches(&plan, batch, seq_len);
            let stream = stream_len(len, offset, batch);
            prop_assert_eq!(n, stream / seq_len);
            let mut buf = BatchBuf::default();
            for i in 0..n {
                data.fill(&plan, i, batch, seq_len, &mut buf);
                for b in 0..batch {
                    for t in 0..seq_len {
                        let x = buf.x[t * batch + b] as usize;
                        prop_assert_eq!(buf.y[t * batch + b] as usize, x + 1);
                        prop_assert_eq!(x, offset + b * stream + i * seq_len + t);
                        prop_assert!(x + 1 < len);
                    }
                }
            }
            if data.fits(batch, seq_len) { prop_assert!(n >= 1); }
        }

        /// Lines batches: every line appears once per epoch, starts after '\n', ends with '\n', and the
        /// mask counts exactly chars + one newline per line.
        #[test]
        fn lines_batches_cover_every_line_once(lens in proptest::collection::vec(1usize..9, 1..20), batch in 1usize..5, seed in 0u64..1000) {
            let newline = 0u32;
            let lines: Vec<Vec<u32>> = lens.iter().enumerate().map(|(i, &n)| (0..n).map(|k| (i * 10 + k) as u32 + 1).collect()).collect();
            let data = Dataset::Lines { lines: lines.clone(), newline };
            let plan = data.plan(&mut Rng::new(seed), 0, false);
            let mut seen = Vec::new();
            let mut targets = 0;
            let mut buf = BatchBuf::default();
            for i in 0..data.num_batches(&plan, batch, 0) {
                data.fill(&plan, i, batch, 0, &mut buf);
                for b in 0..buf.batch {
                    let xs: Vec<u32> = (0..buf.steps).filter(|&t| buf.mask[t * buf.batch + b] == 1).map(|t| buf.x[t * buf.batch + b]).collect();
                    let ys: Vec<u32> = (0..buf.steps).filter(|&t| buf.mask[t * buf.batch + b] == 1).map(|t| buf.y[t * buf.batch + b]).collect();
                    prop_assert_eq!(xs[0], newline);
                    prop_assert_eq!(*ys.last().unwrap_or(&99), newline);
                    prop_assert_eq!(&xs[1..], &ys[..ys.len() - 1]);
                    targets += ys.len();
                    seen.push(ys[..ys.len() - 1].to_vec());
                }
            }
            prop_assert_eq!(targets, data.target_count());
            let mut want = lines;
            want.sort();
            seen.sort();
            prop_assert_eq!(seen, want);
        }
    }

    proptest! {
        /// With `tail`, one stream (batch 1) from offset 0 reads every target exactly once, in order.
        #[test]
        fn stream_tail_covers_the_whole_text(len in 2usize..300, seq_len in 1usize..12) {
            let data = Dataset::Stream { tokens: (0..len as u32).collect() };
            let plan = data.plan(&mut Rng::new(0), 1, true);
            let mut buf = BatchBuf::default();
            let mut seen = Vec::new();
            for i in 0..data.num_batches(&plan, 1, seq_len) {
                data.fill(&plan, i, 1, seq_len, &mut buf);
                prop_assert!(buf.steps >= 1 && buf.steps <= seq_len);
                seen.extend_from_slice(&buf.y[..buf.steps]);
            }
            prop_assert_eq!(seen, (1..len as u32).collect::<Vec<_>>());
        }
    }

    #[test]
    fn split_lines_drops_empty_lines() {
        assert_eq!(
            split_lines(&[1, 2, 0, 0, 3, 0], 0),
            vec![vec![1, 2], vec![3]]
        );
    }
}
