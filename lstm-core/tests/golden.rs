//! Forward parity with PyTorch `nn.LSTM`: every hidden state, cell state and
//! probability of the reference vectors, in f32, to 1e-6 absolute.

use lstm_core::{CellView, Dims, Input, Kernel};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../testdata/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn mat(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect()
}

fn vec1(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// PyTorch layout -> file layout (`w_ih [4][n_x][n_h]`, `w_hh [4][n_h][n_h]`, `b = b_ih + b_hh`).
struct Weights {
    dims: Dims,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b: Vec<f32>,
    w_y: Vec<f32>,
    b_y: Vec<f32>,
}

#[allow(clippy::needless_range_loop)] // indices mirror the layout formula
fn weights(g: &Value) -> Weights {
    let d = &g["dims"];
    let dims = Dims {
        n_x: d["n_x"].as_u64().expect("n_x") as usize,
        n_h: d["n_h"].as_u64().expect("n_h") as usize,
        n_y: d["n_y"].as_u64().expect("n_y") as usize,
    };
    let p = &g["params"];
    let (wih, whh) = (mat(&p["weight_ih_l0"]), mat(&p["weight_hh_l0"]));
    let (bih, bhh) = (vec1(&p["bias_ih_l0"]), vec1(&p["bias_hh_l0"]));
    let n_h = dims.n_h;
    let mut w_ih = Vec::new();
    for gate in 0..4 {
        for x in 0..dims.n_x {
            for k in 0..n_h {
                w_ih.push(wih[gate * n_h + k][x] as f32);
            }
        }
    }
    let w_hh = whh.iter().flatten().map(|&v| v as f32).collect();
    // b_ih + b_hh summed in f64, rounded once.
    let b = bih.iter().zip(&bhh).map(|(a, b)| (a + b) as f32).collect();
    let w_y = mat(&p["linear_weight"])
        .iter()
        .flatten()
        .map(|&v| v as f32)
        .collect();
    let b_y = vec1(&p["linear_bias"]).iter().map(|&v| v as f32).collect();
    Weights {
        dims,
        w_ih,
        w_hh,
        b,
        w_y,
        b_y,
    }
}

fn check_case(name: &str, kernel: Kernel) {
    let g = load(name);
    let w = weights(&g);
    let cell =
        CellView::from_stacked(w.dims, &w.w_ih, &w.w_hh, &w.b, &w.w_y, &w.b_y).expect("view");
    let x_index = &g["inputs"]["x_index"];
    let (h0, c0) = (mat(&g["inputs"]["h0"]), mat(&g["inputs"]["c0"]));
    let fwd = &g["forward"];
    let t_len = g["dims"]["T"].as_u64().expect("T") as usize;
    let m = g["dims"]["m"].as_u64().expect("m") as usize;
    let mut worst = 0.0f64;
    for b in 0..m {
        let mut h: Vec<f32> = h0[b].iter().map(|&v| v as f32).collect();
        let mut c: Vec<f32> = c0[b].iter().map(|&v| v as f32).collect();
        let mut gates = vec![0.0f32; 4 * w.dims.n_h];
        let mut probs = vec![0.0f32; w.dims.n_y];
        for t in 0..t_len {
            let x = x_index[t][b].as_u64().expect("x") as usize;
            kernel
                .step(&cell, Input::Token(x), &mut h, &mut c, &mut gates)
                .expect("step");
            kernel.logits(&cell, &h, &mut probs).expect("logits");
            kernel.softmax(&mut probs, 1.0);
            for (what, mine, want) in [
                ("h", &h, &fwd["h"][t][b]),
                ("c", &c, &fwd["c"][t][b]),
                ("probs", &probs, &fwd["probs"][t][b]),
            ] {
                for (k, (&a, e)) in mine.iter().zip(vec1(want)).enumerate() {
                    let err = (f64::from(a) - e).abs();
                    worst = worst.max(err);
                    assert!(
                        err <= 1e-6,
                        "{name} [{}]: {what}[t={t}][b={b}][{k}] = {a}, PyTorch {e} (|err| {err:e})",
                        kernel.name()
                    );
                }
            }
        }
    }
    eprintln!("{name} [{}]: worst |err| {worst:e}", kernel.name());
}

#[test]
fn tiny_matches_pytorch_every_kernel() {
    for &k in Kernel::available().iter() {
        check_case("tiny_nx3_nh2_T2_m1_seed1.json", k);
    }
}

#[test]
fn small_matches_pytorch_every_kernel() {
    for &k in Kernel::available().iter() {
        check_case("small_nx27_nh16_T5_m2_seed2.json", k);
    }
}
