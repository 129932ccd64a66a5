//! The prime-then-generate loop and the runners that advance its state.

use crate::format::TokenKind;
use crate::{CellView, Error, Input, InputKind, Kernel, NetworkView, Sampler};

/// How a [`Generator`] advances its state by one step: all on the calling
/// core ([`InlineStep`]), or with the units split between cores (`SplitStep`,
/// with the `std` feature). Every runner must give [`Kernel::step`]'s and
/// [`Kernel::network_step`]'s bits.
pub trait StepRunner {
    /// One step of the single-layer LSTM `cell` for input `x`, as [`Kernel::step`].
    ///
    /// # Errors
    /// As [`Kernel::step`].
    fn step(
        &mut self,
        kernel: Kernel,
        cell: &CellView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error>;

    /// One step of every layer of `net`, as [`Kernel::network_step`]; by
    /// default on the calling core.
    ///
    /// # Errors
    /// As [`Kernel::network_step`].
    fn step_network(
        &mut self,
        kernel: Kernel,
        net: &NetworkView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        kernel.network_step(net, x, h, c, scratch)
    }

    /// The output layer of `net` on its last layer's state, as
    /// [`Kernel::network_logits`]; by default exactly that.
    ///
    /// # Errors
    /// As [`Kernel::network_logits`].
    fn network_logits(
        &mut self,
        kernel: Kernel,
        net: &NetworkView<'_>,
        h: &[f32],
        logits: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        kernel.network_logits(net, h, logits, scratch)
    }

    /// The kernel this runner always steps with, if it fixes one at compile
    /// time ([`OneCell`]); a [`Generator`] then runs its output layer and
    /// softmax with it too. By default none: the generator's kernel.
    fn fixed_kernel(&self) -> Option<Kernel> {
        None
    }
}

impl<S: StepRunner + ?Sized> StepRunner for &mut S {
    fn step(
        &mut self,
        kernel: Kernel,
        cell: &CellView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error> {
        (**self).step(kernel, cell, x, h, c, gates)
    }

    fn step_network(
        &mut self,
        kernel: Kernel,
        net: &NetworkView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        (**self).step_network(kernel, net, x, h, c, scratch)
    }

    fn network_logits(
        &mut self,
        kernel: Kernel,
        net: &NetworkView<'_>,
        h: &[f32],
        logits: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        (**self).network_logits(kernel, net, h, logits, scratch)
    }

    fn fixed_kernel(&self) -> Option<Kernel> {
        (**self).fixed_kernel()
    }
}

/// The whole step on the calling core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InlineStep;

impl StepRunner for InlineStep {
    fn step(
        &mut self,
        kernel: Kernel,
        cell: &CellView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error> {
        kernel.step(cell, x, h, c, gates)
    }
}

/// The whole step on the calling core with [`Kernel::compiled()`], only
/// the body of the cell kind whose [`CellKind::code`](crate::format::CellKind::code)
/// is `CELL` and only the products of the dtype whose
/// [`Dtype::code`](crate::format::Dtype::code) is `DTYPE` compiled in
/// (a q8-shared model steps as q8: [`Dtype::kernel`](crate::format::Dtype::kernel))
/// ([`Kernel::network_step_of`], [`Kernel::network_logits_of`]): what a
/// firmware that runs one model uses, so that it links one kernel, one cell
/// body and one dtype's products instead of all of them.
/// [`Generator::for_network`] refuses it with any other kernel; a network
/// of another cell kind or dtype gets [`Error::UnsupportedModel`] at its
/// first step. The same bits as [`InlineStep`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OneCell<const CELL: u8, const DTYPE: u8>;

impl<const CELL: u8, const DTYPE: u8> StepRunner for OneCell<CELL, DTYPE> {
    fn step(
        &mut self,
        _kernel: Kernel,
        cell: &CellView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error> {
        let net = cell.network(InputKind::OneHot);
        Kernel::compiled().network_step_of::<CELL, DTYPE>(&net, x, h, c, gates)
    }

    fn step_network(
        &mut self,
        _kernel: Kernel,
        net: &NetworkView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        Kernel::compiled().network_step_of::<CELL, DTYPE>(net, x, h, c, scratch)
    }

    fn network_logits(
        &mut self,
        _kernel: Kernel,
        net: &NetworkView<'_>,
        h: &[f32],
        logits: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        Kernel::compiled().network_logits_of::<DTYPE>(net, h, logits, scratch)
    }

    fn fixed_kernel(&self) -> Option<Kernel> {
        Some(Kernel::compiled())
    }
}

/// Runs a model: prime it, then generate, emitting symbols.
///
/// It works on a [`NetworkView`] of any cell kind and layer count, over
/// character or word vocabularies, and borrows its state and scratch
/// buffers, so it needs no heap; see [`crate::Lstm::generate`] for a
/// stack-allocated one. Symbols are indices into the vocabulary;
/// [`Generator::symbol_text`] gives their text (a word model's caller
/// prints the words separated by one space).
#[derive(Debug)]
pub struct Generator<'m, 'b, S = InlineStep> {
    net: NetworkView<'m>,
    tokens: TokenKind,
    vocab: &'m str,
    kernel: Kernel,
    runner: S,
    h: &'b mut [f32],
    c: &'b mut [f32],
    gates: &'b mut [f32],
    logits: &'b mut [f32],
    order: &'b mut [u16],
}

/// Scratch for a [`Generator`] over a network `net`; every length is exact:
///
/// | buffer | length | single-layer LSTM |
/// |---|---|---|
/// | `h` | [`NetworkView::state_len`] = `n_layers · n_h` | `n_h` |
/// | `c` | [`NetworkView::cell_state_len`] = `n_layers · n_h` (lstm), 0 (gru, rnn) | `n_h` |
/// | `gates` | [`NetworkView::scratch_len`] | `4·n_h` |
/// | `logits` | `n_y` | `n_y` |
/// | `order` | `n_y` | `n_y` |
#[derive(Debug)]
pub struct GeneratorBuffers<'b> {
    /// Hidden state of every layer, layer after layer.
    pub h: &'b mut [f32],
    /// Cell state of every layer (lstm; empty otherwise).
    pub c: &'b mut [f32],
    /// Gate pre-activations (scratch).
    pub gates: &'b mut [f32],
    /// Logits, then probabilities.
    pub logits: &'b mut [f32],
    /// Sort order for top-k / top-p.
    pub order: &'b mut [u16],
}

impl<'m, 'b> Generator<'m, 'b> {
    /// Creates a generator for a single-layer LSTM character model with a
    /// zero state that steps on the calling core.
    ///
    /// # Errors
    /// A vocabulary that does not match `n_y`, a dense-input model, or buffers of the wrong size.
    pub fn new(
        cell: CellView<'m>,
        input: InputKind,
        vocab: &'m str,
        kernel: Kernel,
        buffers: GeneratorBuffers<'b>,
    ) -> Result<Self, Error> {
        Generator::with_runner(cell, input, vocab, kernel, buffers, InlineStep)
    }
}

impl<'m, 'b, S: StepRunner> Generator<'m, 'b, S> {
    /// Creates a generator for a single-layer LSTM character model with a
    /// zero state whose steps go through `runner`.
    ///
    /// # Errors
    /// As [`Generator::new`].
    pub fn with_runner(
        cell: CellView<'m>,
        input: InputKind,
        vocab: &'m str,
        kernel: Kernel,
        buffers: GeneratorBuffers<'b>,
        runner: S,
    ) -> Result<Self, Error> {
        Generator::for_network(
            cell.network(input),
            TokenKind::Chars,
            vocab,
            kernel,
            buffers,
            runner,
        )
    }

