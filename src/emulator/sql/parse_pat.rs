//! The PAT clauses of `ALTER USER` (reference §4.1): `ADD`, `ROTATE`, `MODIFY` and
//! `REMOVE` `{PAT | PROGRAMMATIC ACCESS TOKEN}` with their options.

use super::ast::{AddPat, ModifyPat, PatAction, PatProperty};
use super::parser::Parser;
use super::result::SqlError;

impl Parser {
    /// True at `ADD|ROTATE|MODIFY|REMOVE` followed by `PAT` or `PROGRAMMATIC`.
    pub(super) fn at_pat_action(&self) -> bool {
        ["ADD", "ROTATE", "MODIFY", "REMOVE"]
            .iter()
            .any(|w| self.is_word(w))
            && (self.is_word_at(1, "PAT") || self.is_word_at(1, "PROGRAMMATIC"))
    }

    /// `PAT` or `PROGRAMMATIC ACCESS TOKEN`.
    fn pat_keyword(&mut self) -> Result<(), SqlError> {
        if self.eat_word("PAT") {
            return Ok(());
        }
        self.expect_word("PROGRAMMATIC")?;
        self.expect_word("ACCESS")?;
        self.expect_word("TOKEN")
    }

    pub(super) fn pat_action(&mut self) -> Result<PatAction, SqlError> {
        let verb = self.identifier()?;
        self.pat_keyword()?;
        match verb.as_str() {
            "ADD" => {
                let mut add = AddPat {
                    if_not_exists: self.if_not_exists()?,
                    name: self.identifier()?,
                    ..AddPat::default()
                };
                while self.pos < self.tokens.len() {
                    let option = self.identifier()?;
                    self.expect_symbol('=')?;
                    match option.as_str() {
                        "ROLE_RESTRICTION" => {
                            add.role_restriction = Some(self.string_or_identifier()?)
                        }
                        "DAYS_TO_EXPIRY" => add.days_to_expiry = Some(self.number()?),
                        "MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT" => {
                            add.mins_to_bypass = Some(self.number()?)
                        }
                        "COMMENT" => add.comment = Some(self.string()?),
                        _ => {
                            self.pos -= 2;
                            return Err(self.error());
                        }
                    }
                }
                Ok(PatAction::Add(add))
            }
            "ROTATE" => {
                let name = self.identifier()?;
                let mut expire_rotated_after_hours = None;
                if self.eat_word("EXPIRE_ROTATED_TOKEN_AFTER_HOURS") {
                    self.expect_symbol('=')?;
                    expire_rotated_after_hours = Some(self.number()?);
                }
                Ok(PatAction::Rotate {
                    name,
                    expire_rotated_after_hours,
                })
            }
            "MODIFY" => {
                let if_exists = self.if_exists()?;
                let name = self.identifier()?;
                let change = if self.eat_word("RENAME") {
                    self.expect_word("TO")?;
                    ModifyPat::Rename(self.identifier()?)
                } else if self.eat_word("SET") {
                    let (mut disabled, mut mins_to_bypass, mut comment) = (None, None, None);
                    while self.pos < self.tokens.len() {
                        let option = self.identifier()?;
                        self.expect_symbol('=')?;
                        match option.as_str() {
                            "DISABLED" => disabled = Some(self.boolean()?),
                            "MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT" => {
                                mins_to_bypass = Some(self.number()?)
                            }
                            "COMMENT" => comment = Some(self.string()?),
                            _ => {
                                self.pos -= 2;
                                return Err(self.error());
                            }
                        }
                    }
                    if disabled.is_none() && mins_to_bypass.is_none() && comment.is_none() {
                        return Err(self.error());
                    }
                    ModifyPat::Set {
                        disabled,
                        mins_to_bypass,
                        comment,
                    }
                } else if self.eat_word("UNSET") {
                    let mut properties = Vec::new();
                    loop {
                        let property = match self.identifier()?.as_str() {
                            "DISABLED" => PatProperty::Disabled,
                            "MINS_TO_BYPASS_NETWORK_POLICY_REQUIREMENT" => {
                                PatProperty::MinsToBypass
                            }
                            "COMMENT" => PatProperty::Comment,
                            _ => {
                                self.pos -= 1;
                                return Err(self.error());
                            }
                        };
                        properties.push(property);
                        if !self.eat_symbol(',') {
                            break;
                        }
                    }
                    ModifyPat::Unset(properties)
                } else {
                    return Err(self.error());
                };
                Ok(PatAction::Modify {
                    if_exists,
                    name,
                    change,
                })
            }
            _ => {
                let if_exists = self.if_exists()?;
                Ok(PatAction::Remove {
                    if_exists,
                    name: self.identifier()?,
                })
            }
        }
    }
}
