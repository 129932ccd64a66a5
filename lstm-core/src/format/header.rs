//! A model's sizes ([`Dims`]) and everything else but its vocabulary and numbers ([`Header`]).

use super::{
    CellKind, Dtype, InputKind, MAX_HIDDEN, MAX_LAYERS, MAX_Q8_ROW, MAX_SYMBOLS, TokenKind,
    WeightLayout,
};
use crate::Error;

/// The three sizes of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    /// Input size (the vocabulary size for one-hot input).
    pub n_x: usize,
    /// Hidden size (of every layer).
    pub n_h: usize,
    /// Output size (the vocabulary size).
    pub n_y: usize,
}

impl Dims {
    /// Element count of a single-layer LSTM's `w_ih`: 4 gates × `n_x` × `n_h`.
    pub const fn w_ih_len(&self) -> usize {
        4 * self.n_x * self.n_h
    }
    /// Element count of a single-layer LSTM's `w_hh`: 4 gates × `n_h` × `n_h`.
    pub const fn w_hh_len(&self) -> usize {
        4 * self.n_h * self.n_h
    }
    /// Element count of a single-layer LSTM's `b`: 4 gates × `n_h`.
    pub const fn b_len(&self) -> usize {
        4 * self.n_h
    }
    /// Element count of `w_y`: `n_y` × `n_h`.
    pub const fn w_y_len(&self) -> usize {
        self.n_y * self.n_h
    }
    /// Element count of `b_y`.
    pub const fn b_y_len(&self) -> usize {
        self.n_y
    }
    /// Total number of parameters of a single-layer LSTM.
    pub const fn param_count(&self) -> usize {
        self.w_ih_len() + self.w_hh_len() + self.b_len() + self.w_y_len() + self.b_y_len()
    }
    /// Multiply-accumulates per step of a single-layer LSTM with one-hot input: `4·H·H + 4·H + Y·H`.
    pub const fn macs_per_token(&self) -> usize {
        4 * self.n_h * self.n_h + 4 * self.n_h + self.n_y * self.n_h
    }

    /// Checks every dimension is in range and that they agree with `input`.
    pub fn validate(&self, input: InputKind) -> Result<(), Error> {
        check_range("n_x", self.n_x, MAX_SYMBOLS)?;
        check_range("n_h", self.n_h, MAX_HIDDEN)?;
        check_range("n_y", self.n_y, MAX_SYMBOLS)?;
        if input == InputKind::OneHot && self.n_x != self.n_y {
            return Err(Error::DimensionMismatch {
                name: "n_x",
                expected: self.n_y,
                found: self.n_x,
            });
        }
        Ok(())
    }
}

fn check_range(name: &'static str, value: usize, max: usize) -> Result<(), Error> {
    if value == 0 || value > max {
        Err(Error::DimensionOutOfRange { name, value, max })
    } else {
        Ok(())
    }
}

/// Everything about a model but its vocabulary and numbers: the family member it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Cell kind of every layer.
    pub cell: CellKind,
    /// Element type of the weight matrices.
    pub dtype: Dtype,
    /// Input kind of layer 0.
    pub input: InputKind,
    /// What a vocabulary symbol is.
    pub tokens: TokenKind,
    /// Input, hidden (every layer) and output sizes.
    pub dims: Dims,
    /// Number of stacked layers, `1..=MAX_LAYERS`.
    pub n_layers: usize,
}

impl Header {
    /// The header of a version-1 model: one f32 LSTM layer over characters.
    pub const fn plain(input: InputKind, dims: Dims) -> Self {
        Header {
            cell: CellKind::Lstm,
            dtype: Dtype::F32,
            input,
            tokens: TokenKind::Chars,
            dims,
            n_layers: 1,
        }
    }

    /// True for a model version 1 can hold (and [`ModelView`](super::ModelView) can show): one f32 LSTM layer over characters.
    pub const fn is_plain(&self) -> bool {
        matches!(self.cell, CellKind::Lstm)
            && matches!(self.dtype, Dtype::F32)
            && matches!(self.tokens, TokenKind::Chars)
            && self.n_layers == 1
    }

    /// Number of gate blocks `G` of the cell.
    pub const fn gates(&self) -> usize {
        self.cell.gates()
    }

    /// Input size of `layer`: `n_x` for layer 0, `n_h` above it.
    pub const fn n_in(&self, layer: usize) -> usize {
        if layer == 0 {
            self.dims.n_x
        } else {
            self.dims.n_h
        }
    }

    /// Element count of `layer`'s `w_ih`: `G · n_in · n_h`.
    pub const fn w_ih_len(&self, layer: usize) -> usize {
        self.gates() * self.n_in(layer) * self.dims.n_h
    }

    /// Element count of each layer's `w_hh`: `G · n_h · n_h`.
    pub const fn w_hh_len(&self) -> usize {
        self.gates() * self.dims.n_h * self.dims.n_h
    }

