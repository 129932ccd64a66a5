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

/// Training data, already encoded (symbol indices as `u16`: the format holds at most 8192 symbols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dataset {
    /// One entry per non-empty line, without its line end.
    Lines {
        /// The lines' symbol indices.
        lines: Lines,
        /// Index of the line symbol (`\n`, or `<eol>` for words): start and end of every line.
        newline: u32,
    },
    /// The whole text.
    Stream {
        /// The text's symbol indices.
        tokens: Vec<u16>,
    },
}

/// Lines of symbol indices in one flat buffer (a line costs its symbols and one offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    tokens: Vec<u16>,
    /// Where each line ends in `tokens`.
    ends: Vec<u32>,
}

impl Lines {
    /// Lines from a flat buffer and each line's end offset (ascending, at most `tokens.len()`; offsets
    /// out of order or range are clamped).
    pub fn from_parts(tokens: Vec<u16>, mut ends: Vec<u32>) -> Self {
        let n = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        let mut prev = 0;
        for e in &mut ends {
            *e = (*e).clamp(prev, n);
            prev = *e;
        }
        Self { tokens, ends }
    }

    /// Lines from separate token vectors (tests and small data).
    pub fn from_vecs<T: Copy + Into<u32>>(lines: &[Vec<T>]) -> Self {
        let mut l = Self::default();
        for line in lines {
            l.tokens.extend(line.iter().map(|&t| {
                let t: u32 = t.into();
                u16::try_from(t).unwrap_or(u16::MAX)
            }));
            l.ends
                .push(u32::try_from(l.tokens.len()).unwrap_or(u32::MAX));
        }
        l
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `i` (empty if out of range).
    pub fn get(&self, i: usize) -> &[u16] {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).map_or(usize::MAX, |&e| e as usize)
        };
        let end = self.ends.get(i).map_or(0, |&e| e as usize);
        self.tokens.get(start..end).unwrap_or(&[])
    }

    /// The lines in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u16]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Moves the lines whose indices are in `held` (ascending) out, in order, and keeps the others in
    /// order, in place (the held ones are copied once, the kept ones moved within the buffer).
    pub fn split_off_held(&mut self, held: &[u32]) -> Lines {
        let mut out = Lines::default();
        let mut held = held.iter().peekable();
        let (mut w_tok, mut w_line, mut start) = (0usize, 0usize, 0usize);
        for i in 0..self.ends.len() {
            let end = self.ends[i] as usize;
            if held.next_if(|&&v| v as usize == i).is_some() {
                out.tokens.extend_from_slice(&self.tokens[start..end]);
                out.ends
                    .push(u32::try_from(out.tokens.len()).unwrap_or(u32::MAX));
            } else {
                self.tokens.copy_within(start..end, w_tok);
                w_tok += end - start;
                self.ends[w_line] = u32::try_from(w_tok).unwrap_or(u32::MAX);
                w_line += 1;
            }
            start = end;
        }
        self.tokens.truncate(w_tok);
        self.ends.truncate(w_line);
        out
    }
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
                for l in lines.iter() {
                    l.iter().for_each(|&t| add(u32::from(t)));
                    add(*newline);
                }
            }
            Self::Stream { tokens } => tokens.iter().skip(1).for_each(|&t| add(u32::from(t))),
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
                    .map(|&l| lines.get(l as usize).len() + 1)
                    .max()
                    .unwrap_or(0);
                buf.steps = steps;
                buf.batch = nb;
                buf.x.resize(steps * nb, 0);
                buf.y.resize(steps * nb, 0);
                buf.mask.resize(steps * nb, 0);
                buf.masked = false;
                for (b, &l) in chosen.iter().enumerate() {
                    let line = lines.get(l as usize);
                    for t in 0..steps {
                        let r = t * nb + b;
                        // input: '\n' then the line; target: the line then '\n'.
                        let (x, y, valid) = match t.cmp(&line.len()) {
                            std::cmp::Ordering::Less => {
                                let prev = if t == 0 {
                                    *newline
                                } else {
                                    u32::from(line[t - 1])
                                };
                                (prev, u32::from(line[t]), true)
                            }
                            std::cmp::Ordering::Equal => {
                                let prev = if t == 0 {
                                    *newline
                                } else {
                                    u32::from(line[t - 1])
                                };
                                (prev, *newline, true)
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
                        buf.x[t * batch + b] = u32::from(tokens[start + t]);
                        buf.y[t * batch + b] = u32::from(tokens[start + t + 1]);
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
            let tokens: Vec<u16> = (0..len as u16).collect();
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
            let data = Dataset::Lines { lines: Lines::from_vecs(&lines), newline };
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
            let data = Dataset::Stream { tokens: (0..len as u16).collect() };
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

    proptest! {
        /// Holding out lines keeps both parts in order and loses nothing.
        #[test]
        fn split_off_held_partitions_in_order(lens in proptest::collection::vec(0usize..6, 0..30), pick in proptest::collection::vec(any::<bool>(), 30)) {
            let lines: Vec<Vec<u16>> = lens.iter().enumerate().map(|(i, &n)| (0..n as u16).map(|k| i as u16 * 10 + k).collect()).collect();
            let held: Vec<u32> = (0..lines.len() as u32).filter(|&i| pick[i as usize]).collect();
            let mut kept = Lines::from_vecs(&lines);
            let out = kept.split_off_held(&held);
            let want_out: Vec<&[u16]> = held.iter().map(|&i| lines[i as usize].as_slice()).collect();
            let want_kept: Vec<&[u16]> = (0..lines.len()).filter(|&i| !pick[i]).map(|i| lines[i].as_slice()).collect();
            prop_assert_eq!(out.iter().collect::<Vec<_>>(), want_out);
            prop_assert_eq!(kept.iter().collect::<Vec<_>>(), want_kept);
        }
    }
}
