//! Minimal decimal arithmetic reproducing sprig's `addf`/`subf`/`mulf`/`divf` (shopspring/decimal:
//! exact add/sub/mul, division rounded half away from zero to 16 places, then to float64).

/// A decimal `mant * 10^exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mant: i128,
    exp: i32,
}

const DIVISION_PRECISION: i32 = 16;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Decimal {
    /// `decimal.NewFromFloat`: the shortest decimal that round-trips to `f` (`None` for NaN/Inf).
    pub fn from_f64(f: f64) -> Option<Self> {
        if !f.is_finite() {
            return None;
        }
        if f == 0.0 {
            return Some(Self { mant: 0, exp: 0 });
        }
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e')?;
        let neg = m.starts_with('-');
        let digits: String = m.chars().filter(char::is_ascii_digit).collect();
        let frac_len = m.split_once('.').map_or(0, |(_, fr)| fr.len()) as i32;
        let mant: i128 = digits.parse().ok()?;
        let exp = e.parse::<i32>().ok()? - frac_len;
        Some(Self { mant: if neg { -mant } else { mant }, exp })
    }

    /// Converts to the nearest float64 (`InexactFloat64`).
    pub fn to_f64(self) -> f64 {
        format!("{}e{}", self.mant, self.exp).parse().unwrap_or(f64::NAN)
    }

    fn align(a: Self, b: Self) -> Option<(i128, i128, i32)> {
        let exp = a.exp.min(b.exp);
        let am = a.mant.checked_mul(pow10(u32::try_from(a.exp - exp).ok()?)?)?;
        let bm = b.mant.checked_mul(pow10(u32::try_from(b.exp - exp).ok()?)?)?;
        Some((am, bm, exp))
    }

    /// Exact sum (`None` on overflow of the internal representation).
    pub fn add(self, o: Self) -> Option<Self> {
        let (a, b, exp) = Self::align(self, o)?;
        Some(Self { mant: a.checked_add(b)?, exp })
    }

    /// Exact difference.
    pub fn sub(self, o: Self) -> Option<Self> {
        let (a, b, exp) = Self::align(self, o)?;
        Some(Self { mant: a.checked_sub(b)?, exp })
    }

    /// Exact product.
    pub fn mul(self, o: Self) -> Option<Self> {
        Some(Self { mant: self.mant.checked_mul(o.mant)?, exp: self.exp.checked_add(o.exp)? })
    }

    /// Quotient rounded half away from zero to 16 decimal places; `Err(())` on division by zero.
    pub fn div(self, o: Self) -> Result<Option<Self>, ()> {
        if o.mant == 0 {
            return Err(());
        }
        // self/o = (a/b) * 10^(ea-eb); we want q = round(self/o * 10^16).
        let shift = self.exp - o.exp + DIVISION_PRECISION;
        let (num, den) = if shift >= 0 {
            match u32::try_from(shift).ok().and_then(pow10).and_then(|p| self.mant.checked_mul(p)) {
                Some(n) => (n, o.mant),
                None => return Ok(None),
            }
        } else {
            match u32::try_from(-shift).ok().and_then(pow10).and_then(|p| o.mant.checked_mul(p)) {
                Some(d) => (self.mant, d),
                None => return Ok(None),
            }
        };
        let q = num / den;
        let r = num % den;
        let q = if r.unsigned_abs().saturating_mul(2) >= den.unsigned_abs() {
            if (num < 0) != (den < 0) { q - 1 } else { q + 1 }
        } else {
            q
        };
        Ok(Some(Self { mant: q, exp: -DIVISION_PRECISION }))
    }
}
