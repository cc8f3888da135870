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
            i += 2;
            loop {
                match chars.get(i) {
                    None => return Err(SqlError::syntax(line, position, "<EOF>")),
                    Some('*') if chars.get(i + 1) == Some(&'/') => {
                        i += 2;
                        break;
                    }
                    Some('\n') => {
                        i += 1;
                        line += 1;
                        line_start = i;
                    }
                    Some(_) => i += 1,
                }
            }
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
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(SqlError::syntax(line, position, "<EOF>")),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        value.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        if *ch == '\n' {
                            line += 1;
                            line_start = i + 1;
                        }
                        value.push(*ch);
                        i += 1;
                    }
                }
            }
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
            let body_start = i + 2;
            let mut j = body_start;
            loop {
                if j + 1 >= chars.len() {
                    return Err(SqlError::syntax(line, position, "<EOF>"));
                }
                if chars[j] == '$' && chars[j + 1] == '$' {
                    break;
                }
                if chars[j] == '\n' {
                    line += 1;
                    line_start = j + 1;
                }
                j += 1;
            }
            i = j + 2;
            TokenKind::Str(chars[body_start..j].iter().collect())
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
                        let hex: String = chars.get(i..i + 2)?.iter().collect();
                        value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        i += 2;
                    }
                    'u' => {
                        let hex: String = chars.get(i..i + 4)?.iter().collect();
                        value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
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
    fn unterminated_input_is_a_syntax_error() {
        for sql in ["'abc", "\"abc", "/* x", "$$x", "select #"] {
            let err = tokenize(sql).unwrap_err();
            assert_eq!(err.code, "001003", "{sql}");
        }
    }
}
