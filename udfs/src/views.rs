//! String views as words: a text of up to 12 bytes is all in its 16-byte view (its length, its
//! bytes and zeros after them; Arrow's validation refuses other padding), so equal short texts
//! have equal views, and the code aggregates (`pathway`) and the engine's small-key grouping look
//! such texts up by the view alone, in small tables placed by [`slot_of_view`].

/// The slot of `view` (or of any 128-bit word, as the small-key grouping numbers integers too)
/// in a table of `1 << bits` slots (`bits` from 1 to 63): the top bits of one
/// multiply of its two halves folded together, which every bit of the view reaches. A collision
/// costs the table a probe, never a wrong answer.
#[inline(always)]
pub fn slot_of_view(view: u128, bits: u32) -> usize {
    let folded = (view as u64) ^ ((view >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}
