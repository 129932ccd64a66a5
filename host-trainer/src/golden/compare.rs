//! Comparing computed values with a golden case's: per element, or scaled per field.

use super::Comparison;

/// One computed quantity beside its golden values: (name, is a gradient, mine, golden).
pub(super) type Row = (String, bool, Vec<f64>, Vec<f64>);

/// Pairs computed values with the case's named golden ones, forward values then gradients (`d` +
/// name); `mine` and `mine_grads` are in the order of `forward` and `grads`.
pub(super) fn rows<S: AsRef<str>>(
    mine: Vec<Vec<f64>>,
    forward: &[(S, Vec<f64>)],
    mine_grads: Vec<Vec<f64>>,
    grads: &[(S, Vec<f64>)],
) -> Vec<Row> {
    let values = mine
        .into_iter()
        .zip(forward)
        .map(|(v, (name, want))| (name.as_ref().to_owned(), false, v, want.clone()));
    let grads = mine_grads
        .into_iter()
        .zip(grads)
        .map(|(v, (name, want))| (format!("d{}", name.as_ref()), true, v, want.clone()));
    values.chain(grads).collect()
}

/// The largest absolute and relative (over non-zero golden values) errors; infinite if the lengths
/// differ or a computed value is not finite.
fn errors(mine: &[f64], want: &[f64]) -> (f64, f64) {
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    for (&a, &b) in mine.iter().zip(want) {
        let d = (a - b).abs();
        max_abs = max_abs.max(d);
        if b != 0.0 {
            max_rel = max_rel.max(d / b.abs());
        }
    }
    if mine.len() != want.len() || mine.iter().any(|v| !v.is_finite()) {
        return (f64::INFINITY, f64::INFINITY);
    }
    (max_abs, max_rel)
}

/// Each row passes if every element does: `ok(is_grad, mine, golden)` with a finite difference.
pub(super) fn element_wise(rows: Vec<Row>, ok: impl Fn(bool, f64, f64) -> bool) -> Vec<Comparison> {
    rows.into_iter()
        .map(|(name, is_grad, mine, want)| {
            let pass = mine.len() == want.len()
                && mine
                    .iter()
                    .zip(&want)
                    .all(|(&a, &b)| (a - b).abs().is_finite() && ok(is_grad, a, b));
            let (max_abs, max_rel) = errors(&mine, &want);
            Comparison {
                name,
                is_grad,
                max_abs,
                max_rel,
                pass,
            }
        })
        .collect()
}

/// Each row passes if its max-abs error is at most `1e-5 + 1e-4·max|golden|` over the field (the
/// schemas' float32 bound).
pub(super) fn field_scaled(rows: Vec<Row>) -> Vec<Comparison> {
    rows.into_iter()
        .map(|(name, is_grad, mine, want)| {
            let (max_abs, max_rel) = errors(&mine, &want);
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            Comparison {
                name,
                is_grad,
                max_abs,
                max_rel,
                pass: max_abs <= 1e-5 + 1e-4 * scale,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mine: &[f64], want: &[f64]) -> Vec<Row> {
        vec![("x".into(), false, mine.to_vec(), want.to_vec())]
    }

    #[test]
    fn errors_are_largest_absolute_and_relative() {
        let c = &element_wise(row(&[1.0, 2.5, 0.5], &[1.0, 2.0, 0.0]), |_, a, b| a == b)[0];
        assert_eq!((c.max_abs, c.max_rel, c.pass), (0.5, 0.25, false));
        let c = &element_wise(row(&[1.0, 2.0], &[1.0, 2.0]), |_, a, b| a == b)[0];
        assert!(c.pass);
    }

    #[test]
    fn non_finite_or_missing_values_never_pass() {
        for mine in [&[f64::NAN, 1.0][..], &[f64::INFINITY, 1.0], &[1.0]] {
            let rows = row(mine, &[1.0, 1.0]);
            assert!(
                !element_wise(rows.clone(), |_, _, _| true)[0].pass,
                "{mine:?}"
            );
            let c = &field_scaled(rows)[0];
            assert!(!c.pass && c.max_abs.is_infinite(), "{mine:?}");
        }
    }

    #[test]
    fn field_scaled_bound_grows_with_the_largest_golden_value() {
        // 1e-5 + 1e-4·100 = 0.01001: an error of 0.01 passes, 0.011 does not.
        assert!(field_scaled(row(&[100.01, 0.0], &[100.0, 0.0]))[0].pass);
        assert!(!field_scaled(row(&[100.011, 0.0], &[100.0, 0.0]))[0].pass);
    }
}
