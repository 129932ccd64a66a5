//! Parameters, gradients and optimiser moments: one struct, identical field names, in the trainer's layout.
//!
//! Layout (row-major, gate blocks in PyTorch's order i, f, g, o, each `n_h` wide; [`crate::layout`]
//! converts to and from PyTorch's and the file's):
//! - `w_x`: `[n_x][4·n_h]`, `w_x[x][g·n_h + k] = weight_ih_l0[g·n_h + k][x]`, so a one-hot input is one
//!   contiguous row (a gather, not a product);
//! - `w_h`: `[n_h][4·n_h]`, `w_h[j][g·n_h + k] = weight_hh_l0[g·n_h + k][j]`, so `A = H_prev · w_h` is a GEMM
//!   over the whole batch;
//! - `b`: `[4·n_h]` = `bias_ih_l0 + bias_hh_l0`;
//! - `w_y`: `[n_y][n_h]` (`nn.Linear.weight`), `b_y`: `[n_y]`.

use lstm_core::Dims;
use lstm_core::format::CellKind;

use crate::rng::Rng;
use crate::scalar::Float;

/// Model parameters (and, with the same fields, gradients and optimiser moments).
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T> {
    /// Sizes.
    pub dims: Dims,
    /// Input weights, `[n_x][4·n_h]`.
    pub w_x: Vec<T>,
    /// Recurrent weights, `[n_h][4·n_h]`.
    pub w_h: Vec<T>,
    /// Gate biases, `[4·n_h]`.
    pub b: Vec<T>,
    /// Output weights, `[n_y][n_h]`.
    pub w_y: Vec<T>,
    /// Output bias, `[n_y]`.
    pub b_y: Vec<T>,
}

/// Gradients of the loss: the same fields as [`Params`].
pub type Grads<T> = Params<T>;

/// The names of the five tensors, in [`Params::tensors`] order.
pub const TENSOR_NAMES: [&str; 5] = ["w_x", "w_h", "b", "w_y", "b_y"];

impl<T: Float> Params<T> {
    /// All-zero tensors of the given sizes.
    pub fn zeros(dims: Dims) -> Self {
        let g = 4 * dims.n_h;
        Self {
            dims,
            w_x: vec![T::ZERO; dims.n_x * g],
            w_h: vec![T::ZERO; dims.n_h * g],
            b: vec![T::ZERO; g],
            w_y: vec![T::ZERO; dims.n_y * dims.n_h],
            b_y: vec![T::ZERO; dims.n_y],
        }
    }

    /// PyTorch's initialisation: every value uniform in `±1/√n_h` (`nn.LSTM` and `nn.Linear(n_h, ·)`).
    pub fn init_uniform(dims: Dims, rng: &mut Rng) -> Self {
        let mut p = Self::zeros(dims);
        let bound = 1.0 / (dims.n_h as f64).sqrt();
        for t in p.tensors_mut() {
            for v in t.iter_mut() {
                *v = T::from_f64(rng.uniform(-bound, bound));
            }
        }
        p
    }

    /// The five tensors, in [`TENSOR_NAMES`] order.
    pub fn tensors(&self) -> [&[T]; 5] {
        [&self.w_x, &self.w_h, &self.b, &self.w_y, &self.b_y]
    }

    /// The five tensors, mutable, in [`TENSOR_NAMES`] order.
    pub fn tensors_mut(&mut self) -> [&mut Vec<T>; 5] {
        [
            &mut self.w_x,
            &mut self.w_h,
            &mut self.b,
            &mut self.w_y,
            &mut self.b_y,
        ]
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.fill(T::ZERO);
        }
    }

    /// Converts every value to another scalar type.
    pub fn cast<U: Float>(&self) -> Params<U> {
        let c = |v: &[T]| {
            v.iter()
                .map(|x| U::from_f64(x.to_f64()))
                .collect::<Vec<U>>()
        };
        Params {
            dims: self.dims,
            w_x: c(&self.w_x),
            w_h: c(&self.w_h),
            b: c(&self.b),
            w_y: c(&self.w_y),
            b_y: c(&self.b_y),
        }
    }

    /// Whether every value is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors()
            .iter()
            .all(|t| t.iter().all(|v| v.is_finite()))
    }
}

/// One recurrent layer of a [`Stack`], in the trainer's layout (`G` gate blocks, `G = kind.gates()`).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer<T> {
    /// Input weights, `[n_in][G·n_h]` (`n_in = n_x` on layer 0, `n_h` above).
    pub w_x: Vec<T>,
    /// Recurrent weights, `[n_h][G·n_h]`.
    pub w_h: Vec<T>,
    /// Gate biases, `[G·n_h]`: `b_ih + b_hh`, except a GRU's n block, which is `b_in` alone.
    pub b: Vec<T>,
    /// A GRU's `b_hn` (`[n_h]`, inside the product with `r`); empty for the other kinds.
    pub b_hn: Vec<T>,
}

/// A model of any cell kind and 1–4 layers (and, with the same fields, its gradients and moments).
#[derive(Debug, Clone, PartialEq)]
pub struct Stack<T> {
    /// Cell kind of every layer.
    pub kind: CellKind,
    /// Sizes (`n_h` is every layer's hidden size).
    pub dims: Dims,
    /// The layers, input first.
    pub layers: Vec<Layer<T>>,
    /// Output weights, `[n_y][n_h]`.
    pub w_y: Vec<T>,
    /// Output bias, `[n_y]`.
    pub b_y: Vec<T>,
}

/// Most layers a [`Stack`] may have.
pub const MAX_LAYERS: usize = 4;

