//! The `Date` header (RFC 9110 §6.6.1: an origin server with a clock sends one in every
//! response), formatted once per second per core thread and copied from there: a
//! response pays one clock read and a 29-byte copy, no formatting, no locks.

use crate::timestamp::{civil_from_days, put};
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate) is always 29 bytes.
pub(crate) const LEN: usize = 29;

thread_local! {
    static CACHED: Cell<(u64, [u8; LEN])> = const { Cell::new((u64::MAX, [0; LEN])) };
}

/// Appends the current IMF-fixdate (this second's, formatted at most once per second
/// on this thread).
pub(crate) fn append_now(out: &mut Vec<u8>) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let bytes = CACHED.with(|c| {
        let (at, bytes) = c.get();
        if at == secs {
            bytes
        } else {
            let fresh = imf_fixdate(secs);
            c.set((secs, fresh));
            fresh
        }
    });
    out.extend_from_slice(&bytes);
}

/// Formats Unix seconds as IMF-fixdate (proleptic Gregorian, UTC).
pub(crate) fn imf_fixdate(secs: u64) -> [u8; LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    put(&mut out[5..7], day, 2);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    let y = year.clamp(0, 9999) as u32;
    put(&mut out[12..16], y, 4);
    put(&mut out[17..19], (rem / 3600) as u32, 2);
    put(&mut out[20..22], (rem / 60 % 60) as u32, 2);
    put(&mut out[23..25], (rem % 60) as u32, 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        let f = |s| String::from_utf8(imf_fixdate(s).to_vec()).unwrap();
        assert_eq!(f(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(f(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
        assert_eq!(f(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(f(1_798_761_599), "Thu, 31 Dec 2026 23:59:59 GMT");
        assert_eq!(f(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT"); // not a leap year
        let mut out = Vec::new();
        append_now(&mut out);
        assert_eq!(out.len(), LEN);
        assert!(out.ends_with(b" GMT"));
    }
}
