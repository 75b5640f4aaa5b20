//! The zip container `torch.save` writes (PyTorchStreamWriter, miniz): every record
//! stored uncompressed, its data 64-byte aligned by padding in the local header's extra
//! field, sizes in the central directory (the local headers carry a data descriptor
//! flag and zero sizes), and a ZIP64 end record always (needed past 4 GB or 65,535
//! records).
//!
//! Only the end records and the central directory are read up front; a record's local
//! header is read when its data is asked for. Every count, length and offset read from
//! the file is bounded by the bytes that can hold it before anything is allocated.

use std::collections::HashMap;

const EOCD: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const LOCATOR64: u32 = 0x0706_4b50;
const LOCATOR64_LEN: usize = 20;
const EOCD64: u32 = 0x0606_4b50;
const EOCD64_LEN: usize = 56;
const CENTRAL: u32 = 0x0201_4b50;
const CENTRAL_LEN: usize = 46;
const LOCAL: u32 = 0x0403_4b50;
const LOCAL_LEN: usize = 30;
/// Longest zip comment: how far back from the end the end record may sit.
const MAX_COMMENT: usize = 0xffff;
/// The ZIP64 extended-information extra field.
const ZIP64_EXTRA: u16 = 0x0001;

/// One record of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Full name, top folder included (`archive/data.pkl`).
    pub name: String,
    /// Compression method (0: stored).
    pub method: u16,
    /// General-purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// Uncompressed size.
    pub size: u64,
    /// Compressed size.
    pub compressed: u64,
    /// Offset of the local header.
    pub local: u64,
}

/// A validated central directory.
#[derive(Debug)]
pub struct Archive {
    /// Records in directory order.
    pub entries: Vec<Entry>,
    /// The folder every record of a torch archive sits in: the first record's.
    pub top: String,
    /// Where the central directory starts: every record's data ends before it.
    pub directory: u64,
    by_name: HashMap<String, usize>,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn to_usize(n: u64) -> Option<usize> {
    usize::try_from(n).ok()
}

/// Where the central directory is and how many records it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Directory {
    offset: u64,
    size: u64,
    entries: u64,
    /// Where the end records start: the directory must end before.
    end: u64,
}

/// The end-of-central-directory record: the last signature whose comment length reaches
/// exactly the end of the file, searched backward over at most 22 + 65,535 bytes.
fn find_eocd(b: &[u8]) -> Result<usize, String> {
    if b.len() < EOCD_LEN {
        return Err(format!(
            "file is {} bytes long, too short for a zip archive's end record (22 bytes)",
            b.len()
        ));
    }
    let last = b.len() - EOCD_LEN;
    let lowest = last.saturating_sub(MAX_COMMENT);
    (lowest..=last)
        .rev()
        .find(|&i| {
            le32(b, i) == Some(EOCD)
                && le16(b, i + 20).map(usize::from) == Some(b.len() - i - EOCD_LEN)
        })
        .ok_or_else(|| {
            "no end-of-central-directory record in the last 64 KiB: a truncated or damaged zip archive"
                .to_string()
        })
}

/// The directory as the classic end record and, when present, the ZIP64 one say.
fn directory(b: &[u8]) -> Result<Directory, String> {
    let eocd = find_eocd(b)?;
    let field16 = |off| le16(b, eocd + off).map_or(0, u64::from);
    let field32 = |off| le32(b, eocd + off).map_or(0, u64::from);
    if field16(4) != 0 || field16(6) != 0 || field16(8) != field16(10) {
        return Err("a multi-disk (split) zip archive; torch.save writes one file".to_string());
    }
    let classic = Directory {
        offset: field32(16),
        size: field32(12),
        entries: field16(10),
        end: eocd as u64,
    };
    let saturated =
        classic.entries == 0xffff || classic.size == 0xffff_ffff || classic.offset == 0xffff_ffff;
    match eocd
        .checked_sub(LOCATOR64_LEN)
        .filter(|&l| le32(b, l) == Some(LOCATOR64))
    {
        Some(locator) => zip64_directory(b, locator),
        None if saturated => Err(format!(
            "the end record at byte {eocd} defers to a ZIP64 record, but there is no ZIP64 locator before it"
        )),
        None => Ok(classic),
    }
}

