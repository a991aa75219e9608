use wgsl_nn::gpu::{AdapterChoice, Gpu, Plan};
use wgsl_nn::ops::elementwise::{map_forward, RELU};
use wgsl_nn::ops::matmul::{matmul_into, Activation, Matmul, View};
use wgsl_nn::Tensor;
fn main() {
    let g = Gpu::new(&AdapterChoice::from_args_or_env(None, None)).unwrap();
    for n in [1usize << 16, 1 << 18, 1 << 20, 1 << 22] {
        let x = Tensor::upload(&g, "x", &[n], &vec![1.0; n]).unwrap();
        let mut plan = Plan::new();
        map_forward(&g, &mut plan, "relu", RELU, &x).unwrap();
        for _ in 0..4 {
            let r = g.run(&plan).unwrap();
            println!(
                "relu {n}: wall {:.3} stamps {:?} {:?}",
                r.wall_ms,
                r.gpu.as_ref().map(|t| t.total_ms),
                r.gpu_note
            );
        }
    }
    for (n, k) in [(256usize, "rb4_vec4"), (512, "rb4_vec4"), (256, "rb4")] {
        g.set_kernel("matmul", Some(k));
        let a = Tensor::upload(&g, "a", &[n, n], &vec![1.0; n * n]).unwrap();
        let c = Tensor::poisoned(&g, "c", &[n, n]).unwrap();
        let mm = Matmul {
            m: n,
            n,
            k: n,
            batches: [1, 1],
            trans_a: false,
            trans_b: false,
            bias: false,
            act: Activation::None,
            alpha: 1.0,
        };
        let mut plan = Plan::new();
        matmul_into(
            &g,
            &mut plan,
            "mm",
            &mm,
            (&a, View::dense(n, n, false)),
            (&a, View::dense(n, n, false)),
            None,
            (&c, View::dense(n, n, false)),
        )
        .unwrap();
        for _ in 0..4 {
            let r = g.run(&plan).unwrap();
            println!(
                "{k} {n}: wall {:.3} stamps {:?} {:?}",
                r.wall_ms,
                r.gpu.as_ref().map(|t| t.total_ms),
                r.gpu_note
            );
        }
    }
}
