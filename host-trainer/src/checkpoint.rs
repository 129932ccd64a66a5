//! Training checkpoints: everything needed to continue bit-for-bit (parameters, optimiser moments, RNG,
//! epoch plan and position, carried state, smoothed loss, history, config and vocabulary).
//!
//! Format (version 2): a one-line JSON header
//! `{"format":"host-trainer-checkpoint","version":2,"body_len":N,"crc32":"0x…"}`, a newline, then the
//! body: one JSON object of [`Checkpoint`], `N` bytes whose CRC-32 (ISO-HDLC, as lstm-core's model
//! trailer) is `crc32`. A changed byte is refused, not resumed. Tensors are hex strings of their
//! little-endian f32 bytes, so values round-trip exactly. Every size is checked against the limits of
//! `train` before anything is allocated from it. Written atomically. New fields go in the body with
//! `#[serde(default)]`, or raise the version: the cell kind, layer count and dropout (in the config and
//! beside the tensors) came that way, so a checkpoint of a 1-layer LSTM written before them still
//! resumes. The dropout masks need no stored RNG: they are drawn from the seed and the step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use lstm_core::Dims;
use lstm_core::format::{CellKind, MAX_SYMBOLS};

use crate::cli::{CellArg, MAX_HIDDEN};
use crate::config::TrainConfig;
use crate::data::batch::{Dataset, EpochPlan};
use crate::files::{FileError, write_atomic};
use crate::history::HistoryRow;
use crate::model::{MAX_LAYERS, Stack};
use crate::optim::{Optimizer, OptimizerKind};
use crate::rng::Rng;

/// The value of the `format` field.
pub const CHECKPOINT_FORMAT: &str = "host-trainer-checkpoint";
/// The checkpoint version this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 2;

/// The checksum of a checkpoint body.
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading failed.
    #[error("cannot read checkpoint {path}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not a checkpoint, or damaged.
    #[error("{path} is not a valid checkpoint: {reason}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Written by another version.
    #[error("checkpoint {path} has version {found}; this build reads version {CHECKPOINT_VERSION}")]
    Version {
        /// File.
        path: PathBuf,
        /// Version found.
        found: u32,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] FileError),
}

/// A vector of f32 serialised as the hex of its little-endian bytes (exact round trip, compact).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HexF32(pub Vec<f32>);

impl Serialize for HexF32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use std::fmt::Write;
        let mut out = String::with_capacity(self.0.len() * 8);
        for v in &self.0 {
            for b in v.to_le_bytes() {
                let _ = write!(out, "{b:02x}");
            }
        }
        s.serialize_str(&out)
    }
}

impl<'de> Deserialize<'de> for HexF32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = s.as_bytes();
        if bytes.len() % 8 != 0 {
            return Err(serde::de::Error::custom(
                "hex tensor length is not a multiple of 8",
            ));
        }
        let nib = |c: u8| -> Result<u8, D::Error> {
            (c as char)
                .to_digit(16)
                .map(|v| v as u8)
                .ok_or_else(|| serde::de::Error::custom("bad hex digit"))
        };
        let mut out = Vec::with_capacity(bytes.len() / 8);
        for chunk in bytes.chunks_exact(8) {
            let mut b = [0u8; 4];
            for (i, pair) in chunk.chunks_exact(2).enumerate() {
                b[i] = nib(pair[0])? << 4 | nib(pair[1])?;
            }
            out.push(f32::from_le_bytes(b));
        }
        Ok(Self(out))
    }
}

/// How [`Dims`] is stored: `{"n_x": …, "n_h": …, "n_y": …}`.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Dims")]
struct DimsDef {
    n_x: usize,
    n_h: usize,
    n_y: usize,
}

/// Parameters (or moments) as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredParams {
    /// Sizes (stored as `shape`).
    #[serde(rename = "shape", with = "DimsDef")]
    pub dims: Dims,
    /// Cell kind (absent in checkpoints of one-layer LSTMs written before other kinds existed).
    #[serde(default)]
    pub cell: CellArg,
    /// Layer count (absent: 1).
    #[serde(default = "one")]
    pub layers: usize,
    /// The tensors in [`Stack::tensors`] order (`w_x`, `w_h`, `b`, `w_y`, `b_y` for one LSTM layer).
    pub tensors: Vec<HexF32>,
}

/// The layer count of checkpoints written before layers existed.
fn one() -> usize {
    1
}

impl StoredParams {
    /// Captures `p`.
    pub fn from_stack(p: &Stack<f32>) -> Self {
        Self {
            dims: p.dims,
            cell: cell_arg(p.kind),
            layers: p.layers.len(),
            tensors: p.tensors().iter().map(|t| HexF32(t.to_vec())).collect(),
        }
    }

