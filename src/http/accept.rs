//! `Accept` (RFC 9110 §12.5.1): which of the representations we offer a client prefers.
//!
//! Each offer is matched against the client's media ranges; the most specific range
//! that matches it (type/subtype with parameters, then type/subtype, then `type/*`,
//! then `*/*`) gives its quality. The offer with the highest quality above zero wins,
//! ties going to the earlier offer (the server's preference).

/// One representation the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offer {
    /// `type/subtype`, lower case.
    pub media: &'static str,
    /// Parameters a range may name (e.g. `codecs=opus`), lower case.
    pub params: &'static [(&'static str, &'static str)],
    /// What the caller calls it.
    pub name: &'static str,
}

impl Offer {
    pub(crate) const fn new(
        media: &'static str,
        params: &'static [(&'static str, &'static str)],
        name: &'static str,
    ) -> Self {
        Self {
            media,
            params,
            name,
        }
    }
}

/// A media range from the header: type, subtype, parameters (q removed) and quality.
#[derive(Debug)]
struct Range<'a> {
    kind: &'a str,
    sub: &'a str,
    params: Vec<(String, String)>,
    q: f32,
}

fn ranges(header: &str) -> Vec<Range<'_>> {
    header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let (kind, sub) = parts.next()?.trim().split_once('/')?;
            let mut q = 1.0;
            let mut params = Vec::new();
            for p in parts {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().trim_matches('"').to_ascii_lowercase();
                if k == "q" {
                    q = v.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))?;
                } else {
                    params.push((k, v));
                }
            }
            Some(Range {
                kind: kind.trim(),
                sub: sub.trim(),
                params,
                q,
            })
        })
        .collect()
}

/// How specifically `range` matches `offer` (higher is more specific), if at all.
fn specificity(range: &Range<'_>, offer: &Offer) -> Option<u8> {
    let (kind, sub) = offer.media.split_once('/')?;
    let params_match = range
        .params
        .iter()
        .all(|(k, v)| offer.params.iter().any(|(ok, ov)| ok == k && ov == v));
    match (range.kind, range.sub) {
        ("*", "*") => Some(0),
        (k, "*") if k.eq_ignore_ascii_case(kind) => Some(1),
        (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) && params_match => {
            Some(2 + u8::from(!range.params.is_empty()))
        }
        _ => None,
    }
}

/// The offer the client prefers, or `None` when it accepts none of them.
pub(crate) fn choose<'o>(header: &str, offers: &'o [Offer]) -> Option<&'o Offer> {
    let ranges = ranges(header);
    let mut best: Option<(&Offer, f32)> = None;
    for offer in offers {
        let q = ranges
            .iter()
            .filter_map(|r| specificity(r, offer).map(|s| (s, r.q)))
            .max_by_key(|(s, _)| *s)
            .map_or(0.0, |(_, q)| q);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((offer, q));
        }
    }
    best.map(|(o, _)| o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: [Offer; 4] = [
        Offer::new("audio/wav", &[], "wav"),
        Offer::new("audio/flac", &[], "flac"),
        Offer::new("audio/ogg", &[("codecs", "opus")], "opus"),
        Offer::new("application/octet-stream", &[], "f32"),
    ];

    fn pick(h: &str) -> Option<&'static str> {
        choose(h, &OFFERS).map(|o| o.name)
    }

    #[test]
    fn picks_by_quality_then_specificity_then_server_order() {
        assert_eq!(pick("audio/ogg; codecs=opus"), Some("opus"));
        assert_eq!(pick("audio/ogg;codecs=\"opus\""), Some("opus"));
        assert_eq!(pick("audio/ogg; codecs=vorbis"), None);
        assert_eq!(pick("audio/flac"), Some("flac"));
        assert_eq!(pick("AUDIO/FLAC"), Some("flac"));
        assert_eq!(pick("audio/wav"), Some("wav"));
        assert_eq!(pick("audio/*"), Some("wav"));
        assert_eq!(pick("*/*"), Some("wav"));
        assert_eq!(
            pick("audio/flac;q=0.5, audio/ogg;codecs=opus;q=0.9"),
            Some("opus")
        );
        assert_eq!(pick("audio/*;q=0.1, audio/flac"), Some("flac"));
        // A specific q=0 excludes what a wider range would allow.
        assert_eq!(pick("audio/*, audio/wav;q=0"), Some("flac"));
        assert_eq!(pick("audio/mpeg"), None);
        assert_eq!(pick("garbage, audio/flac"), Some("flac"));
        assert_eq!(
            pick("audio/flac;q=2"),
            None,
            "an invalid q drops that range"
        );
    }
}