    /// Element count of each layer's `b`: `G · n_h`.
    pub const fn b_len(&self) -> usize {
        self.gates() * self.dims.n_h
    }

    /// Element count of each layer's `b_hn`: `n_h` for gru, 0 otherwise.
    pub const fn b_hn_len(&self) -> usize {
        match self.cell {
            CellKind::Gru => self.dims.n_h,
            CellKind::Lstm | CellKind::Rnn => 0,
        }
    }

    /// Number of q8 scales of each layer's `w_ih`, and of its `w_hh` (one per gate unit): `G · n_h`.
    pub const fn layer_scale_len(&self) -> usize {
        self.gates() * self.dims.n_h
    }

    /// Layout of `layer`'s `w_ih`: gate-transposed `[G][n_x][n_h]` for layer 0, row-major `[G·n_h][n_h]` above.
    pub const fn w_ih_layout(&self, layer: usize) -> WeightLayout {
        if layer == 0 {
            WeightLayout::GateTransposed {
                gates: self.gates(),
                n_in: self.dims.n_x,
                n_h: self.dims.n_h,
            }
        } else {
            WeightLayout::RowMajor {
                rows: self.gates() * self.dims.n_h,
                n_in: self.dims.n_h,
            }
        }
    }

    /// Layout of each layer's `w_hh`: row-major `[G·n_h][n_h]`.
    pub const fn w_hh_layout(&self) -> WeightLayout {
        WeightLayout::RowMajor {
            rows: self.gates() * self.dims.n_h,
            n_in: self.dims.n_h,
        }
    }

    /// Layout of `w_y`: row-major `[n_y][n_h]`.
    pub const fn w_y_layout(&self) -> WeightLayout {
        WeightLayout::RowMajor {
            rows: self.dims.n_y,
            n_in: self.dims.n_h,
        }
    }

    /// Number of weight-matrix elements (every layer's `w_ih` and `w_hh`, and `w_y`).
    pub const fn weight_count(&self) -> usize {
        let mut n = self.dims.n_y * self.dims.n_h;
        let mut l = 0;
        while l < self.n_layers {
            n += self.w_ih_len(l) + self.w_hh_len();
            l += 1;
        }
        n
    }

    /// Number of bias elements (every layer's `b` and `b_hn`, and `b_y`).
    pub const fn bias_count(&self) -> usize {
        self.n_layers * (self.b_len() + self.b_hn_len()) + self.dims.n_y
    }

    /// Number of q8 scales in the file (0 for f32): `2 · G · n_h` per layer
    /// (`G · n_h` when `w_ih` and `w_hh` share them), plus `n_y`.
    pub const fn scale_count(&self) -> usize {
        match self.dtype {
            Dtype::F32 => 0,
            Dtype::Q8 => self.n_layers * 2 * self.layer_scale_len() + self.dims.n_y,
            Dtype::Q8Shared => self.n_layers * self.layer_scale_len() + self.dims.n_y,
        }
    }

    /// Number of trainable parameters (weights and biases; scales are not parameters).
    pub const fn param_count(&self) -> usize {
        self.weight_count() + self.bias_count()
    }

    /// Bytes of tensor data in the file (weights at the dtype's size, f32 scales and biases).
    pub const fn weight_bytes(&self) -> usize {
        self.weight_count() * self.dtype.weight_size()
            + 4 * (self.scale_count() + self.bias_count())
    }

    /// Multiply-accumulates per step: every layer's `W_hh·h` and `W_ih·x`
    /// (one add per gate unit for a one-hot layer 0), and the output layer.
    pub const fn macs_per_token(&self) -> usize {
        let (g, h) = (self.gates(), self.dims.n_h);
        let input0 = match self.input {
            InputKind::OneHot => g * h,
            InputKind::Dense => g * self.dims.n_x * h,
        };
        self.n_layers * g * h * h
            + input0
            + self.n_layers.saturating_sub(1) * g * h * h
            + self.dims.n_y * h
    }

    /// Checks the layer count, every dimension, their agreement with the input
    /// kind, and (q8) the accumulator bound [`MAX_Q8_ROW`].
    ///
    /// # Errors
    /// [`Error::DimensionOutOfRange`], [`Error::DimensionMismatch`], [`Error::AccumulatorBound`].
    pub fn validate(&self) -> Result<(), Error> {
        check_range("n_layers", self.n_layers, MAX_LAYERS)?;
        self.dims.validate(self.input)?;
        if self.dtype.is_q8() {
            let mut rows = [("n_h", self.dims.n_h), ("n_x", 0)];
            if self.input == InputKind::Dense {
                rows[1].1 = self.dims.n_x;
            }
            for (name, n) in rows {
                if n > MAX_Q8_ROW {
                    return Err(Error::AccumulatorBound {
                        name,
                        n,
                        max: MAX_Q8_ROW,
                    });
                }
            }
        }
        Ok(())
    }
}
