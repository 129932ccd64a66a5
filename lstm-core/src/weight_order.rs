//! The orders an int8 (q8) weight matrix's values may be stored in: the
//! file's row-major order, or the quad-interleaved order the Cortex-M4F's
//! four-row kernel reads with no shuffles.
//!
//! **Quad order** of a `rows × n` matrix (row-major source `w[k][j]`):
//! quad `q` (rows `4q..4q+4`, for `q < rows / 4`) is a chunk of `4n` bytes
//! at offset `4q·n`; in it, for each column group `c < n / 4`, the 4 bytes
//! `w[4q][4c..4c+4]`, then `w[4q+1][4c..4c+4]`, `w[4q+2][4c..4c+4]`,
//! `w[4q+3][4c..4c+4]` (16 bytes a group); then the `n % 4` tail columns,
//! row `4q`'s, then `4q+1`'s, `4q+2`'s and `4q+3`'s. The `rows % 4` rows
//! past the last full quad follow row-major, as in the source. The length is
//! the row-major one (`rows · n`), and if the matrix starts on a 4-byte
//! boundary, so does every quad (each is `4n` bytes) and every group of it.
//!
//! Only the layout changes: a product over a matrix in either order gives
//! the same bits ([`crate::quant`]'s exact i32 sums).

/// How a q8 matrix's int8 values are laid out (scales are per row, in row
/// order, either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightOrder {
    /// Row after row, each row's `n` values in order (the file's layout).
    #[default]
    RowMajor,
    /// Four rows interleaved by groups of four columns (the module docs).
    Quads,
}

/// Where element `w[k][j]` of a `rows × n` matrix is stored in quad order.
///
/// # Panics
/// In debug builds, if `k ≥ rows` or `j ≥ n`.
#[inline]
pub fn quad_index(rows: usize, n: usize, k: usize, j: usize) -> usize {
    debug_assert!(k < rows && j < n, "quad_index: out of range");
    let full = rows / 4 * 4;
    if k >= full {
        return k * n + j;
    }
    let (quad, r) = (k / 4, k % 4);
    let base = 4 * n * quad;
    let groups = n / 4 * 4;
    if j < groups {
        base + 4 * (j / 4 * 4) + 4 * r + j % 4
    } else {
        base + 4 * groups + r * (n - groups) + (j - groups)
    }
}

/// Writes the row-major `rows × n` matrix `src` into `dst` in quad order.
///
/// # Panics
/// If `src` or `dst` is not `rows · n` long.
pub fn interleave_quads<T: Copy>(src: &[T], rows: usize, n: usize, dst: &mut [T]) {
    assert!(
        src.len() == rows * n && dst.len() == rows * n,
        "interleave_quads: lengths"
    );
    for k in 0..rows {
        for j in 0..n {
            dst[quad_index(rows, n, k, j)] = src[k * n + j];
        }
    }
}
