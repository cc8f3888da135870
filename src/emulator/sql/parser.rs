//! Recursive-descent parser for the emulator's SQL subset. Written from Snowflake's
//! grammar (reference §4, §5), not from the client's builders.

use super::ast::{ContextFunction, SelectItem, Statement, UserProperty, Value};
use super::lexer::{Token, TokenKind, tokenize};
use super::result::SqlError;

/// Parses a request's text. `desired` is Snowflake's `multi_statement_count`: exactly
/// that many statements (default 1), or any number when `None` (`"0"` on the wire).
pub fn parse_request(sql: &str, desired: Option<usize>) -> Result<Vec<Statement>, SqlError> {
    let tokens = tokenize(sql)?;
    let mut groups: Vec<Vec<Token>> = vec![Vec::new()];
    for token in tokens {
        if token.kind == TokenKind::Symbol(';') {
            groups.push(Vec::new());
        } else if let Some(last) = groups.last_mut() {
            last.push(token);
        }
    }
    groups.retain(|g| !g.is_empty());
    if groups.is_empty() {
        return Err(SqlError {
            code: "000900",
            sql_state: "42000",
            message: "Empty SQL statement.".into(),
        });
    }
    if let Some(desired) = desired
        && groups.len() != desired
    {
        return Err(SqlError::statement_count(groups.len(), desired));
    }
    groups
        .into_iter()
        .map(|tokens| Parser::new(tokens).statement())
        .collect()
}

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse_statement(sql: &str) -> Result<Statement, SqlError> {
    let mut statements = parse_request(sql, Some(1))?;
    statements
        .pop()
        .ok_or_else(|| SqlError::syntax(1, 0, "<EOF>"))
}

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) pos: usize,
}

impl Parser {
    fn new(tokens: Vec<Token>) -> Self {
        Self { tokens, pos: 0 }
    }

    pub(super) fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    pub(super) fn peek_at(&self, offset: usize) -> Option<&TokenKind> {
        self.tokens.get(self.pos + offset).map(|t| &t.kind)
    }

    /// A syntax error at the current token (or at the end of input).
    pub(super) fn error(&self) -> SqlError {
        match self.tokens.get(self.pos) {
            Some(t) => SqlError::syntax(t.line, t.position, &t.text),
            None => match self.tokens.last() {
                Some(t) => SqlError::syntax(t.line, t.position + t.text.chars().count(), "<EOF>"),
                None => SqlError::syntax(1, 0, "<EOF>"),
            },
        }
    }

