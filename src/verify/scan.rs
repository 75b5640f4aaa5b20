//! Value statistics over raw little-endian tensor bytes, one kernel per dtype family.
//!
//! Bytes are decoded with `from_le_bytes` on exact chunks, never by casting a byte slice
//! to a float slice, so alignment never matters. Special values are classified on the
//! *source* format's bits (an F16 subnormal is a normal f32, but it is counted as the F16
//! subnormal it is). Statistics cover finite values only: sums are taken per block in f64
//! and blocks are merged with Chan et al.'s pairwise update, so the standard deviation
//! does not suffer from the cancellation of a single `E[x²] - mean²`.
//!
//! F32, the common case, has an AVX2 kernel that counts the special values and sums the
//! moments in one pass straight over the bytes (unaligned loads; x86 is little-endian),
//! eight values per step; it performs the portable code's arithmetic in the same order
//! (four f64 lanes, element `i` in lane `i % 4`), so both give the same figures to the bit.

use safetensors::Dtype;

/// Elements per block: the unit of f64 accumulation.
const BLOCK: usize = 4096;

/// Running statistics of one tensor (or a piece of it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Acc {
    /// Elements seen.
    pub elements: u64,
    /// NaN values.
    pub nan: u64,
    /// +Inf values.
    pub pos_inf: u64,
    /// -Inf values.
    pub neg_inf: u64,
    /// Zeros (+0 and -0).
    pub zeros: u64,
    /// Subnormal values, in the source format.
    pub subnormals: u64,
    /// Finite values (the ones the moments below describe).
    pub finite: u64,
    /// Smallest finite value.
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// Mean of the finite values.
    pub mean: f64,
    /// Sum of squared deviations from the mean (variance = m2 / finite).
    pub m2: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            elements: 0,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            zeros: 0,
            subnormals: 0,
            finite: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
        }
    }
}

