//! The workload-identity clauses (docs/workload-identity-research.md §1): the
//! `WORKLOAD_IDENTITY = (…)` property of `CREATE USER` / `ALTER USER SET`, and `ALTER USER
//! … ADD | MODIFY | REMOVE WORKLOAD IDENTITY`. Properties are accepted separated by
//! whitespace (the documented form) or by commas (which Snowflake accepts in practice).

use super::ast::{IdentityAction, IdentitySpec};
use super::lexer::TokenKind;
use super::parser::Parser;
use super::result::SqlError;

impl Parser {
    /// True at `ADD|MODIFY|REMOVE WORKLOAD IDENTITY`.
    pub(super) fn at_identity_action(&self) -> bool {
        ["ADD", "MODIFY", "REMOVE"].iter().any(|w| self.is_word(w))
            && self.is_word_at(1, "WORKLOAD")
            && self.is_word_at(2, "IDENTITY")
    }

    pub(super) fn identity_action(&mut self) -> Result<IdentityAction, SqlError> {
        let verb = self.identifier()?;
        self.expect_word("WORKLOAD")?;
        self.expect_word("IDENTITY")?;
        let name = self.identifier()?;
        match verb.as_str() {
            "ADD" => Ok(IdentityAction::Add {
                name,
                spec: self.identity_spec(false)?,
            }),
            "MODIFY" if self.eat_word("RENAME") => {
                self.expect_word("TO")?;
                Ok(IdentityAction::Rename {
                    name,
                    to: self.identifier()?,
                })
            }
            "MODIFY" if self.eat_word("SET") => {
                let (mut disabled, mut comment) = (None, None);
                while self.pos < self.tokens.len() {
                    match self.identifier()?.as_str() {
                        "DISABLED" => {
                            self.expect_symbol('=')?;
                            disabled = Some(self.boolean()?);
                        }
                        "COMMENT" => {
                            self.expect_symbol('=')?;
                            comment = Some(self.string()?);
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error());
                        }
                    }
                    self.eat_symbol(',');
                }
                if disabled.is_none() && comment.is_none() {
                    return Err(self.error());
                }
                Ok(IdentityAction::Set {
                    name,
                    disabled,
                    comment,
                })
            }
            "MODIFY" => {
                self.expect_word("UNSET")?;
                let (mut disabled, mut comment) = (false, false);
                loop {
                    match self.identifier()?.as_str() {
                        "DISABLED" => disabled = true,
                        "COMMENT" => comment = true,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error());
                        }
                    }
                    if !self.eat_symbol(',') && self.pos >= self.tokens.len() {
                        break;
                    }
                }
                Ok(IdentityAction::Unset {
                    name,
                    disabled,
                    comment,
                })
            }
            _ => Ok(IdentityAction::Remove { name }),
        }
    }

    /// `TYPE = … [ARN = '…'] [ISSUER = '…'] [SUBJECT = '…'] [OIDC_AUDIENCE_LIST = (…)]`,
    /// up to a closing `)` when `in_parentheses`, else to the end of the statement.
    pub(super) fn identity_spec(&mut self, in_parentheses: bool) -> Result<IdentitySpec, SqlError> {
        let mut spec = IdentitySpec::default();
        let at_end = |p: &Parser| {
            if in_parentheses {
                matches!(p.peek(), Some(TokenKind::Symbol(')')))
            } else {
                p.pos >= p.tokens.len()
            }
        };
        while !at_end(self) {
            let option = self.identifier()?;
            self.expect_symbol('=')?;
            match option.as_str() {
                "TYPE" => spec.identity_type = self.string_or_identifier()?.to_ascii_uppercase(),
                "ISSUER" => spec.issuer = Some(self.string()?),
                "SUBJECT" => spec.subject = Some(self.string()?),
                // AWS only; read so the statement parses, refused when run.
                "ARN" => {
                    self.string()?;
                }
                "OIDC_AUDIENCE_LIST" => {
                    self.expect_symbol('(')?;
                    let mut audiences = Vec::new();
                    while !self.eat_symbol(')') {
                        audiences.push(self.string()?);
                        self.eat_symbol(',');
                    }
                    spec.audiences = Some(audiences);
                }
                _ => {
                    self.pos -= 2;
                    return Err(self.error());
                }
            }
            self.eat_symbol(',');
        }
        if spec.identity_type.is_empty() {
            return Err(self.error());
        }
        Ok(spec)
    }
}
