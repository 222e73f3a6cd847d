//! `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).

use core::ops::Range;

use super::{Error, Limits};

/// Where a [`ChunkedDecoder`] is. One state per byte position of the grammar:
///
/// ```text
/// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk   = 1*("0") [ chunk-ext ] CRLF
/// chunk-ext    = *( ";" ext-name [ "=" ext-val ] )       ; no white space accepted
/// ext-val      = token / quoted-string
/// trailer-section = *( field-line CRLF ) CRLF
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first hex digit of a chunk size.
    SizeStart,
    /// In the hex digits.
    Size,
    /// After `;`: the first byte of an extension name.
    ExtName,
    /// In an extension name.
    ExtNameMore,
    /// After `=`: a token or a `"`.
    ExtValue,
    /// In a token value.
    ExtToken,
    /// Inside a quoted value.
    ExtQuoted,
    /// After a `\` inside a quoted value.
    ExtQuotedPair,
    /// After the closing `"`.
    ExtQuotedEnd,
    /// After the CR of the size line.
    SizeLf,
    /// In chunk data; `size` bytes left.
    Data,
    /// After the data: the CR.
    DataCr,
    /// After the data's CR.
    DataLf,
    /// At the start of a trailer line or of the final empty line.
    TrailerStart,
    /// In a trailer name.
    TrailerName,
    /// In a trailer value.
    TrailerValue,
    /// After a trailer line's CR.
    TrailerLf,
    /// After the final CR.
    EndLf,
    /// The body is over.
    Done,
}

/// What one [`ChunkedDecoder::decode`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used, framing and data. Less than the input's length only when
    /// `data` is not empty (call again with the rest) or `done` (the rest is the next
    /// request).
    pub consumed: usize,
    /// Body bytes found, a range of the input (empty when none). Each call returns at most
    /// one range and stops right after it.
    pub data: Range<usize>,
    /// The last chunk, the trailers and the final CRLF have been read: the body is over,
    /// and `consumed` stops exactly at its end.
    pub done: bool,
}

/// Decodes a chunked body fed in whatever pieces arrive, with no copy and no buffering:
/// framing bytes are read one at a time into the state, and data comes back as ranges of
/// the input for the caller to copy straight into its batch. However the input is cut, the
/// same data, end and error come out.
///
/// Strict: a chunk size is hex digits only (no `0x`, sign, `_`, white space); extensions are
/// `;name[=token|"quoted"]` with no white space, at most `max_chunk_extension` bytes per
/// line, and discarded; each chunk's data must be followed by CRLF; sizes above 2^53 - 1 and
/// a total over `max_body` are refused before any of the chunk's data is returned. Every line
/// ends in CRLF (a bare CR or LF is refused as in the head).
///
/// Trailers are read and checked (`name: value` lines, at most `max_head_bytes` in all) and
/// then dropped, whatever their names: they never reach the app, so a `Content-Length`,
/// `Transfer-Encoding` or `Host` in them can never re-frame the request or change its vars.
///
/// After an error, every call returns it again; after the end, calls consume nothing.
///
/// ```
/// use tsgi_wire::http::{ChunkedDecoder, Limits};
///
/// let mut body = Vec::new();
/// let mut decoder = ChunkedDecoder::new(&Limits::default());
/// let wire = b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\nGET /next";
/// let mut pos = 0;
/// for read in [&wire[..7], &wire[7..]] {
///     let mut input = &wire[pos..pos + read.len()];
///     pos += read.len();
///     loop {
///         let d = decoder.decode(input).unwrap();
///         body.extend_from_slice(&input[d.data.clone()]);
///         input = &input[d.consumed..];
///         if d.done || input.is_empty() {
///             break;
///         }
///     }
///     if decoder.is_done() {
///         assert_eq!(input, b"GET /next");
///     }
/// }
/// assert_eq!(body, b"hello");
/// assert!(decoder.is_done());
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being read, then the data bytes left in the chunk.
    size: u64,
    /// Body bytes announced so far (sizes of the chunks begun).
    total: u64,
    /// Extension bytes on this size line, or bytes of the trailer section so far.
    count: u64,
    max_body: u64,
    max_extension: u32,
    max_trailers: u32,
    failed: Option<Error>,
}