    /// Rebuilds the parameters, checking every length.
    ///
    /// # Errors
    /// A description of the first mismatch.
    pub fn to_stack(&self) -> Result<Stack<f32>, String> {
        self.check()?;
        let mut p = Stack::zeros(self.cell.into(), self.dims, self.layers);
        for (dst, src) in p.tensors_mut().into_iter().zip(&self.tensors) {
            dst.clone_from(&src.0);
        }
        Ok(p)
    }

    /// Checks the shape against the format's limits and every tensor's length against the shape.
    ///
    /// # Errors
    /// A description of the first mismatch.
    pub fn check(&self) -> Result<(), String> {
        let Dims { n_x, n_h, n_y } = self.dims;
        if n_x == 0
            || n_y == 0
            || n_h == 0
            || n_h > MAX_HIDDEN
            || n_x > MAX_SYMBOLS
            || n_y > MAX_SYMBOLS
        {
            return Err(format!(
                "shape n_x {n_x} · n_h {n_h} · n_y {n_y} is outside the format's limits"
            ));
        }
        if !(1..=MAX_LAYERS).contains(&self.layers) {
            return Err(format!("{} layers (1..={MAX_LAYERS})", self.layers));
        }
        // Within the limits above the sizes cannot overflow, and a zero-filled template is small; the
        // tensors already hold their values, so nothing is allocated from a size the file merely claims.
        let want = Stack::<f32>::zeros(self.cell.into(), self.dims, self.layers);
        // A one-layer LSTM's tensors keep their plain names (`w_h`, not `l0.w_h`), as before layers.
        let names = match want.to_params() {
            Some(_) => crate::model::TENSOR_NAMES.map(String::from).to_vec(),
            None => want.tensor_names(),
        };
        let want = want.tensors();
        if self.tensors.len() != want.len() {
            return Err(format!(
                "{} tensors, expected {}",
                self.tensors.len(),
                want.len()
            ));
        }
        for (name, (t, w)) in names.iter().zip(self.tensors.iter().zip(&want)) {
            if t.0.len() != w.len() {
                return Err(format!(
                    "tensor {name} has {} values, expected {}",
                    t.0.len(),
                    w.len()
                ));
            }
        }
        Ok(())
    }

    /// Whether `other` has the same kind, layer count and sizes.
    fn same_shape(&self, other: &Self) -> bool {
        (self.dims, self.cell, self.layers) == (other.dims, other.cell, other.layers)
    }
}

/// The `--cell` value of a cell kind.
pub fn cell_arg(kind: CellKind) -> CellArg {
    match kind {
        CellKind::Lstm => CellArg::Lstm,
        CellKind::Gru => CellArg::Gru,
        CellKind::Rnn => CellArg::Rnn,
    }
}

/// Optimiser state as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOptimizer {
    /// Which optimiser.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub lr: f32,
    /// Adam's update count.
    pub t: u64,
    /// Adagrad memory or Adam first moments.
    pub m: Option<StoredParams>,
    /// Adam second moments.
    pub v: Option<StoredParams>,
}

impl StoredOptimizer {
    /// Captures `o`.
    pub fn from_optimizer(o: &Optimizer) -> Self {
        match o {
            Optimizer::Sgd { lr } => Self {
                kind: OptimizerKind::Sgd,
                lr: *lr,
                t: 0,
                m: None,
                v: None,
            },
            Optimizer::Adagrad { lr, mem } => Self {
                kind: OptimizerKind::Adagrad,
                lr: *lr,
                t: 0,
                m: Some(StoredParams::from_stack(mem)),
                v: None,
            },
            Optimizer::Adam { lr, t, m, v } => Self {
                kind: OptimizerKind::Adam,
                lr: *lr,
                t: *t,
                m: Some(StoredParams::from_stack(m)),
                v: Some(StoredParams::from_stack(v)),
            },
        }
    }

    /// Rebuilds the optimiser.
    ///
    /// # Errors
    /// Missing or mis-sized moments.
    pub fn to_optimizer(&self) -> Result<Optimizer, String> {
        let get = |p: &Option<StoredParams>| {
            p.as_ref()
                .ok_or("missing optimiser moments".to_owned())?
                .to_stack()
        };
        Ok(match self.kind {
            OptimizerKind::Sgd => Optimizer::Sgd { lr: self.lr },
            OptimizerKind::Adagrad => Optimizer::Adagrad {
                lr: self.lr,
                mem: get(&self.m)?,
            },
            OptimizerKind::Adam => Optimizer::Adam {
                lr: self.lr,
                t: self.t,
                m: get(&self.m)?,
                v: get(&self.v)?,
            },
        })
    }
}

