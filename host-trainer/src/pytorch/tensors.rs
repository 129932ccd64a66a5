//! Safetensors tensors to and from `f32` values: any float dtype in, F32 out.

use std::collections::HashMap;

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
    Ok(safetensors::serialize(views, Some(meta))?)
}
