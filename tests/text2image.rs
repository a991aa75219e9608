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

#[test]
fn the_attention_heat_map_names_its_rows_columns_and_scale() {
    use wgsl_nn::app::heatmap::{write_labelled_matrix_png, MatrixLabels};
    let r = run(
        gpu(),
        "a red sun in the top left, grass at the bottom",
        &Weights::demo(),
        1,
    )
    .unwrap();
    let m: Vec<Vec<f32>> = (0..4)
        .map(|q| r.attention.iter().map(|w| w[q]).collect())
        .collect();
    let rows: Vec<String> = QUADRANTS.iter().map(|q| q.to_string()).collect();
    let labels = MatrixLabels {
        title: "cross-attention",
        rows: &rows,
        cols: &r.tokens,
    };
    let dir = std::env::temp_dir().join(format!("wgsl-nn-t2i-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("att.png");
    let cell = 40;
    let l = write_labelled_matrix_png(&path, &m, cell, &labels).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0u8; reader.output_buffer_size()];
    reader.next_frame(&mut rgb).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let (w, h) = (l.width, l.height);
    assert_eq!(
        (reader.info().width as usize, reader.info().height as usize),
        (w, h)
    );
    // The labels need room: the picture is more than its cells.
    let (gw, gh) = (r.tokens.len() * cell, 4 * cell);
    assert!(l.grid_x >= 100 && l.grid_y >= 40, "{l:?}");
    assert!(w > l.grid_x + gw + l.bar_w && h > l.grid_y + gh, "{l:?}");
    let px = |x: usize, y: usize| -> [u8; 3] { rgb[(y * w + x) * 3..][..3].try_into().unwrap() };
    let inked = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| px(x, y) != [255, 255, 255])
            .count()
    };
    // Each quadrant's name left of its row, each word above its column:
    // dark ink on the white margin.
    for q in 0..4 {
        let y = l.grid_y + q * cell;
        assert!(inked(0..l.grid_x, y..y + cell) > 20, "row label {q}");
    }
    for j in 0..r.tokens.len() {
        let x = l.grid_x + j * cell;
        assert!(
            inked(x..x + cell, l.grid_y - 30..l.grid_y) > 10,
            "column label {j} ({})",
            r.tokens[j]
        );
    }
    // The cells follow the weights: top_left's "left" (0.74) is brighter
    // than its "a" (0.01), read just inside the cells' corners.
    let left = r.tokens.iter().position(|t| t == "left").unwrap();
    let bright = |c: [u8; 3]| c.iter().map(|&v| u32::from(v)).sum::<u32>();
    let cell_px = |q: usize, j: usize| px(l.grid_x + j * cell + 2, l.grid_y + q * cell + 2);
    assert!(bright(cell_px(0, left)) > bright(cell_px(0, 0)) + 200);
    // The colour bar runs from dark (0) at the bottom to bright (1) at the
    // top, and its values are written beside both ends.
    let bar = l.bar_x + l.bar_w / 2;
    assert!(bright(px(bar, l.grid_y)) > bright(px(bar, l.grid_y + gh - 1)) + 400);
    let right = l.bar_x + l.bar_w..w;
    assert!(
        inked(right.clone(), l.grid_y..l.grid_y + 10) > 10,
        "max label"
    );
    assert!(
        inked(right, l.grid_y + gh - 10..l.grid_y + gh) > 10,
        "min label"
    );
}
