//! The trainer's batched forward pass and lstm-core's inference step (what
//! `sample` and the firmware run) compute the same model: after export, the
//! per-step probabilities agree to 1e-5.

use host_trainer::bptt::{self, Workspace};
use host_trainer::data::batch::BatchRef;
use host_trainer::data::corpus::Vocab;
use host_trainer::model::Params;
use host_trainer::model_file::{ModelFile, encode_model};
use host_trainer::rng::Rng;
use lstm_core::Dims;
use lstm_core::{Input, Kernel};

#[test]
fn trainer_forward_matches_lstm_core_step() {
    let chars: Vec<char> = "\n abcdefghij".chars().collect();
    let n_v = chars.len();
    for (n_h, seed) in [(5usize, 1u64), (16, 2), (37, 3)] {
        let shape = Dims {
            n_x: n_v,
            n_h,
            n_y: n_v,
        };
        let mut params = Params::<f32>::init_uniform(shape, &mut Rng::new(seed));
        // Larger weights than the initialisation, so the gates saturate somewhere.
        for t in params.tensors_mut() {
            for v in t.iter_mut() {
                *v *= 3.0;
            }
        }
        let vocab = Vocab::from_chars(chars.clone());
        let bytes = encode_model(&params, &vocab).expect("encode");
        let loaded = ModelFile::from_bytes(&bytes).expect("decode");
        let cell = loaded.cell().expect("cell");

        let x: Vec<u32> = (0..20).map(|i| (i * 7 % n_v) as u32).collect();
        let y: Vec<u32> = x.iter().map(|&t| (t + 1) % n_v as u32).collect();
        let batch = BatchRef {
            steps: x.len(),
            batch: 1,
            x: &x,
            y: &y,
            mask: None,
        };
        let mut ws = Workspace::new();
        let zeros = vec![0.0f32; n_h];
        bptt::forward(&params, &mut ws, &batch, &zeros, &zeros);

        for &kernel in Kernel::available().iter() {
            let (mut h, mut c, mut g) =
                (vec![0.0f32; n_h], vec![0.0f32; n_h], vec![0.0f32; 4 * n_h]);
            let mut p = vec![0.0f32; n_v];
            let mut worst = 0.0f32;
            for (t, &tok) in x.iter().enumerate() {
                kernel
                    .step(&cell, Input::Token(tok as usize), &mut h, &mut c, &mut g)
                    .expect("step");
                kernel.logits(&cell, &h, &mut p).expect("logits");
                kernel.softmax(&mut p, 1.0);
                let want = &ws.probs[t * n_v..(t + 1) * n_v];
                for (a, b) in p.iter().zip(want) {
                    worst = worst.max((a - b).abs());
                }
                let hs = &ws.hs[(t + 1) * n_h..(t + 2) * n_h];
                for (a, b) in h.iter().zip(hs) {
                    worst = worst.max((a - b).abs());
                }
            }
            assert!(
                worst <= 1e-5,
                "H={n_h} kernel {}: worst |difference| {worst:e}",
                kernel.name()
            );
        }
    }
}