impl<T: Float> Stack<T> {
    /// All-zero tensors of the given kind, sizes and layer count.
    pub fn zeros(kind: CellKind, dims: Dims, layers: usize) -> Self {
        let g = kind.gates() * dims.n_h;
        let layers = (0..layers)
            .map(|k| Layer {
                w_x: vec![T::ZERO; if k == 0 { dims.n_x } else { dims.n_h } * g],
                w_h: vec![T::ZERO; dims.n_h * g],
                b: vec![T::ZERO; g],
                b_hn: vec![T::ZERO; if kind == CellKind::Gru { dims.n_h } else { 0 }],
            })
            .collect();
        Self {
            kind,
            dims,
            layers,
            w_y: vec![T::ZERO; dims.n_y * dims.n_h],
            b_y: vec![T::ZERO; dims.n_y],
        }
    }

    /// PyTorch's initialisation: every value uniform in `±1/√n_h`.
    pub fn init_uniform(kind: CellKind, dims: Dims, layers: usize, rng: &mut Rng) -> Self {
        let mut p = Self::zeros(kind, dims, layers);
        let bound = 1.0 / (dims.n_h as f64).sqrt();
        for t in p.tensors_mut() {
            for v in t.iter_mut() {
                *v = T::from_f64(rng.uniform(-bound, bound));
            }
        }
        p
    }

    /// A one-layer LSTM [`Params`] as a stack (same layout, no copy of meaning).
    pub fn from_params(p: &Params<T>) -> Self {
        Self {
            kind: CellKind::Lstm,
            dims: p.dims,
            layers: vec![Layer {
                w_x: p.w_x.clone(),
                w_h: p.w_h.clone(),
                b: p.b.clone(),
                b_hn: Vec::new(),
            }],
            w_y: p.w_y.clone(),
            b_y: p.b_y.clone(),
        }
    }

    /// All-zero tensors shaped like `self` (gradients, optimiser moments).
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.kind, self.dims, self.layers.len())
    }

    /// The one-layer LSTM as [`Params`] (same layout); `None` for another kind or layer count.
    pub fn to_params(&self) -> Option<Params<T>> {
        match (self.kind, &self.layers[..]) {
            (CellKind::Lstm, [l]) => Some(Params {
                dims: self.dims,
                w_x: l.w_x.clone(),
                w_h: l.w_h.clone(),
                b: l.b.clone(),
                w_y: self.w_y.clone(),
                b_y: self.b_y.clone(),
            }),
            _ => None,
        }
    }

    /// The weight matrices (every layer's `w_x`, `w_h`, then `w_y`; not the biases), mutable.
    pub fn weights_mut(&mut self) -> Vec<&mut Vec<T>> {
        let mut out: Vec<&mut Vec<T>> = Vec::new();
        for l in &mut self.layers {
            out.push(&mut l.w_x);
            out.push(&mut l.w_h);
        }
        out.push(&mut self.w_y);
        out
    }

    /// The tensors' names, in [`Stack::tensors`] order (`l{k}.w_x`, …, `w_y`, `b_y`).
    pub fn tensor_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for k in 0..self.layers.len() {
            for n in ["w_x", "w_h", "b"] {
                names.push(format!("l{k}.{n}"));
            }
            if self.kind == CellKind::Gru {
                names.push(format!("l{k}.b_hn"));
            }
        }
        names.push("w_y".into());
        names.push("b_y".into());
        names
    }

    /// Every tensor, layer by layer, then `w_y`, `b_y` (`b_hn` only for a GRU).
    pub fn tensors(&self) -> Vec<&[T]> {
        let gru = self.kind == CellKind::Gru;
        let mut out: Vec<&[T]> = Vec::new();
        for l in &self.layers {
            out.extend([&l.w_x[..], &l.w_h[..], &l.b[..]]);
            if gru {
                out.push(&l.b_hn);
            }
        }
        out.extend([&self.w_y[..], &self.b_y[..]]);
        out
    }

    /// Every tensor, mutable, in [`Stack::tensors`] order.
    pub fn tensors_mut(&mut self) -> Vec<&mut Vec<T>> {
        let gru = self.kind == CellKind::Gru;
        let mut out: Vec<&mut Vec<T>> = Vec::new();
        for l in &mut self.layers {
            out.push(&mut l.w_x);
            out.push(&mut l.w_h);
            out.push(&mut l.b);
            if gru {
                out.push(&mut l.b_hn);
            }
        }
        out.push(&mut self.w_y);
        out.push(&mut self.b_y);
        out
    }

    /// Sets every value to zero.
    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.fill(T::ZERO);
        }
    }

    /// Converts every value to another scalar type.
    pub fn cast<U: Float>(&self) -> Stack<U> {
        let c = |v: &[T]| {
            v.iter()
                .map(|x| U::from_f64(x.to_f64()))
                .collect::<Vec<U>>()
        };
        Stack {
            kind: self.kind,
            dims: self.dims,
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    w_x: c(&l.w_x),
                    w_h: c(&l.w_h),
                    b: c(&l.b),
                    b_hn: c(&l.b_hn),
                })
                .collect(),
            w_y: c(&self.w_y),
            b_y: c(&self.b_y),
        }
    }

    /// Whether every value is finite.
    pub fn all_finite(&self) -> bool {
        self.tensors()
            .iter()
            .all(|t| t.iter().all(|v| v.is_finite()))
    }

    /// The number of trained values.
    pub fn param_count(&self) -> usize {
        self.tensors().iter().map(|t| t.len()).sum()
    }
}
