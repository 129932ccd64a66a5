//! Safetensors tensors to and from `f32` values: any float dtype in, F32 out.

use std::collections::{BTreeMap, HashMap};

use safetensors::{Dtype, tensor::TensorView};

use super::PytorchError;

/// A named tensor to write: name, shape, row-major values.
pub(super) type Tensor = (String, Vec<usize>, Vec<f32>);

/// A tensor's values as `f32` (F64 rounded, F16 and BF16 widened).
pub(super) fn to_f32(name: &str, t: &TensorView<'_>) -> Result<Vec<f32>, PytorchError> {
    let data = t.data();
    let v = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(PytorchError::Dtype {
                name: name.into(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(v)
}

/// F32 tensors as safetensors bytes, with `format: pt`, `producer` and `extra` metadata.
pub(super) fn serialize_f32(
    tensors: &[Tensor],
    extra: &[(&str, String)],
) -> Result<Vec<u8>, PytorchError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let mut meta = HashMap::new();
    // What `safetensors.torch.save_file` writes.
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("producer".to_string(), "host-trainer".to_string());
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
    // safetensors writes the map in the `HashMap`'s order, which changes from run to run; the same
    // entries sorted by key have the same length, so they replace it in place (offsets unchanged).
    let (as_written, sorted) = (
        serde_json::to_string(&meta),
        serde_json::to_string(&meta.iter().collect::<BTreeMap<_, _>>()),
    );
    let mut bytes = safetensors::serialize(views, Some(meta))?;
    if let (Ok(from), Ok(to)) = (as_written, sorted) {
        replace_once(&mut bytes, from.as_bytes(), to.as_bytes());
    }
    Ok(bytes)
}

/// Overwrites the first occurrence of `from` in `bytes` with `to`, of the same length.
fn replace_once(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    if from.len() != to.len() || from.is_empty() {
        return;
    }
    if let Some(at) = bytes.windows(from.len()).position(|w| w == from) {
        bytes[at..at + to.len()].copy_from_slice(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same tensors and metadata give the same bytes in every run (and process), keys sorted.
    #[test]
    fn serialized_metadata_is_sorted_and_the_bytes_repeat() {
        let tensors = vec![("w".to_string(), vec![2], vec![1.0f32, -0.0])];
        let extra = [("cell", "gru".to_string()), ("num_layers", "2".to_string())];
        let first = serialize_f32(&tensors, &extra).expect("serializes");
        for _ in 0..8 {
            assert_eq!(serialize_f32(&tensors, &extra).expect("serializes"), first);
        }
        let want = r#"{"__metadata__":{"cell":"gru","format":"pt","num_layers":"2","producer":"host-trainer"}"#;
        assert!(
            first[8..].starts_with(want.as_bytes()),
            "{}",
            String::from_utf8_lossy(&first)
        );
        let (_, meta) = safetensors::SafeTensors::read_metadata(&first).expect("valid file");
        assert_eq!(meta.metadata().as_ref().map(HashMap::len), Some(4));
    }
}