    /// Creates a generator for any model of the family (one-hot input) with
    /// a zero state whose steps go through `runner` ([`InlineStep`] for the
    /// calling core); `vocab` is the model's vocabulary of `tokens`
    /// (characters concatenated, or words joined by single spaces).
    ///
    /// # Errors
    /// [`Error::WrongInputKind`] for a dense-input model,
    /// [`Error::DimensionMismatch`] if `n_x != n_y`, a vocabulary that does
    /// not hold `n_y` valid symbols, or buffers of the wrong size (see
    /// [`GeneratorBuffers`]).
    pub fn for_network(
        net: NetworkView<'m>,
        tokens: TokenKind,
        vocab: &'m str,
        kernel: Kernel,
        buffers: GeneratorBuffers<'b>,
        runner: S,
    ) -> Result<Self, Error> {
        if net.input() != InputKind::OneHot {
            return Err(Error::WrongInputKind);
        }
        let d = net.dims();
        if d.n_x != d.n_y {
            return Err(Error::DimensionMismatch {
                name: "n_x",
                expected: d.n_y,
                found: d.n_x,
            });
        }
        tokens.validate(vocab, d.n_y)?;
        if runner.fixed_kernel().is_some_and(|k| k != kernel) {
            return Err(Error::UnsupportedModel {
                what: "a kernel other than the one the step runner is compiled for",
            });
        }
        for (found, needed) in [
            (buffers.h.len(), net.state_len()),
            (buffers.c.len(), net.cell_state_len()),
            (buffers.gates.len(), net.scratch_len()),
            (buffers.logits.len(), d.n_y),
            (buffers.order.len(), d.n_y),
        ] {
            if found != needed {
                return Err(Error::BufferTooSmall {
                    needed,
                    available: found,
                });
            }
        }
        let mut g = Generator {
            net,
            tokens,
            vocab,
            kernel,
            runner,
            h: buffers.h,
            c: buffers.c,
            gates: buffers.gates,
            logits: buffers.logits,
            order: buffers.order,
        };
        g.reset();
        Ok(g)
    }