impl Acc {
    /// Merge `o` into `self` (Chan, Golub, LeVeque 1979 for mean and m2).
    pub fn merge(&mut self, o: &Acc) {
        let n = self.finite + o.finite;
        if o.finite > 0 {
            let delta = o.mean - self.mean;
            let (na, nb, nf) = (self.finite as f64, o.finite as f64, n as f64);
            self.mean += delta * nb / nf;
            self.m2 += o.m2 + delta * delta * na * nb / nf;
        }
        self.finite = n;
        self.elements += o.elements;
        self.nan += o.nan;
        self.pos_inf += o.pos_inf;
        self.neg_inf += o.neg_inf;
        self.zeros += o.zeros;
        self.subnormals += o.subnormals;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Fold in one block's finite values given as count, sum and sum of squares.
    fn push_block(&mut self, count: u64, sum: f64, sumsq: f64, min: f64, max: f64) {
        if count == 0 {
            return;
        }
        let mean = sum / count as f64;
        let m2 = (sumsq - sum * mean).max(0.0);
        self.merge(&Acc {
            finite: count,
            mean,
            m2,
            min,
            max,
            ..Acc::default()
        });
    }

    /// Population standard deviation of the finite values.
    pub fn std(&self) -> Option<f64> {
        (self.finite > 0).then(|| (self.m2 / self.finite as f64).sqrt())
    }
}

/// Counts and moments of one block of decoded values; `class` gives each element's
/// special-value class from its source bits.
#[inline]
fn block<F: Fn(usize) -> (f64, Class)>(acc: &mut Acc, len: usize, get: F) {
    let (mut sum, mut sumsq, mut count) = (0.0f64, 0.0f64, 0u64);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..len {
        let (v, c) = get(i);
        match c {
            Class::Nan => acc.nan += 1,
            Class::PosInf => acc.pos_inf += 1,
            Class::NegInf => acc.neg_inf += 1,
            Class::Zero | Class::Subnormal | Class::Normal => {
                if c == Class::Zero {
                    acc.zeros += 1;
                } else if c == Class::Subnormal {
                    acc.subnormals += 1;
                }
                sum += v;
                sumsq += v * v;
                count += 1;
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    acc.elements += len as u64;
    acc.push_block(count, sum, sumsq, lo, hi);
}

/// The class of a value in its source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Not a number.
    Nan,
    /// +Inf.
    PosInf,
    /// -Inf.
    NegInf,
    /// ±0.
    Zero,
    /// Subnormal.
    Subnormal,
    /// Any other finite value.
    Normal,
}

/// Class of an IEEE-style value from its exponent and mantissa fields.
#[inline]
fn ieee(exp: u32, exp_max: u32, mant: u32, negative: bool) -> Class {
    if exp == exp_max {
        if mant != 0 {
            Class::Nan
        } else if negative {
            Class::NegInf
        } else {
            Class::PosInf
        }
    } else if exp == 0 {
        if mant == 0 {
            Class::Zero
        } else {
            Class::Subnormal
        }
    } else {
        Class::Normal
    }
}

/// F32: the hot path; a tight loop over u32 bits the compiler vectorises well.
/// The special values of a block of F32 words, counted in one branch-free integer pass
/// (which the compiler vectorises): NaN, +Inf, -Inf, zeros, subnormals.
fn f32_specials(words: &[u32]) -> [u64; 5] {
    let (mut nan, mut pinf, mut ninf, mut zeros, mut sub) = (0u32, 0u32, 0u32, 0u32, 0u32);
    for &b in words {
        let exp = b & 0x7f80_0000;
        let mant = b & 0x007f_ffff;
        nan += u32::from(exp == 0x7f80_0000 && mant != 0);
        pinf += u32::from(b == 0x7f80_0000);
        ninf += u32::from(b == 0xff80_0000);
        zeros += u32::from(b & 0x7fff_ffff == 0);
        sub += u32::from(exp == 0 && mant != 0);
    }
    [nan, pinf, ninf, zeros, sub].map(u64::from)
}

/// Lanes of independent accumulators: with one running sum, each f64 addition waits for
/// the previous one; four let the compiler keep them in registers and in flight.
const LANES: usize = 4;

/// Sum, sum of squares (in f64), min and max of finite F32 values; infinities and NaN
/// are skipped unless `ALL_FINITE` (a separate, branch-free loop for the common case).
#[inline(always)]
fn f32_moments<const ALL_FINITE: bool>(words: &[u32]) -> (f64, f64, f32, f32) {
    let mut sum = [0.0f64; LANES];
    let mut sumsq = [0.0f64; LANES];
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut add = |l: usize, b: u32| {
        let v = f32::from_bits(b);
        let finite = ALL_FINITE || b & 0x7f80_0000 != 0x7f80_0000;
        let x = if finite { v } else { 0.0 };
        let (a, z) = if finite {
            (v, v)
        } else {
            (f32::INFINITY, f32::NEG_INFINITY)
        };
        sum[l] += f64::from(x);
        sumsq[l] += f64::from(x) * f64::from(x);
        lo[l] = lo[l].min(a);
        hi[l] = hi[l].max(z);
    };
    let mut groups = words.chunks_exact(LANES);
    for g in &mut groups {
        add(0, g[0]);
        add(1, g[1]);
        add(2, g[2]);
        add(3, g[3]);
    }
    for (l, &b) in groups.remainder().iter().enumerate() {
        add(l, b);
    }
    (
        sum.iter().sum(),
        sumsq.iter().sum(),
        lo.iter().copied().fold(f32::INFINITY, f32::min),
        hi.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    )
}

/// One block of F32 values: the special-value counts ([`f32_specials`]) and the moments
/// of its finite values ([`f32_moments`]).
struct F32Block {
    specials: [u64; 5],
    sum: f64,
    sumsq: f64,
    lo: f32,
    hi: f32,
}

/// [`F32Block`] of up to [`BLOCK`] little-endian F32 values, portable: decoded once into a
/// block of words (a copy in L1), then read by both passes.
fn f32_block(chunk: &[u8]) -> F32Block {
    let mut words = [0u32; BLOCK];
    let n = (chunk.len() / 4).min(BLOCK);
    for (w, b) in words.iter_mut().zip(chunk.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    let words = &words[..n];
    let specials = f32_specials(words);
    let [nan, pinf, ninf, _, _] = specials;
    let (sum, sumsq, lo, hi) = if nan + pinf + ninf == 0 {
        f32_moments::<true>(words)
    } else {
        f32_moments::<false>(words)
    };
    F32Block {
        specials,
        sum,
        sumsq,
        lo,
        hi,
    }
}

/// [`f32_block`] in one AVX2 pass straight over the bytes (no copy): eight values per
/// step feed both the special-value counts and the moments, the non-finite ones masked
/// out of the moments exactly as [`f32_moments`]`::<false>` does. The same arithmetic in
/// the same order, so the same figures to the bit: element `i` goes to lane `i % 4`, each
/// lane's f64 sums are taken in element order, and min/max keep the lane's earlier value
/// on a tie (as `f32::min`/`f32::max` compile here), then lanes are folded as there.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn f32_block_avx2(chunk: &[u8]) -> F32Block {
    use std::arch::x86_64::*;
    let n = (chunk.len() / 4).min(BLOCK);
    let exp_mask = _mm256_set1_epi32(0x7f80_0000);
    let mant_mask = _mm256_set1_epi32(0x007f_ffff);
    let abs_mask = _mm256_set1_epi32(0x7fff_ffff);
    let neg_inf_bits = _mm256_set1_epi32(0xff80_0000_u32 as i32);
    let zero = _mm256_setzero_si256();
    let inf = _mm256_set1_ps(f32::INFINITY);
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    let (mut nan, mut pinf, mut ninf, mut zeros, mut sub) = (zero, zero, zero, zero, zero);
    let mut sum = _mm256_setzero_pd();
    let mut sumsq = _mm256_setzero_pd();
    let mut lo = _mm_set1_ps(f32::INFINITY);
    let mut hi = _mm_set1_ps(f32::NEG_INFINITY);
    let steps = n / 8;
    for step in 0..steps {
        // SAFETY: `step * 32 + 32 <= n * 4 <= chunk.len()`, so the 32 bytes read are
        // inside `chunk`; `loadu` has no alignment requirement.
        #[allow(unsafe_code)]
        let w = unsafe { _mm256_loadu_si256(chunk.as_ptr().add(step * 32).cast::<__m256i>()) };
        let exp = _mm256_and_si256(w, exp_mask);
        let exp_max = _mm256_cmpeq_epi32(exp, exp_mask);
        let exp_zero = _mm256_cmpeq_epi32(exp, zero);
        let mant_zero = _mm256_cmpeq_epi32(_mm256_and_si256(w, mant_mask), zero);
        // Each comparison is -1 where true: subtracting counts it.
        nan = _mm256_sub_epi32(nan, _mm256_andnot_si256(mant_zero, exp_max));
        pinf = _mm256_sub_epi32(pinf, _mm256_cmpeq_epi32(w, exp_mask));
        ninf = _mm256_sub_epi32(ninf, _mm256_cmpeq_epi32(w, neg_inf_bits));
        let abs = _mm256_and_si256(w, abs_mask);
        zeros = _mm256_sub_epi32(zeros, _mm256_cmpeq_epi32(abs, zero));
        sub = _mm256_sub_epi32(sub, _mm256_andnot_si256(mant_zero, exp_zero));
        let v = _mm256_castsi256_ps(w);
        let non_finite = _mm256_castsi256_ps(exp_max);
        // Non-finite values add +0 to the sums and ±inf to min/max, as in f32_moments.
        let x = _mm256_andnot_ps(non_finite, v);
        let a = _mm256_blendv_ps(v, inf, non_finite);
        let z = _mm256_blendv_ps(v, neg_inf, non_finite);
        let x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
        let x1 = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x));
        sum = _mm256_add_pd(sum, x0);
        sumsq = _mm256_add_pd(sumsq, _mm256_mul_pd(x0, x0));
        sum = _mm256_add_pd(sum, x1);
        sumsq = _mm256_add_pd(sumsq, _mm256_mul_pd(x1, x1));
        // minps/maxps return the second operand on a tie: the lane's earlier value.
        lo = _mm_min_ps(_mm256_castps256_ps128(a), lo);
        lo = _mm_min_ps(_mm256_extractf128_ps::<1>(a), lo);
        hi = _mm_max_ps(_mm256_castps256_ps128(z), hi);
        hi = _mm_max_ps(_mm256_extractf128_ps::<1>(z), hi);
    }
    let lanes32 = |v: __m256i| {
        let mut out = [0u32; 8];
        // SAFETY: `out` is 32 bytes; `storeu` has no alignment requirement.
        #[allow(unsafe_code)]
        unsafe {
            _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), v)
        };
        out.iter().map(|&c| u64::from(c)).sum::<u64>()
    };
    let mut specials = [nan, pinf, ninf, zeros, sub].map(lanes32);
    let mut s = [0.0f64; LANES];
    let mut q = [0.0f64; LANES];
    let mut l = [0.0f32; LANES];
    let mut h = [0.0f32; LANES];
    // SAFETY: each array is exactly as long as the vector stored into it; `storeu` has
    // no alignment requirement.
    #[allow(unsafe_code)]
    unsafe {
        _mm256_storeu_pd(s.as_mut_ptr(), sum);
        _mm256_storeu_pd(q.as_mut_ptr(), sumsq);
        _mm_storeu_ps(l.as_mut_ptr(), lo);
        _mm_storeu_ps(h.as_mut_ptr(), hi);
    }
    // The last values (fewer than eight) one at a time, in the same lanes.
    let tail: Vec<u32> = chunk[steps * 32..n * 4]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for (c, t) in specials.iter_mut().zip(f32_specials(&tail)) {
        *c += t;
    }
    for (i, &b) in tail.iter().enumerate() {
        let lane = i % LANES;
        let v = f32::from_bits(b);
        let finite = b & 0x7f80_0000 != 0x7f80_0000;
        let x = if finite { v } else { 0.0 };
        let (a, z) = if finite {
            (v, v)
        } else {
            (f32::INFINITY, f32::NEG_INFINITY)
        };
        s[lane] += f64::from(x);
        q[lane] += f64::from(x) * f64::from(x);
        l[lane] = if a < l[lane] { a } else { l[lane] };
        h[lane] = if z > h[lane] { z } else { h[lane] };
    }
    F32Block {
        specials,
        sum: s.iter().sum(),
        sumsq: q.iter().sum(),
        lo: l.iter().copied().fold(f32::INFINITY, f32::min),
        hi: h.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    }
}

