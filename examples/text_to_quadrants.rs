//! Question 2b of the exercise, run: four quadrant queries attend to the
//! words of a sentence, and each location phrase lands on its quadrant.
//!
//!     cargo run --release --example text_to_quadrants -- "a red sun in the top left, grass at the bottom"
//!
//! The network (embedding, GRU, self-attention, cross-attention, decoder)
//! runs on the GPU in one plan; every stage is checked against the f64
//! reference. The demo weights are hand-built, not trained: embeddings carry
//! a vertical and a horizontal feature and a colour, the quadrant queries
//! are the four location directions, and the keys read only location. The
//! random weights show the same machinery without that alignment.

use wgsl_nn::app::jobs::text2image::run;
use wgsl_nn::gpu::{AdapterChoice, Gpu};
use wgsl_nn::models::text2image::{Weights, QUADRANTS};

fn main() -> wgsl_nn::Result<()> {
    let sentence = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "a red sun in the top left, grass at the bottom".to_string());
    let gpu = Gpu::new(&AdapterChoice::from_args_or_env(None, None))?;
    for weights in [Weights::demo(), Weights::random(1)] {
        let r = run(&gpu, &sentence, &weights, 1)?;
        println!(
            "\n{} weights, every stage checked: {}",
            r.weights,
            if r.passed() { "PASS" } else { "FAIL" }
        );
        // Words down, quadrants across: how much of each quadrant's
        // attention each word receives (averaged over the 2 heads).
        print!("{:<10}", "");
        for q in QUADRANTS {
            print!("{q:>14}");
        }
        println!();
        for (word, row) in r.tokens.iter().zip(&r.attention) {
            print!("{word:<10}");
            for a in row {
                print!("{a:>14.2}");
            }
            println!();
        }
    }
    println!("\nWith the demo weights each quadrant's column peaks on the words that name it;");
    println!("with random weights the columns are spread without regard to meaning.");
    Ok(())
}