    /// The kernel every step, the output layer and softmax run with: the
    /// runner's fixed kernel, else the one given at construction.
    pub fn kernel(&self) -> Kernel {
        self.runner.fixed_kernel().unwrap_or(self.kernel)
    }

    /// Zeroes the state of every layer.
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
    }

    /// The model.
    pub fn network(&self) -> &NetworkView<'m> {
        &self.net
    }

    /// What a symbol of the vocabulary is (characters or words).
    pub fn tokens(&self) -> TokenKind {
        self.tokens
    }

    /// The number of symbols (`n_y`).
    pub fn symbol_count(&self) -> usize {
        self.net.output.n_y
    }

    /// The text of symbol `index`: its character, or its word.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`].
    pub fn symbol_text(&self, index: usize) -> Result<&'m str, Error> {
        self.tokens
            .symbols(self.vocab)
            .nth(index)
            .ok_or(Error::TokenOutOfRange {
                token: index,
                vocab: self.symbol_count(),
            })
    }

    /// The index of the symbol whose text is `text` (one character, or one word).
    ///
    /// # Errors
    /// [`Error::UnknownSymbol`] (chars; the first character of `text`) or
    /// [`Error::UnknownWord`] (words; index 0).
    pub fn symbol_index(&self, text: &str) -> Result<usize, Error> {
        self.tokens
            .symbols(self.vocab)
            .position(|s| s == text)
            .ok_or_else(|| self.unknown(text, 0))
    }

    fn unknown(&self, text: &str, index: usize) -> Error {
        match self.tokens {
            TokenKind::Chars => Error::UnknownSymbol {
                symbol: text.chars().next().unwrap_or('\0'),
            },
            TokenKind::Words => Error::UnknownWord { index },
        }
    }

