//! Wall-clock timestamps as every envelope, message and report shows them. Below every
//! layer, so the library and the transports stamp times the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC timestamp with milliseconds.
pub(crate) fn timestamp_now() -> String {
    Stamp::now().as_str().to_string()
}

/// `2026-12-01T23:43:29.054Z`: an RFC 3339 UTC timestamp with milliseconds, formatted
/// on the stack. Envelopes serialize it directly, so a response's timestamp costs no
/// allocation (it was one or two per request through `humantime`).
#[derive(Clone, Copy)]
pub(crate) struct Stamp([u8; 24]);

impl Stamp {
    pub(crate) fn now() -> Stamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Stamp::at(d.as_secs(), d.subsec_millis())
    }

    fn at(secs: u64, millis: u32) -> Stamp {
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        let mut out = *b"1970-01-01T00:00:00.000Z";
        let y = year.clamp(0, 9999) as u32;
        put(&mut out[0..4], y, 4);
        put(&mut out[5..7], month, 2);
        put(&mut out[8..10], day, 2);
        put(&mut out[11..13], (rem / 3600) as u32, 2);
        put(&mut out[14..16], (rem / 60 % 60) as u32, 2);
        put(&mut out[17..19], (rem % 60) as u32, 2);
        put(&mut out[20..23], millis, 3);
        Stamp(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01T00:00:00.000Z")
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31); Howard Hinnant's
/// `civil_from_days`.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `v` as `width` decimal digits into `slot`.
pub(crate) fn put(slot: &mut [u8], mut v: u32, width: usize) {
    for i in (0..width).rev() {
        slot[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_humantime() {
        for (secs, millis) in [
            (0, 0),
            (951_782_400, 7),
            (1_798_761_599, 999),
            (784_111_777, 54),
        ] {
            let t = UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + u64::from(millis));
            let want = humantime::format_rfc3339_millis(t).to_string();
            assert_eq!(Stamp::at(secs, millis).as_str(), want);
        }
        assert_eq!(timestamp_now().len(), 24);
    }
}
