//! A 5x7 bitmap font for labelling heat maps, so a figure can name its
//! rows, columns and colour scale without a font crate. The glyphs follow
//! the classic HD44780 character ROM, except g, p and q, whose descenders
//! are folded into the 7 rows (squeezed, 'p' read as 'r' at a glance);
//! capitals are drawn as lower case and anything outside the table as '?',
//! because a label must never vanish.

/// Glyph width in font pixels.
pub const WIDTH: usize = 5;
/// Glyph height in font pixels.
pub const HEIGHT: usize = 7;
/// One blank column follows each glyph so that letters do not touch.
pub const ADVANCE: usize = WIDTH + 1;

/// Each glyph is 7 rows, top first; bit 4 is the leftmost pixel.
const GLYPHS: &[(char, [u8; HEIGHT])] = &[
    ('a', [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F]),
    ('b', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E]),
    ('c', [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E]),
    ('d', [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F]),
    ('e', [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E]),
    ('f', [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08]),
    ('g', [0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x0E]),
    ('h', [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('i', [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E]),
    ('j', [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C]),
    ('k', [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12]),
    ('l', [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('m', [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11]),
    ('n', [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11]),
    ('o', [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E]),
    ('p', [0x00, 0x00, 0x1E, 0x11, 0x11, 0x1E, 0x10]),
    ('q', [0x00, 0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01]),
    ('r', [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10]),
    ('s', [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E]),
    ('t', [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06]),
    ('u', [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D]),
    ('v', [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04]),
    ('w', [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A]),
    ('x', [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11]),
    ('y', [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E]),
    ('z', [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F]),
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    (' ', [0x00; HEIGHT]),
    ('_', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C]),
    (',', [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08]),
    (':', [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00]),
    ('-', [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00]),
    ('(', [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02]),
    (')', [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08]),
    ('<', [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02]),
    ('>', [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08]),
    ('?', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04]),
];

/// The rows of `c`'s glyph; unknown characters draw as '?'.
fn glyph(c: char) -> [u8; HEIGHT] {
    let c = c.to_ascii_lowercase();
    GLYPHS
        .iter()
        .find(|(g, _)| *g == c)
        .or_else(|| GLYPHS.iter().find(|(g, _)| *g == '?'))
        .map_or([0; HEIGHT], |(_, rows)| *rows)
}

/// Which way a label reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Left to right; `(x, y)` is the top-left corner.
    Right,
    /// Bottom to top (turned 90 degrees anticlockwise), so long column
    /// labels fit above narrow cells; `(x, y)` is the bottom-left corner.
    Up,
}

/// Length in image pixels along the reading direction, without the blank
/// column after the last glyph (so centring is exact).
pub fn text_len(text: &str, scale: usize) -> usize {
    let n = text.chars().count();
    (n * ADVANCE).saturating_sub(1) * scale
}

/// An RGB8 canvas, row-major; pixels outside it are clipped, so a label
/// that does not fit is cut rather than written into the next row.
pub struct Canvas<'a> {
    /// `width * height * 3` bytes.
    pub rgb: &'a mut [u8],
    /// In pixels.
    pub width: usize,
    /// In pixels.
    pub height: usize,
}

impl Canvas<'_> {
    /// Sets one pixel, ignoring coordinates outside the canvas.
    pub fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Draws `text` with each font pixel a `scale` x `scale` square.
    pub fn text(
        &mut self,
        (x, y): (i64, i64),
        text: &str,
        scale: usize,
        colour: [u8; 3],
        dir: Direction,
    ) {
        let s = scale as i64;
        for (i, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (gy, bits) in rows.iter().enumerate() {
                for gx in 0..WIDTH {
                    if bits & (0x10 >> gx) == 0 {
                        continue;
                    }
                    // Position along the text and across it, in font pixels.
                    let along = (i * ADVANCE + gx) as i64;
                    let across = gy as i64;
                    let (px, py) = match dir {
                        Direction::Right => (x + along * s, y + across * s),
                        Direction::Up => (x + across * s, y - (along + 1) * s),
                    };
                    for dy in 0..s {
                        for dx in 0..s {
                            self.put(px + dx, py + dy, colour);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_character_has_its_own_glyph() {
        // Distinct glyphs: a copy-paste slip in the table would make two
        // characters look alike and a label misread.
        for (i, (a, ga)) in GLYPHS.iter().enumerate() {
            for (b, gb) in &GLYPHS[i + 1..] {
                assert!(a != b && ga != gb, "'{a}' and '{b}'");
            }
        }
        for c in "abcdefghijklmnopqrstuvwxyz0123456789_.-".chars() {
            assert_ne!(glyph(c), glyph('?'), "'{c}' falls back to '?'");
        }
        assert_eq!(glyph('A'), glyph('a'));
        assert_eq!(glyph('\u{e9}'), glyph('?'));
    }

    #[test]
    fn text_is_drawn_where_asked_and_clipped_at_the_edge() {
        let (w, h) = (40, 20);
        let mut rgb = vec![0u8; w * h * 3];
        let mut c = Canvas {
            rgb: &mut rgb,
            width: w,
            height: h,
        };
        // '1' has its stem at glyph column 2 from row 1 down.
        c.text((10, 5), "1", 1, [255; 3], Direction::Right);
        c.text((38, 5), "888", 2, [255; 3], Direction::Right);
        assert_eq!(rgb[(6 * w + 12) * 3], 255);
        assert_eq!(rgb[(5 * w + 10) * 3], 0);
        assert_eq!(text_len("888", 2), 34);
    }

    #[test]
    fn upward_text_turns_anticlockwise() {
        let (w, h) = (20, 20);
        let mut rgb = vec![0u8; w * h * 3];
        let mut c = Canvas {
            rgb: &mut rgb,
            width: w,
            height: h,
        };
        // '_' is glyph row 6: turned anticlockwise it becomes a vertical
        // bar 6 pixels right of the origin, rising from it.
        c.text((2, 15), "_", 1, [255; 3], Direction::Up);
        for y in 10..15 {
            assert_eq!(rgb[(y * w + 8) * 3], 255, "y {y}");
        }
        assert_eq!(rgb[(15 * w + 8) * 3], 0);
        assert_eq!(rgb[(9 * w + 8) * 3], 0);
    }
}