fn scan_f32(bytes: &[u8]) -> Acc {
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = false;
    scan_f32_with(bytes, avx2)
}

/// [`scan_f32`], with or without the AVX2 kernel (the tests compare the two).
fn scan_f32_with(bytes: &[u8], avx2: bool) -> Acc {
    let mut acc = Acc::default();
    for chunk in bytes.chunks(BLOCK * 4) {
        let n = chunk.len() / 4;
        let block = if avx2 {
            #[cfg(target_arch = "x86_64")]
            {
                // SAFETY: the caller checked that the processor supports AVX2, the one
                // requirement of calling a function compiled for it.
                #[allow(unsafe_code)]
                unsafe {
                    f32_block_avx2(chunk)
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            f32_block(chunk)
        } else {
            f32_block(chunk)
        };
        let [nan, pinf, ninf, zeros, sub] = block.specials;
        acc.elements += n as u64;
        acc.nan += nan;
        acc.pos_inf += pinf;
        acc.neg_inf += ninf;
        acc.zeros += zeros;
        acc.subnormals += sub;
        acc.push_block(
            n as u64 - nan - pinf - ninf,
            block.sum,
            block.sumsq,
            f64::from(block.lo),
            f64::from(block.hi),
        );
    }
    acc
}

fn scan_f64(bytes: &[u8]) -> Acc {
    let mut acc = Acc::default();
    for chunk in bytes.chunks(BLOCK * 8) {
        let words: Vec<u64> = chunk
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
            .collect();
        block(&mut acc, words.len(), |i| {
            let b = words[i];
            let c = ieee(
                ((b >> 52) & 0x7ff) as u32,
                0x7ff,
                u32::from(b & 0xf_ffff_ffff_ffff != 0),
                b >> 63 == 1,
            );
            (f64::from_bits(b), c)
        });
    }
    acc
}

/// 16-bit formats: F16 (5-bit exponent) and BF16 (8-bit exponent).
fn scan_16(bytes: &[u8], bf16: bool) -> Acc {
    let mut acc = Acc::default();
    for chunk in bytes.chunks(BLOCK * 2) {
        let halves: Vec<u16> = chunk
            .chunks_exact(2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]))
            .collect();
        block(&mut acc, halves.len(), |i| {
            let b = halves[i];
            let negative = b >> 15 == 1;
            if bf16 {
                let c = ieee(
                    u32::from((b >> 7) & 0xff),
                    0xff,
                    u32::from(b & 0x7f),
                    negative,
                );
                (f64::from(half::bf16::from_bits(b).to_f32()), c)
            } else {
                let c = ieee(
                    u32::from((b >> 10) & 0x1f),
                    0x1f,
                    u32::from(b & 0x3ff),
                    negative,
                );
                (f64::from(half::f16::from_bits(b).to_f32()), c)
            }
        });
    }
    acc
}

