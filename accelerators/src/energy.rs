//! Energy and area constants of a 45 nm process, with their sources.
//!
//! Energies are from M. Horowitz, "Computing's energy problem (and what we can do about it)",
//! ISSCC 2014, doi:10.1109/ISSCC.2014.6757323 (45 nm, 0.9 V):
//!
//! | operation | energy | area |
//! |---|---|---|
//! | 8-bit int add / mult | 0.03 / 0.2 pJ | 36 / 282 µm² |
//! | 32-bit int add | 0.1 pJ | 137 µm² |
//! | 16-bit float add / mult | 0.4 / 1.1 pJ | 1360 / 1640 µm² |
//! | 32-bit float add / mult | 0.9 / 3.7 pJ | 4184 / 7700 µm² |
//! | 64-bit SRAM read, 8 KB / 32 KB / 1 MB | 10 / 20 / 100 pJ | |
//! | 64-bit DRAM read | 1.3–2.6 nJ | |
//!
//! SRAM energy per 64-bit access is interpolated in log-log between the 8 KB and 1 MB points,
//! `10 pJ × (KiB / 8)^0.4746` (20.0 pJ expected at 32 KB, 19.3 pJ given). DRAM energy is the
//! middle of Horowitz's range, 1.95 nJ per 64 bits.
//!
//! Areas of registers and SRAM, which Horowitz does not list:
//! * a flip-flop bit is 4.52 µm² (NanGate 45 nm Open Cell Library, `DFF_X1`);
//! * an SRAM bit is 0.346 µm² (Intel 45 nm 6T cell, Mistry et al., IEDM 2007,
//!   doi:10.1109/IEDM.2007.4418914) at an assumed 50% array efficiency (decoders, sense
//!   amplifiers, wiring), i.e. 0.692 µm² per bit, 0.00567 mm² per KiB.

/// Energy of one multiply-accumulate for operands of `word_bytes` (pJ): int8 multiply with a
/// 32-bit integer accumulate, fp16 multiply with an fp32 accumulate, or fp32 throughout.
pub(crate) fn mac_pj(word_bytes: u32) -> f64 {
    match word_bytes {
        1 => 0.2 + 0.1,
        2 => 1.1 + 0.9,
        _ => 3.7 + 0.9,
    }
}

/// Energy of one element-wise ALU operation on `word_bytes` operands (pJ).
pub(crate) fn alu_pj(word_bytes: u32) -> f64 {
    match word_bytes {
        1 => 0.1,
        2 => 0.4,
        _ => 0.9,
    }
}

/// Energy of reading or writing one `word_bytes` word of an SRAM of `kib` KiB (pJ).
pub(crate) fn sram_word_pj(kib: f64, word_bytes: u32) -> f64 {
    let per_64b = 10.0 * (kib.max(1.0) / 8.0).powf(0.4746);
    per_64b * f64::from(word_bytes) / 8.0
}

/// Energy of moving one byte to or from DRAM (pJ).
pub(crate) const DRAM_PJ_PER_BYTE: f64 = 1950.0 / 8.0;

/// Area of one processing element for `word_bytes` operands (µm²): multiplier, accumulator
/// adder, and registers for the two operands and the partial sum.
pub(crate) fn pe_area_um2(word_bytes: u32) -> f64 {
    const DFF_UM2: f64 = 4.52;
    match word_bytes {
        1 => 282.0 + 137.0 + DFF_UM2 * (8.0 + 8.0 + 32.0),
        2 => 1640.0 + 4184.0 + DFF_UM2 * (16.0 + 16.0 + 32.0),
        _ => 7700.0 + 4184.0 + DFF_UM2 * (32.0 + 32.0 + 32.0),
    }
}

/// Area of one vector-unit lane (µm²): an adder and an operand register.
pub(crate) fn alu_lane_area_um2(word_bytes: u32) -> f64 {
    let adder = match word_bytes {
        1 => 137.0,
        2 => 1360.0,
        _ => 4184.0,
    };
    adder + 4.52 * 32.0
}

/// SRAM area per KiB (mm²).
pub(crate) const SRAM_MM2_PER_KIB: f64 = 0.692 * 8192.0 * 1e-6;
