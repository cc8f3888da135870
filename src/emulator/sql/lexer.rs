//! Tokenizer for Snowflake SQL as far as the emulator needs it (reference §5.3):
//! unquoted identifiers are upper-cased, double-quoted ones keep case with `""` for a
//! quote, string literals take `''` and backslash escapes, `$$…$$` is verbatim,
//! `--`/`//` and `/* */` are comments.

use super::result::SqlError;

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// Unquoted word; `value` is upper-cased (keywords are words too).
    Word(String),
    /// Double-quoted identifier, case kept.
    QuotedIdent(String),
    /// String literal, escapes processed.
    Str(String),
    /// Unsigned integer or decimal number, as written.
    Number(String),
    /// One of `= , ( ) . ;` and `*`.
    Symbol(char),
}

/// A token with where it started (1-based line, 0-based column) and its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub line: usize,
    pub position: usize,
    pub text: String,
}

/// Splits `sql` into tokens.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, SqlError> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut line_start = 0;
    while i < chars.len() {
        let c = chars[i];
        let position = i - line_start;
        let start = i;
        let start_line = line;
        if c == '\n' {
            i += 1;
            line += 1;
            line_start = i;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        if (c == '-' && next == Some('-')) || (c == '/' && next == Some('/')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let end = block_comment_end(&chars, i + 2)
                .ok_or_else(|| SqlError::syntax(line, position, "<EOF>"))?;
            advance_lines(&chars, i..end, &mut line, &mut line_start);
            i = end;
            continue;
        }
        let kind = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            TokenKind::Word(word.to_ascii_uppercase())
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            TokenKind::Number(chars[start..i].iter().collect())
        } else if c == '"' {
            let (value, end) = quoted_identifier(&chars, i + 1)
                .ok_or_else(|| SqlError::syntax(line, position, "<EOF>"))?;
            advance_lines(&chars, i..end, &mut line, &mut line_start);
            i = end;
            if value.is_empty() {
                return Err(SqlError::syntax(line, position, "\"\""));
            }
            TokenKind::QuotedIdent(value)
        } else if c == '\'' {
            let (value, end, lines, last_line_start) = string_literal(&chars, i + 1)
                .ok_or_else(|| SqlError::syntax(line, position, "<EOF>"))?;
            i = end;
            if lines > 0 {
                line += lines;
                line_start = last_line_start;
            }
            TokenKind::Str(value)
        } else if c == '$' && next == Some('$') {
            let (value, end) = dollar_quoted(&chars, i + 2)
                .ok_or_else(|| SqlError::syntax(line, position, "<EOF>"))?;
            advance_lines(&chars, i..end, &mut line, &mut line_start);
            i = end;
            TokenKind::Str(value)
        } else if matches!(c, '=' | ',' | '(' | ')' | '.' | ';' | '*') {
            i += 1;
            TokenKind::Symbol(c)
        } else {
            return Err(SqlError::syntax(line, position, &c.to_string()));
        };
        tokens.push(Token {
            kind,
            line: start_line,
            position,
            text: chars[start..i].iter().collect(),
        });
    }
    Ok(tokens)
}

/// Counts the newlines in `chars[range]` into `line`, and moves `line_start` to just after
/// the last of them, so tokens after a multi-line one report the right position.
fn advance_lines(
    chars: &[char],
    range: std::ops::Range<usize>,
    line: &mut usize,
    line_start: &mut usize,
) {
    let start = range.start;
    for (offset, c) in chars.get(range).unwrap_or_default().iter().enumerate() {
        if *c == '\n' {
            *line += 1;
            *line_start = start + offset + 1;
        }
    }
}

/// The index just after the `*/` closing a block comment whose body starts at `i`.
fn block_comment_end(chars: &[char], mut i: usize) -> Option<usize> {
    loop {
        match chars.get(i)? {
            '*' if chars.get(i + 1) == Some(&'/') => return Some(i + 2),
            _ => i += 1,
        }
    }
}

/// Reads a `"…"` identifier body starting after the opening quote (`""` is a quote).
/// Returns the value and the index after the closing quote.
fn quoted_identifier(chars: &[char], mut i: usize) -> Option<(String, usize)> {
    let mut value = String::new();
    loop {
        match chars.get(i)? {
            '"' if chars.get(i + 1) == Some(&'"') => {
                value.push('"');
                i += 2;
            }
            '"' => return Some((value, i + 1)),
            c => {
                value.push(*c);
                i += 1;
            }
        }
    }
}

