//! Output masking (`exec { mask_output = true }` / `--mask`): the child's stdout and stderr pass through
//! sidekey line by line, and every secret value the child was given is replaced with `****`.
//!
//! Working per line means a value split across two reads is still found. A line longer than
//! [`MAX_LINE`] is flushed in pieces, so a value straddling such a cut is not masked.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::lease::EnvMap;

/// What a secret value is replaced with.
pub const MASK: &[u8] = b"****";
/// Values shorter than this (bytes) are not masked: `1` or `on` would mask ordinary text everywhere.
pub const MIN_LEN: usize = 4;
/// Longest line held back while waiting for its end (bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// The secret values to mask, longest first (so a value containing another is masked whole).
pub struct Masker {
    values: Vec<Zeroizing<Vec<u8>>>,
}

impl Masker {
    /// A masker for the values of `env`.
    pub fn new(env: &EnvMap) -> Self {
        let mut values: Vec<Zeroizing<Vec<u8>>> = env
            .values()
            .filter(|v| v.len() >= MIN_LEN)
            .map(|v| Zeroizing::new(v.as_bytes().to_vec()))
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    /// `text` with every value replaced by [`MASK`].
    pub fn mask(&self, text: &[u8]) -> Vec<u8> {
        let mut out = text.to_vec();
        for v in &self.values {
            out = replace_all(&out, v, MASK);
        }
        out
    }
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Copy `src` to `dst` until end of file, masking whole lines.
pub async fn pump(
    mut src: impl AsyncRead + Unpin,
    mut dst: impl AsyncWrite + Unpin,
    masker: Arc<Masker>,
) {
    let mut line: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match src.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        line.extend_from_slice(&buf[..n]);
        let cut = match line.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if line.len() >= MAX_LINE => line.len(),
            None => continue,
        };
        let rest = line.split_off(cut);
        if write(&mut dst, &masker.mask(&line)).await.is_err() {
            return;
        }
        line = rest;
    }
    if !line.is_empty() {
        let _ = write(&mut dst, &masker.mask(&line)).await;
    }
}

async fn write(dst: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> std::io::Result<()> {
    dst.write_all(bytes).await?;
    dst.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(values: &[&str]) -> Arc<Masker> {
        let env: EnvMap = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("V{i}"), Zeroizing::new((*v).to_string())))
            .collect();
        Arc::new(Masker::new(&env))
    }

    #[test]
    fn masks_every_value_longest_first_and_skips_short_ones() {
        let m = masker(&["hunter2", "hunter2-long", "on"]);
        assert_eq!(
            m.mask(b"pw=hunter2 other=hunter2-long on\n"),
            b"pw=**** other=**** on\n"
        );
    }

    #[tokio::test]
    async fn a_value_split_across_reads_is_masked() {
        let (mut w, r) = tokio::io::duplex(64);
        let mut out = Vec::new();
        let m = masker(&["s3cr3t-value"]);
        let writer = async move {
            w.write_all(b"first s3cr").await.unwrap();
            tokio::task::yield_now().await;
            w.write_all(b"3t-value end\nno newline s3cr3t-value")
                .await
                .unwrap();
            drop(w);
        };
        tokio::join!(writer, pump(r, &mut out, m));
        assert_eq!(out, b"first **** end\nno newline ****");
    }
}
