//! The q8 dtype's table activations ([`crate::lut`]): each kernel's
//! [`Kernel::activate_table`] against [`Kernel::Portable`], bit for bit,
//! on vectors of every length 1..=20 and some longer ones, mixing the
//! edges (±16 and their neighbours, ±8 for tanh, grid points and midpoints,
//! zero, tiny and huge values, infinities and NaN) with random values
//! across and beyond the table's range.

use core::fmt;

use super::{Rng, Summary, first_difference, tally};
use crate::Kernel;

/// The longest vector of a case.
pub const MAX_TABLE_LEN: usize = 257;

/// Floats of scratch [`run_table`] needs (input, reference and kernel copies).
pub const SCRATCH_TABLE_LEN: usize = 3 * MAX_TABLE_LEN;

const _: () = assert!(SCRATCH_TABLE_LEN <= super::SCRATCH_LEN);

/// Values every case starts with (then random ones).
const EDGES: [f32; 24] = [
    -16.0,
    16.0,
    -16.000_002,
    16.000_002,
    -15.999_999,
    15.999_999,
    -8.0,
    8.0,
    -8.000_001,
    7.999_999_5,
    0.0,
    -0.0,
    1e-30,
    -1e-30,
    f32::MIN_POSITIVE,
    1.0,
    -1.03125,
    0.03125,
    1e30,
    -1e30,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    -f32::NAN,
];

/// One table-activation case: a vector length and a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCase {
    /// Values in the vector.
    pub len: usize,
    /// Seed of the random values.
    pub seed: u64,
}

impl fmt::Display for TableCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table len {} seed {}", self.len, self.seed)
    }
}

/// Every case: lengths 1..=20, 31, 64, 100 and [`MAX_TABLE_LEN`].
pub fn table_cases() -> impl Iterator<Item = TableCase> {
    (1..=20)
        .chain([31, 64, 100, MAX_TABLE_LEN])
        .map(|len| TableCase {
            len,
            seed: 0x7AB1E + len as u64,
        })
}

/// A difference between a kernel and the portable reference.
#[derive(Debug, Clone, Copy)]
pub struct TableMismatch {
    /// The case.
    pub case: TableCase,
    /// The kernel.
    pub kernel: Kernel,
    /// `tanh_table` if true, else `sigmoid_table`.
    pub tanh: bool,
    /// Index of the first differing value.
    pub index: usize,
    /// The input there.
    pub x: u32,
    /// The reference's bits.
    pub want: u32,
    /// The kernel's bits.
    pub got: u32,
}

impl fmt::Display for TableMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: kernel {} {} [{}] x {:#010x}: want {:#010x}, got {:#010x}",
            self.case,
            self.kernel.name(),
            if self.tanh {
                "tanh_table"
            } else {
                "sigmoid_table"
            },
            self.index,
            self.x,
            self.want,
            self.got
        )
    }
}

/// Runs every case of [`table_cases`] on `kernel` against
/// [`Kernel::Portable`], both activations, calling `on_mismatch` for each
/// difference (at most one per output).
///
/// # Panics
/// If `scratch` is shorter than [`SCRATCH_TABLE_LEN`].
pub fn run_table(
    kernel: Kernel,
    scratch: &mut [f32],
    mut on_mismatch: impl FnMut(&TableMismatch),
) -> Summary {
    let (x, rest) = scratch[..SCRATCH_TABLE_LEN].split_at_mut(MAX_TABLE_LEN);
    let (want, got) = rest.split_at_mut(MAX_TABLE_LEN);
    tally(table_cases(), |case, comparisons| {
        let n = case.len;
        let mut rng = Rng::new(case.seed);
        for (k, v) in x[..n].iter_mut().enumerate() {
            *v = match EDGES.get(k) {
                Some(&e) => e,
                // Across and beyond the range, and small values.
                None if k % 3 == 0 => rng.unit() * 0.05,
                None => rng.unit() * 24.0,
            };
        }
        // Shorter cases see the edges at other positions too.
        x[..n].rotate_left(case.seed as usize % n);
        let mut failed = false;
        for tanh in [false, true] {
            want[..n].copy_from_slice(&x[..n]);
            got[..n].copy_from_slice(&x[..n]);
            Kernel::Portable.activate_table(&mut want[..n], tanh);
            kernel.activate_table(&mut got[..n], tanh);
            *comparisons += 1;
            if let Some(index) = first_difference(&want[..n], &got[..n]) {
                failed = true;
                on_mismatch(&TableMismatch {
                    case: *case,
                    kernel,
                    tanh,
                    index,
                    x: x[index].to_bits(),
                    want: want[index].to_bits(),
                    got: got[index].to_bits(),
                });
            }
        }
        failed
    })
}
