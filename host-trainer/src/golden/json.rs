//! Reading a golden file's JSON: the file itself, dotted fields, nested arrays of a known shape, indices.

use std::path::Path;

use serde_json::Value;

use super::GoldenError;

/// Reads a golden file as JSON; refuses a directory's `index.json` (it lists cases, it is not one).
pub(super) fn read_case_json(path: &Path) -> Result<Value, GoldenError> {
    let text = std::fs::read_to_string(path).map_err(|source| GoldenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let root: Value = serde_json::from_str(&text).map_err(|source| GoldenError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    if root.get("cases").is_some_and(Value::is_array) && root.get("params").is_none() {
        return Err(GoldenError::Index {
            path: path.to_path_buf(),
        });
    }
    Ok(root)
}

/// Appends the numbers of a nested array to `out`, recording its shape; refuses ragged arrays.
fn flatten(
    v: &Value,
    out: &mut Vec<f64>,
    shape: &mut Vec<usize>,
    depth: usize,
) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            } else if shape[depth] != items.len() {
                return Err("ragged array".into());
            }
            for it in items {
                flatten(it, out, shape, depth + 1)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            if shape.len() != depth {
                return Err("ragged array".into());
            }
            out.push(n.as_f64().ok_or("not a number")?);
            Ok(())
        }
        _ => Err("expected numbers".into()),
    }
}

/// Typed access to a golden file's fields; every error names the file and the field.
pub(super) struct Reader<'a> {
    /// The parsed file.
    pub(super) root: &'a Value,
    /// Its path, for messages.
    pub(super) path: &'a Path,
}

impl Reader<'_> {
    /// A [`GoldenError::Field`] for `field`.
    pub(super) fn err(&self, field: &str, problem: impl Into<String>) -> GoldenError {
        GoldenError::Field {
            path: self.path.to_path_buf(),
            field: field.to_owned(),
            problem: problem.into(),
        }
    }

    /// The value at a dotted field name (`dims.n_x`).
    pub(super) fn get(&self, field: &str) -> Result<&Value, GoldenError> {
        field
            .split('.')
            .try_fold(self.root, |v, k| v.get(k))
            .ok_or_else(|| self.err(field, "missing"))
    }

    /// A string field (empty if it is not a string).
    pub(super) fn str(&self, field: &str) -> Result<&str, GoldenError> {
        Ok(self.get(field)?.as_str().unwrap_or_default())
    }

    /// A non-negative integer field.
    pub(super) fn usize(&self, field: &str) -> Result<usize, GoldenError> {
        self.get(field)?
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| self.err(field, "not an integer"))
    }

    /// A number or nested array of shape `want` (`[]`: a single number), row-major.
    pub(super) fn array(&self, field: &str, want: &[usize]) -> Result<Vec<f64>, GoldenError> {
        let v = self.get(field)?;
        let (mut out, mut shape) = (Vec::new(), Vec::new());
        if let Value::Number(n) = v {
            out.push(n.as_f64().ok_or_else(|| self.err(field, "not a number"))?);
        } else {
            flatten(v, &mut out, &mut shape, 0).map_err(|e| self.err(field, e))?;
        }
        if shape != want {
            return Err(self.err(field, format!("shape {shape:?}, expected {want:?}")));
        }
        Ok(out)
    }

    /// An array of shape `want` of whole numbers in `0..limit`.
    pub(super) fn indices(
        &self,
        field: &str,
        want: &[usize],
        limit: usize,
    ) -> Result<Vec<u32>, GoldenError> {
        let vals = self.array(field, want)?;
        vals.iter()
            .map(|&v| {
                if v >= 0.0 && v.fract() == 0.0 && (v as usize) < limit {
                    Ok(v as u32)
                } else {
                    Err(self.err(field, format!("index {v} outside 0..{limit}")))
                }
            })
            .collect()
    }

    /// The schema field, which must be `want`.
    pub(super) fn expect_schema(&self, want: &str) -> Result<(), GoldenError> {
        let schema = self.str("schema")?;
        if schema == want {
            Ok(())
        } else {
            Err(self.err("schema", format!("{schema:?}, expected {want:?}")))
        }
    }
}