impl ChunkedDecoder {
    /// A decoder for one body, with `limits.max_body`, `limits.max_chunk_extension` and
    /// `limits.max_head_bytes` (the trailer section's cap).
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: State::SizeStart,
            size: 0,
            total: 0,
            count: 0,
            max_body: limits.max_body,
            max_extension: limits.max_chunk_extension,
            max_trailers: limits.max_head_bytes,
            failed: None,
        }
    }

    /// Ready for the next body on a kept-alive connection, with the same limits.
    pub fn reset(&mut self) {
        *self = ChunkedDecoder { state: State::SizeStart, size: 0, total: 0, count: 0, failed: None, ..*self };
    }

    /// `true` once the whole body, trailers and final CRLF included, has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes announced so far: the sum of the chunk sizes read (the data of the last
    /// one may still be arriving). Once [`ChunkedDecoder::is_done`], the body's length.
    pub fn body_len(&self) -> u64 {
        self.total
    }

    /// Reads `input`, the bytes that follow what earlier calls consumed: framing up to the
    /// next data, then at most one range of data. Call again with `input[consumed..]` while
    /// it is not empty and the body is not done. A `Decoded` with `consumed` equal to the
    /// input's length and no data means all of it was framing: wait for more bytes.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::Data => {
                    let n = usize::try_from(self.size).unwrap_or(usize::MAX).min(input.len() - pos);
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Decoded { consumed: pos + n, data: pos..pos + n, done: false });
                }
                _ => {
                    if let Err(e) = self.step(input[pos]) {
                        self.failed = Some(e);
                        return Err(e);
                    }
                    pos += 1;
                }
            }
        }
        Ok(Decoded { consumed: pos, data: pos..pos, done: self.state == State::Done })
    }

    /// Counts one extension byte against the limit.
    fn ext_byte(&mut self) -> Result<(), Error> {
        self.count += 1;
        if self.count > u64::from(self.max_extension) {
            return Err(Error::ChunkExtensionTooLong { limit: self.max_extension });
        }
        Ok(())
    }

    /// The size is complete: count it against `max_body`, then go on to `next`.
    fn end_size(&mut self, next: State) -> Result<State, Error> {
        self.total = self.total.saturating_add(self.size);
        if self.max_body != 0 && self.total > self.max_body {
            return Err(Error::BodyTooLarge { length: self.total, limit: self.max_body });
        }
        Ok(next)
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), Error> {
        let token = crate::is_token_byte(b);
        self.state = match self.state {
            State::SizeStart | State::Size if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0) as u8);
                self.size = self
                    .size
                    .checked_mul(16)
                    .map(|s| s + digit)
                    .filter(|&s| s <= crate::MAX_CONTENT_LENGTH)
                    .ok_or(Error::ChunkSizeOverflow)?;
                State::Size
            }
            State::SizeStart => return Err(Error::InvalidChunkSize),
            State::Size => match b {
                b';' => {
                    self.count = 0;
                    let next = self.end_size(State::ExtName)?;
                    self.ext_byte()?;
                    next
                }
                b'\r' => self.end_size(State::SizeLf)?,
                b'\n' => return Err(Error::BareLf),
                _ => return Err(Error::InvalidChunkSize),
            },
            State::ExtName
            | State::ExtNameMore
            | State::ExtValue
            | State::ExtToken
            | State::ExtQuoted
            | State::ExtQuotedPair
            | State::ExtQuotedEnd
                if b != b'\r' =>
            {
                self.ext_byte()?;
                self.extension(b, token)?
            }
            // A CR ends the line where an extension may end.
            State::ExtNameMore | State::ExtToken | State::ExtQuotedEnd => State::SizeLf,
            State::ExtName | State::ExtValue | State::ExtQuoted | State::ExtQuotedPair => {
                return Err(Error::InvalidChunkExtension)
            }
            State::SizeLf if b != b'\n' => return Err(Error::BareCr),
            State::SizeLf if self.size == 0 => {
                self.count = 0;
                State::TrailerStart
            }
            State::SizeLf => State::Data,
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataCr => return Err(Error::ChunkDataNotTerminated),
            State::DataLf if b == b'\n' => State::SizeStart,
            State::DataLf => return Err(Error::BareCr),
            State::TrailerStart | State::TrailerName | State::TrailerValue | State::TrailerLf | State::EndLf => {
                self.count += 1;
                if self.count > u64::from(self.max_trailers) {
                    return Err(Error::TrailersTooLarge { limit: self.max_trailers });
                }
                self.trailer(b, token)?
            }
            // `decode` never steps in these.
            State::Data | State::Done => self.state,
        };
        Ok(())
    }

    /// One byte of a chunk extension, not a CR.
    fn extension(&self, b: u8, token: bool) -> Result<State, Error> {
        Ok(match (self.state, b) {
            (State::ExtName, _) if token => State::ExtNameMore,
            (State::ExtNameMore, _) if token => State::ExtNameMore,
            (State::ExtNameMore | State::ExtToken | State::ExtQuotedEnd, b';') => State::ExtName,
            (State::ExtNameMore, b'=') => State::ExtValue,
            (State::ExtValue, b'"') => State::ExtQuoted,
            (State::ExtValue | State::ExtToken, _) if token => State::ExtToken,
            (State::ExtQuoted, b'"') => State::ExtQuotedEnd,
            (State::ExtQuoted, b'\\') => State::ExtQuotedPair,
            // qdtext: HTAB, SP, visible ASCII but `"` and `\` (handled above), obs-text.
            (State::ExtQuoted, b'\t' | b' '..=b'~' | 0x80..=0xff) => State::ExtQuoted,
            (State::ExtQuotedPair, b'\t' | b' '..=b'~' | 0x80..=0xff) => State::ExtQuoted,
            (_, b'\n') => return Err(Error::BareLf),
            _ => return Err(Error::InvalidChunkExtension),
        })
    }

    /// One byte of the trailer section, counted already.
    fn trailer(&self, b: u8, token: bool) -> Result<State, Error> {
        Ok(match (self.state, b) {
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart | State::TrailerName, _) if token => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, b'\t' | b' '..=b'~' | 0x80..=0xff) => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerLf | State::EndLf, _) => return Err(Error::BareCr),
            (_, b'\n') => return Err(Error::BareLf),
            (State::TrailerStart, b' ' | b'\t') => return Err(Error::ObsFold),
            _ => return Err(Error::InvalidTrailer),
        })
    }
}
