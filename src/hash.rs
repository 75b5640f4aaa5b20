//! File hashes: sha256 (the Hub's LFS id) and git's blob sha1 (the ETag of small files).

use std::io::Read;
use std::path::Path;

use sha2::Digest;

/// Hash a file with `D` after `prefix`, streaming 1 MiB at a time; lowercase hex.
fn hash_file<D: Digest>(path: &Path, prefix: &[u8]) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = D::new();
    h.update(prefix);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    hash_file::<sha2::Sha256>(path, b"")
}

/// git's blob id of a file: sha1 over `blob <len>\0` and the bytes.
pub fn git_sha1_file(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    hash_file::<sha1::Sha1>(path, format!("blob {len}\0").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").unwrap();
        // `printf 'hello\n' | sha256sum` and `| git hash-object --stdin`.
        assert_eq!(
            sha256_file(&p).unwrap(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(
            git_sha1_file(&p).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