/// Where the training loop stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Optimiser updates done.
    pub step: u64,
    /// Epochs completed.
    pub epoch: u64,
    /// Minibatches done in the current epoch.
    pub batch_in_epoch: usize,
    /// The current epoch's plan, once drawn.
    pub plan: Option<EpochPlan>,
    /// The RNG (epoch plans).
    pub rng: Rng,
    /// Exponentially smoothed training loss.
    pub smoothed: Option<f64>,
    /// Stream mode: hidden state carried into the next minibatch, `[L][B][H]`.
    pub carried_h: HexF32,
    /// Stream mode: cell state carried into the next minibatch, `[L][B][H]` (LSTM; empty otherwise).
    pub carried_c: HexF32,
    /// Targets trained on so far.
    pub tokens: u64,
    /// Loss history (for the CSV log and the plot), thinned to [`crate::history::MAX_HISTORY`] rows.
    pub history: Vec<HistoryRow>,
    /// The best validation so far and its parameters.
    #[serde(default)]
    pub best: Option<Best>,
    /// Validation evaluations since the best one (for `--patience`).
    #[serde(default)]
    pub evals_since_best: u64,
}

/// The parameters with the lowest validation loss so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// The step they were evaluated at.
    pub step: u64,
    /// Their validation loss (nats/char).
    pub loss: f64,
    /// The parameters.
    pub params: StoredParams,
}

impl LoopState {
    /// Checks that a loaded loop state fits the data and sizes (a damaged checkpoint must not panic
    /// later).
    ///
    /// # Errors
    /// A description of the first mismatch.
    pub fn check(&self, cfg: &TrainConfig, data: &Dataset) -> Result<(), String> {
        let s = self;
        if cfg.batch == 0 || cfg.seq_len == 0 || cfg.hidden == 0 {
            return Err("zero batch, sequence length or hidden size in the checkpoint".into());
        }
        let state_len = cfg.layers * cfg.batch * cfg.hidden;
        let c_len = if cfg.cell == CellArg::Lstm {
            state_len
        } else {
            0
        };
        if s.plan.is_some() && (s.carried_h.0.len() != state_len || s.carried_c.0.len() != c_len) {
            return Err(format!(
                "carried state has {} values, expected {state_len}",
                s.carried_h.0.len()
            ));
        }
        match (&s.plan, data) {
            (None, _) => Ok(()),
            (Some(EpochPlan::Lines { order }), Dataset::Lines { lines, .. }) => {
                if order.len() == lines.len() && order.iter().all(|&i| (i as usize) < lines.len()) {
                    Ok(())
                } else {
                    Err("the epoch plan does not match the corpus lines".into())
                }
            }
            (Some(EpochPlan::Stream { offset, .. }), Dataset::Stream { tokens })
                if *offset < tokens.len() =>
            {
                Ok(())
            }
            _ => Err("the epoch plan does not match the corpus mode".into()),
        }
    }
}

/// A whole checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The run's configuration.
    pub config: TrainConfig,
    /// The vocabulary, symbols in index order.
    pub vocab: String,
    /// FNV-1a of the preprocessed corpus text.
    pub corpus_fingerprint: u64,
    /// Parameters.
    pub params: StoredParams,
    /// Optimiser.
    pub optimizer: StoredOptimizer,
    /// Loop position.
    pub state: LoopState,
    /// The training / validation split the run uses.
    #[serde(default)]
    pub split: crate::data::Split,
}

/// The header line of a version-2 checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    body_len: u64,
    crc32: String,
}

/// A checkpoint file from its body (the JSON of a [`Checkpoint`]): header line, newline, body.
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = seal_header(body);
    out.extend_from_slice(body);
    out
}