    /// The symbols of a prime, in order: each character (chars), or each
    /// whitespace-separated word (words).
    pub fn prime_symbols<'p>(&self, prime: &'p str) -> impl Iterator<Item = &'p str> + 'p {
        let tokens = self.tokens;
        let mut chars = prime.char_indices();
        let mut words = prime.split_whitespace();
        core::iter::from_fn(move || match tokens {
            TokenKind::Chars => chars
                .next()
                .and_then(|(i, c)| prime.get(i..i + c.len_utf8())),
            TokenKind::Words => words.next(),
        })
    }

    /// The index of character `symbol` in a character vocabulary.
    ///
    /// # Errors
    /// [`Error::UnknownSymbol`] (also for any symbol of a word vocabulary).
    pub fn token(&self, symbol: char) -> Result<usize, Error> {
        match self.tokens {
            TokenKind::Chars => self
                .vocab
                .chars()
                .position(|c| c == symbol)
                .ok_or(Error::UnknownSymbol { symbol }),
            TokenKind::Words => Err(Error::UnknownSymbol { symbol }),
        }
    }

    /// The character of index `token` in a character vocabulary.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`], or [`Error::UnsupportedModel`] for a word vocabulary.
    pub fn symbol(&self, token: usize) -> Result<char, Error> {
        if self.tokens == TokenKind::Words {
            return Err(Error::UnsupportedModel {
                what: "word tokens (use symbol_text)",
            });
        }
        self.vocab.chars().nth(token).ok_or(Error::TokenOutOfRange {
            token,
            vocab: self.symbol_count(),
        })
    }

    /// Advances the state of every layer by one input symbol index.
    ///
    /// # Errors
    /// [`Error::TokenOutOfRange`].
    pub fn feed_token(&mut self, token: usize) -> Result<(), Error> {
        self.runner.step_network(
            self.kernel(),
            &self.net,
            Input::Token(token),
            self.h,
            self.c,
            self.gates,
        )
    }

    /// The hidden state of every layer, layer after layer (`n_layers · n_h`).
    pub fn hidden(&self) -> &[f32] {
        self.h
    }

    /// The cell state of every layer, layer after layer (lstm; empty otherwise).
    pub fn cell_state(&self) -> &[f32] {
        self.c
    }

    /// The last layer's hidden state (what the output layer reads).
    pub fn top_hidden(&self) -> &[f32] {
        let n_h = self.net.output.n_h;
        let start = self.h.len().saturating_sub(n_h);
        self.h.get(start..).unwrap_or(&[])
    }

    /// Computes the output distribution of the current state into the logits
    /// buffer and samples a symbol index from it (the state does not advance).
    ///
    /// # Errors
    /// Only on internal size mismatches, which [`Generator::for_network`] rules out.
    pub fn sample_token(&mut self, sampler: &mut Sampler) -> Result<usize, Error> {
        let kernel = self.kernel();
        self.runner
            .network_logits(kernel, &self.net, self.h, self.logits, self.gates)?;
        sampler.sample(kernel, self.logits, self.order)
    }

    /// CRC-32 of the bits of each layer's hidden state then cell state (lstm),
    /// layer by layer, then the last output: equal digests mean two runs (two
    /// kernels, host and microcontroller) computed the same bits, not just
    /// the same text.
    pub fn state_digest(&self) -> u32 {
        let mut d = crate::format::CRC32.digest();
        let n_h = self.net.output.n_h;
        let c_len = self.net.layers[0].cell_state_len();
        let mut put = |v: &[f32]| {
            for x in v {
                d.update(&x.to_bits().to_le_bytes());
            }
        };
        for l in 0..self.net.n_layers {
            put(self.h.get(l * n_h..(l + 1) * n_h).unwrap_or(&[]));
            put(self.c.get(l * c_len..(l + 1) * c_len).unwrap_or(&[]));
        }
        put(self.logits);
        d.finalize()
    }

    /// The probabilities (or, after a greedy draw, the logits) of the last [`Generator::sample_token`].
    pub fn last_output(&self) -> &[f32] {
        self.logits
    }

    /// From a zero state: feeds `prime`'s symbols (emitting each index; see
    /// [`Generator::prime_symbols`]), then samples up to `length` symbols,
    /// emitting each and feeding it back; stops after emitting `stop_at`.
    /// Returns the number of symbols generated.
    ///
    /// An empty prime starts a new line: if the vocabulary has the symbol
    /// `"\n"` the model is fed one first (not emitted), as in lines-mode
    /// training; otherwise the first symbol comes from the zero state's output.
    ///
    /// # Errors
    /// [`Error::UnknownSymbol`] / [`Error::UnknownWord`] for a prime symbol
    /// outside the vocabulary (checked before anything is emitted).
    pub fn generate_symbols(
        &mut self,
        sampler: &mut Sampler,
        prime: &str,
        length: usize,
        stop_at: Option<usize>,
        mut emit: impl FnMut(usize),
    ) -> Result<usize, Error> {
        for (i, s) in self.prime_symbols(prime).enumerate() {
            self.symbol_index(s).map_err(|_| self.unknown(s, i))?;
        }
        self.reset();
        if self.prime_symbols(prime).next().is_none()
            && let Ok(nl) = self.symbol_index("\n")
        {
            self.feed_token(nl)?;
        }
        for s in self.prime_symbols(prime) {
            let t = self.symbol_index(s)?;
            emit(t);
            self.feed_token(t)?;
        }
        for n in 0..length {
            let t = self.sample_token(sampler)?;
            emit(t);
            if Some(t) == stop_at {
                return Ok(n + 1);
            }
            if n + 1 < length {
                self.feed_token(t)?;
            }
        }
        Ok(length)
    }

    /// [`Generator::generate_symbols`] for a character model, emitting characters.
    ///
    /// # Errors
    /// As [`Generator::generate_symbols`]; [`Error::UnsupportedModel`] for a
    /// word model.
    pub fn generate(
        &mut self,
        sampler: &mut Sampler,
        prime: &str,
        length: usize,
        stop_at: Option<char>,
        mut emit: impl FnMut(char),
    ) -> Result<usize, Error> {
        if self.tokens == TokenKind::Words {
            return Err(Error::UnsupportedModel {
                what: "word tokens (use generate_symbols)",
            });
        }
        let stop = stop_at.and_then(|ch| self.token(ch).ok());
        let vocab = self.vocab;
        self.generate_symbols(sampler, prime, length, stop, |t| {
            emit(vocab.chars().nth(t).unwrap_or('\u{FFFD}'));
        })
    }
}