/// The ZIP64 end record the locator at `locator` points to.
fn zip64_directory(b: &[u8], locator: usize) -> Result<Directory, String> {
    let bad = |what: &str| format!("ZIP64 end record: {what}");
    let disk = le32(b, locator + 4).unwrap_or(u32::MAX);
    let disks = le32(b, locator + 16).unwrap_or(u32::MAX);
    if disk != 0 || disks > 1 {
        return Err("a multi-disk (split) zip archive; torch.save writes one file".to_string());
    }
    let at = le64(b, locator + 8).unwrap_or(u64::MAX);
    let start = to_usize(at)
        .filter(|&s| s.checked_add(EOCD64_LEN).is_some_and(|e| e <= locator))
        .ok_or_else(|| {
            bad(&format!(
                "the locator points to byte {at}, not before the locator at byte {locator}"
            ))
        })?;
    if le32(b, start) != Some(EOCD64) {
        return Err(bad(&format!(
            "no ZIP64 end record signature at byte {start}"
        )));
    }
    let field32 = |off| le32(b, start + off).unwrap_or(u32::MAX);
    let field64 = |off| le64(b, start + off).unwrap_or(u64::MAX);
    if field32(16) != 0 || field32(20) != 0 || field64(24) != field64(32) {
        return Err("a multi-disk (split) zip archive; torch.save writes one file".to_string());
    }
    Ok(Directory {
        offset: field64(48),
        size: field64(40),
        entries: field64(32),
        end: start as u64,
    })
}

/// The central directory's bytes, bounded by the end records.
fn directory_bytes(b: &[u8], d: Directory) -> Result<&[u8], String> {
    let end = d.offset.checked_add(d.size).filter(|&e| e <= d.end);
    let Some(end) = end else {
        return Err(format!(
            "the central directory ({} bytes at byte {}) runs past the end records at byte {}",
            d.size, d.offset, d.end
        ));
    };
    // Both bounds are at most the file's length, so they fit in usize.
    let bytes = b
        .get(to_usize(d.offset).unwrap_or(usize::MAX)..to_usize(end).unwrap_or(usize::MAX))
        .ok_or_else(|| "the central directory lies outside the file".to_string())?;
    if d.entries > d.size / CENTRAL_LEN as u64 {
        return Err(format!(
            "the end record announces {} records, more than a {}-byte central directory can hold",
            d.entries, d.size
        ));
    }
    Ok(bytes)
}

/// Sizes and offset from the ZIP64 extra field, for the fields saturated at 0xffffffff,
/// in the order the format defines (uncompressed, compressed, offset).
fn zip64_extra(extra: &[u8], mut fields: [&mut u64; 3], name: &str) -> Result<(), String> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let id = le16(extra, at).unwrap_or(0);
        let len = usize::from(le16(extra, at + 2).unwrap_or(0));
        let body = extra
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| format!("record `{name}`: an extra field runs past its record"))?;
        if id == ZIP64_EXTRA {
            let mut pos = 0usize;
            for field in fields.iter_mut().filter(|f| ***f == 0xffff_ffff) {
                **field = le64(body, pos)
                    .ok_or_else(|| format!("record `{name}`: ZIP64 extra field too short"))?;
                pos += 8;
            }
            return Ok(());
        }
        at += 4 + len;
    }
    if fields.iter().any(|f| **f == 0xffff_ffff) {
        return Err(format!(
            "record `{name}`: sizes defer to a ZIP64 extra field that is absent"
        ));
    }
    Ok(())
}