/// Decode one 8-bit float of `dtype` into its value and class.
pub fn decode_f8(dtype: Dtype, b: u8) -> (f64, Class) {
    let negative = b & 0x80 != 0;
    let sign = if negative { -1.0 } else { 1.0 };
    let finite = |v: f64| {
        let c = if v == 0.0 { Class::Zero } else { Class::Normal };
        (v, c)
    };
    match dtype {
        // OCP FP8 E4M3 ("fn"): bias 7, no infinities, S.1111.111 is NaN.
        Dtype::F8_E4M3 => {
            let (e, m) = (i32::from((b >> 3) & 0xf), f64::from(b & 0x7));
            if e == 0xf && m == 7.0 {
                (f64::NAN, Class::Nan)
            } else if e == 0 {
                let v = sign * m / 8.0 * 2f64.powi(-6);
                (
                    v,
                    if m == 0.0 {
                        Class::Zero
                    } else {
                        Class::Subnormal
                    },
                )
            } else {
                finite(sign * (1.0 + m / 8.0) * 2f64.powi(e - 7))
            }
        }
        // OCP FP8 E5M2: IEEE-like, bias 15, infinities and NaNs at exponent 31.
        Dtype::F8_E5M2 => {
            let (e, m) = (u32::from((b >> 2) & 0x1f), u32::from(b & 0x3));
            let c = ieee(e, 0x1f, m, negative);
            let v = match c {
                Class::Nan => f64::NAN,
                Class::PosInf => f64::INFINITY,
                Class::NegInf => f64::NEG_INFINITY,
                Class::Zero => 0.0,
                Class::Subnormal => sign * f64::from(m) / 4.0 * 2f64.powi(-14),
                Class::Normal => sign * (1.0 + f64::from(m) / 4.0) * 2f64.powi(e as i32 - 15),
            };
            (v, c)
        }
        // FNUZ variants (Graphcore/AMD): bias one larger, 0x80 is the only NaN, no -0, no Inf.
        Dtype::F8_E4M3FNUZ | Dtype::F8_E5M2FNUZ => {
            if b == 0x80 {
                return (f64::NAN, Class::Nan);
            }
            let (mbits, bias) = if dtype == Dtype::F8_E4M3FNUZ {
                (3, 8)
            } else {
                (2, 16)
            };
            let e = i32::from((b & 0x7f) >> mbits);
            let m = f64::from(b & ((1 << mbits) - 1));
            let scale = f64::from(1u32 << mbits);
            if e == 0 {
                let v = sign * m / scale * 2f64.powi(1 - bias);
                (
                    v,
                    if m == 0.0 {
                        Class::Zero
                    } else {
                        Class::Subnormal
                    },
                )
            } else {
                finite(sign * (1.0 + m / scale) * 2f64.powi(e - bias))
            }
        }
        // E8M0 (OCP MX scale): 2^(e-127), 0xFF is NaN; no sign, no zero.
        _ => {
            if b == 0xff {
                (f64::NAN, Class::Nan)
            } else {
                finite(2f64.powi(i32::from(b) - 127))
            }
        }
    }
}

