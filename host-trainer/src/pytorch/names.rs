//! What a tensor name says (`weight_ih_l2_reverse`: matrix, layer, direction), which recurrent module
//! a file holds, and the hints that error messages give about names.

use lstm_core::format::CellKind;

use super::{PytorchError, RNN_PREFIXES};

/// A recurrent-module parameter name without its prefix: `weight_ih_l0`, `bias_hh_l2_reverse`,
/// `weight_hr_l0` …; returns (matrix, layer, reverse).
pub(super) fn rnn_param(rest: &str) -> Option<(&str, usize, bool)> {
    let rest = rest
        .strip_prefix("weight_")
        .or_else(|| rest.strip_prefix("bias_"))?;
    let (matrix, rest) = rest.split_once("_l")?;
    if !matches!(matrix, "ih" | "hh" | "hr") {
        return None;
    }
    let (layer, reverse) = match rest.strip_suffix("_reverse") {
        Some(l) => (l, true),
        None => (rest, false),
    };
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((matrix, layer.parse().ok()?, reverse))
}

/// The names under prefix `p` that are recurrent-module parameters, with what they say.
pub(super) fn rnn_params<'a>(names: &[&'a str], p: &str) -> Vec<(&'a str, (&'a str, usize, bool))> {
    names
        .iter()
        .filter_map(|n| Some((*n, rnn_param(n.strip_prefix(p)?)?)))
        .collect()
}

/// Rejects bidirectional and projected modules with a message naming the feature.
pub(super) fn check_one_direction(names: &[&str], p: &str) -> Result<(), PytorchError> {
    let params = rnn_params(names, p);
    if let Some((n, _)) = params.iter().find(|(_, (_, _, rev))| *rev) {
        return Err(PytorchError::Unsupported(format!(
            "bidirectional module ({n:?}); only bidirectional=False is supported"
        )));
    }
    if let Some((n, _)) = params.iter().find(|(_, (m, _, _))| *m == "hr") {
        return Err(PytorchError::Unsupported(format!(
            "LSTM with a projection ({n:?}); only proj_size=0 is supported"
        )));
    }
    Ok(())
}

/// The cell kind of `gates` gate blocks.
pub(super) fn kind_of_gates(gates: usize) -> Option<CellKind> {
    [CellKind::Lstm, CellKind::Gru, CellKind::Rnn]
        .into_iter()
        .find(|k| k.gates() == gates)
}

/// At most a dozen names, for messages.
pub(super) fn list_names(names: &[&str]) -> String {
    const MAX: usize = 12;
    let mut s = names
        .iter()
        .take(MAX)
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(" and {} more", names.len() - MAX));
    }
    s
}

/// Explains a missing tensor: the prefix that would find it, or what the file has.
pub(super) fn missing_hint(names: &[&str], suffix: &str, flag: &str, current: &str) -> String {
    let candidates: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix(suffix))
        .filter(|p| *p != current && (p.is_empty() || p.ends_with('.')))
        .collect();
    match candidates[..] {
        [p] => format!(
            "the file has {:?}: use {flag} {p:?}",
            format!("{p}{suffix}")
        ),
        _ => format!(
            "the file has {}; set the prefixes with --lstm-prefix / --linear-prefix",
            list_names(names)
        ),
    }
}

/// The recurrent module's prefix: `given`, or the one of [`RNN_PREFIXES`] the file has.
pub(super) fn find_rnn_prefix(names: &[&str], given: Option<&str>) -> Result<String, PytorchError> {
    if let Some(p) = given {
        return Ok(p.to_string());
    }
    let found: Vec<&str> = RNN_PREFIXES
        .into_iter()
        .filter(|p| !rnn_params(names, p).is_empty())
        .collect();
    match found[..] {
        [p] => Ok(p.to_string()),
        [] => Err(PytorchError::MissingTensor {
            name: "lstm.weight_ih_l0 (or gru., rnn.)".into(),
            hint: format!(
                "the file has {}; set the prefix with --rnn-prefix",
                list_names(names)
            ),
        }),
        _ => Err(PytorchError::Unsupported(format!(
            "tensors of two recurrent modules ({}); one model has one, choose it with --rnn-prefix",
            found.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rnn_param_names() {
        assert_eq!(rnn_param("weight_ih_l0"), Some(("ih", 0, false)));
        assert_eq!(rnn_param("bias_hh_l12_reverse"), Some(("hh", 12, true)));
        assert_eq!(rnn_param("weight_hr_l0"), Some(("hr", 0, false)));
        assert_eq!(rnn_param("weight"), None);
        assert_eq!(rnn_param("weight_ih_lx"), None);
        assert_eq!(rnn_param("proj_layer"), None);
    }

    #[test]
    fn missing_hint_names_the_prefix_that_would_find_it() {
        let names = ["out.bias", "out.weight", "rnn.weight_ih_l0"];
        assert_eq!(
            missing_hint(&names, "weight", "--linear-prefix", "fc."),
            "the file has \"out.weight\": use --linear-prefix \"out.\""
        );
        let hint = missing_hint(&names, "weight_hh_l0", "--rnn-prefix", "rnn.");
        assert!(hint.starts_with("the file has \"out.bias\", "), "{hint}");
    }
}