/// One central-directory record at `at` of `cd`; returns it and where the next starts.
fn read_entry(cd: &[u8], at: usize, index: u64) -> Result<(Entry, usize), String> {
    let bad = |what: &str| format!("central directory record {index} (byte {at}): {what}");
    if le32(cd, at) != Some(CENTRAL) {
        return Err(bad("no record signature"));
    }
    let f16 = |off| le16(cd, at + off).unwrap_or(0);
    let f32 = |off| le32(cd, at + off).map_or(0, u64::from);
    let (name_len, extra_len, comment_len) = (
        usize::from(f16(28)),
        usize::from(f16(30)),
        usize::from(f16(32)),
    );
    let name_start = at + CENTRAL_LEN;
    let extra_start = name_start + name_len;
    let next = extra_start + extra_len + comment_len;
    if next > cd.len() {
        return Err(bad(
            "its name and extra fields run past the central directory",
        ));
    }
    let name = std::str::from_utf8(&cd[name_start..extra_start])
        .map_err(|_| bad("its name is not UTF-8"))?
        .to_string();
    let (mut size, mut compressed, mut local) = (f32(24), f32(20), f32(42));
    zip64_extra(
        &cd[extra_start..extra_start + extra_len],
        [&mut size, &mut compressed, &mut local],
        &name,
    )?;
    let entry = Entry {
        name,
        method: f16(10),
        flags: f16(8),
        size,
        compressed,
        local,
    };
    Ok((entry, next))
}

/// The archive's top folder: the first record's leading path component, as torch's
/// reader (PyTorchStreamReader) takes it.
fn top_folder(entries: &[Entry]) -> Result<String, String> {
    let first = entries
        .first()
        .ok_or_else(|| "the zip archive has no records".to_string())?;
    match first.name.split_once('/') {
        Some((top, rest)) if !top.is_empty() && !rest.is_empty() => Ok(top.to_string()),
        _ => Err(format!(
            "the first record `{}` is not inside a top folder, as every record of a torch.save archive is",
            first.name
        )),
    }
}

/// Read and check the central directory of the archive `b`.
pub fn read(b: &[u8]) -> Result<Archive, String> {
    let d = directory(b)?;
    let cd = directory_bytes(b, d)?;
    // Bounded by the check above: at most size / 46 records.
    let mut entries = Vec::with_capacity(to_usize(d.entries).unwrap_or(0));
    let mut at = 0usize;
    for i in 0..d.entries {
        let (entry, next) = read_entry(cd, at, i)?;
        entries.push(entry);
        at = next;
    }
    let top = top_folder(&entries)?;
    let mut by_name = HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if by_name.insert(e.name.clone(), i).is_some() {
            return Err(format!("record `{}` appears twice in the archive", e.name));
        }
    }
    Ok(Archive {
        entries,
        top,
        directory: d.offset,
        by_name,
    })
}