fn scan_f8(bytes: &[u8], dtype: Dtype) -> Acc {
    let table: Vec<(f64, Class)> = (0..=255u8).map(|b| decode_f8(dtype, b)).collect();
    let mut acc = Acc::default();
    for chunk in bytes.chunks(BLOCK) {
        block(&mut acc, chunk.len(), |i| table[usize::from(chunk[i])]);
    }
    acc
}

/// Minimum and maximum of an integer tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    /// Smallest value.
    pub min: i128,
    /// Largest value.
    pub max: i128,
    /// Zeros.
    pub zeros: u64,
}

impl IntRange {
    /// Merge two ranges.
    pub fn merge(&mut self, o: &IntRange) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.zeros += o.zeros;
    }
}

/// Scan an integer (or boolean) tensor piece.
pub fn scan_int(bytes: &[u8], dtype: Dtype) -> Option<IntRange> {
    let width = match dtype {
        Dtype::BOOL | Dtype::U8 | Dtype::I8 => 1,
        Dtype::I16 | Dtype::U16 => 2,
        Dtype::I32 | Dtype::U32 => 4,
        Dtype::I64 | Dtype::U64 => 8,
        _ => return None,
    };
    let value = |w: &[u8]| -> i128 {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(w);
        let u = u64::from_le_bytes(b);
        match dtype {
            Dtype::I8 => i128::from(u as u8 as i8),
            Dtype::I16 => i128::from(u as u16 as i16),
            Dtype::I32 => i128::from(u as u32 as i32),
            Dtype::I64 => i128::from(u as i64),
            _ => i128::from(u),
        }
    };
    let mut r: Option<IntRange> = None;
    for w in bytes.chunks_exact(width) {
        let v = value(w);
        let z = u64::from(v == 0);
        match &mut r {
            None => {
                r = Some(IntRange {
                    min: v,
                    max: v,
                    zeros: z,
                })
            }
            Some(r) => {
                r.min = r.min.min(v);
                r.max = r.max.max(v);
                r.zeros += z;
            }
        }
    }
    r
}

