//! Splitting a CSV line into fields: shared by the parser, the households file and the
//! master's rejects merge, below all of them.

/// A quoted field that never ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unterminated quoted field")]
pub struct UnterminatedQuote;

/// Splits one line into unquoted fields (RFC 4180 quoting; a quote inside an unquoted
/// field is kept as text). Fails only on an unterminated quoted field.
pub fn split_csv(line: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), UnterminatedQuote> {
    out.clear();
    let mut i = 0;
    loop {
        let mut field = Vec::new();
        // Padding before an opening quote is tolerated.
        let mut j = i;
        while j < line.len() && line[j] == b' ' {
            j += 1;
        }
        if j < line.len() && line[j] == b'"' {
            j += 1;
            loop {
                match line[j..].iter().position(|&c| c == b'"') {
                    None => return Err(UnterminatedQuote),
                    Some(q) => {
                        field.extend_from_slice(&line[j..j + q]);
                        j += q + 1;
                        if line.get(j) == Some(&b'"') {
                            field.push(b'"');
                            j += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            // Text after the closing quote, up to the comma, is kept (lenient, like most readers).
            let end = memchr::memchr(b',', &line[j..]).map_or(line.len(), |c| j + c);
            field.extend_from_slice(&line[j..end]);
            i = end;
        } else {
            let end = memchr::memchr(b',', &line[i..]).map_or(line.len(), |c| i + c);
            field.extend_from_slice(&line[i..end]);
            i = end;
        }
        out.push(field);
        if i >= line.len() {
            return Ok(());
        }
        i += 1; // the comma
    }
}
