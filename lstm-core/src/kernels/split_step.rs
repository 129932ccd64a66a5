//! One step split between two cores (host, `std` feature): the calling
//! thread computes the first half of the hidden units, a helper thread the
//! second ([`Kernel::step_rows`]), so each core streams only half of `W_hh`
//! — at hidden 256, half a megabyte that stays in its own L2 cache instead
//! of a whole megabyte that does not. Same bits as [`Kernel::step`].
//!
//! The helper spins while it waits (a sleeping thread takes microseconds to
//! wake, longer than a step), so it keeps a core busy for as long as
//! [`with_split_step`] runs; it yields after a short spin when no step comes.
//!
//! Only single-layer LSTMs are split (what `host-trainer sample
//! --cores-per-step 2` runs at hidden 256); a stacked, gru or rnn network
//! given to a [`SplitStep`] runs whole on the calling thread.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::{CellView, Error, Input, Kernel, NetworkView, StepRunner};

/// What the helper needs for one step: the token, the previous hidden state
/// and where its units' cell and hidden state live.
#[derive(Clone, Copy)]
struct Job {
    kernel: Kernel,
    token: usize,
    h_prev: *const f32,
    c: *mut f32,
    h_next: *mut f32,
}

/// A value alone on its (128-byte: two 64-byte lines, as adjacent-line
/// prefetchers pair them) cache line.
#[repr(align(128))]
struct CacheLine<T>(T);

impl<T> core::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// State shared by the calling thread and the helper.
struct Shared<'m> {
    cell: CellView<'m>,
    /// First unit of the helper's half.
    split: usize,
    /// Bumped by the caller to post a step (Release); the helper acquires it.
    posted: CacheLine<AtomicU64>,
    /// Set by the helper to the step it finished (Release); the caller
    /// acquires it. On a line of its own: the two threads spin on different lines.
    done: CacheLine<AtomicU64>,
    /// The helper's outcome of the last step, written before its `done`.
    result: CacheLine<UnsafeCell<Result<(), Error>>>,
    stop: CacheLine<AtomicBool>,
    /// Written by the caller before each post (so the helper never sees the
    /// idle placeholder it starts as); on its own line, so writing it does
    /// not take `cell` away from the helper's cache.
    job: CacheLine<UnsafeCell<Job>>,
}

// SAFETY: `job` is written by the caller only while the helper is idle (every
// posted step is waited for before the next is posted or the runner is
// dropped) and read by the helper only between a post and its `done`;
// `result` is written by the helper only in that window and read by the
// caller only after it; the atomics order those accesses. The raw pointers in a job point into buffers
// the caller keeps borrowed, and does not touch, until the helper is done.
unsafe impl Sync for Shared<'_> {}

/// A [`StepRunner`] that splits every step's hidden units between the calling
/// thread and a helper thread; made by [`with_split_step`].
pub struct SplitStep<'s, 'm> {
    shared: &'s Shared<'m>,
    h_prev: Vec<f32>,
    gates: Vec<f32>,
    step: u64,
}

impl core::fmt::Debug for SplitStep<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SplitStep")
            .field("split", &self.shared.split)
            .field("steps", &self.step)
            .finish()
    }
}

/// Runs `f` with a [`SplitStep`] runner for `cell`, whose helper thread lives
/// until `f` returns (or panics).
///
/// A model with fewer than two hidden units gets a runner that does the whole
/// step on the calling thread.
pub fn with_split_step<'m, R>(
    cell: CellView<'m>,
    f: impl FnOnce(&mut SplitStep<'_, 'm>) -> R,
) -> R {
    let n_h = cell.n_h;
    // The caller also runs the output layer (n_y rows of n_h, as much as
    // n_y / 4 units' four gate rows) and the sampling: give it that many
    // fewer units, so both halves take about as long.
    let split = (n_h / 2).saturating_sub(cell.n_y / 8).max(n_h.min(1));
    let shared = Shared {
        cell,
        split,
        posted: CacheLine(AtomicU64::new(0)),
        done: CacheLine(AtomicU64::new(0)),
        result: CacheLine(UnsafeCell::new(Ok(()))),
        stop: CacheLine(AtomicBool::new(false)),
        job: CacheLine(UnsafeCell::new(Job {
            kernel: Kernel::Portable,
            token: 0,
            h_prev: core::ptr::null(),
            c: core::ptr::null_mut(),
            h_next: core::ptr::null_mut(),
        })),
    };
    std::thread::scope(|scope| {
        /// Stops the helper however `f` ends, so the scope can join it.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _stop = StopOnDrop(&shared.stop);
        if n_h >= 2 {
            scope.spawn(|| helper(&shared));
        }
        let mut runner = SplitStep {
            shared: &shared,
            h_prev: vec![0.0; n_h],
            gates: vec![0.0; 4 * shared.split],
            step: 0,
        };
        f(&mut runner)
    })
}