/// Bytes per element for the dtypes whose values are scanned; `None` for the rest
/// (sub-byte F4/F6 and complex C64 are hashed but not scanned).
pub fn scanned_width(dtype: Dtype) -> Option<usize> {
    match dtype {
        Dtype::F64 | Dtype::I64 | Dtype::U64 => Some(8),
        Dtype::F32 | Dtype::I32 | Dtype::U32 => Some(4),
        Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => Some(2),
        Dtype::F8_E4M3
        | Dtype::F8_E5M2
        | Dtype::F8_E4M3FNUZ
        | Dtype::F8_E5M2FNUZ
        | Dtype::F8_E8M0
        | Dtype::U8
        | Dtype::I8
        | Dtype::BOOL => Some(1),
        _ => None,
    }
}

/// Statistics of one piece of a float tensor; `None` for non-float dtypes.
pub fn scan_float(bytes: &[u8], dtype: Dtype) -> Option<Acc> {
    Some(match dtype {
        Dtype::F32 => scan_f32(bytes),
        Dtype::F64 => scan_f64(bytes),
        Dtype::F16 => scan_16(bytes, false),
        Dtype::BF16 => scan_16(bytes, true),
        Dtype::F8_E4M3
        | Dtype::F8_E5M2
        | Dtype::F8_E4M3FNUZ
        | Dtype::F8_E5M2FNUZ
        | Dtype::F8_E8M0 => scan_f8(bytes, dtype),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn arithmetic_progression_has_closed_form_moments() {
        // 1..=n: mean (n+1)/2, population variance (n²-1)/12.
        let n = 10_001u32;
        let v: Vec<f32> = (1..=n).map(|i| i as f32).collect();
        let a = scan_float(&f32_bytes(&v), Dtype::F32).unwrap();
        let nf = f64::from(n);
        assert_eq!(
            (a.elements, a.finite, a.min, a.max),
            (u64::from(n), u64::from(n), 1.0, nf)
        );
        assert!((a.mean - (nf + 1.0) / 2.0).abs() < 1e-9);
        assert!((a.std().unwrap() - ((nf * nf - 1.0) / 12.0).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn special_values_are_counted_and_kept_out_of_the_moments() {
        let v = [
            1.0f32,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            1e-40,
            3.0,
        ];
        let a = scan_float(&f32_bytes(&v), Dtype::F32).unwrap();
        assert_eq!(
            (a.nan, a.pos_inf, a.neg_inf, a.zeros, a.subnormals, a.finite),
            (1, 1, 1, 2, 1, 5)
        );
        assert_eq!((a.min, a.max), (-0.0, 3.0));
        assert!((a.mean - (4.0 + 1e-40) / 5.0).abs() < 1e-12);
    }

    #[test]
    fn merging_pieces_equals_scanning_the_whole() {
        let v: Vec<f32> = (0..50_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 7.0 - 50.0)
            .collect();
        let bytes = f32_bytes(&v);
        let whole = scan_float(&bytes, Dtype::F32).unwrap();
        let mut merged = Acc::default();
        for piece in bytes.chunks(4 * 333) {
            merged.merge(&scan_float(piece, Dtype::F32).unwrap());
        }
        assert_eq!(
            (whole.elements, whole.min, whole.max),
            (merged.elements, merged.min, merged.max)
        );
        assert!((whole.mean - merged.mean).abs() < 1e-9);
        assert!((whole.std().unwrap() - merged.std().unwrap()).abs() < 1e-9);
    }

    #[test]
    fn half_precision_subnormals_are_counted_in_their_own_format() {
        // 0x0001 is the smallest F16 subnormal, a normal f32 once converted.
        let bytes = [0x01u8, 0x00, 0x00, 0x7c, 0x01, 0x7e, 0x00, 0x3c];
        let a = scan_float(&bytes, Dtype::F16).unwrap();
        assert_eq!((a.subnormals, a.pos_inf, a.nan, a.finite), (1, 1, 1, 2));
        let b = scan_float(
            &[0x80, 0x3f, 0x80, 0xff, 0xc1, 0x7f, 0x01, 0x00],
            Dtype::BF16,
        )
        .unwrap();
        assert_eq!(
            (b.finite, b.neg_inf, b.nan, b.subnormals, b.max),
            (2, 1, 1, 1, 1.0)
        );
    }

    #[test]
    fn fp8_decoding_matches_the_ocp_tables() {
        assert_eq!(decode_f8(Dtype::F8_E4M3, 0x7e).0, 448.0, "E4M3 max");
        assert_eq!(decode_f8(Dtype::F8_E4M3, 0x7f).1, Class::Nan);
        assert_eq!(
            decode_f8(Dtype::F8_E4M3, 0x01).0,
            2f64.powi(-9),
            "E4M3 min subnormal"
        );
        assert_eq!(decode_f8(Dtype::F8_E5M2, 0x7b).0, 57344.0, "E5M2 max");
        assert_eq!(decode_f8(Dtype::F8_E5M2, 0x7c).1, Class::PosInf);
        assert_eq!(decode_f8(Dtype::F8_E5M2, 0xfc).1, Class::NegInf);
        assert_eq!(decode_f8(Dtype::F8_E4M3FNUZ, 0x80).1, Class::Nan);
        assert_eq!(decode_f8(Dtype::F8_E4M3FNUZ, 0x7f).0, 240.0, "E4M3FNUZ max");
        assert_eq!(
            decode_f8(Dtype::F8_E5M2FNUZ, 0x7f).0,
            57344.0,
            "E5M2FNUZ max"
        );
        assert_eq!(decode_f8(Dtype::F8_E8M0, 127).0, 1.0);
        assert_eq!(decode_f8(Dtype::F8_E8M0, 0xff).1, Class::Nan);
        assert_eq!(decode_f8(Dtype::F8_E4M3, 0x38).0, 1.0);
        assert_eq!(decode_f8(Dtype::F8_E5M2, 0x3c).0, 1.0);
    }

    #[test]
    fn integer_ranges_respect_signedness() {
        let r = scan_int(&[0xff, 0x00, 0x7f], Dtype::I8).unwrap();
        assert_eq!((r.min, r.max, r.zeros), (-1, 127, 1));
        let u = scan_int(&[0xff, 0x00], Dtype::U8).unwrap();
        assert_eq!((u.min, u.max), (0, 255));
        let big = scan_int(&u64::MAX.to_le_bytes(), Dtype::U64).unwrap();
        assert_eq!(big.max, i128::from(u64::MAX));
    }

    /// The AVX2 kernel gives the portable scan's figures to the bit (sums in the same
    /// lanes and order, signed zeros kept the same way), with and without special values,
    /// on lengths that leave a tail of every size.
    #[test]
    fn the_avx2_kernel_matches_the_portable_scan_bit_for_bit() {
        #[cfg(target_arch = "x86_64")]
        {
            if !std::arch::is_x86_feature_detected!("avx2") {
                return;
            }
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let specials = [
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                0.0,
                -0.0,
                1e-40,
                -1e-40,
                f32::MAX,
                f32::MIN,
            ];
            for len in [0usize, 1, 3, 7, 8, 9, 15, 4095, 4096, 4097, 9000, 20_003] {
                for mode in 0..4 {
                    let v: Vec<f32> = (0..len)
                        .map(|_| {
                            let r = next();
                            match mode {
                                // Only zeros of both signs and positives: min/max ties.
                                0 if r % 3 == 0 => 0.0,
                                0 if r % 3 == 1 => -0.0,
                                1 | 2 if r % 50 == 0 => {
                                    specials[(r >> 8) as usize % specials.len()]
                                }
                                3 => f32::from_bits((r >> 16) as u32),
                                _ => {
                                    ((r >> 40) as f32 / (1u64 << 24) as f32) * 4.0
                                        - 1.0 * (mode as f32)
                                }
                            }
                        })
                        .collect();
                    let bytes = f32_bytes(&v);
                    // Unaligned too: the kernel reads the bytes as they lie.
                    let mut shifted = vec![0u8];
                    shifted.extend_from_slice(&bytes);
                    for b in [&bytes[..], &shifted[1..]] {
                        let (p, a) = (scan_f32_with(b, false), scan_f32_with(b, true));
                        let bits = |a: &Acc| {
                            (
                                (a.elements, a.nan, a.pos_inf, a.neg_inf, a.zeros),
                                (a.subnormals, a.finite),
                                [a.min, a.max, a.mean, a.m2].map(f64::to_bits),
                            )
                        };
                        assert_eq!(bits(&p), bits(&a), "len {len} mode {mode}");
                    }
                }
            }
        }
    }

    /// The fast paths (blocks without NaN/Inf, and AVX2 where present) give the figures
    /// a plain f64 computation gives, on pseudo-random weights with and without a NaN.
    #[test]
    fn the_block_scan_agrees_with_a_plain_computation() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut v: Vec<f32> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect();
        for with_nan in [false, true] {
            if with_nan {
                v[4_100] = f32::NAN;
            }
            let finite: Vec<f64> = v
                .iter()
                .filter(|f| f.is_finite())
                .map(|&f| f64::from(f))
                .collect();
            let n = finite.len() as f64;
            let mean = finite.iter().sum::<f64>() / n;
            let var = finite.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n;
            let a = scan_float(&f32_bytes(&v), Dtype::F32).unwrap();
            assert_eq!(a.finite, finite.len() as u64);
            assert_eq!(a.nan, u64::from(with_nan));
            assert!((a.mean - mean).abs() < 1e-12, "{} {mean}", a.mean);
            assert!((a.std().unwrap() - var.sqrt()).abs() < 1e-12);
            let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((a.min, a.max), (lo, hi));
        }
    }
}