/// Reads a `$$…$$` body (verbatim) starting after the opening `$$`. Returns the value and
/// the index after the closing `$$`.
fn dollar_quoted(chars: &[char], body_start: usize) -> Option<(String, usize)> {
    let mut j = body_start;
    loop {
        match (chars.get(j)?, chars.get(j + 1)?) {
            ('$', '$') => {
                let value = chars.get(body_start..j)?.iter().collect();
                return Some((value, j + 2));
            }
            _ => j += 1,
        }
    }
}

/// Reads a `'…'` literal body starting after the opening quote. Returns the value,
/// the index after the closing quote, the newlines crossed and the last line start.
fn string_literal(chars: &[char], mut i: usize) -> Option<(String, usize, usize, usize)> {
    let mut value = String::new();
    let mut lines = 0;
    let mut last_line_start = 0;
    loop {
        let c = *chars.get(i)?;
        match c {
            '\'' if chars.get(i + 1) == Some(&'\'') => {
                value.push('\'');
                i += 2;
            }
            '\'' => return Some((value, i + 1, lines, last_line_start)),
            '\\' => {
                let e = *chars.get(i + 1)?;
                i += 2;
                match e {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    'b' => value.push('\u{8}'),
                    'f' => value.push('\u{c}'),
                    '0'..='7' => {
                        let mut code = e.to_digit(8)?;
                        let mut taken = 0;
                        while taken < 2 {
                            match chars.get(i).and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    code = code * 8 + d;
                                    i += 1;
                                    taken += 1;
                                }
                                None => break,
                            }
                        }
                        value.push(char::from_u32(code)?);
                    }
                    'x' => {
                        value.push(hex_char(chars.get(i..i + 2)?)?);
                        i += 2;
                    }
                    'u' => {
                        value.push(hex_char(chars.get(i..i + 4)?)?);
                        i += 4;
                    }
                    other => {
                        if other == '\n' {
                            lines += 1;
                            last_line_start = i;
                        }
                        value.push(other);
                    }
                }
            }
            other => {
                if other == '\n' {
                    lines += 1;
                    last_line_start = i + 1;
                }
                value.push(other);
                i += 1;
            }
        }
    }
}

/// The character of a `\xhh` / `\uhhhh` escape. Hex digits only: `u32::from_str_radix`
/// alone would also take a sign, reading `\x+1` as U+0001.
fn hex_char(digits: &[char]) -> Option<char> {
    if !digits.iter().all(char::is_ascii_hexdigit) {
        return None;
    }
    let hex: String = digits.iter().collect();
    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<TokenKind> {
        tokenize(sql).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn identifiers_strings_and_comments() {
        assert_eq!(
            kinds("alter user \"a\"\"b\" -- c\n set comment = 'it''s \\\\ \\' \\n' /* x */;"),
            vec![
                TokenKind::Word("ALTER".into()),
                TokenKind::Word("USER".into()),
                TokenKind::QuotedIdent("a\"b".into()),
                TokenKind::Word("SET".into()),
                TokenKind::Word("COMMENT".into()),
                TokenKind::Symbol('='),
                TokenKind::Str("it's \\ ' \n".into()),
                TokenKind::Symbol(';'),
            ]
        );
        assert_eq!(kinds("$$a'b$$"), vec![TokenKind::Str("a'b".into())]);
        assert_eq!(
            kinds("'\\x41\\u00e9\\101\\q'"),
            vec![TokenKind::Str("AéAq".into())]
        );
    }

    #[test]
    fn positions_are_zero_based_per_line() {
        let tokens = tokenize("select\n  foo").unwrap();
        assert_eq!((tokens[1].line, tokens[1].position), (2, 2));
    }

    #[test]
    fn positions_after_multi_line_tokens_count_their_newlines() {
        let tokens = tokenize("select /*\n*/ \"a\nb\" $$\n$$ foo").unwrap();
        let foo = tokens.last().unwrap();
        assert_eq!(foo.kind, TokenKind::Word("FOO".into()));
        assert_eq!((foo.line, foo.position), (4, 3));
        assert_eq!(tokens[1].kind, TokenKind::QuotedIdent("a\nb".into()));
        assert_eq!(tokens[2].kind, TokenKind::Str("\n".into()));
    }

    #[test]
    fn hex_escapes_take_hex_digits_only() {
        assert_eq!(kinds("'\\x4a'"), vec![TokenKind::Str("J".into())]);
        for sql in ["'\\x+1'", "'\\u+041'", "'\\xg1'"] {
            assert!(tokenize(sql).is_err(), "{sql}");
        }
    }

    #[test]
    fn unterminated_input_is_a_syntax_error() {
        for sql in ["'abc", "\"abc", "/* x", "$$x", "select #"] {
            let err = tokenize(sql).unwrap_err();
            assert_eq!(err.code, "001003", "{sql}");
        }
    }
}