    pub(super) fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(TokenKind::Word(w)) if w == word)
    }

    pub(super) fn is_word_at(&self, offset: usize, word: &str) -> bool {
        matches!(self.peek_at(offset), Some(TokenKind::Word(w)) if w == word)
    }

    pub(super) fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_word(&mut self, word: &str) -> Result<(), SqlError> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    pub(super) fn eat_symbol(&mut self, symbol: char) -> bool {
        if self.peek() == Some(&TokenKind::Symbol(symbol)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_symbol(&mut self, symbol: char) -> Result<(), SqlError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn end(&self) -> Result<(), SqlError> {
        if self.pos < self.tokens.len() {
            Err(self.error())
        } else {
            Ok(())
        }
    }

    /// An identifier: unquoted (already upper-cased) or double-quoted.
    pub(super) fn identifier(&mut self) -> Result<String, SqlError> {
        match self.peek() {
            Some(TokenKind::Word(w)) | Some(TokenKind::QuotedIdent(w)) => {
                let value = w.clone();
                self.pos += 1;
                Ok(value)
            }
            _ => Err(self.error()),
        }
    }

    /// `IF EXISTS`.
    pub(super) fn if_exists(&mut self) -> Result<bool, SqlError> {
        if self.is_word("IF") && self.is_word_at(1, "EXISTS") {
            self.pos += 2;
            return Ok(true);
        }
        Ok(false)
    }

    /// `IF NOT EXISTS`.
    pub(super) fn if_not_exists(&mut self) -> Result<bool, SqlError> {
        if self.eat_word("IF") {
            self.expect_word("NOT")?;
            self.expect_word("EXISTS")?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn number(&mut self) -> Result<u64, SqlError> {
        if let Some(TokenKind::Number(n)) = self.peek()
            && let Ok(value) = n.parse::<u64>()
        {
            self.pos += 1;
            return Ok(value);
        }
        Err(self.error())
    }

    pub(super) fn string(&mut self) -> Result<String, SqlError> {
        if let Some(TokenKind::Str(s)) = self.peek() {
            let value = s.clone();
            self.pos += 1;
            return Ok(value);
        }
        Err(self.error())
    }

    /// A role name in `ROLE_RESTRICTION`: a string literal or an identifier.
    pub(super) fn string_or_identifier(&mut self) -> Result<String, SqlError> {
        if let Some(TokenKind::Str(_)) = self.peek() {
            self.string()
        } else {
            self.identifier()
        }
    }

    pub(super) fn boolean(&mut self) -> Result<bool, SqlError> {
        let value = match self.peek() {
            Some(TokenKind::Word(w)) => w.clone(),
            Some(TokenKind::Str(s)) => s.to_ascii_uppercase(),
            _ => return Err(self.error()),
        };
        let parsed = match value.as_str() {
            "TRUE" => true,
            "FALSE" => false,
            _ => return Err(self.error()),
        };
        self.pos += 1;
        Ok(parsed)
    }

    fn statement(&mut self) -> Result<Statement, SqlError> {
        let statement = match self.peek() {
            Some(TokenKind::Word(w)) => match w.as_str() {
                "SELECT" => self.select()?,
                "CREATE" => self.create_user()?,
                "ALTER" => self.alter_user()?,
                "DROP" => {
                    self.pos += 1;
                    self.expect_word("USER")?;
                    let if_exists = self.if_exists()?;
                    let name = self.identifier()?;
                    Statement::DropUser { if_exists, name }
                }
                "DESC" | "DESCRIBE" => {
                    self.pos += 1;
                    self.expect_word("USER")?;
                    Statement::DescribeUser {
                        name: self.identifier()?,
                    }
                }
                "GRANT" | "REVOKE" => self.grant_or_revoke()?,
                "SHOW" => self.show()?,
                _ => return Err(self.error()),
            },
            _ => return Err(self.error()),
        };
        self.end()?;
        Ok(statement)
    }

    fn select(&mut self) -> Result<Statement, SqlError> {
        self.expect_word("SELECT")?;
        let mut items = Vec::new();
        loop {
            let function = match self.peek() {
                Some(TokenKind::Word(w)) => match w.as_str() {
                    "CURRENT_USER" => ContextFunction::CurrentUser,
                    "CURRENT_ROLE" => ContextFunction::CurrentRole,
                    "CURRENT_ACCOUNT" => ContextFunction::CurrentAccount,
                    _ => return Err(self.error()),
                },
                _ => return Err(self.error()),
            };
            self.pos += 1;
            self.expect_symbol('(')?;
            self.expect_symbol(')')?;
            let alias = if self.eat_word("AS")
                || matches!(
                    self.peek(),
                    Some(TokenKind::Word(_)) | Some(TokenKind::QuotedIdent(_))
                ) {
                Some(self.identifier()?)
            } else {
                None
            };
            items.push(SelectItem { function, alias });
            if !self.eat_symbol(',') {
                break;
            }
        }
        Ok(Statement::Select(items))
    }

    fn create_user(&mut self) -> Result<Statement, SqlError> {
        self.expect_word("CREATE")?;
        let or_replace = if self.eat_word("OR") {
            self.expect_word("REPLACE")?;
            true
        } else {
            false
        };
        self.expect_word("USER")?;
        let if_not_exists = self.if_not_exists()?;
        let name = self.identifier()?;
        let properties = self.properties(false)?;
        Ok(Statement::CreateUser {
            or_replace,
            if_not_exists,
            name,
            properties,
        })
    }

    /// `p = v …` until the end; at least one when `required`.
    fn properties(&mut self, required: bool) -> Result<Vec<(UserProperty, Value)>, SqlError> {
        let mut properties = Vec::new();
        while self.pos < self.tokens.len() {
            let property = match self.peek() {
                Some(TokenKind::Word(w)) => {
                    UserProperty::from_name(w).ok_or_else(|| self.error())?
                }
                _ => return Err(self.error()),
            };
            self.pos += 1;
            self.expect_symbol('=')?;
            let value = self.value(property)?;
            properties.push((property, value));
            self.eat_symbol(',');
        }
        if required && properties.is_empty() {
            return Err(self.error());
        }
        Ok(properties)
    }

    fn value(&mut self, property: UserProperty) -> Result<Value, SqlError> {
        use UserProperty as P;
        match property {
            P::Disabled => Ok(Value::Bool(self.boolean()?)),
            P::DaysToExpiry | P::MinsToUnlock => Ok(Value::Number(self.number()?)),
            P::DefaultSecondaryRoles => {
                self.expect_symbol('(')?;
                let mut roles = Vec::new();
                while !self.eat_symbol(')') {
                    roles.push(self.string()?);
                    if !self.eat_symbol(',') {
                        self.expect_symbol(')')?;
                        break;
                    }
                }
                Ok(Value::List(roles))
            }
            P::Type => {
                if self.eat_word("NULL") {
                    return Ok(Value::Null);
                }
                Ok(Value::Ident(
                    self.string_or_identifier()?.to_ascii_uppercase(),
                ))
            }
            P::DefaultNamespace => {
                if let Some(TokenKind::Str(_)) = self.peek() {
                    return Ok(Value::Text(self.string()?));
                }
                let mut name = self.identifier()?;
                if self.eat_symbol('.') {
                    name.push('.');
                    name.push_str(&self.identifier()?);
                }
                Ok(Value::Ident(name))
            }
            P::DefaultRole | P::DefaultWarehouse | P::NetworkPolicy => {
                if let Some(TokenKind::Str(_)) = self.peek() {
                    Ok(Value::Text(self.string()?))
                } else {
                    Ok(Value::Ident(self.identifier()?))
                }
            }
            P::WorkloadIdentity => {
                self.expect_symbol('(')?;
                let spec = self.identity_spec(true)?;
                self.expect_symbol(')')?;
                Ok(Value::Identity(spec))
            }
            P::LoginName
            | P::DisplayName
            | P::Email
            | P::Comment
            | P::RsaPublicKey
            | P::RsaPublicKey2 => match self.peek() {
                Some(TokenKind::Str(_)) => Ok(Value::Text(self.string()?)),
                _ => Ok(Value::Ident(self.identifier()?)),
            },
        }
    }

    fn alter_user(&mut self) -> Result<Statement, SqlError> {
        self.expect_word("ALTER")?;
        self.expect_word("USER")?;
        let if_exists = self.if_exists()?;
        // The user is optional before a PAT or workload-identity clause: `ALTER USER ADD
        // PAT x` is the session's user.
        let user = if self.at_pat_action() || self.at_identity_action() {
            None
        } else {
            Some(self.identifier()?)
        };
        if self.at_identity_action() {
            let action = self.identity_action()?;
            return Ok(Statement::AlterUserWorkloadIdentity {
                if_exists,
                user,
                action,
            });
        }
        if self.at_pat_action() {
            let action = self.pat_action()?;
            return Ok(Statement::AlterUserPat {
                if_exists,
                user,
                action,
            });
        }
        let name = user.ok_or_else(|| self.error())?;
        if self.eat_word("SET") {
            let properties = self.properties(true)?;
            Ok(Statement::AlterUserSet {
                if_exists,
                name,
                properties,
            })
        } else if self.eat_word("UNSET") {
            let mut properties = Vec::new();
            loop {
                let property = match self.peek() {
                    Some(TokenKind::Word(w)) => {
                        UserProperty::from_name(w).ok_or_else(|| self.error())?
                    }
                    _ => return Err(self.error()),
                };
                self.pos += 1;
                properties.push(property);
                if !self.eat_symbol(',') {
                    break;
                }
            }
            Ok(Statement::AlterUserUnset {
                if_exists,
                name,
                properties,
            })
        } else {
            Err(self.error())
        }
    }

    fn grant_or_revoke(&mut self) -> Result<Statement, SqlError> {
        let grant = self.eat_word("GRANT");
        if !grant {
            self.expect_word("REVOKE")?;
        }
        self.expect_word("ROLE")?;
        let role = self.identifier()?;
        self.expect_word(if grant { "TO" } else { "FROM" })?;
        self.expect_word("USER")?;
        let user = self.identifier()?;
        Ok(if grant {
            Statement::GrantRole { role, user }
        } else {
            Statement::RevokeRole { role, user }
        })
    }

    fn show(&mut self) -> Result<Statement, SqlError> {
        self.expect_word("SHOW")?;
        if self.eat_word("GRANTS") {
            self.expect_word("TO")?;
            self.expect_word("USER")?;
            return Ok(Statement::ShowGrantsToUser {
                user: self.identifier()?,
            });
        }
        self.expect_word("USER")?;
        if self.eat_word("WORKLOAD") {
            for word in ["IDENTITY", "AUTHENTICATION", "METHODS"] {
                self.expect_word(word)?;
            }
            return Ok(Statement::ShowWorkloadIdentities {
                user: self.for_user()?,
            });
        }
        if !self.eat_word("PATS") {
            self.expect_word("PROGRAMMATIC")?;
            self.expect_word("ACCESS")?;
            self.expect_word("TOKENS")?;
        }
        Ok(Statement::ShowPats {
            user: self.for_user()?,
        })
    }

    /// `[FOR USER <name>]` of the SHOW statements about one user.
    fn for_user(&mut self) -> Result<Option<String>, SqlError> {
        if !self.eat_word("FOR") {
            return Ok(None);
        }
        self.expect_word("USER")?;
        Ok(Some(self.identifier()?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::{AddPat, PatAction};
    use super::*;

    #[test]
    fn select_list_with_aliases() {
        let statement = parse_statement(
            "select current_user(), CURRENT_ROLE() as r, current_account() \"Acc\";",
        )
        .unwrap();
        let Statement::Select(items) = statement else {
            panic!("not a select")
        };
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].alias.as_deref(), Some("R"));
        assert_eq!(items[2].alias.as_deref(), Some("Acc"));
    }

    #[test]
    fn pat_statements_in_both_spellings() {
        let add = parse_statement(
            "ALTER USER IF EXISTS \"svc\" ADD PROGRAMMATIC ACCESS TOKEN IF NOT EXISTS tok \
             ROLE_RESTRICTION = 'R' DAYS_TO_EXPIRY = 30 COMMENT = 'c'",
        )
        .unwrap();
        assert_eq!(
            add,
            Statement::AlterUserPat {
                if_exists: true,
                user: Some("svc".into()),
                action: PatAction::Add(AddPat {
                    if_not_exists: true,
                    name: "TOK".into(),
                    role_restriction: Some("R".into()),
                    days_to_expiry: Some(30),
                    mins_to_bypass: None,
                    comment: Some("c".into()),
                }),
            }
        );
        let rotate =
            parse_statement("alter user rotate pat t expire_rotated_token_after_hours=0").unwrap();
        assert!(matches!(rotate, Statement::AlterUserPat { user: None, .. }));
        assert!(parse_statement("SHOW USER PATS FOR USER x").is_ok());
        assert!(parse_statement("show user programmatic access tokens").is_ok());
        assert!(parse_statement("ALTER USER u MODIFY PAT IF EXISTS t SET DISABLED = TRUE").is_ok());
        assert!(parse_statement("ALTER USER u MODIFY PAT t UNSET COMMENT, DISABLED").is_ok());
        assert!(parse_statement("ALTER USER u MODIFY PAT t RENAME TO t2").is_ok());
        assert!(parse_statement("ALTER USER u REMOVE PAT IF EXISTS t").is_ok());
    }

    #[test]
    fn syntax_errors_name_the_token_and_position() {
        let err = parse_statement("select * from t").unwrap_err();
        assert_eq!(err.code, "001003");
        assert_eq!(err.sql_state, "42000");
        assert_eq!(
            err.message,
            "SQL compilation error:\nsyntax error line 1 at position 7 unexpected '*'."
        );
        let err = parse_statement("DROP USER").unwrap_err();
        assert!(
            err.message.contains("position 9 unexpected '<EOF>'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_second_statement_is_refused() {
        let err = parse_statement("DROP USER a; DROP USER b").unwrap_err();
        assert_eq!(err.code, "000008");
        assert!(parse_statement("DROP USER a;").is_ok());
        let err = parse_request("DROP USER a", Some(2)).unwrap_err();
        assert_eq!(
            err.message,
            "Actual statement count 1 did not match the desired statement count 2."
        );
        assert_eq!(
            parse_request("DROP USER a; DROP USER b;", None).map(|s| s.len()),
            Ok(2)
        );
        assert_eq!(parse_statement("-- nothing").unwrap_err().code, "000900");
    }
}