impl Archive {
    /// The record `<top>/<name>`, if present.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        let full = format!("{}/{name}", self.top);
        self.by_name.get(&full).map(|&i| &self.entries[i])
    }

    /// True when some record's name starts with `<top>/<prefix>`.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let full = format!("{}/{prefix}", self.top);
        self.entries.iter().any(|e| e.name.starts_with(&full))
    }

    /// Where a stored record's data lies in the file: `(start, length)`, checked against
    /// its local header and the central directory.
    pub fn data(&self, b: &[u8], e: &Entry) -> Result<(u64, u64), String> {
        let bad = |what: String| format!("record `{}`: {what}", e.name);
        if e.flags & 1 != 0 {
            return Err(bad("encrypted; torch.save never encrypts".to_string()));
        }
        if e.method != 0 {
            return Err(bad(format!(
                "compressed (method {}{}); torch.save stores every record uncompressed, and paramaudit reads only stored records",
                e.method,
                if e.method == 8 { ", deflate" } else { "" }
            )));
        }
        if e.compressed != e.size {
            return Err(bad(format!(
                "stored, yet its compressed size {} differs from its size {}",
                e.compressed, e.size
            )));
        }
        let header_end = e
            .local
            .checked_add(LOCAL_LEN as u64)
            .filter(|&h| h <= self.directory)
            .ok_or_else(|| {
                bad(format!(
                    "its local header at byte {} lies outside the data before the central directory (byte {})",
                    e.local, self.directory
                ))
            })?;
        // local < header_end <= directory <= file length: fits in usize.
        let at = to_usize(e.local).unwrap_or(usize::MAX);
        if le32(b, at) != Some(LOCAL) {
            return Err(bad(format!("no local header signature at byte {at}")));
        }
        let name_len = u64::from(le16(b, at + 26).unwrap_or(0));
        let extra_len = u64::from(le16(b, at + 28).unwrap_or(0));
        let start = header_end + name_len + extra_len;
        let name =
            b.get(at + LOCAL_LEN..at + LOCAL_LEN + usize::from(le16(b, at + 26).unwrap_or(0)));
        if name != Some(e.name.as_bytes()) {
            return Err(bad(format!(
                "its local header at byte {at} names another record"
            )));
        }
        let end = start
            .checked_add(e.size)
            .filter(|&end| end <= self.directory);
        if end.is_none() {
            return Err(bad(format!(
                "its {} bytes of data at byte {start} run past the start of the central directory (byte {})",
                e.size, self.directory
            )));
        }
        Ok((start, e.size))
    }

    /// A small stored record's bytes (at most `max`).
    pub fn small<'a>(&self, b: &'a [u8], e: &Entry, max: u64) -> Result<&'a [u8], String> {
        let (start, len) = self.data(b, e)?;
        if len > max {
            return Err(format!(
                "record `{}` is {len} bytes, more than the {max} expected",
                e.name
            ));
        }
        // Validated inside the file by `data`.
        Ok(&b[to_usize(start).unwrap_or(0)..to_usize(start + len).unwrap_or(0)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip written by hand: records (name, data), 64-byte aligned like torch's,
    /// with or without ZIP64 (end records, and sizes and offsets in the extra field).
    pub(crate) fn build(records: &[(&str, &[u8])], zip64: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in records {
            let local = out.len() as u32;
            let pad = (64 - (out.len() + LOCAL_LEN + name.len() + 4) % 64) % 64;
            out.extend_from_slice(&LOCAL.to_le_bytes());
            out.extend_from_slice(&[0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&((pad + 4) as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"FB");
            out.extend_from_slice(&(pad as u16).to_le_bytes());
            out.extend(std::iter::repeat_n(b'Z', pad));
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL.to_le_bytes());
            central.extend_from_slice(&[0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            // ZIP64: sizes and offset saturated, the values in the extra field.
            let (size32, local32) = if zip64 {
                (u32::MAX, u32::MAX)
            } else {
                (data.len() as u32, local)
            };
            central.extend_from_slice(&size32.to_le_bytes());
            central.extend_from_slice(&size32.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&(if zip64 { 28u16 } else { 0 }).to_le_bytes());
            central.extend_from_slice(&[0; 10]);
            central.extend_from_slice(&local32.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
            if zip64 {
                central.extend_from_slice(&[1, 0, 24, 0]);
                central.extend_from_slice(&(data.len() as u64).to_le_bytes());
                central.extend_from_slice(&(data.len() as u64).to_le_bytes());
                central.extend_from_slice(&u64::from(local).to_le_bytes());
            }
        }
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&central);
        let n = records.len() as u64;
        if zip64 {
            let at = out.len() as u64;
            out.extend_from_slice(&EOCD64.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[0x1e, 3, 0x2d, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(central.len() as u64).to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(&LOCATOR64.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        let off32 = if zip64 { u32::MAX } else { cd_offset as u32 };
        out.extend_from_slice(&off32.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn records_are_found_with_their_aligned_data() {
        for zip64 in [false, true] {
            let z = build(&[("top/data.pkl", b"abc"), ("top/data/0", &[7; 16])], zip64);
            let a = read(&z).unwrap();
            assert_eq!(a.top, "top");
            let e = a.get("data/0").unwrap();
            let (start, len) = a.data(&z, e).unwrap();
            assert_eq!((start % 64, len), (0, 16));
            assert_eq!(&z[start as usize..][..16], &[7; 16]);
            assert_eq!(a.small(&z, a.get("data.pkl").unwrap(), 8).unwrap(), b"abc");
        }
    }

    #[test]
    fn a_truncated_archive_has_no_end_record() {
        let z = build(&[("top/data.pkl", b"abc")], true);
        let e = read(&z[..z.len() - 1]).unwrap_err();
        assert!(e.contains("no end-of-central-directory record"), "{e}");
        assert!(read(b"PK\x03\x04").unwrap_err().contains("too short"));
    }

    #[test]
    fn a_directory_announcing_more_records_than_it_holds_is_refused() {
        let mut z = build(&[("top/data.pkl", b"abc")], false);
        let n = z.len();
        z[n - 12..n - 10].copy_from_slice(&0xfff0u16.to_le_bytes());
        z[n - 14..n - 12].copy_from_slice(&0xfff0u16.to_le_bytes());
        let e = read(&z).unwrap_err();
        assert!(e.contains("more than a"), "{e}");
    }

    #[test]
    fn compressed_records_are_refused_by_name() {
        let mut z = build(&[("top/data.pkl", b"abc")], false);
        let cd = z
            .windows(4)
            .position(|w| w == CENTRAL.to_le_bytes())
            .unwrap();
        z[cd + 10] = 8;
        let a = read(&z).unwrap();
        let e = a.data(&z, a.get("data.pkl").unwrap()).unwrap_err();
        assert!(
            e.contains("`top/data.pkl`: compressed (method 8, deflate)"),
            "{e}"
        );
    }

    #[test]
    fn a_record_pointing_outside_the_data_is_refused() {
        let mut z = build(&[("top/data.pkl", b"abc")], false);
        let cd = z
            .windows(4)
            .position(|w| w == CENTRAL.to_le_bytes())
            .unwrap();
        z[cd + 42..cd + 46].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let a = read(&z).unwrap();
        let e = a.data(&z, a.get("data.pkl").unwrap()).unwrap_err();
        assert!(e.contains("lies outside"), "{e}");
        let mut z = build(&[("top/data.pkl", b"abc")], false);
        let cd = z
            .windows(4)
            .position(|w| w == CENTRAL.to_le_bytes())
            .unwrap();
        z[cd + 24..cd + 28].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        z[cd + 20..cd + 24].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
        let a = read(&z).unwrap();
        let e = a.data(&z, a.get("data.pkl").unwrap()).unwrap_err();
        assert!(
            e.contains("run past the start of the central directory"),
            "{e}"
        );
    }

    #[test]
    fn the_top_folder_comes_from_the_first_record() {
        let z = build(
            &[("my.model.v1/data.pkl", b"x"), ("other/data.pkl", b"y")],
            true,
        );
        let a = read(&z).unwrap();
        assert_eq!(a.top, "my.model.v1");
        assert_eq!(a.small(&z, a.get("data.pkl").unwrap(), 1).unwrap(), b"x");
        let z = build(&[("data.pkl", b"x")], false);
        assert!(read(&z).unwrap_err().contains("not inside a top folder"));
    }

    #[test]
    fn zip64_sizes_come_from_the_extra_field() {
        let mut size = 0xffff_ffffu64;
        let mut compressed = 5u64;
        let mut local = 0xffff_ffffu64;
        let mut extra = vec![1, 0, 16, 0];
        extra.extend_from_slice(&(5u64 << 32).to_le_bytes());
        extra.extend_from_slice(&77u64.to_le_bytes());
        zip64_extra(&extra, [&mut size, &mut compressed, &mut local], "x").unwrap();
        assert_eq!((size, compressed, local), (5 << 32, 5, 77));
        let mut size = 0xffff_ffffu64;
        let e = zip64_extra(&[], [&mut size, &mut 0, &mut 0], "x").unwrap_err();
        assert!(e.contains("absent"), "{e}");
    }
}
