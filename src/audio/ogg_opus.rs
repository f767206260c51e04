//! The Ogg Opus container (RFC 7845): an identification header page, a comment header
//! page, then audio pages of about one second, each with the granule position (48 kHz
//! samples, pre-skip included) of its last packet; the last page carries the stream's
//! end, which trims the final packet's padding.

use ogg::writing::{PacketWriteEndInfo, PacketWriter};

/// Packets per audio page (50 × 20 ms): RFC 7845 §6 asks for pages of at most a second.
const PACKETS_PER_PAGE: usize = 50;
const VENDOR: &str = "auralis-server (libopus)";

/// What the identification header says (RFC 7845 §5.1; channel mapping family 0).
pub struct Head {
    pub channels: u8,
    /// 48 kHz samples a decoder drops at the start.
    pub pre_skip: u16,
    /// The sample rate of the source, for information.
    pub input_rate: u32,
}

impl Head {
    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(19);
        b.extend_from_slice(b"OpusHead");
        b.push(1);
        b.push(self.channels);
        b.extend_from_slice(&self.pre_skip.to_le_bytes());
        b.extend_from_slice(&self.input_rate.to_le_bytes());
        b.extend_from_slice(&0i16.to_le_bytes());
        b.push(0);
        b
    }
}

fn tags() -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + VENDOR.len());
    b.extend_from_slice(b"OpusTags");
    b.extend_from_slice(&(VENDOR.len() as u32).to_le_bytes());
    b.extend_from_slice(VENDOR.as_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b
}

/// A whole Ogg Opus stream of `packets`, each `frame` samples long, ending at granule
/// position `end` (pre-skip + the samples meant to be heard).
pub fn write(
    head: &Head,
    packets: &[Vec<u8>],
    frame: u64,
    end: u64,
    serial: u32,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(packets.iter().map(|p| p.len() + 2).sum::<usize>() + 512);
    let mut w = PacketWriter::new(&mut out);
    w.write_packet(head.bytes(), serial, PacketWriteEndInfo::EndPage, 0)?;
    w.write_packet(tags(), serial, PacketWriteEndInfo::EndPage, 0)?;
    for (i, p) in packets.iter().enumerate() {
        let last = i + 1 == packets.len();
        let granule = ((i as u64 + 1) * frame).min(end);
        let info = if last {
            PacketWriteEndInfo::EndStream
        } else if (i + 1) % PACKETS_PER_PAGE == 0 {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        w.write_packet(p.as_slice(), serial, info, if last { end } else { granule })?;
    }
    drop(w);
    Ok(out)
}