/// The header line (with its newline) that [`seal`] puts before `body`.
fn seal_header(body: &[u8]) -> Vec<u8> {
    let header = Header {
        format: CHECKPOINT_FORMAT.into(),
        version: CHECKPOINT_VERSION,
        body_len: body.len() as u64,
        crc32: format!("{:#010x}", CRC32.checksum(body)),
    };
    // Serialising a struct of strings and integers cannot fail.
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The body of a checkpoint file, after checking its header and checksum.
///
/// # Errors
/// A description of what is wrong, or the version found.
fn unseal(bytes: &[u8]) -> Result<&[u8], Result<String, u32>> {
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let head: serde_json::Value =
        serde_json::from_slice(&bytes[..nl]).map_err(|e| Ok(format!("unreadable header ({e})")))?;
    if head.get("format").and_then(|v| v.as_str()) != Some(CHECKPOINT_FORMAT) {
        return Err(Ok("missing \"format\": \"host-trainer-checkpoint\"".into()));
    }
    let version = head
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if version != u64::from(CHECKPOINT_VERSION) {
        return Err(Err(u32::try_from(version).unwrap_or(u32::MAX)));
    }
    let header: Header =
        serde_json::from_value(head).map_err(|e| Ok(format!("bad header ({e})")))?;
    let body = bytes.get(nl + 1..).unwrap_or_default();
    if body.len() as u64 != header.body_len {
        return Err(Ok(format!(
            "body is {} bytes, the header says {} (truncated or extended)",
            body.len(),
            header.body_len
        )));
    }
    let crc = format!("{:#010x}", CRC32.checksum(body));
    if crc != header.crc32 {
        return Err(Ok(format!(
            "checksum mismatch (header {}, body {crc}): the file was changed or damaged",
            header.crc32
        )));
    }
    Ok(body)
}

impl Checkpoint {
    /// Writes the checkpoint atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        // The body is serialised after room for the header, which then goes right before it: the
        // bytes of `seal`, without a second copy of what may be a large body (a lines-mode epoch plan).
        const ROOM: usize = 256;
        let mut buf = vec![b' '; ROOM];
        serde_json::to_writer(&mut buf, self).map_err(|e| CheckpointError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let head = seal_header(&buf[ROOM..]);
        match ROOM.checked_sub(head.len()) {
            Some(start) => {
                buf[start..ROOM].copy_from_slice(&head);
                write_atomic(path, &buf[start..])?;
            }
            None => write_atomic(path, &seal(&buf[ROOM..]))?,
        }
        Ok(())
    }

    /// Reads and checks a checkpoint: header, checksum, then every size against `train`'s limits.
    ///
    /// # Errors
    /// Unreadable, damaged, malformed, oversized or wrong-version files.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| CheckpointError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let body = unseal(&bytes).map_err(|e| match e {
            Ok(reason) => invalid(reason),
            Err(found) => CheckpointError::Version {
                path: path.to_path_buf(),
                found,
            },
        })?;
        let ckpt: Self = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
        ckpt.check_sizes().map_err(invalid)?;
        Ok(ckpt)
    }

    /// Checks every size the checkpoint declares against the limits `train` accepts, and the tensors
    /// against those sizes.
    ///
    /// # Errors
    /// A description of the first violation.
    pub fn check_sizes(&self) -> Result<(), String> {
        let c = &self.config;
        crate::cli::range("hidden", c.hidden, 1, MAX_HIDDEN).map_err(|e| e.to_string())?;
        crate::cli::batch_shape(c.batch, c.seq_len).map_err(|e| e.to_string())?;
        let n = crate::data::corpus::Vocab::from_stored(&self.vocab, c.tokens).len();
        if n == 0 || n > MAX_SYMBOLS {
            return Err(format!("vocabulary of {n} symbols (1..={MAX_SYMBOLS})"));
        }
        crate::cli::range("layers", c.layers, 1, MAX_LAYERS).map_err(|e| e.to_string())?;
        crate::cli::dropout("dropout", c.dropout).map_err(|e| e.to_string())?;
        self.params.check()?;
        let p = &self.params;
        if p.dims.n_x != n || p.dims.n_y != n || p.dims.n_h != c.hidden {
            return Err("parameter shapes differ from the vocabulary and hidden size".into());
        }
        if p.cell != c.cell || p.layers != c.layers {
            return Err(
                "the parameters' cell kind or layer count differs from the configuration".into(),
            );
        }
        let best = self.state.best.as_ref().map(|b| &b.params);
        for m in [self.optimizer.m.as_ref(), self.optimizer.v.as_ref(), best]
            .into_iter()
            .flatten()
        {
            if !m.same_shape(p) {
                return Err(
                    "optimiser moments or best parameters differ in shape from the parameters"
                        .into(),
                );
            }
            m.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_tensor_round_trips_exactly() {
        let v = HexF32(vec![
            0.1,
            -0.0,
            f32::MIN_POSITIVE,
            1.0e-45,
            3.4e38,
            1.0 / 3.0,
        ]);
        let s = serde_json::to_string(&v).expect("serialises");
        let back: HexF32 = serde_json::from_str(&s).expect("parses");
        assert_eq!(
            v.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            back.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}
