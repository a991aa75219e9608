//! The exercise's text-to-image network: stage shapes, every stage against
//! the reference, the demo weights routing location phrases to their
//! quadrants (and random weights not being asked to), PNGs, bad sentences.

mod common;
use common::*;
use wgsl_nn::app::jobs::text2image::run;
use wgsl_nn::models::text2image::{tokenize, Weights, QUADRANTS};

fn argmax(row: &[f32; 4]) -> usize {
    (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
}

#[test]
fn stages_have_their_shapes_and_pass_their_checks() {
    for w in [Weights::demo(), Weights::random(3)] {
        let r = run(
            gpu(),
            "a red sun in the top left, grass at the bottom",
            &w,
            1,
        )
        .unwrap();
        let shapes: Vec<Vec<usize>> = r.stages.iter().map(|s| s.shape.clone()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![1, 11, 16],
                vec![1, 11, 16],
                vec![1, 11, 16],
                vec![1, 4, 16],
                vec![1, 2, 4, 11],
                vec![4, 48],
                vec![4, 3, 8, 8],
                vec![4, 3, 16, 16],
                vec![4, 3, 32, 32],
                vec![1, 3, 64, 64]
            ]
        );
        for s in &r.stages {
            assert!(s.passed, "{} ({}): {}", s.stage, w.name, s.check.summary());
        }
        // Attention rows are probabilities over words for each quadrant.
        for q in 0..4 {
            let total: f32 = r.attention.iter().map(|row| row[q]).sum();
            assert!((total - 1.0).abs() < 1e-4, "quadrant {q} sums to {total}");
        }
    }
}

#[test]
fn demo_weights_route_location_phrases_to_their_quadrants() {
    for (sentence, phrases) in [
        // "bottom" alone names the bottom half: either bottom quadrant.
        (
            "a red sun in the top left, grass at the bottom",
            vec![("left", vec![0]), ("bottom", vec![2, 3])],
        ),
        (
            "sky at the top, a house on the bottom right",
            vec![("right", vec![3]), ("top", vec![0, 1])],
        ),
        (
            "a tree on the upper right and water in the lower left",
            vec![("right", vec![1]), ("left", vec![2])],
        ),
    ] {
        let r = run(gpu(), sentence, &Weights::demo(), 1).unwrap();
        for (word, quadrants) in phrases {
            let i = r.tokens.iter().rposition(|t| t == word).unwrap();
            let got = argmax(&r.attention[i]);
            assert!(
                quadrants.contains(&got),
                "'{word}' in '{sentence}' routed to {}: {:?}",
                QUADRANTS[got],
                r.attention[i]
            );
        }
        // And each quadrant's favourite word is a location word.
        for (q, quadrant) in QUADRANTS.iter().enumerate() {
            let (w, _) = r.top_words(q, 1).remove(0);
            assert!(
                [
                    "top", "bottom", "left", "right", "upper", "lower", "sky", "grass", "water",
                    "sun"
                ]
                .contains(&w.as_str()),
                "{quadrant}: {w}"
            );
        }
    }
}

#[test]
fn unknown_words_empty_sentences_and_pngs() {
    let r = run(gpu(), "A zorblax in the TOP left!", &Weights::demo(), 1).unwrap();
    assert_eq!(r.tokens, ["a", "zorblax", "in", "the", "top", "left"]);
    assert_eq!(r.unknown, ["zorblax"]);
    for bad in ["", "   ", ",.;!?"] {
        let e = tokenize(bad).unwrap_err().to_string();
        assert!(e.contains("no words"), "{e}");
    }
    let dir = std::env::temp_dir().join(format!("wgsl-nn-t2i-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (img, att) = (dir.join("img.png"), dir.join("att.png"));
    wgsl_nn::app::heatmap::write_image_png(&img, &r.image, 64, 64, 4).unwrap();
    let m: Vec<Vec<f32>> = r.attention.iter().map(|row| row.to_vec()).collect();
    wgsl_nn::app::heatmap::write_matrix_png(&att, &m, 32).unwrap();
    for (path, w, h) in [(&img, 256, 256), (&att, 4 * 32, 6 * 32)] {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (w, h), "{}", path.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}