/// The helper thread: waits for a posted step, computes its units, reports.
fn helper(shared: &Shared<'_>) {
    let n_h = shared.cell.n_h;
    let m = n_h - shared.split;
    let mut gates = vec![0.0f32; 4 * m];
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        let posted = loop {
            let p = shared.posted.load(Ordering::Acquire);
            if p != seen {
                break p;
            }
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            spins = spins.saturating_add(1);
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        };
        seen = posted;
        // SAFETY: the caller wrote the job before the Release store of
        // `posted` that the Acquire load above saw, and does not write it
        // again until `done` says this step is finished.
        let job = unsafe { *shared.job.get() };
        let result = {
            // SAFETY: the job's pointers point into the caller's `h_prev`
            // copy (n_h values, only read) and its `c` and `h` buffers, of
            // which this thread alone touches units split..n_h until it
            // stores `done`; the caller waits for that before using them.
            let (h_prev, c, h_next) = unsafe {
                (
                    std::slice::from_raw_parts(job.h_prev, n_h),
                    std::slice::from_raw_parts_mut(job.c, m),
                    std::slice::from_raw_parts_mut(job.h_next, m),
                )
            };
            // Pull the previous state (just written by the other core) in
            // with independent loads before the products need it.
            let mut sink = 0.0f32;
            for line in h_prev.chunks(16) {
                sink += line[0];
            }
            core::hint::black_box(sink);
            job.kernel.step_rows(
                &shared.cell,
                Input::Token(job.token),
                shared.split..n_h,
                h_prev,
                c,
                h_next,
                &mut gates,
            )
        };
        // SAFETY: the caller reads `result` only after the Release store of
        // `done` below, and does not post another step before that.
        unsafe { *shared.result.get() = result };
        shared.done.store(posted, Ordering::Release);
    }
}

impl SplitStep<'_, '_> {
    /// Whether `cell` is the model this runner's helper was given.
    fn same_model(&self, cell: &CellView<'_>) -> bool {
        let own = &self.shared.cell;
        own.dims() == cell.dims()
            && core::ptr::eq(own.w_hh[0].as_ptr(), cell.w_hh[0].as_ptr())
            && core::ptr::eq(own.w_ih[0].as_ptr(), cell.w_ih[0].as_ptr())
            && core::ptr::eq(own.b[0].as_ptr(), cell.b[0].as_ptr())
    }
}

impl StepRunner for SplitStep<'_, '_> {
    /// The first half of the units here, the second on the helper thread. A
    /// dense input, another model than the one given to [`with_split_step`],
    /// or a model under two units takes the whole step here.
    fn step(
        &mut self,
        kernel: Kernel,
        cell: &CellView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) -> Result<(), Error> {
        let n_h = cell.n_h;
        let split = self.shared.split;
        let token = match x {
            Input::Token(t) if n_h >= 2 && self.same_model(cell) => t,
            _ => return kernel.step(cell, x, h, c, gates),
        };
        if h.len() != n_h || c.len() != n_h || gates.len() != 4 * n_h || token >= cell.n_x {
            // Let the one-core step report the error.
            return kernel.step(cell, x, h, c, gates);
        }
        self.h_prev.copy_from_slice(h);
        let (h_lo, h_hi) = h.split_at_mut(split);
        let (c_lo, c_hi) = c.split_at_mut(split);
        // SAFETY: the helper is idle (the previous step was waited for), so
        // nothing reads the job while it is written.
        unsafe {
            *self.shared.job.get() = Job {
                kernel,
                token,
                h_prev: self.h_prev.as_ptr(),
                c: c_hi.as_mut_ptr(),
                h_next: h_hi.as_mut_ptr(),
            };
        }
        self.step += 1;
        self.shared.posted.store(self.step, Ordering::Release);
        let mine = kernel.step_rows(cell, x, 0..split, &self.h_prev, c_lo, h_lo, &mut self.gates);
        // Wait for the helper's half: its writes to `c_hi`, `h_hi` happen
        // before its Release store of `done`.
        let mut spins = 0u32;
        while self.shared.done.load(Ordering::Acquire) != self.step {
            // If the helper lost its core to another process, let it back on.
            spins = spins.saturating_add(1);
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        mine?;
        // SAFETY: the helper wrote `result` before the `done` just acquired
        // and is idle until the next post.
        unsafe { *self.shared.result.get() }
    }

    /// The model given to [`with_split_step`] (a single-layer LSTM) is split
    /// as [`SplitStep::step`] does; any other network (stacked layers, gru,
    /// rnn) takes the whole step on the calling thread.
    fn step_network(
        &mut self,
        kernel: Kernel,
        net: &NetworkView<'_>,
        x: Input<'_>,
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<(), Error> {
        match net.cell_view() {
            Some(cell) if self.same_model(&cell) => self.step(kernel, &cell, x, h, c, scratch),
            _ => kernel.network_step(net, x, h, c, scratch),
        }
    }
}
