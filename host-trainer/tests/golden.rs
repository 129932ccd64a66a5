//! Golden parity with PyTorch on the reference cases in the workspace's `testdata/golden/`: `nn.LSTM`
//! (`lstm-golden/1`) and stacked LSTM / GRU / RNN (`rnn-golden/2`, in `v2/`).

use std::path::{Path, PathBuf};

use host_trainer::golden::{self, Comparison};

/// The case files of `testdata/golden/<sub>` (every JSON file but the index), sorted.
fn case_files(sub: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/golden")
        .join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "index.json"))
        .collect();
    files.sort();
    files
}

/// The `lstm-golden/1` cases.
fn cases() -> Vec<PathBuf> {
    let files = case_files("");
    assert!(
        files.len() >= 2,
        "expected the tiny and small golden files, found {files:?}"
    );
    files
}

/// Asserts that every compared quantity of the case in `path` is within tolerance.
fn assert_all_pass(path: &Path, rows: &[Comparison], precision: &str) {
    for c in rows {
        assert!(
            c.pass,
            "{}: {} {precision} abs {:e} rel {:e}",
            path.display(),
            c.name,
            c.max_abs,
            c.max_rel
        );
    }
}

#[test]
fn f64_forward_and_gradients_match_pytorch() {
    for path in cases() {
        let case = golden::load(&path).expect("golden file loads");
        let rows = golden::check_f64(&case);
        assert_all_pass(&path, &rows, "f64");
        for c in rows {
            // The reference was checked to 1e-15 by an independent implementation; so are we.
            assert!(
                c.max_abs < 1e-12,
                "{}: {} abs {:e}",
                path.display(),
                c.name,
                c.max_abs
            );
        }
    }
}

#[test]
fn f32_forward_and_gradients_match_pytorch_within_schema_bound() {
    for path in cases() {
        let case = golden::load(&path).expect("golden file loads");
        assert_all_pass(&path, &golden::check_f32(&case), "f32");
    }
}

#[test]
fn conversion_matches_the_stacked_layout_in_the_file() {
    // SCHEMA.md: stacked W[k·H + r][c] = W_hh[perm[k]·H + r][c], h part first, perm = [1, 0, 2, 3];
    // ours: w_h[j][g·H + r] = W_hh[g·H + r][j]. Check one file's `stacked.W` and `stacked.b` against ours.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/golden/small_nx27_nh16_T5_m2_seed2.json");
    let text = std::fs::read_to_string(&path).expect("readable");
    let root: serde_json::Value = serde_json::from_str(&text).expect("json");
    let case = golden::load(&path).expect("loads");
    let p = golden::params_from_pytorch(&case);
    let (h, x) = (case.dims.n_h, case.dims.n_x);
    let perm = [1, 0, 2, 3];
    for (k, &g) in perm.iter().enumerate() {
        for r in 0..h {
            let row = &root["stacked"]["W"][k * h + r];
            for j in 0..h {
                assert_eq!(row[j].as_f64(), Some(p.w_h[j * 4 * h + g * h + r]));
            }
            for xi in 0..x {
                assert_eq!(row[h + xi].as_f64(), Some(p.w_x[xi * 4 * h + g * h + r]));
            }
            let b = root["stacked"]["b"][k * h + r].as_f64().expect("number");
            assert!((b - p.b[g * h + r]).abs() <= 1e-15 * b.abs().max(1.0));
        }
    }
}

#[test]
fn rejects_malformed_golden_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"lstm-golden/1\", \"dims\": {}}").expect("write");
    assert!(matches!(
        golden::load(&bad),
        Err(golden::GoldenError::Field { .. })
    ));
    std::fs::write(&bad, "not json").expect("write");
    assert!(matches!(
        golden::load(&bad),
        Err(golden::GoldenError::Json { .. })
    ));
}

/// The `rnn-golden/2` cases (stacked LSTM, GRU, tanh RNN) of the shared golden v2 folder.
fn cases_v2() -> Vec<PathBuf> {
    let files = case_files("v2");
    assert_eq!(
        files.len(),
        5,
        "expected the five v2 cases, found {files:?}"
    );
    files
}

#[test]
fn v2_f64_forward_and_gradients_match_pytorch_for_every_cell_and_layer_count() {
    let mut kinds = Vec::new();
    for path in cases_v2() {
        let case = golden::load2(&path).expect("v2 golden file loads");
        kinds.push((case.kind, case.layers));
        let rows = golden::check2_f64(&case);
        // Every forward field and every gradient of the file is compared.
        assert_eq!(rows.len(), case.forward.len() + case.grads.len());
        assert_all_pass(&path, &rows, "f64");
    }
    use lstm_core::format::CellKind;
    for want in [(CellKind::Gru, 2), (CellKind::Rnn, 1), (CellKind::Lstm, 3)] {
        assert!(kinds.contains(&want), "{want:?} not covered");
    }
}

#[test]
fn v2_f32_forward_and_gradients_match_pytorch_within_schema_bound() {
    for path in cases_v2() {
        let case = golden::load2(&path).expect("v2 golden file loads");
        assert_all_pass(&path, &golden::check2_f32(&case), "f32");
    }
}

/// The comparison can fail: merging a GRU's `b_hn` into `b_in` (a different model) is caught.
#[test]
fn v2_detects_a_merged_gru_n_bias() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/golden/v2/gru2_tiny_nx3_nh2_T3_m1_seed24.json");
    let mut case = golden::load2(&path).expect("loads");
    let h = case.dims.n_h;
    // bias_ih_l0 += bias_hh_l0 on the n block, bias_hh_l0's n block = 0.
    let b_hn: Vec<f64> = case.params[3].1.drain(2 * h..).collect();
    case.params[3].1.extend(vec![0.0; h]);
    for (b, hn) in case.params[2].1[2 * h..].iter_mut().zip(b_hn) {
        *b += hn;
    }
    let rows = golden::check2_f64(&case);
    assert!(rows.iter().any(|c| !c.pass && c.name == "h"), "{rows:?}");
}

#[test]
fn any_schema_loader_reads_both_and_refuses_bad_v2() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden");
    assert!(matches!(
        golden::load_any(&dir.join("tiny_nx3_nh2_T2_m1_seed1.json")),
        Ok(golden::AnyCase::V1(_))
    ));
    assert!(matches!(
        golden::load_any(&dir.join("v2/rnn1_small_nx27_nh16_T5_m2_seed23.json")),
        Ok(golden::AnyCase::V2(_))
    ));
    assert!(matches!(
        golden::load_any(&dir.join("v2/index.json")),
        Err(golden::GoldenError::Index { .. })
    ));
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"schema\": \"rnn-golden/2\", \"cell\": \"rnn_relu\"}",
    )
    .expect("write");
    let e = golden::load_any(&bad).expect_err("relu RNN refused");
    assert!(e.to_string().contains("rnn_relu"), "{e}");
}
